package storage

import (
	"context"
	"fmt"

	"github.com/accessbot/accessbot/grants"
)

// CountAsks counts the requests c selects, for the request limits. On PostgreSQL it first
// locks the audit head, which the transaction's own append would lock anyway: concurrent askers
// on every replica then count one after the other, and none stores a request the others have
// not counted. (SQLite has a single writer, so there they already do.) Locking the head first
// cannot deadlock: until its append, such a transaction only reads and inserts rows of its own.
func (t *tx) CountAsks(ctx context.Context, c grants.AskCount) (int, error) {
	if t.db.driver == Postgres {
		if _, err := t.readHead(ctx, " FOR UPDATE"); err != nil {
			return 0, fmt.Errorf("count requests: lock the audit head: %w", err)
		}
	}
	var where []string
	var args []any
	if c.Requester != "" {
		where = append(where, "requester = ?")
		args = append(args, c.Requester)
	}
	if c.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, c.Resource)
	}
	if !c.PendingAt.IsZero() {
		where = append(where, "state = ?", "pending_until > ?")
		args = append(args, string(grants.RequestPending), micros(c.PendingAt))
	}
	if !c.Since.IsZero() {
		where = append(where, "created_at > ?")
		args = append(args, micros(c.Since))
	}
	var n int
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM requests`+whereClause(where), args...); err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	return n, nil
}
