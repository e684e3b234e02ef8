package sink_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
)

// memSink records batches; fail, when set, decides whether a batch is refused.
type memSink struct {
	mu      sync.Mutex
	batches [][2]int64 // first and last seq of each batch, refused ones too
	refused []bool
	fail    func(first int64) bool
}

func (m *memSink) Send(_ context.Context, events []audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	first, last := events[0].Seq, events[len(events)-1].Seq
	refuse := m.fail != nil && m.fail(first)
	m.batches = append(m.batches, [2]int64{first, last})
	m.refused = append(m.refused, refuse)
	if refuse {
		return errors.New("sink refused")
	}
	return nil
}

func (m *memSink) Close() error   { return nil }
func (m *memSink) String() string { return "memory" }

func (m *memSink) got() [][2]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][2]int64(nil), m.batches...)
}

func newForwarder(t *testing.T, store sink.Store, s sink.Sink, batch int) *sink.Forwarder {
	t.Helper()
	f, err := sink.New(sink.Options{Name: "siem", Sink: s, Store: store, Batch: batch, Clock: clock.NewFake(t0), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestForwarderSendsInBatchesAndMovesTheCursorAfterEach(t *testing.T) {
	db := newStore(t)
	appendEvents(t, db, 1234)
	m := &memSink{fail: func(first int64) bool { return first == 501 }}
	f := newForwarder(t, db, m, 500)
	ctx := testCtx(t)

	n, err := f.ForwardOnce(ctx)
	if err == nil || n != 500 {
		t.Fatalf("ForwardOnce = %d, %v; want the first batch sent, then the refusal", n, err)
	}
	if cur, _ := db.Cursor(ctx, "sink:siem"); cur != 500 {
		t.Errorf("cursor %d after a refused second batch, want 500", cur)
	}
	st := f.Status()
	if !st.Failing || st.Failures != 1 || st.Cursor != 500 || st.Head != 1234 || st.Lag() != 734 || f.Lag() != 734 {
		t.Errorf("status %+v, lag %d", st, f.Lag())
	}

	m.fail = nil
	if n, err := f.ForwardOnce(ctx); err != nil || n != 734 {
		t.Fatalf("ForwardOnce = %d, %v; want the remaining 734", n, err)
	}
	want := [][2]int64{{1, 500}, {501, 1000}, {501, 1000}, {1001, 1234}}
	if got := m.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	if st := f.Status(); st.Failing || st.Failures != 0 || st.Lag() != 0 {
		t.Errorf("status after catching up %+v", st)
	}

	// Another Forwarder under the same name (a restart) starts at the stored cursor.
	appendEvents(t, db, 3)
	m2 := &memSink{}
	if n, err := newForwarder(t, db, m2, 500).ForwardOnce(ctx); err != nil || n != 3 {
		t.Fatalf("after a restart: %d, %v", n, err)
	}
	if got := m2.got(); len(got) != 1 || got[0] != [2]int64{1235, 1237} {
		t.Errorf("after a restart: batches %v", got)
	}
}

// flakyCursor fails the first cursor move.
type flakyCursor struct {
	sink.Store
	mu     sync.Mutex
	failed bool
}

func (s *flakyCursor) SetCursorIf(ctx context.Context, name string, old, seq int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.failed {
		s.failed = true
		return false, errors.New("database is locked")
	}
	return s.Store.SetCursorIf(ctx, name, old, seq)
}

func TestABatchWhoseCursorWasNotStoredIsSentAgain(t *testing.T) {
	db := newStore(t)
	appendEvents(t, db, 5)
	m := &memSink{}
	f := newForwarder(t, &flakyCursor{Store: db}, m, 500)
	if _, err := f.ForwardOnce(testCtx(t)); err == nil {
		t.Fatal("a failed cursor move was not reported")
	}
	if _, err := f.ForwardOnce(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := m.got(); fmt.Sprint(got) != "[[1 5] [1 5]]" {
		t.Errorf("batches %v: want the batch again (a duplicate, never a gap)", got)
	}
}

func TestBackoffDoublesUpToTheMaximumWithJitter(t *testing.T) {
	db := newStore(t)
	appendEvents(t, db, 1)
	fc := clock.NewFake(t0)
	passes := make(chan sink.Status, 100)
	f, err := sink.New(sink.Options{Name: "siem", Sink: &memSink{fail: func(int64) bool { return true }}, Store: db,
		Clock: fc, Log: zerolog.Nop(), RetryStart: time.Second, RetryMax: 8 * time.Second,
		AfterPass: func(st sink.Status) { passes <- st }})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{f: f, fc: fc, passes: passes, logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for i, base := range []time.Duration{1, 2, 4, 8, 8, 8} {
		st := r.waitFor(t, fmt.Sprintf("failure %d", i+1), failures(i+1))
		base *= time.Second
		if d := st.NextAttempt.Sub(fc.Now()); d < base*8/10 || d > base*12/10 {
			t.Errorf("after failure %d: next attempt in %s, want %s ±20%%", i+1, d, base)
		}
		f.Wake() // ignored while backing off
		fc.Set(st.NextAttempt)
	}
}

func TestThePollFindsEventsNobodyNotified(t *testing.T) {
	db := newStore(t)
	m := &memSink{}
	fc := clock.NewFake(t0)
	r := start(t, db, fc, m, 500)
	st := r.waitFor(t, "the first pass", func(sink.Status) bool { return true })
	appendEvents(t, db, 3) // a config.loaded, say: appended without a Notify
	fc.Set(st.NextAttempt)
	if !st.NextAttempt.Equal(t0.Add(sink.DefaultPoll)) {
		t.Errorf("next attempt %v, want after the %s poll", st.NextAttempt, sink.DefaultPoll)
	}
	r.waitFor(t, "the poll forwarding the events", caughtUp(3))
}

type countingNotifier struct{ n int }

func (c *countingNotifier) Notify(context.Context, []audit.Event) { c.n++ }

func TestNotifiersTellEveryone(t *testing.T) {
	a, b := &countingNotifier{}, &countingNotifier{}
	sink.Notifiers{a, nil, b}.Notify(context.Background(), nil)
	if a.n != 1 || b.n != 1 {
		t.Errorf("notified %d and %d times", a.n, b.n)
	}
}

func TestNewNeedsANameASinkAndAStore(t *testing.T) {
	db := newStore(t)
	for _, o := range []sink.Options{{Sink: &memSink{}, Store: db}, {Name: "x", Store: db}, {Name: "x", Sink: &memSink{}}} {
		if _, err := sink.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestStoredLagFailuresAndLastSuccessWhileTheSinkIsDown(t *testing.T) {
	db := newStore(t)
	appendEvents(t, db, 5)
	down := false
	m := &memSink{fail: func(int64) bool { return down }}
	fc := clock.NewFake(t0)
	f, err := sink.New(sink.Options{Name: "siem", Sink: m, Store: db, Clock: fc, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if lag, err := f.StoredLag(ctx); err != nil || lag != 5 {
		t.Fatalf("before any pass: StoredLag = %d, %v; want 5", lag, err)
	}
	if _, err := f.ForwardOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if lag, err := f.StoredLag(ctx); err != nil || lag != 0 {
		t.Fatalf("after a delivered pass: StoredLag = %d, %v; want 0", lag, err)
	}
	if st := f.Status(); !st.LastSuccess.Equal(t0) || st.TotalFailures != 0 {
		t.Fatalf("after a delivered pass: last success %v, failures %d; want %v and 0", st.LastSuccess, st.TotalFailures, t0)
	}

	m.mu.Lock()
	down = true
	m.mu.Unlock()
	appendEvents(t, db, 3)
	for i := range 2 {
		fc.Advance(time.Minute)
		if _, err := f.ForwardOnce(ctx); err == nil {
			t.Fatalf("pass %d: a refused batch was not reported", i)
		}
	}
	if lag, err := f.StoredLag(ctx); err != nil || lag != 3 {
		t.Errorf("while the sink is down: StoredLag = %d, %v; want the 3 unacknowledged events", lag, err)
	}
	st := f.Status()
	if st.TotalFailures != 2 {
		t.Errorf("TotalFailures = %d, want 2", st.TotalFailures)
	}
	if !st.LastSuccess.Equal(t0) {
		t.Errorf("LastSuccess = %v, want it to stay at %v while the sink is down", st.LastSuccess, t0)
	}
}
