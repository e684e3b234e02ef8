package storage

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// twoHandles opens the same new database twice, as two replicas do.
func twoHandles(t *testing.T, b backend) (*DB, *DB) {
	t.Helper()
	dsn := b.dsn(t)
	one := openDSN(t, b.driver, dsn)
	if _, err := one.Migrate(testCtx(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return one, openDSN(t, b.driver, dsn)
}

func TestALockHasOneHolderUntilReleased(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		one, two := twoHandles(t, b)
		if b.driver == SQLite {
			// SQLite is one process: the lock is kept in the DB, and the second handle plays
			// the same process asking again.
			two = one
		}
		release, ok, err := one.TryLock(ctx, "job:scan")
		if err != nil || !ok {
			t.Fatalf("TryLock = %v, %v; want the free lock", ok, err)
		}
		if _, ok, err := two.TryLock(ctx, "job:scan"); err != nil || ok {
			t.Fatalf("second TryLock = %v, %v; want refused while held", ok, err)
		}
		other, ok, err := two.TryLock(ctx, "job:digest")
		if err != nil || !ok {
			t.Fatalf("TryLock of another name = %v, %v", ok, err)
		}
		other()
		release()
		release() // a second release does nothing
		again, ok, err := two.TryLock(ctx, "job:scan")
		if err != nil || !ok {
			t.Fatalf("TryLock after release = %v, %v", ok, err)
		}
		if _, ok, _ := one.TryLock(ctx, "job:scan"); ok {
			t.Fatal("the first handle took the lock the second holds")
		}
		again()
		if _, _, err := one.TryLock(ctx, ""); !errors.Is(err, grants.ErrInvalid) {
			t.Errorf("a lock without a name: %v, want ErrInvalid", err)
		}
	})
}

// Many goroutines on two handles race for one lock: never two holders at once.
func TestRacingForALockNeverMakesTwoHolders(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		one, two := twoHandles(t, b)
		var holders, most, taken atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			db := one
			if i%2 == 1 {
				db = two
			}
			if b.driver == SQLite {
				db = one
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					release, ok, err := db.TryLock(ctx, "job:scan")
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						continue
					}
					taken.Add(1)
					n := holders.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					time.Sleep(time.Millisecond)
					holders.Add(-1)
					release()
				}
			}()
		}
		wg.Wait()
		if most.Load() != 1 || taken.Load() == 0 {
			t.Fatalf("at most %d holders at once (taken %d times), want 1", most.Load(), taken.Load())
		}
	})
}

// A process that dies holding a lock loses it: its session ends and the server lets go.
func TestALockDiesWithItsHoldersSession(t *testing.T) {
	b := backends[1]
	ctx := testCtx(t)
	one, two := twoHandles(t, b)
	if _, ok, err := one.TryLock(ctx, "job:scan"); err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	key := LockKey("job:scan")
	// The holder's backend, found from the other handle, is killed as a crash would end it.
	var pid int
	if err := two.read.GetContext(ctx, &pid, `SELECT pid FROM pg_locks WHERE locktype = 'advisory'
		AND granted AND objsubid = 1 AND classid::bigint = ($1::bigint >> 32) & 4294967295
		AND objid::bigint = $1::bigint & 4294967295`, key); err != nil {
		t.Fatalf("find the holder in pg_locks: %v", err)
	}
	if _, ok, _ := two.TryLock(ctx, "job:scan"); ok {
		t.Fatal("a held lock was given out")
	}
	if _, err := two.read.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		release, ok, err := two.TryLock(ctx, "job:scan")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock outlived its holder's session")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A lock held for the life of a role (the Discord gateway session) says whether it is still
// held: yes until it is released, and on PostgreSQL no as soon as its session is gone, killed
// as a crash or a broken connection would end it, when another replica can take it.
func TestAHeldLockKnowsWhenItIsLost(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		one, two := twoHandles(t, b)
		if b.driver == SQLite {
			two = one
		}
		check, release, ok, err := one.HoldLock(ctx, "discord:gateway")
		if err != nil || !ok {
			t.Fatalf("HoldLock = %v, %v; want the free lock", ok, err)
		}
		if err := check(ctx); err != nil {
			t.Fatalf("check of a held lock: %v", err)
		}
		if _, _, ok, err := two.HoldLock(ctx, "discord:gateway"); err != nil || ok {
			t.Fatalf("second HoldLock = %v, %v; want refused while held", ok, err)
		}
		if _, ok, err := two.TryLock(ctx, "discord:gateway"); err != nil || ok {
			t.Fatalf("TryLock of a held lock = %v, %v; want refused", ok, err)
		}
		release()
		release()
		if err := check(ctx); err == nil {
			t.Fatal("check of a released lock answered that it is held")
		}
		if _, _, ok, err := one.HoldLock(ctx, ""); err == nil || ok {
			t.Error("a lock without a name was given out")
		}
		if b.driver == SQLite {
			return
		}
		check, release, ok, err = one.HoldLock(ctx, "discord:gateway")
		if err != nil || !ok {
			t.Fatalf("HoldLock after release = %v, %v", ok, err)
		}
		defer release()
		var pid int
		if err := two.read.GetContext(ctx, &pid, `SELECT pid FROM pg_locks WHERE locktype = 'advisory'
			AND granted AND objsubid = 1 AND classid::bigint = ($1::bigint >> 32) & 4294967295
			AND objid::bigint = $1::bigint & 4294967295`, LockKey("discord:gateway")); err != nil {
			t.Fatalf("find the holder in pg_locks: %v", err)
		}
		// With a timeout, pg_terminate_backend waits until the backend has gone (and with it its
		// advisory lock); without one it only sends the signal, and the next HoldLock could race
		// the dying session.
		if _, err := two.read.ExecContext(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid); err != nil {
			t.Fatal(err)
		}
		if err := check(ctx); err == nil {
			t.Fatal("check answered that a lock whose session was killed is held")
		}
		check2, release2, ok, err := two.HoldLock(ctx, "discord:gateway")
		if err != nil || !ok {
			t.Fatalf("HoldLock after the holder's session died = %v, %v", ok, err)
		}
		defer release2()
		if err := check2(ctx); err != nil {
			t.Fatalf("check of the new holder: %v", err)
		}
	})
}

func TestSetCursorIfMovesOnlyFromWhereTheCursorIs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		db := newDB(t, b)
		if ok, err := db.SetCursorIf(ctx, "sink:siem", 5, 9); err != nil || ok {
			t.Fatalf("a cursor never stored moved from 5: %v, %v", ok, err)
		}
		if ok, err := db.SetCursorIf(ctx, "sink:siem", 0, 9); err != nil || !ok {
			t.Fatalf("a cursor never stored did not move from 0: %v, %v", ok, err)
		}
		if ok, err := db.SetCursorIf(ctx, "sink:siem", 0, 4); err != nil || ok {
			t.Fatalf("a stale move went through: %v, %v", ok, err)
		}
		if ok, err := db.SetCursorIf(ctx, "sink:siem", 9, 12); err != nil || !ok {
			t.Fatalf("a move from where the cursor is failed: %v, %v", ok, err)
		}
		if seq, _ := db.Cursor(ctx, "sink:siem"); seq != 12 {
			t.Errorf("cursor at %d, want 12", seq)
		}
		if _, err := db.SetCursorIf(ctx, "", 0, 1); !errors.Is(err, grants.ErrInvalid) {
			t.Errorf("a cursor without a name: %v, want ErrInvalid", err)
		}
	})
}

// Goroutines on two handles move one cursor forward, each from what it read: every successful
// move is one step, so the cursor ends at the number of successes, and it never went back.
func TestRacingCursorMovesNeverGoBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		one, two := twoHandles(t, b)
		var moves atomic.Int64
		var wg sync.WaitGroup
		for i := range 6 {
			db := one
			if i%2 == 1 {
				db = two
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := int64(0)
				for range 30 {
					cur, err := db.Cursor(ctx, "sink:siem")
					if err != nil {
						t.Error(err)
						return
					}
					if cur < last {
						t.Errorf("the cursor went back from %d to %d", last, cur)
					}
					last = cur
					ok, err := db.SetCursorIf(ctx, "sink:siem", cur, cur+1)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						moves.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if seq, _ := one.Cursor(ctx, "sink:siem"); seq != moves.Load() || seq == 0 {
			t.Fatalf("cursor at %d after %d successful moves", seq, moves.Load())
		}
	})
}
