package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// Holds that know their owner: the processes table keeps each process's heartbeat, and
// grants.claim_owner names the process whose claim holds a grant. A hold whose owner has no
// heartbeat row, or one older than the caller's deadline, is lapsed (docs/reliability.md).

var (
	_ grants.Heartbeats = (*DB)(nil)
	_ grants.HoldTx     = (*tx)(nil)
)

// pruneAfter is how long a silent process's row is kept: long past any hold it could own.
const pruneAfter = 24 * time.Hour

// Beat records that the process id is alive at now: its row is made on the first beat (which
// also prunes the rows of processes silent for a day) and its last_seen moved on every beat. A
// beat never moves last_seen back.
func (db *DB) Beat(ctx context.Context, id string, startedAt, now time.Time) error {
	if id == "" {
		return fmt.Errorf("heartbeat: %w: empty process id", grants.ErrInvalid)
	}
	at := now.UnixMicro()
	return db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		res, err := t.exec(ctx, `UPDATE processes SET last_seen = ? WHERE id = ? AND last_seen < ?`, at, id, at)
		if err != nil {
			return fmt.Errorf("heartbeat of process %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("heartbeat of process %s: %w", id, err)
		} else if n == 1 {
			return nil
		}
		if _, err := t.exec(ctx, `INSERT INTO processes (id, started_at, last_seen) VALUES (?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, id, micros(startedAt), at); err != nil {
			return fmt.Errorf("record process %s: %w", id, err)
		}
		if _, err := t.exec(ctx, `DELETE FROM processes WHERE last_seen < ?`, now.Add(-pruneAfter).UnixMicro()); err != nil {
			return fmt.Errorf("prune silent processes: %w", err)
		}
		return nil
	})
}

// ownerAlive is the condition, on a grants row, that its claim's owner beat at or after the
// parameter.
const ownerAlive = `EXISTS (SELECT 1 FROM processes p WHERE p.id = grants.claim_owner AND p.last_seen >= ?)`

// OrphanedGrants returns up to limit grants held by a claim whose owner was last seen before
// deadBefore (or never), while the claim itself has not lapsed yet: next_attempt_at after now.
// Earliest claim first.
func (t *tx) OrphanedGrants(ctx context.Context, now, deadBefore time.Time, limit int) ([]grants.Grant, error) {
	args := append([]any{}, attemptStates...)
	args = append(args, now.UnixMicro(), deadBefore.UnixMicro(), limitOrAll(limit))
	gs, err := t.selectGrants(ctx, `SELECT `+grantCols+` FROM grants
		WHERE claim_owner <> '' AND state IN (?, ?, ?) AND next_attempt_at > ? AND NOT `+ownerAlive+`
		ORDER BY next_attempt_at, id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants held by dead processes: %w", err)
	}
	return gs, nil
}

// OwnersLastSeen returns the earliest heartbeat among the owners, other than except, of the
// claims that still hold grants (a claim whose owner has no row counts as seen at the zero
// time); ok is false when no other process holds a grant.
func (t *tx) OwnersLastSeen(ctx context.Context, now time.Time, except string) (time.Time, bool, error) {
	args := append([]any{}, attemptStates...)
	args = append(args, except, now.UnixMicro())
	var held int
	var seen sql.NullInt64
	err := t.queryRow(ctx, `SELECT COUNT(*), MIN(COALESCE(p.last_seen, 0)) FROM grants g
		LEFT JOIN processes p ON p.id = g.claim_owner
		WHERE g.claim_owner <> '' AND g.state IN (?, ?, ?) AND g.claim_owner <> ? AND g.next_attempt_at > ?`,
		args...).Scan(&held, &seen)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the heartbeats of the holders of grants: %w", err)
	}
	if held == 0 || !seen.Valid {
		return time.Time{}, false, nil
	}
	// Not fromMicros: 0 (no heartbeat row) must read as a time, long past.
	return time.UnixMicro(seen.Int64).UTC(), true, nil
}
