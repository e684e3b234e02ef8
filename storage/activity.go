package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// The activity sampler's memory (migration 0016, grants.ActivityTx): one row per session seen,
// closed once by a compare-and-swap in the transaction that appends its event.

var _ grants.ActivityTx = (*tx)(nil)

const sessionCols = `grant_id, session_key, resource, account, client, application, started_at, first_seen, last_seen`

type sessionRow struct {
	GrantID     string `db:"grant_id"`
	Key         string `db:"session_key"`
	Resource    string `db:"resource"`
	Account     string `db:"account"`
	Client      string `db:"client"`
	Application string `db:"application"`
	StartedAt   int64  `db:"started_at"`
	FirstSeen   int64  `db:"first_seen"`
	LastSeen    int64  `db:"last_seen"`
}

func (r sessionRow) session() grants.SeenSession {
	return grants.SeenSession{
		GrantID: r.GrantID, Key: r.Key, Resource: r.Resource, Account: r.Account, Client: r.Client,
		Application: r.Application, Started: fromMicros(r.StartedAt),
		FirstSeen: fromMicros(r.FirstSeen), LastSeen: fromMicros(r.LastSeen),
	}
}

// OpenSessions returns up to limit sessions not closed yet, oldest first.
func (t *tx) OpenSessions(ctx context.Context, limit int) ([]grants.SeenSession, error) {
	rows, err := t.queryx(ctx, `SELECT `+sessionCols+` FROM activity_sessions WHERE closed_at = 0
		ORDER BY first_seen, grant_id, session_key LIMIT ?`, limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list open sessions: %w", err)
	}
	defer rows.Close()
	var out []grants.SeenSession
	for rows.Next() {
		var r sessionRow
		if err := rows.StructScan(&r); err != nil {
			return nil, fmt.Errorf("list open sessions: %w", err)
		}
		out = append(out, r.session())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list open sessions: %w", err)
	}
	return out, nil
}

// SeeSession stores a new session, or moves an open one's last_seen forward; a closed one is
// left alone, so a late sample cannot open it again.
func (t *tx) SeeSession(ctx context.Context, s grants.SeenSession) error {
	at := micros(s.LastSeen)
	_, err := t.exec(ctx, `INSERT INTO activity_sessions (`+sessionCols+`, closed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
		ON CONFLICT (grant_id, session_key) DO UPDATE SET last_seen = excluded.last_seen
		WHERE activity_sessions.closed_at = 0 AND activity_sessions.last_seen < excluded.last_seen`,
		s.GrantID, s.Key, s.Resource, s.Account, s.Client, s.Application, micros(s.Started), at, at)
	if err != nil {
		return fmt.Errorf("record session %s of grant %s: %w", s.Key, s.GrantID, err)
	}
	return nil
}

// CloseSession closes an open session at closedAt; ok is false when it is unknown or closed.
func (t *tx) CloseSession(ctx context.Context, grantID, key string, closedAt time.Time) (grants.SeenSession, bool, error) {
	res, err := t.exec(ctx, `UPDATE activity_sessions SET closed_at = ? WHERE grant_id = ? AND session_key = ? AND closed_at = 0`,
		max(micros(closedAt), 1), grantID, key)
	if err != nil {
		return grants.SeenSession{}, false, fmt.Errorf("close session %s of grant %s: %w", key, grantID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return grants.SeenSession{}, false, fmt.Errorf("close session %s of grant %s: %w", key, grantID, err)
	} else if n == 0 {
		return grants.SeenSession{}, false, nil
	}
	var r sessionRow
	if err := t.get(ctx, &r, `SELECT `+sessionCols+` FROM activity_sessions WHERE grant_id = ? AND session_key = ?`, grantID, key); err != nil {
		return grants.SeenSession{}, false, fmt.Errorf("read session %s of grant %s: %w", key, grantID, err)
	}
	return r.session(), true, nil
}

// PruneSessions deletes the sessions closed before.
func (t *tx) PruneSessions(ctx context.Context, before time.Time) error {
	if _, err := t.exec(ctx, `DELETE FROM activity_sessions WHERE closed_at <> 0 AND closed_at < ?`, micros(before)); err != nil {
		return fmt.Errorf("prune closed sessions: %w", err)
	}
	return nil
}
