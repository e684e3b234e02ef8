package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// The chat tables (migration 0002) hold what bot.Store needs: people, the outbox, the references
// of kept messages. The dispatcher's cursor lives in cursors beside the SIEM sinks'.

var _ bot.Store = (*DB)(nil)

// RememberPerson records where a person can be reached on a platform, replacing what was known.
func (db *DB) RememberPerson(ctx context.Context, p bot.Person) error {
	if p.ID == "" || p.Platform == "" || p.PlatformID == "" {
		return fmt.Errorf("remember person: %w: id, platform and platform ID are required", grants.ErrInvalid)
	}
	return db.Update(ctx, func(gt grants.Tx) error {
		_, err := gt.(*tx).exec(ctx, `INSERT INTO chat_people (person_id, platform, platform_id, name, seen_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (person_id, platform) DO UPDATE SET
			platform_id = excluded.platform_id, name = excluded.name, seen_at = excluded.seen_at`,
			p.ID, p.Platform, p.PlatformID, p.Name, micros(p.SeenAt))
		if err != nil {
			return fmt.Errorf("remember person %s on %s: %w", p.ID, p.Platform, err)
		}
		return nil
	})
}

// PlatformUser returns the person's user ID on the platform, or bot.ErrUnknownPerson.
func (db *DB) PlatformUser(ctx context.Context, personID, platform string) (string, error) {
	var id string
	err := db.read.GetContext(ctx, &id, db.read.Rebind(
		`SELECT platform_id FROM chat_people WHERE person_id = ? AND platform = ?`), personID, platform)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("user ID of %s on %s: %w", personID, platform, bot.ErrUnknownPerson)
	}
	if err != nil {
		return "", fmt.Errorf("read user ID of %s on %s: %w", personID, platform, err)
	}
	return id, nil
}

type personRow struct {
	ID         string `db:"person_id"`
	Platform   string `db:"platform"`
	PlatformID string `db:"platform_id"`
	Name       string `db:"name"`
	SeenAt     int64  `db:"seen_at"`
}

// People returns what is known of a person on every platform, most recently seen first.
func (db *DB) People(ctx context.Context, personID string) ([]bot.Person, error) {
	var rows []personRow
	if err := db.read.SelectContext(ctx, &rows, db.read.Rebind(`SELECT person_id, platform, platform_id,
		name, seen_at FROM chat_people WHERE person_id = ? ORDER BY seen_at DESC, platform`), personID); err != nil {
		return nil, fmt.Errorf("read platforms of %s: %w", personID, err)
	}
	out := make([]bot.Person, len(rows))
	for i, r := range rows {
		out[i] = bot.Person{ID: r.ID, Name: r.Name, Platform: r.Platform, PlatformID: r.PlatformID, SeenAt: fromMicros(r.SeenAt)}
	}
	return out, nil
}

// InitCursor creates the named cursor at the end of the audit log unless it exists, and
// returns where it is.
func (db *DB) InitCursor(ctx context.Context, name string) (int64, error) {
	if name == "" {
		return 0, fmt.Errorf("init cursor: %w: empty name", grants.ErrInvalid)
	}
	var seq int64
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		// The WHERE keeps SQLite from reading ON CONFLICT as part of the SELECT.
		if _, err := t.exec(ctx, `INSERT INTO cursors (name, seq, updated_at)
			SELECT ?, seq, ? FROM audit_head WHERE id = 1 ON CONFLICT (name) DO NOTHING`,
			name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("create cursor %q: %w", name, err)
		}
		if err := t.get(ctx, &seq, `SELECT seq FROM cursors WHERE name = ?`, name); err != nil {
			return fmt.Errorf("read cursor %q: %w", name, err)
		}
		return nil
	})
	return seq, err
}

const outboxCols = `platform, delivery_key, kind, queue, message, channel, person, seq, idx,
	request_id, grant_id, view_json, state, attempts, claim, next_attempt_at, last_error, created_at, done_at`

type outboxRow struct {
	Platform      string `db:"platform"`
	Key           string `db:"delivery_key"`
	Kind          string `db:"kind"`
	Queue         string `db:"queue"`
	Message       string `db:"message"`
	Channel       string `db:"channel"`
	Person        string `db:"person"`
	Seq           int64  `db:"seq"`
	Index         int    `db:"idx"`
	RequestID     string `db:"request_id"`
	GrantID       string `db:"grant_id"`
	ViewJSON      string `db:"view_json"`
	State         string `db:"state"`
	Attempts      int    `db:"attempts"`
	Claim         int64  `db:"claim"`
	NextAttemptAt int64  `db:"next_attempt_at"`
	LastError     string `db:"last_error"`
	CreatedAt     int64  `db:"created_at"`
	DoneAt        int64  `db:"done_at"`
}

func (r outboxRow) delivery() (bot.Delivery, error) {
	d := bot.Delivery{
		Platform: r.Platform, Key: r.Key, Kind: bot.DeliveryKind(r.Kind), Queue: r.Queue,
		Message: r.Message, Channel: r.Channel, Person: r.Person, Seq: r.Seq, Index: r.Index,
		RequestID: r.RequestID, GrantID: r.GrantID, State: bot.DeliveryState(r.State),
		Attempts: r.Attempts, Claim: r.Claim, NextAttemptAt: fromMicros(r.NextAttemptAt),
		LastError: r.LastError, CreatedAt: fromMicros(r.CreatedAt), DoneAt: fromMicros(r.DoneAt),
	}
	if r.ViewJSON != "" {
		var v bot.View
		if err := json.Unmarshal([]byte(r.ViewJSON), &v); err != nil {
			return bot.Delivery{}, fmt.Errorf("delivery %s/%s: decode view: %w", r.Platform, r.Key, err)
		}
		d.View = &v
	}
	return d, nil
}

// Enqueue stores the deliveries whose keys are new and moves the cursor, in one transaction.
func (db *DB) Enqueue(ctx context.Context, ds []bot.Delivery, move *bot.CursorMove) error {
	return db.Update(ctx, func(gt grants.Tx) error { return gt.(*tx).Enqueue(ctx, ds, move) })
}

// Enqueue is DB.Enqueue inside a transaction: for a writer that queues deliveries of the
// events it appends in the same transaction, so that the events, their deliveries and the
// cursor move commit together or not at all.
func (t *tx) Enqueue(ctx context.Context, ds []bot.Delivery, move *bot.CursorMove) error {
	for _, d := range ds {
		if d.Platform == "" || d.Key == "" || d.Kind == "" {
			return fmt.Errorf("enqueue delivery %q: %w: platform, key and kind are required", d.Key, grants.ErrInvalid)
		}
	}
	now := time.Now().UnixMicro()
	if move != nil {
		if err := t.moveCursor(ctx, *move, now); err != nil {
			return err
		}
	}
	for _, d := range ds {
		view := ""
		if d.View != nil {
			b, err := json.Marshal(d.View)
			if err != nil {
				return fmt.Errorf("enqueue delivery %s: encode view: %w", d.Key, err)
			}
			view = string(b)
		}
		created := micros(d.CreatedAt)
		if created == 0 {
			created = now
		}
		next := micros(d.NextAttemptAt)
		if _, err := t.exec(ctx, `INSERT INTO chat_outbox (`+outboxCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (platform, delivery_key) DO NOTHING`,
			d.Platform, d.Key, string(d.Kind), d.Queue, d.Message, d.Channel, d.Person, d.Seq, d.Index,
			d.RequestID, d.GrantID, view, string(bot.DeliveryPending), 0, 0, next, "", created, 0); err != nil {
			return fmt.Errorf("enqueue delivery %s/%s: %w", d.Platform, d.Key, err)
		}
	}
	return nil
}

func (t *tx) moveCursor(ctx context.Context, m bot.CursorMove, now int64) error {
	res, err := t.exec(ctx, `UPDATE cursors SET seq = ?, updated_at = ? WHERE name = ? AND seq = ?`,
		m.To, now, m.Name, m.From)
	if err != nil {
		return fmt.Errorf("move cursor %q to %d: %w", m.Name, m.To, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("move cursor %q to %d: %w", m.Name, m.To, err)
	} else if n == 1 {
		return nil
	}
	if m.From == 0 {
		// A cursor that was never stored is at 0.
		res, err := t.exec(ctx, `INSERT INTO cursors (name, seq, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, m.Name, m.To, now)
		if err != nil {
			return fmt.Errorf("create cursor %q at %d: %w", m.Name, m.To, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return nil
		}
	}
	return fmt.Errorf("move cursor %q from %d to %d: %w", m.Name, m.From, m.To, bot.ErrCursorMoved)
}

// queueHead selects, from chat_outbox o, the deliveries no earlier pending delivery of their
// queue holds back.
const queueHead = `(o.queue = '' OR NOT EXISTS (SELECT 1 FROM chat_outbox p
	WHERE p.platform = o.platform AND p.queue = o.queue AND p.state = 'pending'
	AND (p.seq < o.seq OR (p.seq = o.seq AND p.idx < o.idx))))`

// ClaimDeliveries claims due deliveries by compare-and-swap on their claim counter, so that two
// senders (two replicas) never send the same one.
func (db *DB) ClaimDeliveries(ctx context.Context, platform string, now, until time.Time, limit int) ([]bot.Delivery, error) {
	var out []bot.Delivery
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		out = out[:0]
		rows, err := t.queryx(ctx, `SELECT `+prefixCols("o.", outboxCols)+` FROM chat_outbox o
			WHERE o.platform = ? AND o.state = 'pending' AND o.next_attempt_at <= ? AND `+queueHead+`
			ORDER BY o.seq, o.idx, o.delivery_key LIMIT ?`, platform, micros(now), limitOrAll(limit))
		if err != nil {
			return fmt.Errorf("read due deliveries: %w", err)
		}
		var due []outboxRow
		for rows.Next() {
			var r outboxRow
			if err := rows.StructScan(&r); err != nil {
				rows.Close()
				return fmt.Errorf("read due deliveries: %w", err)
			}
			due = append(due, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read due deliveries: %w", err)
		}
		for _, r := range due {
			res, err := t.exec(ctx, `UPDATE chat_outbox SET claim = claim + 1, next_attempt_at = ?
				WHERE platform = ? AND delivery_key = ? AND state = 'pending' AND claim = ?`,
				micros(until), r.Platform, r.Key, r.Claim)
			if err != nil {
				return fmt.Errorf("claim delivery %s/%s: %w", r.Platform, r.Key, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				continue // another sender claimed it first
			}
			r.Claim++
			r.NextAttemptAt = micros(until)
			d, err := r.delivery()
			if err != nil {
				return err
			}
			d.CoverSeq = d.Seq
			if d.Queue != "" {
				var cover struct {
					Seq     sql.NullInt64 `db:"cover"`
					Pending int           `db:"pending"`
				}
				if err := t.get(ctx, &cover, `SELECT MAX(seq) AS cover, COUNT(*) AS pending FROM chat_outbox
					WHERE platform = ? AND queue = ? AND state = 'pending'`, d.Platform, d.Queue); err != nil {
					return fmt.Errorf("read queue %s: %w", d.Queue, err)
				}
				if cover.Seq.Valid && cover.Seq.Int64 > d.CoverSeq {
					d.CoverSeq = cover.Seq.Int64
				}
				d.Covers = max(cover.Pending-1, 0)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries on %s: %w", platform, err)
	}
	return out, nil
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// NextDelivery returns when the platform's earliest pending delivery that its queue does not
// hold back is due.
func (db *DB) NextDelivery(ctx context.Context, platform string) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := db.read.GetContext(ctx, &at, db.read.Rebind(`SELECT MIN(o.next_attempt_at) FROM chat_outbox o
		WHERE o.platform = ? AND o.state = 'pending' AND `+queueHead), platform); err != nil {
		return time.Time{}, false, fmt.Errorf("read next delivery on %s: %w", platform, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	// 0 (due at once) reads as the zero time, which is before any now.
	return fromMicros(at.Int64), true, nil
}

// errClaimLost says a sender's claim lapsed and another sender took the delivery.
func errClaimLost(d bot.Delivery) error {
	return fmt.Errorf("delivery %s/%s: claim %d lost: %w", d.Platform, d.Key, d.Claim, grants.ErrConflict)
}

// MarkSent records a sent delivery, the reference of the message it posted, and the deliveries
// of the same queue it covered.
func (db *DB) MarkSent(ctx context.Context, d bot.Delivery, ref *bot.MessageRef, coalesce bool, now time.Time) error {
	return db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		if ref != nil && d.Message != "" {
			if _, err := t.exec(ctx, `INSERT INTO chat_messages (platform, message, channel, message_id, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, message) DO UPDATE SET
				channel = excluded.channel, message_id = excluded.message_id, updated_at = excluded.updated_at`,
				d.Platform, d.Message, ref.Channel, ref.ID, micros(now), micros(now)); err != nil {
				return fmt.Errorf("store reference of message %s on %s: %w", d.Message, d.Platform, err)
			}
		}
		res, err := t.exec(ctx, `UPDATE chat_outbox SET state = 'sent', done_at = ?, last_error = '',
			next_attempt_at = 0 WHERE platform = ? AND delivery_key = ? AND state = 'pending' AND claim = ?`,
			micros(now), d.Platform, d.Key, d.Claim)
		if err != nil {
			return fmt.Errorf("mark delivery %s/%s sent: %w", d.Platform, d.Key, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			// Keep the reference stored above: the message exists.
			return errClaimLost(d)
		}
		if coalesce && d.Queue != "" {
			if _, err := t.exec(ctx, `UPDATE chat_outbox SET state = 'sent', done_at = ?, last_error = '',
				next_attempt_at = 0 WHERE platform = ? AND queue = ? AND kind = ? AND state = 'pending'
				AND seq <= ? AND delivery_key <> ?`,
				micros(now), d.Platform, d.Queue, string(d.Kind), d.CoverSeq, d.Key); err != nil {
				return fmt.Errorf("mark deliveries of %s covered: %w", d.Queue, err)
			}
		}
		return nil
	})
}

// RetryDelivery releases a claimed delivery until next.
func (db *DB) RetryDelivery(ctx context.Context, d bot.Delivery, next time.Time, errText string, attempt bool) error {
	inc := 0
	if attempt {
		inc = 1
	}
	return db.finishDelivery(ctx, d, "retry", `UPDATE chat_outbox SET next_attempt_at = ?, last_error = ?,
		attempts = attempts + ? WHERE platform = ? AND delivery_key = ? AND state = 'pending' AND claim = ?`,
		micros(next), errText, inc, d.Platform, d.Key, d.Claim)
}

// GiveUpDelivery marks a claimed delivery failed.
func (db *DB) GiveUpDelivery(ctx context.Context, d bot.Delivery, errText string, now time.Time) error {
	return db.finishDelivery(ctx, d, "give up", `UPDATE chat_outbox SET state = 'failed', done_at = ?,
		last_error = ?, attempts = attempts + 1, next_attempt_at = 0
		WHERE platform = ? AND delivery_key = ? AND state = 'pending' AND claim = ?`,
		micros(now), errText, d.Platform, d.Key, d.Claim)
}

func (db *DB) finishDelivery(ctx context.Context, d bot.Delivery, what, q string, args ...any) error {
	return db.Update(ctx, func(gt grants.Tx) error {
		res, err := gt.(*tx).exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("%s delivery %s/%s: %w", what, d.Platform, d.Key, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errClaimLost(d)
		}
		return nil
	})
}

// MessageRef returns where a kept message was posted.
func (db *DB) MessageRef(ctx context.Context, platform, message string) (bot.MessageRef, bool, error) {
	var row struct {
		Channel string `db:"channel"`
		ID      string `db:"message_id"`
	}
	err := db.read.GetContext(ctx, &row, db.read.Rebind(`SELECT channel, message_id FROM chat_messages
		WHERE platform = ? AND message = ?`), platform, message)
	if errors.Is(err, sql.ErrNoRows) {
		return bot.MessageRef{}, false, nil
	}
	if err != nil {
		return bot.MessageRef{}, false, fmt.Errorf("read reference of message %s on %s: %w", message, platform, err)
	}
	return bot.MessageRef{Platform: platform, Channel: row.Channel, ID: row.ID}, true, nil
}

// PruneDeliveries deletes deliveries sent or given up before the given time. Their keys are no
// longer needed: the dispatcher's cursor has passed their events for good.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.Update(ctx, func(gt grants.Tx) error {
		res, err := gt.(*tx).exec(ctx, `DELETE FROM chat_outbox WHERE state IN ('sent', 'failed')
			AND done_at > 0 AND done_at < ?`, micros(before))
		if err != nil {
			return fmt.Errorf("prune deliveries: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Deliveries lists every delivery of a platform in the outbox, in sending order. Tests and
// operators use it to see what was sent, what waits and what failed.
func (db *DB) Deliveries(ctx context.Context, platform string) ([]bot.Delivery, error) {
	var rows []outboxRow
	if err := db.read.SelectContext(ctx, &rows, db.read.Rebind(`SELECT `+outboxCols+` FROM chat_outbox
		WHERE platform = ? ORDER BY seq, idx, delivery_key`), platform); err != nil {
		return nil, fmt.Errorf("list deliveries on %s: %w", platform, err)
	}
	out := make([]bot.Delivery, 0, len(rows))
	for _, r := range rows {
		d, err := r.delivery()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

var _ bot.OutboxStats = (*DB)(nil)

// OutboxPending implements bot.OutboxStats: one grouped read of the pending deliveries (the
// chat_outbox_due index starts with platform and state).
func (db *DB) OutboxPending(ctx context.Context) ([]bot.OutboxPending, error) {
	var rows []struct {
		Platform string `db:"platform"`
		Count    int    `db:"n"`
		Oldest   int64  `db:"oldest"`
	}
	if err := db.read.SelectContext(ctx, &rows, `SELECT platform, COUNT(*) AS n, MIN(created_at) AS oldest
		FROM chat_outbox WHERE state = 'pending' GROUP BY platform ORDER BY platform`); err != nil {
		return nil, fmt.Errorf("read pending deliveries: %w", err)
	}
	out := make([]bot.OutboxPending, len(rows))
	for i, r := range rows {
		out[i] = bot.OutboxPending{Platform: r.Platform, Count: r.Count, Oldest: fromMicros(r.Oldest)}
	}
	return out, nil
}
