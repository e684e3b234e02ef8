package storage

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// The Merkle tree over the audit log (migration 0014): audit_head holds the tree's size and
// right edge, audit_tree every complete interior node. Append grows the tree with each event in
// the event's transaction; SyncAuditTree builds it for events appended before the tree
// existed. Leaves are recomputed from the events, never stored.

// treeHashes combines nodes the RFC 6962 way for the compact ranges below.
var treeHashes = &compact.RangeFactory{Hash: audit.NodeHash}

// selectHeadTree reads the head with the tree's state, for an appender.
const selectHeadTree = `SELECT seq, hash, tree_size, tree_range FROM audit_head WHERE id = 1`

// headTree is the audit_head row with the tree's state.
type headTree struct {
	head     audit.Head
	treeSize int64
	rng      string // the compact range as hex hashes one after another
}

// readHeadTree reads the head and the tree's state; suffix is " FOR UPDATE" on PostgreSQL.
func (t *tx) readHeadTree(ctx context.Context, suffix string) (headTree, error) {
	var h headTree
	if err := t.queryRow(ctx, selectHeadTree+suffix).Scan(&h.head.Seq, &h.head.Hash, &h.treeSize, &h.rng); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return headTree{}, errors.New("read audit head: the audit_head row is missing (database not migrated?)")
		}
		return headTree{}, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

// decodeRange rebuilds the compact range [0, size) from its hex hashes.
func decodeRange(size int64, s string) (*compact.Range, error) {
	const width = 2 * 32
	if len(s)%width != 0 {
		return nil, fmt.Errorf("audit tree edge: %d hex digits is not a whole number of hashes", len(s))
	}
	hashes := make([][]byte, len(s)/width)
	for i := range hashes {
		b, err := hex.DecodeString(s[i*width : (i+1)*width])
		if err != nil {
			return nil, fmt.Errorf("audit tree edge: hash %d: %w", i, err)
		}
		hashes[i] = b
	}
	r, err := treeHashes.NewRange(0, uint64(size), hashes)
	if err != nil {
		return nil, fmt.Errorf("audit tree edge at size %d: %w", size, err)
	}
	return r, nil
}

// encodeRange writes r's hashes as decodeRange reads them.
func encodeRange(r *compact.Range) string {
	var b strings.Builder
	for _, h := range r.Hashes() {
		b.WriteString(hex.EncodeToString(h))
	}
	return b.String()
}

const insertTreeNode = `INSERT INTO audit_tree (level, idx, hash) VALUES (?, ?, ?)`

// growTree appends leaf to r and stores the interior nodes it completes (on average one).
func (t *tx) growTree(ctx context.Context, r *compact.Range, leaf []byte) error {
	// Append reports the leaf first, then each completed parent from the bottom up; at most
	// one per level, so a fixed array holds them without allocating.
	var (
		ids    [64]compact.NodeID
		hashes [64][]byte
		n      int
	)
	if err := r.Append(leaf, func(id compact.NodeID, hash []byte) {
		if id.Level > 0 && n < len(ids) {
			ids[n], hashes[n] = id, hash
			n++
		}
	}); err != nil {
		return fmt.Errorf("grow audit tree: %w", err)
	}
	for i := range n {
		if _, err := t.exec(ctx, insertTreeNode, int64(ids[i].Level), int64(ids[i].Index), hashes[i]); err != nil {
			return fmt.Errorf("store audit tree node (%d, %d): %w", ids[i].Level, ids[i].Index, err)
		}
	}
	return nil
}

// syncBatch is how many events SyncAuditTree adds to the tree per transaction: appenders wait
// for the head lock no longer than one batch takes (well under a second).
const syncBatch = 20_000

// SyncAuditTree builds the Merkle tree for events that are in the log but not yet in the tree
// (a database migrated to 0014 with events in it) and returns how many it added. It works in
// transactions of syncBatch events that hold the head, so appenders can run between them;
// from the moment the tree has caught up, Append keeps it so. Call it at start after Migrate,
// and before a checkpoint (translog.Log does).
func (db *DB) SyncAuditTree(ctx context.Context) (int64, error) {
	var added int64
	for {
		var n int64
		var done bool
		err := db.Update(ctx, func(gt grants.Tx) error {
			var err error
			n, done, err = gt.(*tx).syncTreeBatch(ctx)
			return err
		})
		if err != nil {
			return added, fmt.Errorf("build the audit tree from event %d: %w", added+1, err)
		}
		added += n
		if done {
			return added, nil
		}
	}
}

// syncTreeBatch adds up to syncBatch events to the tree; done reports that it has caught up.
func (t *tx) syncTreeBatch(ctx context.Context) (n int64, done bool, err error) {
	suffix := ""
	if t.db.driver == Postgres {
		suffix = " FOR UPDATE"
	}
	h, err := t.readHeadTree(ctx, suffix)
	if err != nil {
		return 0, false, err
	}
	switch {
	case h.treeSize == h.head.Seq:
		return 0, true, nil
	case h.treeSize > h.head.Seq:
		return 0, false, fmt.Errorf("the audit tree has %d events, the log only %d: events were removed from the log", h.treeSize, h.head.Seq)
	}
	r, err := decodeRange(h.treeSize, h.rng)
	if err != nil {
		return 0, false, err
	}
	last := min(h.treeSize+syncBatch, h.head.Seq)
	rows, err := t.queryx(ctx, `SELECT seq, at, type, actor, resource, subject, request_id, grant_id,
		data FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq`, h.treeSize, last)
	if err != nil {
		return 0, false, fmt.Errorf("read audit events after %d: %w", h.treeSize, err)
	}
	defer rows.Close()
	// Read the batch first: PostgreSQL runs one statement at a time on a connection, so the
	// node inserts wait until the rows are read.
	events := make([]audit.Event, 0, last-h.treeSize)
	for rows.Next() {
		var (
			e    audit.Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Actor, &e.Resource, &e.Subject, &e.RequestID, &e.GrantID, &data); err != nil {
			return 0, false, fmt.Errorf("read audit events after %d: %w", h.treeSize, err)
		}
		e.At = time.UnixMicro(at).UTC()
		if e.Data, err = decodeMap(data); err != nil {
			return 0, false, fmt.Errorf("read audit event %d: data: %w", e.Seq, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("read audit events after %d: %w", h.treeSize, err)
	}
	rows.Close()
	next := h.treeSize + 1
	for _, e := range events {
		if e.Seq != next {
			return 0, false, fmt.Errorf("audit event %d is missing (the next stored is %d)", next, e.Seq)
		}
		if err := t.growTree(ctx, r, audit.LeafHash(e)); err != nil {
			return 0, false, err
		}
		next++
	}
	if next != last+1 {
		return 0, false, fmt.Errorf("audit event %d is missing (the head is at %d)", next, h.head.Seq)
	}
	if _, err := t.exec(ctx, `UPDATE audit_head SET tree_size = ?, tree_range = ? WHERE id = 1`, last, encodeRange(r)); err != nil {
		return 0, false, fmt.Errorf("move the audit tree to %d: %w", last, err)
	}
	return last - h.treeSize, last == h.head.Seq, nil
}

// AuditTreeSize returns how many events the Merkle tree covers: the log's length once the
// tree is in sync (SyncAuditTree), less before.
func (db *DB) AuditTreeSize(ctx context.Context) (uint64, error) {
	var size int64
	if err := db.read.GetContext(ctx, &size, `SELECT tree_size FROM audit_head WHERE id = 1`); err != nil {
		return 0, fmt.Errorf("read audit tree size: %w", err)
	}
	return uint64(size), nil
}

// AuditTreeHashes returns the hashes of the tree nodes ids, in their order: interior nodes
// from audit_tree, leaves recomputed from their events. A proof needs O(log n) of them.
func (db *DB) AuditTreeHashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	q := db.read.Rebind(`SELECT hash FROM audit_tree WHERE level = ? AND idx = ?`)
	for i, id := range ids {
		if id.Level == 0 {
			var found bool
			err := db.ScanAudit(ctx, audit.Filter{AfterSeq: int64(id.Index), MaxSeq: int64(id.Index) + 1}, func(e audit.Event) error {
				out[i], found = audit.LeafHash(e), true
				return nil
			})
			if err != nil {
				return nil, err
			}
			if !found {
				return nil, fmt.Errorf("read audit tree leaf %d: event %d is %w in the log", id.Index, id.Index+1, audit.ErrNotStored)
			}
			continue
		}
		var h []byte
		if err := db.read.QueryRowContext(ctx, q, int64(id.Level), int64(id.Index)).Scan(&h); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("read audit tree node (%d, %d): %w (the tree is behind the log, or was cut)", id.Level, id.Index, audit.ErrNotStored)
			}
			return nil, fmt.Errorf("read audit tree node (%d, %d): %w", id.Level, id.Index, err)
		}
		out[i] = h
	}
	return out, nil
}
