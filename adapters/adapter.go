// Package adapters owns the contract between accessbot and the systems it grants access to: the
// Adapter interface and its optional extensions, the registry that turns a resource's `adapter:`
// block into a configured Adapter, and the error kinds that tell the scheduler whether to retry.
//
// The package imports nothing else of accessbot. One package per kind of target lives below it
// (adapters/webhook, adapters/exec, ...) and registers itself from init().
package adapters

import (
	"context"
	"time"
)

// Subject is the person access is granted to, as the adapter needs to see them.
type Subject struct {
	// ID is accessbot's stable key for the person (their email when known).
	ID string `json:"id"`
	// Email is the person's email address, when known.
	Email string `json:"email,omitempty"`
	// Account is the person's account name at the target, from the resource's account template
	// or an explicit mapping. Adapters validate it before it reaches SQL or a shell.
	Account string `json:"account"`
}

// GrantRequest is everything an adapter learns about one grant.
type GrantRequest struct {
	// GrantID is unique per grant; Grant is idempotent per GrantID.
	GrantID  string    `json:"grant_id"`
	Resource string    `json:"resource"`
	Subject  Subject   `json:"subject"`
	Reason   string    `json:"reason"`
	Start    time.Time `json:"start"`
	// Expires is when access must end. Adapters whose target can expire access by itself set it
	// there too, so access ends on time even if accessbot is down.
	Expires time.Time `json:"expires"`
}

// Lease is what Grant returns.
type Lease struct {
	// Data is what the adapter needs again to revoke (a role name, a certificate serial). It is
	// stored with the grant and handed back to Revoke; it is never shown to people or logged.
	Data map[string]string
	// Secret, when set, is handed to the requester once, by direct message. It is never stored
	// or logged.
	Secret *Secret
}

// Secret is a credential the requester receives once.
type Secret struct {
	// Kind names what it is: "password", "ssh-certificate", ...
	Kind string
	// Label is a one-line description for the message that carries it.
	Label string
	// Value is the secret itself.
	Value string
}

// String never prints the value, so a secret that slips into a log line stays secret.
func (s *Secret) String() string {
	if s == nil {
		return "<nil>"
	}
	return "secret(" + s.Kind + ")"
}

// RevokeRequest is what Revoke receives: the grant it made, and the lease data it returned.
type RevokeRequest struct {
	GrantID  string
	Resource string
	Subject  Subject
	// Data is Lease.Data from the Grant call; nil when Grant never returned (a crash between
	// intent and effect), in which case the adapter revokes from the other fields.
	Data map[string]string
}

// Adapter grants and revokes access on one target.
type Adapter interface {
	// Grant gives the subject access until req.Expires. It is idempotent per GrantID: a second
	// call for the same grant succeeds and returns an equivalent lease.
	Grant(ctx context.Context, req GrantRequest) (Lease, error)
	// Revoke removes the access. It is idempotent: revoking what is already gone returns nil.
	Revoke(ctx context.Context, req RevokeRequest) error
}

// Access is one piece of access that exists at a target now.
type Access struct {
	// Account is the account name at the target.
	Account string
	// Detail says what the access is (a role, a group) in the target's words.
	Detail string
	// GrantID is set when the target records which grant made the access.
	GrantID string
}

// Lister is implemented by adapters that can list the access that exists at the target, for the
// standing-privilege scan.
type Lister interface {
	List(ctx context.Context) ([]Access, error)
}

// Attributor is implemented by Listers whose target records the grant behind every piece of
// access accessbot makes there (Access.GrantID: a binding's label, a condition's title, a role
// named after the grant). Access such a target lists without a grant ID was then not made by
// accessbot, even for a person who holds an active grant of the resource: the standing-access
// scan reports it instead of letting the person's grant explain it (a binding of the same role
// made by hand beside the grant's own).
type Attributor interface {
	AttributesGrants() bool
}

// Extender is implemented by adapters whose target keeps its own expiry, so that an extension
// moves it too.
type Extender interface {
	Extend(ctx context.Context, req RevokeRequest, expires time.Time) error
}

// Checker is implemented by adapters that can check that the target is reachable and the
// adapter's own credentials work. It is used by /readyz and at start.
type Checker interface {
	Check(ctx context.Context) error
}

// Holder is implemented by adapters whose target can say that the person already has the access
// by other means than accessbot (a standing group or role membership). Such access is never
// granted or revoked by accessbot: the request is answered that the person already has it, and
// the standing-privilege scan reports it. An adapter that implements Holder must also leave such
// access in place on Revoke, even when a grant was made anyway (the membership arrived between
// the request and the approval).
type Holder interface {
	Holds(ctx context.Context, s Subject) (bool, error)
}

// Closer is implemented by adapters that hold connections.
type Closer interface {
	Close() error
}

// Session is one session of a grant's account at the target, as a sampler sees it.
type Session struct {
	// GrantID is the grant whose account the session belongs to.
	GrantID string
	// Key identifies the session at the target for as long as the target runs (a backend's
	// pid and start, a connection ID); the same session has the same key in every sample.
	Key string
	// Account is the account the session logged in as.
	Account string
	// Client is the client's address ("10.0.0.7:51234"), empty when the target does not say
	// (a local socket).
	Client string
	// Application is the name the client gave (application_name), when the target has one.
	Application string
	// Started is when the session began, when the target says.
	Started time.Time
}

// ActivitySampler is implemented by adapters whose target can list the sessions of an account
// (pg_stat_activity, the processlist). The activity sampler calls it every
// activity.sample_interval with the grants active on the resource and records each session
// once. An adapter that implements it can also tell that a grant was never used.
type ActivitySampler interface {
	// Sessions returns the sessions open now of the grants' accounts. The grants are
	// RevokeRequests because they carry what names the account (the lease data). It costs one
	// query however many grants there are, and returns at most a bounded number of sessions.
	Sessions(ctx context.Context, grants []RevokeRequest) ([]Session, error)
}

// ActivityConfig is implemented by the configs of adapters that implement ActivitySampler, so
// that a command that reads only the config (digest preview, audit export) knows which
// resources can tell whether a grant was used, without building the adapters.
type ActivityConfig interface {
	SamplesActivity() bool
}
