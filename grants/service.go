package grants

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/clock"
)

// PolicyActor is the DecidedBy and audit actor of a request approved by an auto-approve rule.
const PolicyActor = "policy"

// Metrics receives what the engine measures. ops.Metrics implements it.
type Metrics interface {
	// RevokeLateness is the time from a grant's expiry to its confirmed revocation.
	RevokeLateness(d time.Duration)
	// RevokeFailure counts a grant that became revoke_failed.
	RevokeFailure(resource string)
	// AdapterCall records one adapter call; op is "grant", "revoke" or "extend".
	AdapterCall(resource, op string, d time.Duration, err error)
}

// SecretSink hands the secret an adapter returned (a password, a certificate) to the requester,
// once, by direct message. The secret is never stored: if delivery fails it is gone.
type SecretSink interface {
	DeliverSecret(ctx context.Context, g Grant, s *adapters.Secret) error
}

// Notifier learns, after each committed change, the audit events the change wrote, in chain
// order. It is how chat layers hear about decisions, grants, expiry warnings and alerts without
// polling. Notify must not block (hand the events to a queue). It is best effort: a crash
// between commit and Notify loses the notification but never the event, which is in the log.
type Notifier interface {
	Notify(ctx context.Context, events []audit.Event)
}

// Options configure a Service.
type Options struct {
	Store     Store
	Resources []*Resource
	// Directory answers group membership; nil means nobody is in any group.
	Directory Directory
	// AdminUsers and AdminGroups name the admins: they may revoke anyone's grant, force a
	// revocation and review break-glass use. Entries are matched like config person entries
	// (email or ID case-insensitively, "U123", "slack:U123").
	AdminUsers  []string
	AdminGroups []string
	// Groups names the config's groups, so that auto-approve rules can see membership of groups
	// no policy names (`"oncall" in groups`). Groups named by policies and admins are always
	// seen.
	Groups []string
	// Clock defaults to the wall clock.
	Clock clock.Clock
	// Location is the time zone auto-approve rules see (hour, weekday); default UTC.
	Location *time.Location
	Log      zerolog.Logger
	// Metrics may be nil.
	Metrics Metrics
	// NewID makes IDs: "r-" for requests, "g-" for grants. Default: the prefix and 10 random
	// base32 characters.
	NewID func(prefix string) string
	// Secrets delivers adapter secrets; nil drops them (with a log line that never holds the
	// value).
	Secrets SecretSink
	// Notifier, when set, hears about every committed change.
	Notifier Notifier
	// Aliases, when set, resolves platform person IDs to the person's email, so one person
	// acting from several platforms counts once (see Aliases).
	Aliases Aliases
	// CallTimeout bounds the calls the Service makes itself (Extender, SecretSink); default 10s.
	CallTimeout time.Duration
	// Limits cap the requests people make; the zero value caps nothing.
	Limits Limits
	// WorkingHours are when requests are expected (signals.outside_hours), read in Location;
	// zero means DefaultWorkingHours.
	WorkingHours WorkingHours
	// Alerts are evaluated on every new access and break-glass request.
	Alerts []AlertRule
	// Lookups make the outside checks of new requests (tickets, on-call); see Lookup.
	Lookups []Lookup
	// LookupTimeout bounds all of a request's outside checks together; default 2s.
	LookupTimeout time.Duration
	// VerifiedAccounts answers the accounts of resources with an AccountFrom; nil means nobody
	// has proved any.
	VerifiedAccounts VerifiedAccounts
}

// Service changes requests and grants. Every change is one Store.Update that writes the rows and
// their audit events together; adapters are called only by the Scheduler, after the intent is
// stored. Authorization is decided on every call from the current policy and Directory.
//
// Grants the Service returns never carry LeaseData.
type Service struct {
	store       Store
	resources   map[string]*Resource
	ordered     []*Resource
	dir         Directory
	adminUsers  []string
	adminGroups []string
	// groups are every group named by a policy or the admins: what auto-approve rules can see.
	groups      []string
	clock       clock.Clock
	loc         *time.Location
	log         zerolog.Logger
	metrics     Metrics
	newID       func(string) string
	secrets     SecretSink
	notifier    Notifier
	aliases     Aliases
	verified    VerifiedAccounts
	callTimeout time.Duration
	limits      Limits
	// workingHours and alerts feed the misuse signals (signals.go).
	workingHours WorkingHours
	alerts       []AlertRule
	// lookupers make the outside checks of new requests (checks.go).
	lookupers     []Lookup
	lookupTimeout time.Duration

	wakeMu sync.Mutex
	wake   func()
}

// NewService checks the options and builds a Service.
func NewService(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("grants service needs a store")
	}
	s := &Service{
		store:       o.Store,
		resources:   map[string]*Resource{},
		dir:         o.Directory,
		adminUsers:  append([]string(nil), o.AdminUsers...),
		adminGroups: append([]string(nil), o.AdminGroups...),
		clock:       o.Clock,
		loc:         o.Location,
		log:         o.Log,
		metrics:     o.Metrics,
		newID:       o.NewID,
		secrets:     o.Secrets,
		notifier:    o.Notifier,
		aliases:     o.Aliases,
		verified:    o.VerifiedAccounts,
		callTimeout: o.CallTimeout,
		limits:      o.Limits,
		alerts:      append([]AlertRule(nil), o.Alerts...),

		lookupers:     append([]Lookup(nil), o.Lookups...),
		lookupTimeout: o.LookupTimeout,

		workingHours: o.WorkingHours,
	}
	if len(s.workingHours.Days) == 0 && s.workingHours.Start == 0 && s.workingHours.End == 0 {
		s.workingHours = DefaultWorkingHours()
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.newID == nil {
		s.newID = RandomID
	}
	if s.callTimeout <= 0 {
		s.callTimeout = 10 * time.Second
	}
	if s.lookupTimeout <= 0 {
		s.lookupTimeout = defaultLookupTimeout
	}
	for _, l := range s.lookupers {
		if l == nil || !checkKindRE.MatchString(l.Kind()) {
			return nil, errors.New("grants service: a lookup needs a kind that is a name ([a-z][a-z0-9_]*)")
		}
	}
	groups := map[string]bool{}
	for _, g := range o.Groups {
		groups[g] = true
	}
	for _, g := range o.AdminGroups {
		groups[g] = true
	}
	for _, r := range o.Resources {
		if r == nil || r.Name == "" {
			return nil, errors.New("grants service: a resource has no name")
		}
		if _, dup := s.resources[r.Name]; dup {
			return nil, fmt.Errorf("grants service: resource %q is defined twice", r.Name)
		}
		if r.Adapter == nil {
			return nil, fmt.Errorf("grants service: resource %q has no adapter", r.Name)
		}
		s.resources[r.Name] = r
		s.ordered = append(s.ordered, r)
		for _, g := range r.Policy.RequesterGroups {
			groups[g] = true
		}
		for _, g := range r.Policy.ApproverGroups {
			groups[g] = true
		}
	}
	sort.Slice(s.ordered, func(i, j int) bool { return s.ordered[i].Name < s.ordered[j].Name })
	for g := range groups {
		s.groups = append(s.groups, g)
	}
	sort.Strings(s.groups)
	return s, nil
}

// RandomID returns prefix followed by 10 random lowercase base32 characters (50 bits).
func RandomID(prefix string) string {
	var b [7]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err)) // crypto/rand does not fail on Linux
	}
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	return prefix + strings.ToLower(s[:10])
}

type noMetrics struct{}

func (noMetrics) RevokeLateness(time.Duration)                     {}
func (noMetrics) RevokeFailure(string)                             {}
func (noMetrics) AdapterCall(string, string, time.Duration, error) {}

// setWaker is called by NewScheduler.
func (s *Service) setWaker(f func()) {
	s.wakeMu.Lock()
	s.wake = f
	s.wakeMu.Unlock()
}

// wakeScheduler tells the scheduler that the earliest due time may have moved.
func (s *Service) wakeScheduler() {
	s.wakeMu.Lock()
	f := s.wake
	s.wakeMu.Unlock()
	if f != nil {
		f()
	}
}

// now is the clock's time in UTC at the precision every store keeps, so that a value read back
// equals the value written.
func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Resource returns the named resource.
func (s *Service) Resource(name string) (*Resource, bool) {
	r, ok := s.resources[name]
	return r, ok
}

// Resources returns every resource, sorted by name.
func (s *Service) Resources() []*Resource { return append([]*Resource(nil), s.ordered...) }

func (s *Service) resourceNames() []string {
	names := make([]string, len(s.ordered))
	for i, r := range s.ordered {
		names[i] = r.Name
	}
	return names
}

// lookup returns the resource or an unknown_resource error with the closest names.
func (s *Service) lookup(name string) (*Resource, error) {
	if r, ok := s.resources[name]; ok {
		return r, nil
	}
	msg := fmt.Sprintf("There is no resource called %q.", name)
	details := map[string]string{"resource": name}
	if c := closestNames(name, s.resourceNames()); len(c) > 0 {
		details["closest"] = strings.Join(c, ",")
		msg = fmt.Sprintf("There is no resource called %q. Did you mean %s?", name, strings.Join(c, " or "))
	}
	return nil, newError(ErrNotFound, ReasonUnknownResource, msg, details)
}

// txn is one Store transaction plus the audit events it has written, so they can be handed to
// the Notifier after commit.
type txn struct {
	Tx
	now    time.Time
	events []audit.Event
}

// event appends e to the audit chain within the transaction.
func (t *txn) event(ctx context.Context, e audit.Event) error {
	if e.At.IsZero() {
		e.At = t.now
	}
	sealed, err := t.Append(ctx, e)
	if err != nil {
		return fmt.Errorf("append %s audit event: %w", e.Type, err)
	}
	t.events = append(t.events, sealed)
	return nil
}

// update runs fn in one write transaction and notifies its events after commit. A bare
// ErrConflict from the store (another writer changed a row first) is retried with fresh reads;
// a domain *Error is returned as it is.
func (s *Service) update(ctx context.Context, now time.Time, fn func(t *txn) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var events []audit.Event
		err = s.store.Update(ctx, func(tx Tx) error {
			t := &txn{Tx: tx, now: now}
			if err := fn(t); err != nil {
				return err
			}
			events = t.events
			return nil
		})
		if err == nil {
			if s.notifier != nil && len(events) > 0 {
				s.notifier.Notify(ctx, events)
			}
			return nil
		}
		if !isCASConflict(err) {
			return err
		}
	}
	return err
}

// isCASConflict reports whether err is the store's compare-and-swap conflict rather than a
// domain refusal.
func isCASConflict(err error) bool {
	var de *Error
	return errors.Is(err, ErrConflict) && !errors.As(err, &de)
}

// record writes a lone audit event in its own transaction (refusals). A failure is logged: the
// refusal itself still stands.
func (s *Service) record(ctx context.Context, e audit.Event) {
	now := s.now()
	err := s.update(ctx, now, func(t *txn) error { return t.event(ctx, e) })
	if err != nil {
		s.log.Error().Err(err).Str("event", e.Type).Str("actor", e.Actor).Msg("could not record audit event")
	}
}

// MatchesPerson reports whether a person entry (an email or person ID, compared in their
// normal form, see CanonicalPerson; a bare platform user ID "U0123"; or "platform:userid")
// names the actor. It is the one copy of that rule: config.Matches calls it for the config's
// admins and groups.
func MatchesPerson(a Actor, entry string) bool {
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return false
	}
	canon := CanonicalPerson(entry)
	if a.ID != "" && canon == CanonicalPerson(a.ID) || a.Email != "" && canon == CanonicalPerson(a.Email) {
		return true
	}
	if a.PlatformID == "" {
		return false
	}
	if entry == a.PlatformID {
		return true
	}
	platform, id, ok := strings.Cut(entry, ":")
	return ok && a.Platform != "" && strings.EqualFold(platform, a.Platform) && strings.TrimSpace(id) == a.PlatformID
}

// IsAdmin reports whether the actor is an admin. The CLI operator (Platform "cli") is one: whoever
// runs accessbot on its host can read its database and config anyway. A Directory error counts as
// "no" (fail closed) and is logged.
func (s *Service) IsAdmin(ctx context.Context, a Actor) bool {
	ok, err := s.isAdmin(ctx, a)
	if err != nil {
		s.log.Warn().Err(err).Str("actor", a.ID).Msg("admin check failed; treating as not an admin")
	}
	return ok && err == nil
}

func (s *Service) isAdmin(ctx context.Context, a Actor) (bool, error) {
	if a.ID == "" {
		return false, nil
	}
	if a.Platform == "cli" {
		return true, nil
	}
	for _, u := range s.adminUsers {
		if MatchesPerson(a, u) {
			return true, nil
		}
	}
	return s.memberOfAny(ctx, a, s.adminGroups)
}

// MayApprove reports whether the actor may approve or deny requests for the resource: whether
// they belong to one of its approver groups. (Whether they may decide a given request also
// depends on whose it is: nobody decides their own.)
func (s *Service) MayApprove(ctx context.Context, a Actor, resource string) (bool, error) {
	r, err := s.lookup(resource)
	if err != nil {
		return false, err
	}
	if a.ID == "" {
		return false, nil
	}
	return s.memberOfAny(ctx, a, r.Policy.ApproverGroups)
}

// mayRequest applies the policy's requester rules; both lists empty means everyone.
func (s *Service) mayRequest(ctx context.Context, a Actor, r *Resource) (bool, error) {
	p := r.Policy
	if len(p.Requesters) == 0 && len(p.RequesterGroups) == 0 {
		return true, nil
	}
	for _, u := range p.Requesters {
		if MatchesPerson(a, u) {
			return true, nil
		}
	}
	return s.memberOfAny(ctx, a, p.RequesterGroups)
}

// Requestable returns the resources the actor may request, sorted by name.
func (s *Service) Requestable(ctx context.Context, a Actor) ([]*Resource, error) {
	var out []*Resource
	for _, r := range s.ordered {
		ok, err := s.mayRequest(ctx, a, r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// groupsOf returns the groups named anywhere in the config that the actor belongs to, for
// auto-approve rules. A Directory error leaves the group out (the rule then sees less, which
// can only make it say "no" to group-based approvals).
func (s *Service) groupsOf(ctx context.Context, a Actor) []string {
	var out []string
	if s.dir == nil {
		return out
	}
	for _, g := range s.groups {
		ok, err := s.dir.MemberOf(ctx, a, g)
		if err != nil {
			s.log.Warn().Err(err).Str("actor", a.ID).Str("group", g).Msg("group lookup failed")
			continue
		}
		if ok {
			out = append(out, g)
		}
	}
	return out
}

// actorFromID rebuilds what can be known of a person from their stored ID (see Actor.ID: their
// lowercase email when known, else "platform:userid"), to compute their account name when
// someone else's approval makes the grant.
func actorFromID(id, name string) Actor {
	a := Actor{ID: id, Name: name}
	if strings.Contains(id, "@") {
		a.Email = id
	} else if p, uid, ok := strings.Cut(id, ":"); ok {
		a.Platform, a.PlatformID = p, uid
	}
	return a
}

// public strips what must never leave the domain.
func public(g Grant) Grant {
	g.LeaseData = nil
	return g
}

func publicAll(gs []Grant) []Grant {
	for i := range gs {
		gs[i] = public(gs[i])
	}
	return gs
}

// NotFound is the refusal for an unknown request ("request") or grant ("grant") ID. The chat
// layer gives it too for an ID the person may not see, so that asking cannot tell whether the
// ID exists.
func NotFound(kind, id string) error { return notFound(kind, id) }

func notFound(kind, id string) error {
	reason := ReasonUnknownRequest
	if kind == "grant" {
		reason = ReasonUnknownGrant
	}
	return newError(ErrNotFound, reason, fmt.Sprintf("There is no %s %q.", kind, id), map[string]string{"id": id})
}

// GetRequest returns one request.
func (s *Service) GetRequest(ctx context.Context, id string) (Request, error) {
	var r Request
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		r, err = tx.Request(ctx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Request{}, notFound("request", id)
	}
	if err != nil {
		return Request{}, fmt.Errorf("read request %s: %w", id, err)
	}
	return r, nil
}

// GetGrant returns one grant, without its lease data.
func (s *Service) GetGrant(ctx context.Context, id string) (Grant, error) {
	var g Grant
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		g, err = tx.Grant(ctx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Grant{}, notFound("grant", id)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("read grant %s: %w", id, err)
	}
	return public(g), nil
}

// Reviews returns the reviews of a request.
func (s *Service) Reviews(ctx context.Context, requestID string) ([]Review, error) {
	var out []Review
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		out, err = tx.Reviews(ctx, requestID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read reviews of request %s: %w", requestID, err)
	}
	return out, nil
}

// ListRequests lists requests, newest first.
func (s *Service) ListRequests(ctx context.Context, f RequestFilter) ([]Request, error) {
	var out []Request
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		out, err = tx.Requests(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}

// ListGrants lists grants, newest first, without their lease data. Operators list the grants
// whose revocation keeps failing with States: []GrantState{GrantRevokeFailed}.
func (s *Service) ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	var out []Grant
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		out, err = tx.Grants(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return publicAll(out), nil
}

// UnreviewedBreakGlass lists break-glass grants nobody has reviewed yet, newest first.
func (s *Service) UnreviewedBreakGlass(ctx context.Context) ([]Grant, error) {
	all, err := s.ListGrants(ctx, GrantFilter{})
	if err != nil {
		return nil, err
	}
	var out []Grant
	for _, g := range all {
		if g.BreakGlass && g.ReviewedBy == "" {
			out = append(out, g)
		}
	}
	return out, nil
}
