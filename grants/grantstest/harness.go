package grantstest

import (
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// Start is the fake clock's start: a Tuesday at 10:00 UTC, inside office hours.
var Start = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

// People used by the default setup.
var (
	Alice = Person("alice@example.com") // a developer: requests
	Bob   = Person("bob@example.com")   // an approver (group sre)
	Carol = Person("carol@example.com") // an approver (group sre)
	Dave  = Person("dave@example.com")  // neither approver nor admin
	Erin  = Person("erin@example.com")  // an admin (admins.users), not an approver
)

// Person returns a Slack actor whose ID is their email.
func Person(email string) grants.Actor {
	name, _, _ := strings.Cut(email, "@")
	return grants.Actor{ID: email, Email: email, Name: name, Platform: "slack", PlatformID: "U" + name}
}

// DefaultResource is "prod-db": approvers in group sre, 1 approval, 1h default, 4h max, reason
// required, pending requests live 1h, a warning 10m before expiry, break-glass allowed.
func DefaultResource() *grants.Resource {
	return &grants.Resource{
		Name:        "prod-db",
		Description: "the production database",
		AdapterType: "fake",
		Policy: grants.Policy{
			ApproverGroups:  []string{"sre"},
			Approvals:       1,
			DefaultDuration: time.Hour,
			MaxDuration:     4 * time.Hour,
			ReasonRequired:  true,
			PendingTTL:      time.Hour,
			BreakGlass:      true,
			WarnBefore:      10 * time.Minute,
		},
	}
}

// TicketPattern is a reason pattern tests can put on a policy.
var TicketPattern = regexp.MustCompile(`^INC-[0-9]+`)

// Options shape a Harness. Zero values take the defaults.
type Options struct {
	// Resources default to DefaultResource. A resource without an adapter gets the harness's
	// Adapter.
	Resources []*grants.Resource
	// Groups default to sre: bob, carol; ops: erin's team.
	Groups map[string][]string
	// AdminUsers default to erin.
	AdminUsers  []string
	AdminGroups []string
	Scheduler   grants.SchedulerOptions
	// Adapter defaults to a new FakeAdapter.
	Adapter *FakeAdapter
	// Driver and DSN choose the store; default SQLite in a temporary directory.
	Driver, DSN string
	// NewID makes IDs; default grants.RandomID.
	NewID func(string) string
	// Limits cap requests; default none.
	Limits grants.Limits
	// Aliases resolves platform person IDs (see grants.Aliases); nil for none.
	Aliases grants.Aliases
	// WorkingHours default to grants.DefaultWorkingHours (Start is inside them).
	WorkingHours grants.WorkingHours
	// Alerts are the alerts: rules; default none.
	Alerts []grants.AlertRule
	// Lookups make the outside checks of requests; default none. LookupTimeout bounds them.
	Lookups       []grants.Lookup
	LookupTimeout time.Duration
	// Directory, when set, is the Service's directory instead of Dir (a layer over Dir, say).
	Directory grants.Directory
}

// Harness is a Service and Scheduler over a real store, with a fake clock and fake adapter.
type Harness struct {
	T         testing.TB
	Ctx       context.Context
	Clock     *clock.Fake
	DB        *storage.DB
	Dir       *Directory
	Adapter   *FakeAdapter
	Resources []*grants.Resource
	Service   *grants.Service
	Scheduler *grants.Scheduler
	Secrets   *SecretRecorder
	Events    *EventRecorder
	Metrics   *MetricsRecorder

	o Options
}

// New builds a Harness. When the test ends it checks that the audit chain verifies and closes
// the store.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	if o.Resources == nil {
		o.Resources = []*grants.Resource{DefaultResource()}
	}
	if o.Groups == nil {
		o.Groups = map[string][]string{"sre": {Bob.ID, Carol.ID}}
	}
	if o.AdminUsers == nil {
		o.AdminUsers = []string{Erin.ID}
	}
	if o.Adapter == nil {
		o.Adapter = NewFakeAdapter()
	}
	if o.Driver == "" {
		o.Driver = "sqlite"
	}
	if o.DSN == "" && o.Driver == "sqlite" {
		o.DSN = filepath.Join(t.TempDir(), "accessbot.db")
	}
	if o.Scheduler.CallTimeout == 0 {
		o.Scheduler.CallTimeout = 5 * time.Second
	}
	for _, r := range o.Resources {
		if r.Adapter == nil {
			r.Adapter = o.Adapter
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &Harness{
		T:         t,
		Ctx:       ctx,
		Clock:     clock.NewFake(Start),
		Dir:       NewDirectory(o.Groups),
		Adapter:   o.Adapter,
		Resources: o.Resources,
		Secrets:   &SecretRecorder{},
		Events:    &EventRecorder{},
		Metrics:   NewMetricsRecorder(),
		o:         o,
	}
	h.open()
	t.Cleanup(func() {
		if h.DB == nil {
			return
		}
		h.VerifyAudit()
		h.CheckStatesHaveEvents()
		h.DB.Close()
	})
	return h
}

// directory is the Service's directory: Options.Directory, else Dir.
func (h *Harness) directory() grants.Directory {
	if h.o.Directory != nil {
		return h.o.Directory
	}
	return h.Dir
}

func (h *Harness) open() {
	h.T.Helper()
	db, err := storage.Open(h.Ctx, storage.Options{Driver: h.o.Driver, DSN: h.o.DSN})
	if err != nil {
		h.T.Fatalf("open store: %v", err)
	}
	if _, err := db.Migrate(h.Ctx); err != nil {
		db.Close()
		h.T.Fatalf("migrate store: %v", err)
	}
	h.DB = db
	h.Service, err = grants.NewService(grants.Options{
		Store:       db,
		Resources:   h.Resources,
		Directory:   h.directory(),
		AdminUsers:  h.o.AdminUsers,
		AdminGroups: h.o.AdminGroups,
		Groups:      slices.Collect(maps.Keys(h.o.Groups)),
		Clock:       h.Clock,
		Log:         zerolog.New(zerolog.NewTestWriter(h.T)).Level(zerolog.WarnLevel),
		Metrics:     h.Metrics,
		NewID:       h.o.NewID,
		Secrets:     h.Secrets,
		Notifier:    h.Events,
		Limits:      h.o.Limits,
		Aliases:     h.o.Aliases,
		// The store keeps the verified GitHub logins of account_from: github-login resources.
		VerifiedAccounts: db,

		WorkingHours:  h.o.WorkingHours,
		Alerts:        h.o.Alerts,
		Lookups:       h.o.Lookups,
		LookupTimeout: h.o.LookupTimeout,
	})
	if err != nil {
		h.T.Fatalf("new service: %v", err)
	}
	h.Scheduler = grants.NewScheduler(h.Service, h.o.Scheduler)
}

// Reopen plays a crash and restart: it drops the Service and Scheduler, closes the store, and
// builds new ones over the same database. The adapters (the targets) keep their state.
func (h *Harness) Reopen() {
	h.T.Helper()
	h.DB.Close()
	h.open()
}

// ReopenAs plays a crash and a restart as another process: Reopen with the scheduler options o
// (a restarted process has a new identity, o.Owner).
func (h *Harness) ReopenAs(o grants.SchedulerOptions) {
	h.T.Helper()
	h.o.Scheduler = o
	h.Reopen()
}

// Beat records a heartbeat of the process owner at the fake clock's time, as its Heartbeat
// would; a process whose beats the test stops is dead to the others.
func (h *Harness) Beat(owner string) {
	h.T.Helper()
	if err := h.DB.Beat(h.Ctx, owner, Start, h.Clock.Now()); err != nil {
		h.T.Fatalf("heartbeat of %s: %v", owner, err)
	}
}

// RunDue runs one scheduler pass and fails the test on error.
func (h *Harness) RunDue() int {
	h.T.Helper()
	n, err := h.Scheduler.RunDue(h.Ctx)
	if err != nil {
		h.T.Fatalf("RunDue: %v", err)
	}
	return n
}

// DBPath is the SQLite database file (empty for PostgreSQL).
func (h *Harness) DBPath() string {
	if h.o.Driver != "sqlite" {
		return ""
	}
	return h.o.DSN
}

// Advance moves the fake clock.
func (h *Harness) Advance(d time.Duration) { h.Clock.Advance(d) }

// StoredGrant reads a grant as stored, lease data included.
func (h *Harness) StoredGrant(id string) grants.Grant {
	h.T.Helper()
	var g grants.Grant
	err := h.DB.View(h.Ctx, func(tx grants.ReadTx) error {
		var err error
		g, err = tx.Grant(h.Ctx, id)
		return err
	})
	if err != nil {
		h.T.Fatalf("read grant %s: %v", id, err)
	}
	return g
}

// StoredRequest reads a request as stored.
func (h *Harness) StoredRequest(id string) grants.Request {
	h.T.Helper()
	var r grants.Request
	err := h.DB.View(h.Ctx, func(tx grants.ReadTx) error {
		var err error
		r, err = tx.Request(h.Ctx, id)
		return err
	})
	if err != nil {
		h.T.Fatalf("read request %s: %v", id, err)
	}
	return r
}

// Update changes the store directly (to set up a state a crash would leave).
func (h *Harness) Update(fn func(tx grants.Tx) error) {
	h.T.Helper()
	if err := h.DB.Update(h.Ctx, fn); err != nil {
		h.T.Fatalf("update store: %v", err)
	}
}

// AuditEvents returns the stored audit events that match f and, if given, the types.
func (h *Harness) AuditEvents(f audit.Filter, types ...string) []audit.Event {
	h.T.Helper()
	var out []audit.Event
	err := h.DB.ScanAudit(h.Ctx, f, func(e audit.Event) error {
		if len(types) == 0 {
			out = append(out, e)
			return nil
		}
		for _, t := range types {
			if e.Type == t {
				out = append(out, e)
				break
			}
		}
		return nil
	})
	if err != nil {
		h.T.Fatalf("scan audit log: %v", err)
	}
	return out
}

// EventTypes returns the types of the stored events about a grant or request ID, in order.
func (h *Harness) EventTypes(id string) []string {
	h.T.Helper()
	var out []string
	for _, e := range h.AuditEvents(audit.Filter{}) {
		if e.GrantID == id || e.RequestID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// VerifyAudit fails the test unless the audit chain verifies.
func (h *Harness) VerifyAudit() audit.Report {
	h.T.Helper()
	rep, err := audit.Verify(context.Background(), h.DB, nil)
	if err != nil {
		h.T.Fatalf("verify audit log: %v", err)
	}
	if !rep.Intact() {
		h.T.Fatalf("audit log is not intact: first bad seq %d: %s", rep.FirstBad, rep.Problem)
	}
	return rep
}

// stateEvents maps each state to the audit events that may have put a row in it.
var stateEvents = map[string][]string{
	"request/" + string(grants.RequestPending):   {audit.RequestCreated},
	"request/" + string(grants.RequestApproved):  {audit.RequestApproved, audit.BreakGlassUsed},
	"request/" + string(grants.RequestDenied):    {audit.RequestDenied},
	"request/" + string(grants.RequestCancelled): {audit.RequestCancelled},
	"request/" + string(grants.RequestExpired):   {audit.RequestExpired},
	"grant/" + string(grants.GrantActivating):    {audit.GrantActivating},
	"grant/" + string(grants.GrantActive):        {audit.GrantActive},
	"grant/" + string(grants.GrantRevoking):      {audit.GrantRevoking},
	"grant/" + string(grants.GrantRevoked):       {audit.GrantRevoked},
	"grant/" + string(grants.GrantRevokeFailed):  {audit.GrantRevokeFailed},
	"grant/" + string(grants.GrantFailed):        {audit.GrantFailed},
}

// CheckStatesHaveEvents fails the test unless every stored request and grant has the audit
// event of the state it is in (no transition without its event), and every reviewed
// break-glass grant its breakglass.reviewed event.
func (h *Harness) CheckStatesHaveEvents() {
	h.T.Helper()
	seen := map[string]bool{} // "id/type"
	for _, e := range h.AuditEvents(audit.Filter{}) {
		if e.GrantID != "" {
			seen[e.GrantID+"/"+e.Type] = true
		}
		if e.RequestID != "" {
			seen[e.RequestID+"/"+e.Type] = true
		}
	}
	has := func(id, kind, state string) bool {
		for _, typ := range stateEvents[kind+"/"+state] {
			if seen[id+"/"+typ] {
				return true
			}
		}
		return false
	}
	reqs, err := h.Service.ListRequests(h.Ctx, grants.RequestFilter{})
	if err != nil {
		h.T.Fatalf("list requests: %v", err)
	}
	for _, r := range reqs {
		if !has(r.ID, "request", string(r.State)) {
			h.T.Errorf("request %s is %s without its audit event", r.ID, r.State)
		}
	}
	gs, err := h.Service.ListGrants(h.Ctx, grants.GrantFilter{})
	if err != nil {
		h.T.Fatalf("list grants: %v", err)
	}
	for _, g := range gs {
		if !has(g.ID, "grant", string(g.State)) {
			h.T.Errorf("grant %s is %s without its audit event", g.ID, g.State)
		}
		if g.ReviewedBy != "" && !seen[g.ID+"/"+audit.BreakGlassReviewed] {
			h.T.Errorf("grant %s was reviewed without a breakglass.reviewed event", g.ID)
		}
	}
}

// Request makes a request that must succeed.
func (h *Harness) Request(a grants.Actor, resource string, d time.Duration, reason string) grants.Outcome {
	h.T.Helper()
	out, err := h.Service.Request(h.Ctx, a, grants.RequestInput{Resource: resource, Duration: d, Reason: reason})
	if err != nil {
		h.T.Fatalf("request %s by %s: %v", resource, a.ID, err)
	}
	return out
}

// Approve approves a request and fails the test on error.
func (h *Harness) Approve(a grants.Actor, requestID string) grants.Outcome {
	h.T.Helper()
	out, err := h.Service.Approve(h.Ctx, a, requestID)
	if err != nil {
		h.T.Fatalf("approve %s by %s: %v", requestID, a.ID, err)
	}
	return out
}

// ActiveGrant requests access for alice to prod-db for d, has bob approve it, and runs the
// scheduler so the grant is active. It returns the grant as stored.
func (h *Harness) ActiveGrant(d time.Duration) grants.Grant {
	h.T.Helper()
	req := h.Request(Alice, "prod-db", d, "INC-1 fixing the index")
	out := h.Approve(Bob, req.Request.ID)
	if out.Grant == nil {
		h.T.Fatalf("approval of %s made no grant", req.Request.ID)
	}
	h.RunDue()
	g := h.StoredGrant(out.Grant.ID)
	if g.State != grants.GrantActive {
		h.T.Fatalf("grant %s is %s after a pass, want active (last error %q)", g.ID, g.State, g.LastError)
	}
	return g
}

// Eventually polls cond (in real time) until it holds or the deadline passes; for waiting on
// goroutines, never on the fake clock.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
