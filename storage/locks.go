package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// What several replicas on one PostgreSQL database share beyond rows changed by compare-and-swap
// (docs/reliability.md has the whole picture): named locks, so that a scheduled job (the
// standing-privilege scan, the digest) runs in one process at a time, and a compare-and-swap on
// cursors, so that a consumer of the audit log never moves its cursor back over what another
// replica has already passed.

var _ grants.Locker = (*DB)(nil)

// LockKey is the PostgreSQL advisory lock key of a named lock: the FNV-1a hash of
// "accessbot:" + name, as a bigint. It is what pg_locks shows (classid and objid are its high
// and low 32 bits, objsubid 1).
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("accessbot:" + name))
	return int64(h.Sum64())
}

// TryLock takes the named lock if no one holds it, without waiting. ok is false when another
// holder has it. The lock is held until release is called (which is safe to call more than
// once), or until the process ends.
//
// On PostgreSQL it is a session advisory lock (pg_try_advisory_lock) on a connection set aside
// from the pool until release: two processes on the same database never hold it at once, and
// when a process dies its connection closes and the server lets go of the lock. Should the
// connection break meanwhile, the server lets go too, so hold a lock for one run of a job, not
// for the life of the process. On SQLite (one process) the lock is kept in this DB.
func (db *DB) TryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	_, release, ok, err = db.HoldLock(ctx, name)
	return release, ok, err
}

// HoldLock takes the named lock as TryLock does, for a holder that keeps it as long as it
// lives (the Discord gateway session) and must notice when it has lost it. check answers nil
// while the lock is still held, and an error once it may not be: on PostgreSQL it asks, on the
// lock's own connection, whether that session still holds the lock in pg_locks, so a connection
// that broke (and with it the lock, which another replica may have taken since) is an error.
// On SQLite check fails only after release. Give check a deadline: a connection that hangs is
// as good as lost.
func (db *DB) HoldLock(ctx context.Context, name string) (check func(context.Context) error, release func(), ok bool, err error) {
	if name == "" {
		return nil, nil, false, fmt.Errorf("lock: %w: empty name", grants.ErrInvalid)
	}
	if db.driver != Postgres {
		release, ok, err := db.tryLocalLock(name)
		if !ok || err != nil {
			return nil, nil, ok, err
		}
		var released atomic.Bool
		return func(context.Context) error {
				if released.Load() {
					return fmt.Errorf("lock %q: released", name)
				}
				return nil
			}, func() {
				released.Store(true)
				release()
			}, true, nil
	}
	key := LockKey(name)
	conn, err := db.write.DB.Conn(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("lock %q: %w", name, err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		// The lock may have been taken before the answer was lost: end the session, which
		// releases it.
		discardConn(conn)
		return nil, nil, false, fmt.Errorf("lock %q: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, nil, false, nil
	}
	check = func(ctx context.Context) error {
		var held bool
		err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
			AND pid = pg_backend_pid() AND granted AND objsubid = 1
			AND classid::bigint = ($1::bigint >> 32) & 4294967295 AND objid::bigint = $1::bigint & 4294967295)`,
			key).Scan(&held)
		if err != nil {
			return fmt.Errorf("check lock %q: %w", name, err)
		}
		if !held {
			return fmt.Errorf("check lock %q: no longer held", name)
		}
		return nil
	}
	var once sync.Once
	return check, func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var unlocked bool
			err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&unlocked)
			if err != nil || !unlocked {
				// A session that may still hold the lock must not go back to the pool.
				discardConn(conn)
				return
			}
			conn.Close()
		})
	}, true, nil
}

// discardConn closes a connection for good instead of returning it to the pool.
func discardConn(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

func (db *DB) tryLocalLock(name string) (func(), bool, error) {
	db.lockMu.Lock()
	defer db.lockMu.Unlock()
	if db.held[name] {
		return nil, false, nil
	}
	if db.held == nil {
		db.held = map[string]bool{}
	}
	db.held[name] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			db.lockMu.Lock()
			delete(db.held, name)
			db.lockMu.Unlock()
		})
	}, true, nil
}

// SetCursorIf moves the named cursor to seq only if it is still at old (a cursor never stored is
// at 0), and reports whether it moved. Consumers that several replicas run at once (the SIEM
// sinks) move their cursor with it, so that it never goes back over what another replica passed.
func (db *DB) SetCursorIf(ctx context.Context, name string, old, seq int64) (bool, error) {
	if name == "" {
		return false, fmt.Errorf("set cursor: %w: empty name", grants.ErrInvalid)
	}
	moved := false
	err := db.Update(ctx, func(gt grants.Tx) error {
		moved = false
		err := gt.(*tx).moveCursor(ctx, bot.CursorMove{Name: name, From: old, To: seq}, time.Now().UnixMicro())
		if errors.Is(err, bot.ErrCursorMoved) {
			return nil
		}
		if err != nil {
			return err
		}
		moved = true
		return nil
	})
	return moved, err
}
