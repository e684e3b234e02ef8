package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
)

var (
	_ audit.UnusedSource     = (*DB)(nil)
	_ audit.GrantStorySource = (*DB)(nil)
)

// UnusedGrants returns the grants revoked in the window, of the resources that sample sessions,
// that were active and have no activity.session_seen: one query over the window's grant.revoked
// events, each checked through the partial indexes by grant ID of grant.active and
// activity.session_seen. Oldest revocation first. The resource test concatenates an empty
// string to the column, so that SQLite reads the window through the time index rather than
// every event of the resources through the resource index.
func (db *DB) UnusedGrants(ctx context.Context, q audit.UnusedQuery) ([]audit.UnusedGrant, int, error) {
	if len(q.Resources) == 0 {
		return nil, 0, nil
	}
	args := []any{audit.GrantRevoked, q.Since.UnixMicro(), q.Until.UnixMicro()}
	for _, r := range q.Resources {
		args = append(args, r)
	}
	// The two types are literals, not parameters: the partial indexes of migration 0016 are
	// used only for a query that names their type so.
	from := ` FROM audit_events r
		WHERE r.type = ? AND r.at >= ? AND r.at < ? AND r.grant_id <> '' AND (r.resource || '') IN (` + placeholders(len(q.Resources)) + `)
		AND EXISTS (SELECT 1 FROM audit_events a WHERE a.grant_id = r.grant_id AND a.type = '` + audit.GrantActive + `')
		AND NOT EXISTS (SELECT 1 FROM audit_events s WHERE s.grant_id = r.grant_id AND s.type = '` + audit.ActivitySessionSeen + `')`
	var total int
	if err := db.read.QueryRowxContext(ctx, db.read.Rebind(`SELECT COUNT(DISTINCT r.grant_id)`+from), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count unused grants: %w", err)
	}
	if total == 0 {
		return nil, 0, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = total
	}
	rows, err := db.read.QueryxContext(ctx, db.read.Rebind(`SELECT r.grant_id, r.resource, r.subject, r.at,
		(SELECT MIN(a.at) FROM audit_events a WHERE a.grant_id = r.grant_id AND a.type = '`+audit.GrantActive+`')`+from+`
		ORDER BY r.at LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list unused grants: %w", err)
	}
	defer rows.Close()
	var out []audit.UnusedGrant
	seen := map[string]bool{}
	for rows.Next() {
		var (
			g          audit.UnusedGrant
			end, start int64
		)
		if err := rows.Scan(&g.GrantID, &g.Resource, &g.Subject, &end, &start); err != nil {
			return nil, 0, fmt.Errorf("list unused grants: %w", err)
		}
		if seen[g.GrantID] {
			continue // a grant revoked twice in the log (a forced revoke after a failed one)
		}
		seen[g.GrantID] = true
		g.Start, g.End = time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list unused grants: %w", err)
	}
	return out, total, nil
}

// GrantEvents returns, in order, the events of the grant and of the requests that made and
// extended it, all about one person (subject): read through the subject index, so a grant's
// story costs that person's events, not the log's.
func (db *DB) GrantEvents(ctx context.Context, subject, grantID string, requestIDs []string) ([]audit.Event, error) {
	where := "subject = ? AND (grant_id = ?"
	args := []any{subject, grantID}
	if len(requestIDs) > 0 {
		where += " OR request_id IN (" + placeholders(len(requestIDs)) + ")"
		for _, id := range requestIDs {
			args = append(args, id)
		}
	}
	where += ")"
	rows, err := db.read.QueryContext(ctx, db.read.Rebind(`SELECT seq, at, type, actor, resource, subject, request_id, grant_id, data,
		prev_hash, hash FROM audit_events WHERE `+where+` ORDER BY seq`), args...)
	if err != nil {
		return nil, fmt.Errorf("read the events of grant %s: %w", grantID, err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var (
			e    audit.Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Actor, &e.Resource, &e.Subject,
			&e.RequestID, &e.GrantID, &data, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read the events of grant %s: %w", grantID, err)
		}
		e.At = time.UnixMicro(at).UTC()
		if e.Data, err = decodeMap(data); err != nil {
			return nil, fmt.Errorf("read audit event %d: data: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the events of grant %s: %w", grantID, err)
	}
	return out, nil
}
