package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// The Merkle tree over the audit log (migration 0014): audit_head holds the tree's size and
// right edge, and each event's row the interior nodes its append completed. Append grows the
// tree with each event in the event's transaction; SyncAuditTree builds it for events appended
// before the tree existed. Leaves are recomputed from the events, never stored.

// treeHashes combines nodes the RFC 6962 way for the compact ranges below.
var treeHashes = &compact.RangeFactory{Hash: audit.NodeHash}

// hashSize is the size of a SHA-256, the tree's hash.
const hashSize = 32

// selectHeadTree reads the head with the tree's state, for an appender.
const selectHeadTree = `SELECT seq, hash, tree_size, tree_range FROM audit_head WHERE id = 1`

// headTree is the audit_head row with the tree's state.
type headTree struct {
	head     audit.Head
	treeSize int64
	rng      []byte // the compact range, raw hashes one after another
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

// decodeRange rebuilds the compact range [0, size) from its raw hashes.
func decodeRange(size int64, b []byte) (*compact.Range, error) {
	if len(b)%hashSize != 0 {
		return nil, fmt.Errorf("audit tree edge: %d bytes is not a whole number of hashes", len(b))
	}
	hashes := make([][]byte, len(b)/hashSize)
	for i := range hashes {
		hashes[i] = b[i*hashSize : (i+1)*hashSize : (i+1)*hashSize]
	}
	r, err := treeHashes.NewRange(0, uint64(size), hashes)
	if err != nil {
		return nil, fmt.Errorf("audit tree edge at size %d: %w", size, err)
	}
	return r, nil
}

// encodeRange writes r's hashes as decodeRange reads them.
func encodeRange(r *compact.Range) []byte {
	out := make([]byte, 0, hashSize*len(r.Hashes()))
	for _, h := range r.Hashes() {
		out = append(out, h...)
	}
	return out
}

// growTree adds e, the event after the tree's last, to the tree this transaction holds: the
// edge from the head row h (or from an earlier Append of this transaction), grown by e's leaf.
// It returns the hashes of the interior nodes e completes, level 1 first, for e's row (nil
// for none), and whether the tree grew: a tree behind the log is left alone.
func (t *tx) growTree(h headTree, e audit.Event) (nodes []byte, grew bool, err error) {
	r := t.tree
	if r == nil || r.End() != uint64(e.Seq-1) {
		if h.treeSize != e.Seq-1 {
			return nil, false, nil
		}
		if r, err = decodeRange(h.treeSize, h.rng); err != nil {
			return nil, false, err
		}
	}
	if err := r.Append(audit.LeafHash(e), func(id compact.NodeID, hash []byte) {
		// Append reports the leaf, then each completed parent from the bottom up.
		if id.Level > 0 {
			nodes = append(nodes, hash...)
		}
	}); err != nil {
		return nil, false, fmt.Errorf("grow audit tree: %w", err)
	}
	if want := bits.TrailingZeros64(uint64(e.Seq)); len(nodes) != want*hashSize {
		// The layout AuditTreeHashes reads depends on it.
		return nil, false, fmt.Errorf("grow audit tree: event %d completed %d nodes, want %d", e.Seq, len(nodes)/hashSize, want)
	}
	t.tree = r
	return nodes, true, nil
}

// syncBatch is how many events SyncAuditTree adds to the tree per transaction: appenders wait
// for the head lock no longer than one batch takes (well under a second).
const syncBatch = 20_000

// SyncAuditTree builds the Merkle tree for events that are in the log but not yet in the tree
// (a database migrated to 0014 with events in it) and returns how many it added. It works in
// transactions of syncBatch events that hold the head, so appenders can run between them;
// from the moment the tree has caught up, Append keeps it so. Call it at start after Migrate;
// translog.Log.Checkpoint calls it too.
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
	last := min(h.treeSize+syncBatch, h.head.Seq)
	rows, err := t.queryx(ctx, `SELECT seq, at, type, actor, resource, subject, request_id, grant_id,
		data FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq`, h.treeSize, last)
	if err != nil {
		return 0, false, fmt.Errorf("read audit events after %d: %w", h.treeSize, err)
	}
	defer rows.Close()
	// Read the batch first: PostgreSQL runs one statement at a time on a connection, so the
	// updates wait until the rows are read.
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
	t.tree = nil
	for i, e := range events {
		if e.Seq != h.treeSize+int64(i)+1 {
			return 0, false, fmt.Errorf("audit event %d is missing (the next stored is %d)", h.treeSize+int64(i)+1, e.Seq)
		}
		nodes, _, err := t.growTree(h, e)
		if err != nil {
			return 0, false, err
		}
		if nodes == nil {
			continue
		}
		if _, err := t.exec(ctx, `UPDATE audit_events SET tree_nodes = ? WHERE seq = ?`, nodes, e.Seq); err != nil {
			return 0, false, fmt.Errorf("store the audit tree nodes of event %d: %w", e.Seq, err)
		}
	}
	if int64(len(events)) != last-h.treeSize {
		return 0, false, fmt.Errorf("audit event %d is missing (the head is at %d)", h.treeSize+int64(len(events))+1, h.head.Seq)
	}
	if _, err := t.exec(ctx, `UPDATE audit_head SET tree_size = ?, tree_range = ? WHERE id = 1`, last, encodeRange(t.tree)); err != nil {
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

// AuditTreeHashes returns the hashes of the tree nodes ids, in their order: an interior node
// from the row of the event that completed it, a leaf recomputed from its event. A proof needs
// O(log n) of them, one primary-key read each. A node the log does not have (the tree is
// behind, or rows were removed) is an error wrapping audit.ErrNotStored.
func (db *DB) AuditTreeHashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	q := db.read.Rebind(`SELECT tree_nodes FROM audit_events WHERE seq = ?`)
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
		if id.Level >= 63 || id.Index >= 1<<(63-id.Level)-1 {
			return nil, fmt.Errorf("read audit tree node (%d, %d): %w (beyond any log)", id.Level, id.Index, audit.ErrNotStored)
		}
		// The node's last leaf is index (i+1)·2^L - 1: event (i+1)·2^L completed it.
		seq := int64(id.Index+1) << id.Level
		var nodes []byte
		err := db.read.QueryRowContext(ctx, q, seq).Scan(&nodes)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("read audit tree node (%d, %d): event %d is %w in the log", id.Level, id.Index, seq, audit.ErrNotStored)
		case err != nil:
			return nil, fmt.Errorf("read audit tree node (%d, %d): %w", id.Level, id.Index, err)
		case len(nodes) < int(id.Level)*hashSize:
			return nil, fmt.Errorf("read audit tree node (%d, %d): %w with event %d (the tree is behind the log)", id.Level, id.Index, audit.ErrNotStored, seq)
		}
		out[i] = nodes[(id.Level-1)*hashSize : id.Level*hashSize]
	}
	return out, nil
}
