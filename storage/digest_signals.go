package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// SignalEvents calls fn for the request.created events of [since, until) that may carry raised
// misuse signals, in sequence order (digest.SignalStore). One query reads them by type and
// window (audit_events_at); the data test leaves out requests that raised none ("raised" is
// written only when a signal was on), and the digest decodes the rest, so a word "raised" in a
// reason costs a decode, not a wrong line.
func (db *DB) SignalEvents(ctx context.Context, since, until time.Time, fn func(audit.Event) error) error {
	rows, err := db.read.QueryContext(ctx, db.read.Rebind(`SELECT seq, at, type, actor, resource, subject,
		request_id, grant_id, data FROM audit_events WHERE at >= ? AND at < ? AND type = ? AND data LIKE ?
		ORDER BY seq`), since.UnixMicro(), until.UnixMicro(), audit.RequestCreated, "%raised%")
	if err != nil {
		return fmt.Errorf("read the requests with signals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e    audit.Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Actor, &e.Resource, &e.Subject, &e.RequestID, &e.GrantID, &data); err != nil {
			return fmt.Errorf("read the requests with signals: %w", err)
		}
		e.At = time.UnixMicro(at).UTC()
		if e.Data, err = decodeMap(data); err != nil {
			return fmt.Errorf("read audit event %d: data: %w", e.Seq, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the requests with signals: %w", err)
	}
	return nil
}

// RequestVolumes counts the requests made in [since, until) by person and by resource
// (digest.SignalStore): two GROUP BY queries over the window's request.created events.
func (db *DB) RequestVolumes(ctx context.Context, since, until time.Time) (byPerson, byResource map[string]int, err error) {
	count := func(col string) (map[string]int, error) {
		rows, err := db.read.QueryContext(ctx, db.read.Rebind(`SELECT `+col+`, COUNT(*) FROM audit_events
			WHERE at >= ? AND at < ? AND type = ? GROUP BY `+col), since.UnixMicro(), until.UnixMicro(), audit.RequestCreated)
		if err != nil {
			return nil, fmt.Errorf("count requests by %s: %w", col, err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var name string
			var n int
			if err := rows.Scan(&name, &n); err != nil {
				return nil, fmt.Errorf("count requests by %s: %w", col, err)
			}
			out[name] = n
		}
		return out, rows.Err()
	}
	if byPerson, err = count("subject"); err != nil {
		return nil, nil, err
	}
	if byResource, err = count("resource"); err != nil {
		return nil, nil, err
	}
	return byPerson, byResource, nil
}
