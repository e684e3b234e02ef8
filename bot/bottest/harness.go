package bottest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// Channels of the default setup.
const (
	ApprovalsChannel = "C-approvals"
	SecurityChannel  = "C-security"
)

// Options shape a Harness. Zero values take the defaults.
type Options struct {
	// Resources default to grantstest.DefaultResource (prod-db). A resource without an adapter
	// gets the harness's Adapter.
	Resources []*grants.Resource
	// Groups default to sre: bob, carol.
	Groups map[string][]string
	// AdminUsers default to erin.
	AdminUsers []string
	// Channels default to ApprovalsChannel and SecurityChannel.
	Channels *bot.Channels
	// Platform is the fake platform's name; default "slack" (grantstest's people are Slack
	// users).
	Platform string
	// Deliver, when set, is the platform the Bot delivers through instead of the FakePlatform
	// (a platform's client over its fake server); its Name must be Platform.
	Deliver  bot.Platform
	Delivery bot.DeliveryOptions
	// StepUp issues step-up links; nil means none (as without an oidc: section).
	StepUp bot.StepUpLinker
	// Linking tells the Bot that `/access link` is answered (as when Discord is enabled).
	Linking bool
	// Driver and DSN choose the store; default SQLite in a temporary directory.
	Driver, DSN string
	// Alerts are the alerts: rules; default none.
	Alerts []grants.AlertRule
	// GitHubVerifier, when set, enables `/access github-login` with the harness's store.
	GitHubVerifier bot.GitHubVerifier
	// Verbose keeps every log line in Logs (debug level), not only warnings and errors.
	Verbose bool
	// Lookups make the outside checks of requests (tickets); default none.
	Lookups []grants.Lookup
}

// Harness is a Bot over a real grants.Service and store, with a fake clock, a fake adapter and a
// FakePlatform. IDs are predictable: r-1, r-2, ... and g-1, g-2, ...
type Harness struct {
	T         testing.TB
	Ctx       context.Context
	Clock     *clock.Fake
	DB        *storage.DB
	Dir       *grantstest.Directory
	Adapter   *grantstest.FakeAdapter
	Resources []*grants.Resource
	Service   *grants.Service
	Scheduler *grants.Scheduler
	Bot       *bot.Bot
	Platform  *FakePlatform
	// Logs holds everything the Service and Bot logged.
	Logs *SyncBuffer

	o     Options
	idsMu sync.Mutex
	ids   map[string]int
}

// New builds a Harness and makes its first dispatcher pass, so that its cursor exists before the
// test acts (a new platform starts from the end of the log).
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	if o.Resources == nil {
		o.Resources = []*grants.Resource{grantstest.DefaultResource()}
	}
	if o.Groups == nil {
		o.Groups = map[string][]string{"sre": {grantstest.Bob.ID, grantstest.Carol.ID}}
	}
	if o.AdminUsers == nil {
		o.AdminUsers = []string{grantstest.Erin.ID}
	}
	if o.Channels == nil {
		o.Channels = &bot.Channels{Approvals: ApprovalsChannel, Security: SecurityChannel}
	}
	if o.Platform == "" {
		o.Platform = "slack"
	}
	if o.Driver == "" {
		o.Driver = storage.SQLite
	}
	if o.DSN == "" && o.Driver == storage.SQLite {
		o.DSN = filepath.Join(t.TempDir(), "accessbot.db")
	}
	if o.Delivery.Retry.Jitter == 0 {
		o.Delivery.Retry.Jitter = -1 // predictable backoff
	}
	adapter := grantstest.NewFakeAdapter()
	for _, r := range o.Resources {
		if r.Adapter == nil {
			r.Adapter = adapter
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &Harness{
		T:         t,
		Ctx:       ctx,
		Clock:     clock.NewFake(grantstest.Start),
		Dir:       grantstest.NewDirectory(o.Groups),
		Adapter:   adapter,
		Resources: o.Resources,
		Platform:  NewFakePlatform(o.Platform),
		Logs:      &SyncBuffer{},
		o:         o,
		ids:       map[string]int{},
	}
	h.open()
	t.Cleanup(func() {
		if h.DB != nil {
			h.DB.Close()
		}
	})
	return h
}

func (h *Harness) newID(prefix string) string {
	h.idsMu.Lock()
	defer h.idsMu.Unlock()
	h.ids[prefix]++
	return fmt.Sprintf("%s%d", prefix, h.ids[prefix])
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
	level := zerolog.WarnLevel
	if h.o.Verbose {
		level = zerolog.DebugLevel
	}
	log := zerolog.New(zerolog.MultiLevelWriter(h.Logs, zerolog.NewTestWriter(h.T))).Level(level)
	relay := &bot.Relay{}
	h.Service, err = grants.NewService(grants.Options{
		Store:      db,
		Resources:  h.Resources,
		Directory:  h.Dir,
		AdminUsers: h.o.AdminUsers,
		Groups:     slices.Collect(maps.Keys(h.o.Groups)),
		Clock:      h.Clock,
		Log:        log,
		NewID:      h.newID,
		Secrets:    relay,
		Notifier:   relay,
		Alerts:     h.o.Alerts,
		// The store keeps the verified GitHub logins of account_from: github-login resources.
		VerifiedAccounts: db,
		Lookups:          h.o.Lookups,
	})
	if err != nil {
		h.T.Fatalf("new service: %v", err)
	}
	var gh *bot.GitHubLoginOptions
	if h.o.GitHubVerifier != nil {
		gh = &bot.GitHubLoginOptions{Verifier: h.o.GitHubVerifier, Links: db}
	}
	h.Scheduler = grants.NewScheduler(h.Service, grants.SchedulerOptions{CallTimeout: 5 * time.Second, Sweep: -1})
	h.Bot, err = bot.New(bot.Options{
		Service:   h.Service,
		Store:     db,
		Clock:     h.Clock,
		Log:       log,
		Channels:  map[string]bot.Channels{h.Platform.Name(): *h.o.Channels},
		Platforms: []bot.Platform{h.deliverer()},
		Delivery:  h.o.Delivery,
		StepUp:    h.o.StepUp,
		Linking:   h.o.Linking,

		GitHubLogin: gh,
	})
	if err != nil {
		h.T.Fatalf("new bot: %v", err)
	}
	relay.Attach(h.Bot)
	h.Dispatch()
}

// deliverer is the platform the Bot delivers through.
func (h *Harness) deliverer() bot.Platform {
	if h.o.Deliver != nil {
		return h.o.Deliver
	}
	return h.Platform
}

// Reopen plays a crash and restart: it drops the Service, Scheduler and Bot, closes the store,
// and builds new ones over the same database. The platform keeps its messages.
func (h *Harness) Reopen() {
	h.T.Helper()
	h.DB.Close()
	h.open()
}

// Command runs `/access <text>` as the actor.
func (h *Harness) Command(a grants.Actor, text string) bot.Reply {
	h.T.Helper()
	return h.Bot.Command(h.Ctx, a, text)
}

// Click clicks a button as the actor.
func (h *Harness) Click(a grants.Actor, actionID, value string) bot.Reply {
	h.T.Helper()
	return h.Bot.Act(h.Ctx, a, bot.Action{ID: actionID, Value: value})
}

// Submit submits a form as the actor.
func (h *Harness) Submit(a grants.Actor, form, value string, inputs map[string]string) bot.Reply {
	h.T.Helper()
	return h.Bot.Act(h.Ctx, a, bot.Action{ID: bot.ActionSubmit, Form: form, Value: value, Inputs: inputs})
}

// RunDue runs one scheduler pass (grants, revocations, expiry, warnings).
func (h *Harness) RunDue() int {
	h.T.Helper()
	n, err := h.Scheduler.RunDue(h.Ctx)
	if err != nil {
		h.T.Fatalf("scheduler pass: %v", err)
	}
	return n
}

// Dispatch runs one dispatcher pass and returns how many events it passed.
func (h *Harness) Dispatch() int {
	h.T.Helper()
	d, _ := h.Bot.Workers(h.Platform.Name())
	n, err := d.DispatchOnce(h.Ctx)
	if err != nil {
		h.T.Fatalf("dispatch: %v", err)
	}
	return n
}

// Send runs one outbox pass and returns how many messages it sent.
func (h *Harness) Send() int {
	h.T.Helper()
	_, o := h.Bot.Workers(h.Platform.Name())
	n, err := o.SendDue(h.Ctx)
	if err != nil {
		h.T.Fatalf("send: %v", err)
	}
	return n
}

// Deliver dispatches and sends what is due now, and returns how many messages were sent.
func (h *Harness) Deliver() int {
	h.T.Helper()
	h.Dispatch()
	return h.Send()
}

// Deliveries lists the outbox of the harness's platform.
func (h *Harness) Deliveries() []bot.Delivery {
	h.T.Helper()
	ds, err := h.DB.Deliveries(h.Ctx, h.Platform.Name())
	if err != nil {
		h.T.Fatalf("list deliveries: %v", err)
	}
	return ds
}

// Pending returns the deliveries not yet sent or given up.
func (h *Harness) Pending() []bot.Delivery {
	h.T.Helper()
	var out []bot.Delivery
	for _, d := range h.Deliveries() {
		if d.State == bot.DeliveryPending {
			out = append(out, d)
		}
	}
	return out
}

// Advance moves the fake clock.
func (h *Harness) Advance(d time.Duration) { h.Clock.Advance(d) }

// Grant reads a grant (without its lease data).
func (h *Harness) Grant(id string) grants.Grant {
	h.T.Helper()
	g, err := h.Service.GetGrant(h.Ctx, id)
	if err != nil {
		h.T.Fatalf("read grant %s: %v", id, err)
	}
	return g
}

// Request reads a request.
func (h *Harness) Request(id string) grants.Request {
	h.T.Helper()
	r, err := h.Service.GetRequest(h.Ctx, id)
	if err != nil {
		h.T.Fatalf("read request %s: %v", id, err)
	}
	return r
}

// AuditEvents returns the stored audit events of the given types (all when none).
func (h *Harness) AuditEvents(types ...string) []audit.Event {
	h.T.Helper()
	var out []audit.Event
	err := h.DB.ScanAudit(h.Ctx, audit.Filter{}, func(e audit.Event) error {
		if len(types) == 0 || slices.Contains(types, e.Type) {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		h.T.Fatalf("scan audit log: %v", err)
	}
	return out
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
		time.Sleep(5 * time.Millisecond)
	}
}
