package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// RecordConfigSnapshot makes snapshot (hashed as sha256) the config in force. When the stored
// one has another hash, or there is none, it appends the event change builds (given the stored
// snapshot, nil when none was ever recorded) and stores the snapshot, in one transaction; when the hash is the same it writes nothing and returns false.
// The audit head is locked first, so replicas starting together take turns and the second
// sees what the first stored: one event per change, however many start with it.
func (db *DB) RecordConfigSnapshot(ctx context.Context, sha256 string, snapshot []byte, change func(prev []byte) (audit.Event, error)) (audit.Event, bool, error) {
	var (
		sealed   audit.Event
		recorded bool
	)
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		sealed, recorded = audit.Event{}, false
		suffix := ""
		if db.driver == Postgres {
			suffix = " FOR UPDATE"
		}
		if _, err := t.readHead(ctx, suffix); err != nil {
			return fmt.Errorf("record config snapshot: %w", err)
		}
		var prev struct {
			SHA256   string `db:"sha256"`
			Snapshot string `db:"snapshot"`
		}
		var prevBytes []byte
		err := t.get(ctx, &prev, `SELECT sha256, snapshot FROM config_snapshot WHERE id = 1`)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read the last config snapshot: %w", err)
		case prev.SHA256 == sha256:
			return nil
		default:
			prevBytes = []byte(prev.Snapshot)
		}
		e, err := change(prevBytes)
		if err != nil {
			return fmt.Errorf("record config snapshot: %w", err)
		}
		if sealed, err = t.Append(ctx, e); err != nil {
			return fmt.Errorf("record config snapshot: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO config_snapshot (id, sha256, snapshot, seq, recorded_at)
			VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256,
			snapshot = excluded.snapshot, seq = excluded.seq, recorded_at = excluded.recorded_at`,
			sha256, string(snapshot), sealed.Seq, micros(sealed.At)); err != nil {
			return fmt.Errorf("store config snapshot: %w", err)
		}
		recorded = true
		return nil
	})
	if err != nil {
		return audit.Event{}, false, err
	}
	return sealed, recorded, nil
}

// ScanAuditOfType calls fn for every event of type typ that f selects by time and sequence
// number (its Resource, Subject and Person are not used), in sequence order. It reads through
// the (type, at) index of migration 0017: the few config.changed events of a window are found
// without reading the window's other events.
func (db *DB) ScanAuditOfType(ctx context.Context, typ string, f audit.Filter, fn func(audit.Event) error) error {
	where := []string{"type = ?", "seq > ?"}
	args := []any{typ, f.AfterSeq}
	if f.MaxSeq != 0 {
		where = append(where, "seq <= ?")
		args = append(args, f.MaxSeq)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	q := db.read.Rebind(`SELECT seq, at, type, actor, resource, subject, request_id, grant_id, data,
		prev_hash, hash FROM audit_events` + whereClause(where) + ` ORDER BY seq`)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read %s audit events: %w", typ, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e    audit.Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Actor, &e.Resource, &e.Subject,
			&e.RequestID, &e.GrantID, &data, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("read %s audit events: %w", typ, err)
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
		return fmt.Errorf("read %s audit events: %w", typ, err)
	}
	return nil
}
