package sink_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/storage"
)

// Several replicas each run every sink, from the one stored cursor.

// heldSink holds its first Send until released: a replica slow to get its batch acknowledged.
type heldSink struct {
	memSink
	once             sync.Once
	started, release chan struct{}
}

func (h *heldSink) Send(ctx context.Context, events []audit.Event) error {
	h.once.Do(func() {
		close(h.started)
		<-h.release
	})
	return h.memSink.Send(ctx, events)
}

// openTwice opens one migrated database twice, as two replicas do.
func openTwice(t *testing.T, driver, dsn string) (*storage.DB, *storage.DB) {
	t.Helper()
	var dbs [2]*storage.DB
	for i := range dbs {
		db, err := storage.Open(testCtx(t), storage.Options{Driver: driver, DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

func eachReplicaStore(t *testing.T, test func(t *testing.T, one, two *storage.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		one, two := openTwice(t, storage.SQLite, filepath.Join(t.TempDir(), "accessbot.db"))
		test(t, one, two)
	})
	t.Run("postgres", func(t *testing.T) {
		one, two := openTwice(t, storage.Postgres, pgtest.Start(t).NewDatabase(t))
		test(t, one, two)
	})
}

// Replica A reads the cursor and sends a batch that takes long to be acknowledged; meanwhile
// replica B sends the same batch and the next. When A's acknowledgement comes, the cursor stays
// where B left it (before the compare-and-swap, A moved it back and the events after it went
// out again), and A goes on from there.
func TestAReplicaLateWithABatchNeverMovesTheCursorBack(t *testing.T) {
	eachReplicaStore(t, func(t *testing.T, one, two *storage.DB) {
		ctx := testCtx(t)
		appendEvents(t, one, 10)
		slow := &heldSink{started: make(chan struct{}), release: make(chan struct{})}
		a := newForwarder(t, one, slow, 500)
		b := newForwarder(t, two, &memSink{}, 500)

		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := a.ForwardOnce(ctx)
			done <- result{n, err}
		}()
		select {
		case <-slow.started:
		case <-time.After(deadline):
			t.Fatal("replica A never sent")
		}
		if n, err := b.ForwardOnce(ctx); err != nil || n != 10 {
			t.Fatalf("replica B forwarded %d, %v; want 10", n, err)
		}
		appendEvents(t, two, 5)
		if n, err := b.ForwardOnce(ctx); err != nil || n != 5 {
			t.Fatalf("replica B forwarded %d, %v; want 5", n, err)
		}
		close(slow.release)
		r := <-done
		if r.err != nil || r.n != 0 {
			t.Fatalf("replica A: %d, %v; want its duplicate batch not counted", r.n, r.err)
		}
		if cur, _ := one.Cursor(ctx, "sink:siem"); cur != 15 {
			t.Fatalf("cursor at %d after the late acknowledgement, want 15 (never back)", cur)
		}
		if st := a.Status(); st.Cursor != 15 || st.Lag() != 0 {
			t.Errorf("replica A's status %+v", st)
		}
		if got := slow.got(); len(got) != 1 || got[0] != [2]int64{1, 10} {
			t.Errorf("replica A sent %v; want only the batch it had read", got)
		}
		// Nothing is left for either.
		for _, f := range []interface {
			ForwardOnce(context.Context) (int, error)
		}{a, b} {
			if n, err := f.ForwardOnce(ctx); err != nil || n != 0 {
				t.Errorf("a later pass forwarded %d, %v", n, err)
			}
		}
	})
}

// Two replicas forward one sink while both append: every event arrives, and the cursor only
// ever moves forward. Without a Locker batches sent at the same moment arrive twice; with one
// the replicas take turns and every event arrives once.
func TestTwoReplicasForwardingAtOnceLoseNothing(t *testing.T) {
	for _, locked := range []bool{false, true} {
		name := "cursor only"
		if locked {
			name = "with the lock"
		}
		t.Run(name, func(t *testing.T) { forwardFromTwoReplicas(t, locked) })
	}
}

func forwardFromTwoReplicas(t *testing.T, locked bool) {
	eachReplicaStore(t, func(t *testing.T, one, two *storage.DB) {
		ctx := testCtx(t)
		sinks := [2]*memSink{{}, {}}
		dbs := [2]*storage.DB{one, two}
		var fs [2]*sink.Forwarder
		for i := range fs {
			o := sink.Options{Name: "siem", Sink: sinks[i], Store: dbs[i], Batch: 7, Clock: clock.NewFake(t0), Log: zerolog.Nop()}
			if locked {
				o.Locker = dbs[i]
				if one.Driver() == storage.SQLite {
					// One process per SQLite file: its locks are kept in the one handle.
					o.Locker = one
				}
			}
			f, err := sink.New(o)
			if err != nil {
				t.Fatal(err)
			}
			fs[i] = f
		}

		stop := make(chan struct{})
		var watch sync.WaitGroup
		watch.Add(1)
		go func() {
			defer watch.Done()
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				cur, err := one.Cursor(ctx, "sink:siem")
				if err != nil {
					t.Error(err)
					return
				}
				if cur < last {
					t.Errorf("the cursor went back from %d to %d", last, cur)
				}
				last = cur
				time.Sleep(time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					appendEvents(t, dbs[i], 3)
					if _, err := fs[i].ForwardOnce(ctx); err != nil {
						t.Errorf("replica %d: %v", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, f := range fs {
			if _, err := f.ForwardOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		watch.Wait()

		h := head(t, one)
		if cur, _ := one.Cursor(ctx, "sink:siem"); cur != h || h != 120 {
			t.Fatalf("cursor %d, head %d; want both 120", cur, h)
		}
		got := make([]int, h+1)
		for _, s := range sinks {
			for _, b := range s.got() {
				for seq := b[0]; seq <= b[1]; seq++ {
					got[seq]++
				}
			}
		}
		dups := 0
		for seq := 1; seq <= int(h); seq++ {
			if got[seq] == 0 {
				t.Fatalf("event %d never reached the sink", seq)
			}
			dups += got[seq] - 1
		}
		t.Logf("%d events, %d sent twice (receivers drop them by sequence number)", h, dups)
		if locked && dups != 0 {
			t.Errorf("%d events sent twice although the replicas took turns", dups)
		}
	})
}
