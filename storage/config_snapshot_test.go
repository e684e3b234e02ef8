package storage

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// TestReplicasStartingWithOneConfigRecordItOnce starts four replicas at once, each with its own
// handle on one database and the same config snapshot: exactly one config.changed is written.
// A later start with another snapshot writes one more, and sees the first as its previous.
func TestReplicasStartingWithOneConfigRecordItOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		first := openDSN(t, b.driver, dsn)
		if _, err := first.Migrate(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		replicas := []*DB{first}
		for range 3 {
			replicas = append(replicas, openDSN(t, b.driver, dsn))
		}
		// Each replica that gets to build the event waits a moment for the others to get
		// there too: without the lock they all would, each having read "no snapshot yet".
		var entered atomic.Int32
		change := func(prev []byte) (audit.Event, error) {
			entered.Add(1)
			for deadline := time.Now().Add(300 * time.Millisecond); entered.Load() < int32(len(replicas)) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			return audit.Event{At: base, Actor: "accessbot"}.With(audit.ConfigChangedData{Initial: prev == nil, SnapshotSHA256: "s1"}), nil
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		recorded := 0
		for _, db := range replicas {
			wg.Go(func() {
				_, ok, err := db.RecordConfigSnapshot(testCtx(t), "s1", []byte(`{"values":{"a":"1"}}`), change)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					recorded++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if recorded != 1 || countType(t, first, audit.ConfigChanged) != 1 {
			t.Fatalf("%d replicas say they recorded, %d events; want 1 and 1", recorded, countType(t, first, audit.ConfigChanged))
		}
		var gotPrev []byte
		e, ok, err := replicas[2].RecordConfigSnapshot(testCtx(t), "s2", []byte(`{"values":{"a":"2"}}`), func(prev []byte) (audit.Event, error) {
			gotPrev = prev
			return audit.Event{At: base, Actor: "accessbot"}.With(audit.ConfigChangedData{SnapshotSHA256: "s2"}), nil
		})
		if err != nil || !ok || e.Seq != 2 {
			t.Fatalf("a changed config: %+v, %v, %v; want event 2 recorded", e, ok, err)
		}
		if string(gotPrev) != `{"values":{"a":"1"}}` {
			t.Errorf("the previous snapshot given = %s", gotPrev)
		}
		if _, ok, err := first.RecordConfigSnapshot(testCtx(t), "s2", nil, func([]byte) (audit.Event, error) {
			return audit.Event{}, errors.New("called for the same snapshot")
		}); err != nil || ok {
			t.Errorf("the same config again: recorded %v, %v; want nothing", ok, err)
		}
	})
}

func countType(t *testing.T, db *DB, typ string) int {
	t.Helper()
	n := 0
	err := db.ScanAudit(context.Background(), audit.Filter{}, func(e audit.Event) error {
		if e.Type == typ {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestScanAuditOfTypeReadsOnlyThatTypeInTheWindow: config.changed events among others, some
// outside the window and one past MaxSeq, are found by type on both drivers.
func TestScanAuditOfTypeReadsOnlyThatTypeInTheWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		for i, typ := range []string{audit.ConfigLoaded, audit.ConfigChanged, audit.GrantActive, audit.ConfigChanged, audit.ConfigChanged, audit.ConfigChanged} {
			if _, err := db.AppendAudit(ctx, audit.Event{At: base.Add(time.Duration(i) * time.Hour), Type: typ, Actor: "accessbot"}); err != nil {
				t.Fatal(err)
			}
		}
		var seqs []int64
		f := audit.Filter{Since: base.Add(time.Hour), Until: base.Add(5 * time.Hour), MaxSeq: 4}
		if err := db.ScanAuditOfType(ctx, audit.ConfigChanged, f, func(e audit.Event) error {
			seqs = append(seqs, e.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs, []int64{2, 4}) {
			t.Errorf("read events %v, want [2 4]", seqs)
		}
	})
}
