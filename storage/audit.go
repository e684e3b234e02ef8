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

// scanHead reads the single audit_head row.
func scanHead(row interface{ Scan(...any) error }) (audit.Head, error) {
	var h audit.Head
	if err := row.Scan(&h.Seq, &h.Hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return audit.Head{}, errors.New("read audit head: the audit_head row is missing (database not migrated?)")
		}
		return audit.Head{}, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

const selectHead = `SELECT seq, hash FROM audit_head WHERE id = 1`

// readHead reads the head in this transaction; suffix is " FOR UPDATE" when the caller appends.
func (t *tx) readHead(ctx context.Context, suffix string) (audit.Head, error) {
	return scanHead(t.queryRow(ctx, selectHead+suffix))
}

const insertEvent = `INSERT INTO audit_events (seq, at, type, actor, resource, subject, request_id,
	grant_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertEventTree is insertEvent with the tree nodes the event completed (migration 0014).
const insertEventTree = `INSERT INTO audit_events (seq, at, type, actor, resource, subject, request_id,
	grant_id, data, prev_hash, hash, tree_nodes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Append seals e after the head of the chain and stores it with the new head, in this
// transaction, growing the Merkle tree with it (audit_tree.go). On PostgreSQL the head row stays locked until commit, so concurrent appenders
// wait for each other; on SQLite there is only one writer.
func (t *tx) Append(ctx context.Context, e audit.Event) (audit.Event, error) {
	if e.Type == "" {
		return audit.Event{}, fmt.Errorf("append audit event: %w: empty type", grants.ErrInvalid)
	}
	if e.At.IsZero() {
		return audit.Event{}, fmt.Errorf("append audit event %s: %w: no time", e.Type, grants.ErrInvalid)
	}
	suffix := ""
	if t.db.driver == Postgres {
		suffix = " FOR UPDATE"
	}
	ht, err := t.readHeadTree(ctx, suffix)
	if err != nil {
		return audit.Event{}, fmt.Errorf("append audit event %s: %w", e.Type, err)
	}
	head := ht.head
	sealed := audit.Seal(head, e)
	data, err := encodeMap(sealed.Data)
	if err != nil {
		return audit.Event{}, fmt.Errorf("append audit event %s: encode data: %w", e.Type, err)
	}
	// The Merkle tree grows with the log while it is in sync: the nodes the event completes go
	// in its row, the new edge in the head's. A tree still behind (a log from before it
	// existed) is left to SyncAuditTree, which catches up from where it stands.
	nodes, grew, err := t.growTree(ht, sealed)
	if err != nil {
		return audit.Event{}, fmt.Errorf("append audit event %s at seq %d: %w", e.Type, sealed.Seq, err)
	}
	if grew {
		ht.treeSize, ht.rng = sealed.Seq, encodeRange(t.tree)
	}
	if _, err := t.exec(ctx, insertEventTree, sealed.Seq, micros(sealed.At), sealed.Type, sealed.Actor,
		sealed.Resource, sealed.Subject, sealed.RequestID, sealed.GrantID, data, sealed.PrevHash,
		sealed.Hash, nodes); err != nil {
		return audit.Event{}, fmt.Errorf("append audit event %s at seq %d: %w", e.Type, sealed.Seq, err)
	}
	res, err := t.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ?, tree_size = ?, tree_range = ? WHERE id = 1 AND seq = ?`,
		sealed.Seq, sealed.Hash, ht.treeSize, ht.rng, head.Seq)
	if err != nil {
		return audit.Event{}, fmt.Errorf("move audit head to seq %d: %w", sealed.Seq, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// Cannot happen while the head is locked; if it does, committing would fork the chain.
		return audit.Event{}, fmt.Errorf("move audit head to seq %d: head moved meanwhile: %w", sealed.Seq, grants.ErrConflict)
	}
	return sealed, nil
}

// AppendAudit appends one event in a transaction of its own, for events that record no state
// change (config.loaded, auth.failed).
func (db *DB) AppendAudit(ctx context.Context, e audit.Event) (audit.Event, error) {
	var sealed audit.Event
	err := db.Update(ctx, func(t grants.Tx) error {
		var err error
		sealed, err = t.Append(ctx, e)
		return err
	})
	return sealed, err
}

// AuditHead returns the end of the audit chain.
func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	return scanHead(db.read.QueryRowxContext(ctx, selectHead))
}

// ScanAudit calls fn for every event f selects, in sequence order, reading rows as it goes:
// memory stays flat however long the log. An error from fn stops the scan and is returned as
// it is.
func (db *DB) ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	where := []string{"seq > ?"}
	args := []any{f.AfterSeq}
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
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	if f.Subject != "" {
		where = append(where, "subject = ?")
		args = append(args, f.Subject)
	}
	if f.Person != "" {
		where = append(where, "(subject = ? OR actor = ?)")
		args = append(args, f.Person, f.Person)
	}
	q := db.read.Rebind(`SELECT seq, at, type, actor, resource, subject, request_id, grant_id, data,
		prev_hash, hash FROM audit_events` + whereClause(where) + ` ORDER BY seq`)
	return db.scanEvents(ctx, q, args, fn)
}

// scanEvents runs q, which selects whole audit events, and calls fn for each row.
func (db *DB) scanEvents(ctx context.Context, q string, args []any, fn func(audit.Event) error) error {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	// Plain Scan into reused variables: this loop reads millions of rows for a verify, and
	// sqlx's reflection would cost more than the hashing.
	var (
		e    audit.Event
		at   int64
		data string
	)
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Actor, &e.Resource, &e.Subject,
			&e.RequestID, &e.GrantID, &data, &e.PrevHash, &e.Hash); err != nil {
			return fmt.Errorf("read audit events: %w", err)
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
		return fmt.Errorf("read audit events: %w", err)
	}
	return nil
}

// LatestAudit returns the log's last event of type typ; ok is false when it has none. It reads
// the log backwards from its head, so it is quick when such an event is recent (the latest
// standing-privilege scan) and reads the whole log once when there is none.
func (db *DB) LatestAudit(ctx context.Context, typ string) (e audit.Event, ok bool, err error) {
	var seq int64
	err = db.read.GetContext(ctx, &seq, db.read.Rebind(`SELECT seq FROM audit_events WHERE type = ? ORDER BY seq DESC LIMIT 1`), typ)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Event{}, false, nil
	}
	if err != nil {
		return audit.Event{}, false, fmt.Errorf("find the latest %s audit event: %w", typ, err)
	}
	err = db.ScanAudit(ctx, audit.Filter{AfterSeq: seq - 1, MaxSeq: seq}, func(ev audit.Event) error {
		e, ok = ev, true
		return nil
	})
	return e, ok, err
}

// Cursor returns where the named consumer of the audit log is up to: the last sequence number
// it handled, or 0 when it has not started.
func (db *DB) Cursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := db.read.GetContext(ctx, &seq, db.read.Rebind(`SELECT seq FROM cursors WHERE name = ?`), name)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cursor %q: %w", name, err)
	}
	return seq, nil
}

// SetCursor records that the named consumer has handled every event up to seq.
func (db *DB) SetCursor(ctx context.Context, name string, seq int64) error {
	if name == "" {
		return fmt.Errorf("set cursor: %w: empty name", grants.ErrInvalid)
	}
	return db.Update(ctx, func(t grants.Tx) error {
		if _, err := t.(*tx).exec(ctx, `INSERT INTO cursors (name, seq, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
			name, seq, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("set cursor %q to %d: %w", name, seq, err)
		}
		return nil
	})
}
