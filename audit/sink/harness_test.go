package sink_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// deadline bounds every wait on another goroutine; it is generous, and only a failing test
// waits that long.
const deadline = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*deadline)
	t.Cleanup(cancel)
	return ctx
}

// newStore returns a migrated SQLite store in a temporary directory.
func newStore(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(testCtx(t), storage.Options{Driver: storage.SQLite, DSN: filepath.Join(t.TempDir(), "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return db
}

// eventTypes cycle through the events appended, so severities and message IDs vary.
var eventTypes = []string{audit.RequestCreated, audit.RequestApproved, audit.GrantActive,
	audit.AlertRaised, audit.RequestRefused, audit.GrantRevoked}

// appendEvents appends n events and returns them as stored.
func appendEvents(t *testing.T, db *storage.DB, n int) []audit.Event {
	t.Helper()
	head, err := db.AuditHead(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]audit.Event, 0, n)
	for i := range n {
		seq := head.Seq + int64(i) + 1
		e, err := db.AppendAudit(testCtx(t), audit.Event{
			At:        t0.Add(time.Duration(seq) * time.Second).Add(123456 * time.Microsecond),
			Type:      eventTypes[int(seq)%len(eventTypes)],
			Actor:     fmt.Sprintf("user%d@example.com", seq%3),
			Resource:  "prod-db",
			Subject:   "alice@example.com",
			RequestID: fmt.Sprintf("r%d", seq),
			// Text a user typed: quotes, brackets, newlines, non-ASCII, HTML.
			Data: map[string]string{"reason": fmt.Sprintf("INC-%d \"quoted\" ] \\ <b>é</b>\nline", seq)},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func head(t *testing.T, db *storage.DB) int64 {
	t.Helper()
	h, err := db.AuditHead(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

// checkEvent checks that an event that went through a sink is the stored one, hash and all.
func checkEvent(t *testing.T, got audit.Event) {
	t.Helper()
	if audit.ComputeHash(got.PrevHash, got) != got.Hash {
		t.Errorf("event %d does not match its hash", got.Seq)
	}
}

// running is a Forwarder running on a fake clock.
type running struct {
	f      *sink.Forwarder
	fc     *clock.Fake
	passes chan sink.Status
	logs   *syncBuffer
}

// start runs a Forwarder for s over db, on fc, until the test ends.
func start(t *testing.T, db sink.Store, fc *clock.Fake, s sink.Sink, batch int) *running {
	t.Helper()
	r := &running{fc: fc, passes: make(chan sink.Status, 10000), logs: &syncBuffer{}}
	f, err := sink.New(sink.Options{
		Name: "siem", Sink: s, Store: db, Clock: r.fc, Batch: batch,
		Log:       zerolog.New(r.logs).Level(zerolog.InfoLevel),
		AfterPass: func(st sink.Status) { r.passes <- st },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.f = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// waitFor waits for a pass whose status satisfies ok.
func (r *running) waitFor(t *testing.T, what string, ok func(sink.Status) bool) sink.Status {
	t.Helper()
	timeout := time.After(deadline)
	var last sink.Status
	for {
		select {
		case st := <-r.passes:
			if ok(st) {
				return st
			}
			last = st
		case <-timeout:
			t.Fatalf("no pass with %s in %s; last status %+v\nlogs:\n%s", what, deadline, last, r.logs)
		}
	}
}

func caughtUp(seq int64) func(sink.Status) bool {
	return func(st sink.Status) bool { return !st.Failing && st.Cursor == seq }
}

func failures(n int) func(sink.Status) bool {
	return func(st sink.Status) bool { return st.Failing && st.Failures >= n }
}

// outage drives one sink's receiver through an outage.
type outage struct {
	// down makes the receiver stop acknowledging; worse, when set, is called after the first
	// failed pass (a receiver that first answers errors, then goes away altogether).
	down, worse, up func()
	// received returns the sequence numbers received, in order, and for each whether its
	// batch was acknowledged; unknown acknowledgement (a TCP stream) is reported as true.
	received func() []delivered
	// settle, when set, waits until the receiver has processed event seq (a TCP receiver
	// reads after the sender has written, and events it has not read die with it).
	settle func(seq int64)
}

type delivered struct {
	seq   int64
	acked bool
}

// catchUp is the outage test every sink passes: events are forwarded; the receiver goes
// down while more are appended; the Forwarder keeps failing through several backoffs; the
// receiver comes back; every event arrives, in order, none missing, duplicates only from
// unacknowledged sends, and the cursor ends at the head.
func catchUp(t *testing.T, db *storage.DB, fc *clock.Fake, s sink.Sink, o outage) {
	const batch = 7
	ctx := testCtx(t)
	r := start(t, db, fc, s, batch)
	appendEvents(t, db, 10)
	r.f.Wake()
	r.waitFor(t, "the first 10 events forwarded", caughtUp(10))
	if o.settle != nil {
		o.settle(10)
	}

	o.down()
	for range 5 {
		r.f.Notify(ctx, appendEvents(t, db, 4))
	}
	st := r.waitFor(t, "a failed pass", failures(1))
	if st.Cursor != 10 || st.Lag() < 1 {
		t.Errorf("after the first failure: cursor %d, lag %d; want 10 and the new events behind", st.Cursor, st.Lag())
	}
	if o.worse != nil {
		o.worse()
	}
	for i := 2; i <= 4; i++ {
		r.fc.Set(st.NextAttempt)
		st = r.waitFor(t, fmt.Sprintf("failed attempt %d", i), failures(i))
		if st.Failures != i {
			t.Fatalf("failures = %d after %d retries: a wake cut the backoff short", st.Failures, i)
		}
	}
	// Events appended without a notification (another replica, config.loaded) are found too.
	appendEvents(t, db, 9)
	want := head(t, db)
	if lag := r.f.Lag(); lag < 20 {
		t.Errorf("Lag() = %d while down, want at least the 20 notified events", lag)
	}

	o.up()
	r.fc.Set(st.NextAttempt)
	st = r.waitFor(t, "the sink caught up", caughtUp(want))
	if st.Lag() != 0 || r.f.Lag() != 0 {
		t.Errorf("lag %d after catching up", st.Lag())
	}
	cur, err := db.Cursor(ctx, sink.CursorName("siem"))
	if err != nil || cur != want {
		t.Errorf("stored cursor = %d, %v; want the head %d", cur, err, want)
	}
	if o.settle != nil {
		o.settle(want)
	}
	checkDelivery(t, o.received(), want, batch)

	logs := r.logs.String()
	if n := strings.Count(logs, "audit sink is failing"); n != 1 {
		t.Errorf("logged the failure %d times over 4 failed passes, want once:\n%s", n, logs)
	}
	if n := strings.Count(logs, "audit sink is back"); n != 1 {
		t.Errorf("logged the recovery %d times, want once:\n%s", n, logs)
	}
}

// checkDelivery checks that 1..head all arrived in order: every delivery starts at or before
// the next new event (no gap), runs on in order, and repeats only events that were never
// acknowledged: at most the one batch whose acknowledgement was lost.
func checkDelivery(t *testing.T, got []delivered, head int64, batch int) {
	t.Helper()
	next := int64(1)
	acked := map[int64]bool{}
	dups := 0
	for i, d := range got {
		switch {
		case d.seq == next:
			next++
		case d.seq < next:
			dups++
			if acked[d.seq] {
				t.Errorf("event %d (delivery %d) was sent again after it was acknowledged", d.seq, i)
			}
		default:
			t.Fatalf("event %d arrived when %d was next: %d-%d are missing (or out of order)", d.seq, next, next, d.seq-1)
		}
		if i > 0 && d.seq != got[i-1].seq+1 && d.seq > got[i-1].seq {
			t.Errorf("delivery %d skips from %d to %d", i, got[i-1].seq, d.seq)
		}
		if d.acked {
			acked[d.seq] = true
		}
	}
	if next != head+1 {
		t.Fatalf("received up to %d, want every event up to the head %d", next-1, head)
	}
	for seq := int64(1); seq <= head; seq++ {
		if !acked[seq] {
			t.Errorf("event %d was never acknowledged", seq)
		}
	}
	if dups > 0 {
		t.Logf("%d duplicate(s) from unacknowledged sends", dups)
	}
	if dups > batch {
		t.Errorf("%d duplicates: more than the one unacknowledged batch (at most %d)", dups, batch)
	}
}

// syncBuffer is a strings.Builder safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
