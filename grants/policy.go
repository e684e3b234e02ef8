package grants

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/tmpl"
)

// Actor is a person acting through a platform (or the CLI).
type Actor struct {
	// ID is the person's stable key: their lowercase email when known, else "platform:userid".
	ID string
	// Email is the person's email address, when known.
	Email string
	// Name is how the person is shown.
	Name string
	// Platform is where the action came from: "slack", "discord", "web", "cli".
	Platform string
	// PlatformID is the person's user ID on that platform.
	PlatformID string
}

// System is the actor for what accessbot does by itself (expiry, retries).
var System = Actor{ID: "accessbot", Name: "accessbot", Platform: "system"}

// Directory answers group membership from the current config and the platforms (Slack user
// groups, Discord roles). Authorization asks it on every action; nothing a message carries is
// trusted.
type Directory interface {
	// MemberOf reports whether the actor belongs to the named group.
	MemberOf(ctx context.Context, a Actor, group string) (bool, error)
}

// Policy governs one resource.
type Policy struct {
	// Requesters and RequesterGroups say who may request. Both empty means everyone.
	Requesters      []string
	RequesterGroups []string
	// ApproverGroups say who may approve or deny.
	ApproverGroups []string
	// Approvals is how many distinct approvers a request needs (at least 1).
	Approvals       int
	DefaultDuration time.Duration
	MaxDuration     time.Duration
	ReasonRequired  bool
	// ReasonPattern, when set, must match the reason (a ticket ID, say).
	ReasonPattern *regexp.Regexp
	// PendingTTL is how long a request waits for a decision before it expires.
	PendingTTL time.Duration
	// BreakGlass allows granting at once, without approval, to be reviewed afterwards.
	BreakGlass bool
	// AutoApprove, when set and true for a request, approves it without a reviewer.
	AutoApprove *Rule
	// RequireApprovals, when set and its condition holds for a request (on its signals, say),
	// raises the approvals the request needs and keeps it from being auto-approved.
	RequireApprovals *RequireApprovals
	// WarnBefore is how long before expiry the requester is warned; 0 for no warning.
	WarnBefore time.Duration
}

// RequireApprovals asks for more approvers when a condition holds: `when:
// signals.first_access` with approvals 2 has a first access approved by two people, whatever
// the auto-approve rule says.
type RequireApprovals struct {
	When *Rule
	// Approvals is how many distinct approvers the request then needs; the policy's Approvals
	// when that is more.
	Approvals int
}

// AlertRule is one `alerts:` entry: when its condition holds for a new request, an alert.raised
// event is written with the request (and the security channel hears of it).
type AlertRule struct {
	// Name is the alert's name, the event's alert field ([a-z0-9_]).
	Name string
	// Severity is free text shown with the alert ("high"); empty for none.
	Severity string
	When     *Rule
}

// Resource is something access can be granted to.
type Resource struct {
	Name        string
	Description string
	// AdapterType is the registered adapter type name.
	AdapterType string
	Adapter     adapters.Adapter
	Policy      Policy
	// Account makes the account name at the target from the person; nil means the local part of
	// their email (or their ID when there is no email).
	Account *tmpl.Template
	// Accounts maps a person's ID to an explicit account name, overriding Account.
	Accounts map[string]string
	// AccountScope names the set of accounts this resource's names live in, for account
	// ownership (AccountOwner): resources on one target (two roles on one PostgreSQL server,
	// SSH hosts that trust one CA) share a scope, so one account name is one person across them.
	// Empty means the resource's own name.
	AccountScope string
	// AccountFrom, when set, takes the account name from an identity the person proved (their
	// GitHub login, verified by GitHub) instead of Account; an Accounts entry still wins.
	AccountFrom *AccountSource
	// StepUp says which decisions wait for a fresh login at the identity provider.
	StepUp StepUp
}

// accountScope is the resource's AccountScope, defaulting to its name.
func (r *Resource) accountScope() string {
	if r.AccountScope != "" {
		return r.AccountScope
	}
	return r.Name
}

// AccountFor returns the person's account name at this resource's target.
func (r *Resource) AccountFor(a Actor) (string, error) {
	if acct, ok := r.Accounts[CanonicalPerson(a.ID)]; ok {
		return acct, nil
	}
	local := a.ID
	if a.Email != "" {
		local = a.Email
	}
	if i := strings.IndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	if r.Account == nil {
		return local, nil
	}
	var b strings.Builder
	err := r.Account.Execute(&b, map[string]string{
		"ID": a.ID, "Email": a.Email, "Local": local, "Name": a.Name,
		"Platform": a.Platform, "PlatformID": a.PlatformID,
	})
	return b.String(), err
}
