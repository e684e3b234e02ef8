// Package latency measures, for one adapter against its real target, the time from "approved"
// to "adapter returned": from the approval's transaction (Service.Approve) to the transaction
// that writes the grant's grant.active state, which the Scheduler runs once the adapter's Grant
// has returned, as the two audit events' times say. It
// drives the real grants.Service and Scheduler (Scheduler.Run, the wall clock, a SQLite store in
// a temporary directory), exactly as `accessbot serve` does, with one resource on the adapter
// under test and one on the noop adapter. Grants of the two alternate, one at a time, so the
// noop grants are a baseline measured in the same process at the same moment: the ratio of the
// two is what the target costs.
//
// The adapter packages call Bench from a BenchmarkApprovedToReturned in their own tests, since
// the servers they run against (internal/pgtest, internal/mariadbtest, ...) are started for a
// testing.TB. `go run ./bench/adapters` runs those benchmarks and prints the table.
package latency

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// Resource names of the two resources a measurement grants.
const (
	TargetResource   = "target"
	BaselineResource = "baseline-noop"
)

// Options shape a measurement. Zero values take the defaults.
type Options struct {
	// AdapterType is recorded on the resource ("postgres", ...); "target" when empty.
	AdapterType string
	// Account is the requester's account at the target (Resource.Accounts); the local part of
	// the requester's email when empty.
	Account string
	// Requester asks for access; grantstest.Alice when empty. Approver approves (group sre);
	// grantstest.Bob when empty.
	Requester, Approver grants.Actor
	// Duration of each grant; 1h when zero.
	Duration time.Duration
	// Warmup is the number of untimed grant cycles per resource before the timed ones
	// (connections opened, caches filled); 2 when zero, none when negative.
	Warmup int
	// Timeout bounds the wait for one grant to become active or revoked; 30s when zero.
	Timeout time.Duration
}

// Samples are the measured durations of one resource.
type Samples struct {
	// Approved is, per grant, from the approval's transaction to grant.active's (their events'
	// times).
	Approved []time.Duration
	// Call is, per grant, the adapter's Grant call alone, as the Scheduler timed it.
	Call []time.Duration
}

// Result is what one measurement found.
type Result struct {
	Target, Baseline Samples
	// Retries counts grant.retry events (a failed attempt the Scheduler retried). A benchmark
	// with retries measures backoff, not the adapter.
	Retries int
}

// Env is a running Service and Scheduler with the two resources.
type Env struct {
	tb        testing.TB
	o         Options
	svc       *grants.Service
	events    *watcher
	metrics   *metrics
	cancelRun context.CancelFunc
	runDone   chan error
}

// Start builds the Service and Scheduler over a new SQLite store, with the target resource on
// a and the baseline resource on a noop adapter, and starts Scheduler.Run. Everything stops
// when tb ends.
func Start(tb testing.TB, a adapters.Adapter, o Options) *Env {
	tb.Helper()
	if o.AdapterType == "" {
		o.AdapterType = "target"
	}
	if o.Requester.ID == "" {
		o.Requester = grantstest.Alice
	}
	if o.Approver.ID == "" {
		o.Approver = grantstest.Bob
	}
	if o.Duration == 0 {
		o.Duration = time.Hour
	}
	if o.Warmup == 0 {
		o.Warmup = 2
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(tb.TempDir(), "accessbot.db")})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		tb.Fatalf("migrate store: %v", err)
	}
	policy := grants.Policy{
		ApproverGroups:  []string{"sre"},
		Approvals:       1,
		DefaultDuration: o.Duration,
		MaxDuration:     o.Duration,
		PendingTTL:      time.Hour,
	}
	var accounts map[string]string
	if o.Account != "" {
		accounts = map[string]string{o.Requester.ID: o.Account}
	}
	resources := []*grants.Resource{
		{Name: TargetResource, AdapterType: o.AdapterType, Adapter: a, Policy: policy, Accounts: accounts},
		{Name: BaselineResource, AdapterType: "noop", Adapter: noop.New(), Policy: policy, Accounts: accounts},
	}
	e := &Env{tb: tb, o: o, events: newWatcher(), metrics: &metrics{calls: map[string][]time.Duration{}}, runDone: make(chan error, 1)}
	e.svc, err = grants.NewService(grants.Options{
		Store:     db,
		Resources: resources,
		Directory: grantstest.NewDirectory(map[string][]string{"sre": {o.Approver.ID}}),
		Groups:    []string{"sre"},
		Clock:     clock.Real{},
		Log:       zerolog.Nop(),
		Metrics:   e.metrics,
		Secrets:   discard{},
		Notifier:  e.events,
	})
	if err != nil {
		db.Close()
		tb.Fatalf("new service: %v", err)
	}
	sc := grants.NewScheduler(e.svc, grants.SchedulerOptions{})
	runCtx, cancel := context.WithCancel(ctx)
	e.cancelRun = cancel
	go func() { e.runDone <- sc.Run(runCtx) }()
	tb.Cleanup(func() {
		cancel()
		<-e.runDone
		db.Close()
	})
	return e
}

// Cycle makes one grant of resource through the Service (a request, an approval), waits for it
// to become active, revokes it early and waits for the revocation to be confirmed. It returns
// the time from the approval's transaction to grant.active's (the events' times), and the
// adapter's Grant call.
func (e *Env) Cycle(resource string) (approved, call time.Duration, err error) {
	ctx := context.Background()
	out, err := e.svc.Request(ctx, e.o.Requester, grants.RequestInput{Resource: resource, Reason: "benchmark"})
	if err != nil {
		return 0, 0, fmt.Errorf("request %s: %w", resource, err)
	}
	reqID := out.Request.ID
	out, err = e.svc.Approve(ctx, e.o.Approver, reqID)
	if err != nil {
		return 0, 0, fmt.Errorf("approve %s: %w", reqID, err)
	}
	if out.Grant == nil {
		return 0, 0, fmt.Errorf("approval of %s made no grant", out.Request.ID)
	}
	id := out.Grant.ID
	t0, ok := e.events.at(audit.GrantActivating, id)
	if !ok {
		return 0, 0, fmt.Errorf("grant %s: no grant.activating event after the approval", id)
	}
	typ, t1, err := e.events.wait(id, e.o.Timeout, audit.GrantActive, audit.GrantFailed)
	if err != nil {
		return 0, 0, err
	}
	if typ == audit.GrantFailed {
		g, _ := e.svc.GetGrant(ctx, id)
		return 0, 0, fmt.Errorf("grant %s on %s failed: %s", id, resource, g.LastError)
	}
	call = e.metrics.last(resource)
	if _, err := e.svc.Revoke(ctx, e.o.Requester, id); err != nil {
		return 0, 0, fmt.Errorf("revoke %s: %w", id, err)
	}
	if typ, _, err = e.events.wait(id, e.o.Timeout, audit.GrantRevoked, audit.GrantRevokeFailed); err != nil {
		return 0, 0, err
	}
	if typ != audit.GrantRevoked {
		g, _ := e.svc.GetGrant(ctx, id)
		return 0, 0, fmt.Errorf("revocation of %s on %s failed: %s", id, resource, g.LastError)
	}
	return t1.Sub(t0), call, nil
}

// Retries returns the number of grant.retry events so far.
func (e *Env) Retries() int { return e.events.count(audit.GrantRetry) }

// Bench runs the measurement as a Go benchmark: o.Warmup untimed cycles of each resource, then
// per b.Loop iteration one noop cycle and one target cycle. It reports, in milliseconds, the
// p50 and p99 of approved→active for the target (p50-ms, p99-ms) and the baseline (noop-p50-ms,
// noop-p99-ms), the p50 of the target adapter's Grant call alone (call-p50-ms), and the number
// of grants per resource (grants). Run it with -benchtime=200x for 200 grants of each.
func Bench(b *testing.B, a adapters.Adapter, o Options) Result {
	b.Helper()
	e := Start(b, a, o)
	for range max(e.o.Warmup, 0) {
		for _, r := range []string{BaselineResource, TargetResource} {
			if _, _, err := e.Cycle(r); err != nil {
				b.Fatalf("warm-up: %v", err)
			}
		}
	}
	var res Result
	for b.Loop() {
		for _, r := range []string{BaselineResource, TargetResource} {
			approved, call, err := e.Cycle(r)
			if err != nil {
				b.Fatal(err)
			}
			s := &res.Target
			if r == BaselineResource {
				s = &res.Baseline
			}
			s.Approved = append(s.Approved, approved)
			s.Call = append(s.Call, call)
		}
	}
	res.Retries = e.Retries()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(Percentile(res.Target.Approved, 0.50)), "p50-ms")
	b.ReportMetric(ms(Percentile(res.Target.Approved, 0.99)), "p99-ms")
	b.ReportMetric(ms(Percentile(res.Baseline.Approved, 0.50)), "noop-p50-ms")
	b.ReportMetric(ms(Percentile(res.Baseline.Approved, 0.99)), "noop-p99-ms")
	b.ReportMetric(ms(Percentile(res.Target.Call, 0.50)), "call-p50-ms")
	b.ReportMetric(float64(len(res.Target.Approved)), "grants")
	b.ReportMetric(float64(res.Retries), "retries")
	return res
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 1) of ds, without changing ds;
// 0 for no samples.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p + 0.999999999)
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// watcher is the Service's Notifier: it keeps the time of the first event of each type, per
// grant, and wakes whoever waits. The time is the event's own (its transaction's), not when it
// was heard: the approving goroutine may be notified after the Scheduler has already committed
// grant.active, so times of hearing can come out of order; the transactions' cannot.
type watcher struct {
	mu     sync.Mutex
	times  map[string]time.Time // type + " " + grant ID
	counts map[string]int
	poke   chan struct{}
}

func newWatcher() *watcher {
	return &watcher{times: map[string]time.Time{}, counts: map[string]int{}, poke: make(chan struct{}, 1)}
}

// Notify is called right after each commit.
func (w *watcher) Notify(_ context.Context, events []audit.Event) {
	w.mu.Lock()
	for _, ev := range events {
		k := ev.Type + " " + ev.GrantID
		if _, seen := w.times[k]; !seen {
			w.times[k] = ev.At
		}
		w.counts[ev.Type]++
	}
	w.mu.Unlock()
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

func (w *watcher) at(typ, grantID string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.times[typ+" "+grantID]
	return t, ok
}

func (w *watcher) count(typ string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[typ]
}

var errTimeout = errors.New("timed out")

// wait returns the first of types heard of for grantID, and when.
func (w *watcher) wait(grantID string, timeout time.Duration, types ...string) (string, time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, typ := range types {
			if t, ok := w.at(typ, grantID); ok {
				return typ, t, nil
			}
		}
		select {
		case <-w.poke:
		case <-deadline.C:
			return "", time.Time{}, fmt.Errorf("grant %s: %w after %s waiting for %v", grantID, errTimeout, timeout, types)
		}
	}
}

// metrics is the Service's Metrics: it keeps the duration of each adapter Grant call.
type metrics struct {
	mu    sync.Mutex
	calls map[string][]time.Duration
}

func (m *metrics) RevokeLateness(time.Duration) {}
func (m *metrics) RevokeFailure(string)         {}

func (m *metrics) AdapterCall(resource, op string, d time.Duration, err error) {
	if op != "grant" || err != nil {
		return
	}
	m.mu.Lock()
	m.calls[resource] = append(m.calls[resource], d)
	m.mu.Unlock()
}

func (m *metrics) last(resource string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls[resource]
	if len(c) == 0 {
		return 0
	}
	return c[len(c)-1]
}

// discard is the secret sink: the secret (a password, a certificate) would go by direct
// message; here it is dropped.
type discard struct{}

func (discard) DeliverSecret(context.Context, grants.Grant, *adapters.Secret) error { return nil }
