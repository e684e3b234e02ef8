// Package grants is accessbot's domain: requests, reviews and grants, their states and the
// policy that governs them, the Service that changes them (request, approve, deny, cancel,
// revoke, extend, break-glass), and the Scheduler that calls adapters and revokes on time.
//
// Storage is the truth and memory a cache: every change is a compare-and-swap on a stored row,
// committed with its audit event in one transaction (the Store below), before any adapter is
// called.
package grants

import (
	"context"
	"errors"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// RequestState is where a request is in its life.
type RequestState string

const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestDenied    RequestState = "denied"
	RequestCancelled RequestState = "cancelled"
	RequestExpired   RequestState = "expired"
)

// RequestKind says what a request asks for.
type RequestKind string

const (
	// KindAccess asks for new access.
	KindAccess RequestKind = "access"
	// KindExtend asks to move the expiry of an existing grant; it is decided under the same
	// policy as a new request.
	KindExtend RequestKind = "extend"
	// KindBreakGlass is granted at once and reviewed afterwards.
	KindBreakGlass RequestKind = "breakglass"
)

// GrantState is where a grant is in its life.
type GrantState string

const (
	// GrantActivating: the intent is stored; the adapter has not confirmed the grant yet.
	GrantActivating GrantState = "activating"
	// GrantActive: the access exists at the target.
	GrantActive GrantState = "active"
	// GrantRevoking: the grant is due (expired or revoked early); the adapter is being called.
	GrantRevoking GrantState = "revoking"
	// GrantRevoked: the access is gone. Final.
	GrantRevoked GrantState = "revoked"
	// GrantRevokeFailed: revocation failed too often. It is alerted, listed for operators, and
	// still retried on a slow loop until it succeeds or an admin forces it.
	GrantRevokeFailed GrantState = "revoke_failed"
	// GrantFailed: the adapter refused the grant with a permanent error. Final.
	GrantFailed GrantState = "failed"
)

// Final reports whether nothing more will happen to a grant in this state.
func (s GrantState) Final() bool { return s == GrantRevoked || s == GrantFailed }

// Final reports whether a request in this state is decided.
func (s RequestState) Final() bool { return s != RequestPending }

// Request is one ask for access.
type Request struct {
	ID       string
	Kind     RequestKind
	Resource string
	// Requester is the person's ID (see Actor.ID).
	Requester string
	// RequesterName is how chat shows the requester.
	RequesterName string
	Duration      time.Duration
	Reason        string
	State         RequestState
	// ApprovalsNeeded is fixed from the policy when the request is made.
	ApprovalsNeeded int
	// GrantID is the grant an extend request extends, or the grant an approval made.
	GrantID   string
	CreatedAt time.Time
	// PendingUntil is when an undecided request expires.
	PendingUntil time.Time
	DecidedAt    time.Time // zero while pending
	DecidedBy    string    // who made the final decision; "policy" for auto-approval
	Note         string    // the deny reason, or the auto-approve rule that matched
	// Signals are the names of the misuse signals the request raised when it was made
	// (Signals.Raised), for the approval card; nil for none.
	Signals []string
	// Checks are the outside checks made when the request was made (tickets, on-call; see
	// Lookup), for the approval card; nil for none.
	Checks  []Check
	Version int64
}

// Decision is one reviewer's verdict.
type Decision string

const (
	Approve Decision = "approve"
	Deny    Decision = "deny"
)

// Review is one person's decision on a request. A person reviews a request at most once.
type Review struct {
	RequestID string
	Reviewer  string
	Decision  Decision
	Reason    string
	At        time.Time
}

// Grant is access that exists (or is about to exist, or existed) at a target.
type Grant struct {
	ID        string
	RequestID string
	Resource  string
	Subject   string // the person's ID
	// Account is the person's account name at the target.
	Account string
	Email   string
	State   GrantState
	// BreakGlass grants were made without approval and must be reviewed afterwards.
	BreakGlass bool
	ReviewedBy string
	ReviewedAt time.Time
	Reason     string
	StartsAt   time.Time
	ExpiresAt  time.Time
	// WarnAt is when the expiry warning fires; zero once it has fired or when none is wanted.
	WarnAt time.Time
	// LeaseData is what the adapter returned from Grant and needs to Revoke. Never shown.
	LeaseData map[string]string
	// Attempts counts failed adapter calls in the current state.
	Attempts int
	// NextAttemptAt is when the scheduler next looks at the grant while it is activating,
	// revoking or revoke_failed. It doubles as a claim: a worker moves it forward before calling
	// the adapter, so no other worker picks the grant up meanwhile.
	NextAttemptAt time.Time
	// ClaimOwner is the process (SchedulerOptions.Owner) whose claim holds the grant while its
	// adapter call runs; empty when no claim is recorded. Once the owner's heartbeat stops, the
	// hold lapses whatever NextAttemptAt says (see Heartbeat).
	ClaimOwner string
	LastError  string
	RevokedAt  time.Time
	RevokedBy  string
	// RevokeNote says why accessbot ended the grant early on its own authority ("ticket OPS-42
	// closed (Done)"); empty when it ran its course or a person revoked it.
	RevokeNote string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Version    int64
}

// AccountOwner says which person an account at a target belongs to: the first person a
// request named for it. An account never changes hands, so an account template that maps two
// people to one name (alice@example.com and alice@evil.example both "alice") cannot give the
// second person the first one's access.
type AccountOwner struct {
	// Scope is the resource's AccountScope (its name unless resources share a target).
	Scope string
	// Account is the account name, lowercased.
	Account string
	// Person is the owner's canonical person ID, aliases resolved.
	Person    string
	RequestID string
	FirstSeen time.Time
}

// Errors carry a code; only the edge (chat, CLI) turns a code into words for people.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("changed by someone else")
	ErrForbidden = errors.New("forbidden")
	ErrInvalid   = errors.New("invalid")
)

// RequestFilter selects requests for listing. Empty fields match everything.
type RequestFilter struct {
	States    []RequestState
	Requester string
	Resource  string
	Limit     int
}

// AskCount selects the requests the request limits count (Limits). Empty fields match
// everything.
type AskCount struct {
	Requester string
	Resource  string
	// PendingAt, when set, counts only requests still waiting for a decision at that time:
	// pending, and not yet past their PendingUntil.
	PendingAt time.Time
	// Since, when set, counts only requests created after it.
	Since time.Time
}

// GrantFilter selects grants for listing. Empty fields match everything.
type GrantFilter struct {
	States   []GrantState
	Subject  string
	Resource string
	// ActiveAt, when set, selects grants whose window contains it.
	ActiveAt time.Time
	Limit    int
}

// Store is what the domain needs from storage. storage implements it over SQLite and
// PostgreSQL.
type Store interface {
	// Update runs fn in one write transaction: every row change and audit event fn makes commits
	// together or not at all. fn may run again if the database asks for a retry (serialization
	// failure), so it must not have effects outside the transaction.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx ReadTx) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
}

// ReadTx reads within a transaction. Methods that return one row return ErrNotFound when there
// is none.
type ReadTx interface {
	Request(ctx context.Context, id string) (Request, error)
	Reviews(ctx context.Context, requestID string) ([]Review, error)
	Grant(ctx context.Context, id string) (Grant, error)
	// GrantByRequest returns the grant an access or break-glass request made.
	GrantByRequest(ctx context.Context, requestID string) (Grant, error)
	// Requests lists requests, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]Request, error)
	// Grants lists grants, newest first.
	Grants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// CountGrants counts grants by state (for metrics).
	CountGrants(ctx context.Context) (map[GrantState]int, error)
	// CountRequests counts requests by state (for metrics).
	CountRequests(ctx context.Context) (map[RequestState]int, error)

	// DueGrants returns up to limit grants that need the scheduler at now, earliest first:
	// active grants with ExpiresAt <= now, and activating, revoking or revoke_failed grants with
	// NextAttemptAt <= now.
	DueGrants(ctx context.Context, now time.Time, limit int) ([]Grant, error)
	// DueWarnings returns up to limit active grants with a non-zero WarnAt <= now.
	DueWarnings(ctx context.Context, now time.Time, limit int) ([]Grant, error)
	// DuePending returns up to limit pending requests with PendingUntil <= now.
	DuePending(ctx context.Context, now time.Time, limit int) ([]Request, error)
	// NextDue returns the earliest time any of the three above will return something; ok is
	// false when nothing is scheduled.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)

	// AuditHead returns the end of the audit chain.
	AuditHead(ctx context.Context) (audit.Head, error)
	// SignalFacts reads what misuse signals are computed from, each by an index range read.
	SignalFacts(ctx context.Context, q SignalQuery) (SignalFacts, error)
}

// Tx writes within a transaction.
type Tx interface {
	ReadTx
	InsertRequest(ctx context.Context, r Request) error
	// CountAsks counts the requests c selects, for the request limits. It runs in the write
	// transaction that would store a new request and, on a database shared by replicas, first
	// takes the lock every writer takes (the audit head), so that concurrent askers count one
	// after the other and a limit holds exactly.
	CountAsks(ctx context.Context, c AskCount) (int, error)
	// UpdateRequest stores r if the stored version is still r.Version, and bumps the stored
	// version; it returns the new version, or ErrConflict when someone changed the row first.
	UpdateRequest(ctx context.Context, r Request) (int64, error)
	// InsertReview returns ErrConflict when the reviewer already reviewed the request.
	InsertReview(ctx context.Context, rv Review) error
	InsertGrant(ctx context.Context, g Grant) error
	// UpdateGrant is UpdateRequest for grants.
	UpdateGrant(ctx context.Context, g Grant) (int64, error)
	// ClaimAccount records o as the owner of its account unless someone owns it already, and
	// returns the owner after the claim: o, or the earlier owner, never changed.
	ClaimAccount(ctx context.Context, o AccountOwner) (AccountOwner, error)
	// Append seals e after the current head of the audit chain and stores it. Concurrent
	// transactions append one after the other (the head row is locked until commit).
	Append(ctx context.Context, e audit.Event) (audit.Event, error)
}
