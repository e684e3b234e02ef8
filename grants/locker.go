package grants

import (
	"context"
	"fmt"
	"time"
)

// Locker is what keeps a scheduled job (the standing-privilege scan, the digest) to one run per
// firing when several replicas share a database, where every replica keeps the same schedule.
// storage.DB implements it: PostgreSQL advisory locks and the cursors table (on SQLite, one
// process, the lock is kept in the process).
type Locker interface {
	// TryLock takes the named lock if no other holder has it, without waiting; ok is false when
	// one does. The lock lasts until release is called or the process ends.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
	// Cursor returns the named mark (0 when there is none).
	Cursor(ctx context.Context, name string) (int64, error)
	// SetCursorIf moves the named mark to seq only if it is still at old, and reports whether
	// it moved.
	SetCursorIf(ctx context.Context, name string, old, seq int64) (bool, error)
}

// RunOnce runs fn for the firing at slot of the scheduled job named job, unless another process
// is running it right now or has run it (or a later firing) already. next is the job's
// schedule: next(t) is its first firing after t.
//
// Under the lock "job:<job>" it reads the slot of the last run done, kept in the cursor
// "job:<job>" as unix microseconds: that run covers this firing when the schedule's next firing
// after it is later than slot. Otherwise fn runs and, once it has succeeded, the mark moves to
// slot. A firing that every replica's timer reaches at the same moment (a cron spec), or at
// moments apart ("@every" counts from each process's start), therefore runs once, in whichever
// replica comes first. A run that fails, or whose process dies, leaves the mark where it was,
// and the next firing in any replica runs the job: late rather than never.
//
// ran reports whether fn ran here; err is fn's error, or why the lock or the mark could not be
// read or moved.
func RunOnce(ctx context.Context, l Locker, job string, slot time.Time, next func(time.Time) time.Time,
	fn func(context.Context) error) (ran bool, err error) {
	name := "job:" + job
	release, ok, err := l.TryLock(ctx, name)
	if err != nil {
		return false, fmt.Errorf("take the lock of job %s: %w", job, err)
	}
	if !ok {
		return false, nil // another replica is running it
	}
	defer release()
	mark, err := l.Cursor(ctx, name)
	if err != nil {
		return false, fmt.Errorf("read the last run of job %s: %w", job, err)
	}
	if mark != 0 && next(time.UnixMicro(mark).UTC()).After(slot) {
		return false, nil // the firing at mark, here or in another replica, covers this one
	}
	if err := fn(ctx); err != nil {
		return true, err
	}
	if _, err := l.SetCursorIf(context.WithoutCancel(ctx), name, mark, slot.UnixMicro()); err != nil {
		return true, fmt.Errorf("record the run of job %s at %s: %w", job, slot.UTC().Format(time.RFC3339), err)
	}
	return true, nil
}
