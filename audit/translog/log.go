package translog

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/clock"
)

// Store is the log with its Merkle tree, as storage keeps them.
type Store interface {
	audit.Source
	// SyncAuditTree adds to the tree the events it does not cover yet.
	SyncAuditTree(ctx context.Context) (int64, error)
	// AuditTreeSize returns how many events the tree covers.
	AuditTreeSize(ctx context.Context) (uint64, error)
	// AuditTreeHashes returns the hashes of the given nodes of the tree, in order.
	AuditTreeHashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
}

// Log proves things about the log in a store and signs its checkpoints.
type Log struct {
	store  Store
	origin string
	signer note.Signer
	// verifierKey is the public key in note's text form, for checkpoints given back to Prove.
	verifierKey string
	verifier    note.Verifier
	clock       clock.Clock
}

// NewLog returns the transparency log over store, signing with signerKey (whose name is the
// log's origin) at clk's time.
func NewLog(store Store, signerKey string, clk clock.Clock) (*Log, error) {
	signer, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint signer key: %w", err)
	}
	vkey, err := VerifierKey(signerKey)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint verifier key: %w", err)
	}
	return &Log{store: store, origin: signer.Name(), signer: signer, verifierKey: vkey, verifier: verifier, clock: clk}, nil
}

// VerifierKey returns the public key that checks this log's checkpoints.
func (l *Log) VerifierKey() string { return l.verifierKey }

// Origin returns the log's name, which its checkpoints carry.
func (l *Log) Origin() string { return l.origin }

// Checkpoint brings the tree up to the log and signs a checkpoint of it as it is now.
func (l *Log) Checkpoint(ctx context.Context) (Signed, error) {
	if _, err := l.store.SyncAuditTree(ctx); err != nil {
		return Signed{}, fmt.Errorf("checkpoint: %w", err)
	}
	size, err := l.store.AuditTreeSize(ctx)
	if err != nil {
		return Signed{}, fmt.Errorf("checkpoint: %w", err)
	}
	root, err := RootAt(ctx, l.store, size)
	if err != nil {
		return Signed{}, fmt.Errorf("checkpoint: %w", err)
	}
	return SignCheckpoint(Checkpoint{Origin: l.origin, Size: size, Root: root, Time: l.clock.Now()}, l.signer)
}

// Prove returns the inclusion proof of event seq against the signed checkpoint ck, which must
// be of this log and cover seq: what `accessbot audit prove --seq N` prints, with ck the
// latest checkpoint.
func (l *Log) Prove(ctx context.Context, seq int64, ck Signed) (InclusionProof, error) {
	if ck.Origin != l.origin {
		return InclusionProof{}, fmt.Errorf("prove event %d: the checkpoint is of log %q, not %q", seq, ck.Origin, l.origin)
	}
	if seq < 1 || uint64(seq) > ck.Size {
		return InclusionProof{}, fmt.Errorf("prove event %d: the checkpoint covers events 1 to %d", seq, ck.Size)
	}
	var e audit.Event
	found := false
	if err := l.store.ScanAudit(ctx, audit.Filter{AfterSeq: seq - 1, MaxSeq: seq}, func(got audit.Event) error {
		e, found = got, true
		return nil
	}); err != nil {
		return InclusionProof{}, fmt.Errorf("prove event %d: %w", seq, err)
	}
	if !found {
		return InclusionProof{}, fmt.Errorf("prove event %d: it is not in the log", seq)
	}
	hashes, err := InclusionHashes(ctx, l.store, uint64(seq-1), ck.Size)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("prove event %d: %w", seq, err)
	}
	p := InclusionProof{Event: e, LeafData: audit.Canonical(e), LeafIndex: uint64(seq - 1), TreeSize: ck.Size, Proof: hashes, Checkpoint: ck.Note}
	// A proof that would not check is a broken tree: say so here, not at the auditor's.
	if err := checkInclusion(p, ck.Checkpoint); err != nil {
		return InclusionProof{}, fmt.Errorf("prove event %d: %w", seq, err)
	}
	return p, nil
}

// ProveLatest signs a checkpoint of the log as it is and proves event seq against it.
func (l *Log) ProveLatest(ctx context.Context, seq int64) (InclusionProof, error) {
	ck, err := l.Checkpoint(ctx)
	if err != nil {
		return InclusionProof{}, err
	}
	return l.Prove(ctx, seq, ck)
}

// ProveConsistency returns the consistency proof from the signed checkpoint old to a new
// checkpoint of the log as it is now.
func (l *Log) ProveConsistency(ctx context.Context, old Signed) (ConsistencyProof, error) {
	cur, err := l.Checkpoint(ctx)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if cur.Size < old.Size {
		return ConsistencyProof{}, fmt.Errorf("%w: the log has %d events, fewer than the %d of the earlier checkpoint (its tail was cut)", ErrTampered, cur.Size, old.Size)
	}
	hashes, err := ConsistencyHashes(ctx, l.store, old.Size, cur.Size)
	if err != nil {
		return ConsistencyProof{}, err
	}
	return ConsistencyProof{OldSize: old.Size, NewSize: cur.Size, Proof: hashes, OldCheckpoint: old.Note, NewCheckpoint: cur.Note}, nil
}

// RootAt returns the root hash of the tree of the first size events, from the O(log n) stored
// subtree roots that cover them.
func RootAt(ctx context.Context, store Store, size uint64) ([]byte, error) {
	if size == 0 {
		return emptyRoot(), nil
	}
	hashes, err := store.AuditTreeHashes(ctx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, fmt.Errorf("root of %d events: %w", size, err)
	}
	root := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		root = audit.NodeHash(hashes[i], root)
	}
	return root, nil
}

// InclusionHashes returns the audit path of leaf index in the tree of size leaves.
func InclusionHashes(ctx context.Context, store Store, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return rehash(ctx, store, nodes)
}

// ConsistencyHashes returns the consistency proof between the trees of oldSize and newSize.
func ConsistencyHashes(ctx context.Context, store Store, oldSize, newSize uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(oldSize, newSize)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return rehash(ctx, store, nodes)
}

// rehash reads the nodes' hashes and folds the ephemeral node the proof needs.
func rehash(ctx context.Context, store Store, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := store.AuditTreeHashes(ctx, nodes.IDs)
	if err != nil {
		return nil, err
	}
	out, err := nodes.Rehash(hashes, audit.NodeHash)
	if err != nil {
		return nil, fmt.Errorf("build proof: %w", err)
	}
	return out, nil
}

// SinceReport is what VerifySince and VerifyAll found.
type SinceReport struct {
	// From is the earlier checkpoint; To the log's tree now (unsigned: it is what was checked).
	From Checkpoint
	To   Checkpoint
	// Events is how many events were read and checked.
	Events int64
}

// VerifySince checks the log in store against the earlier signed checkpoint text with only
// the public verifier key: `accessbot audit verify --since CHECKPOINT`. It proves the tree now
// consistent with the checkpoint (O(log n) stored hashes), then reads only the events after
// it: each must follow the chain from the checkpoint's last event, and their leaves, added to
// the checkpoint's tree, must give the root of the tree now. A history rewritten before the
// checkpoint, a tail cut below it, or a fork from it fails with an error wrapping ErrTampered.
//
// It only reads: the tree covers what Append and the last SyncAuditTree put in it (all of the
// log once synced), and events past the tree are left for the next run.
func VerifySince(ctx context.Context, store Store, checkpoint, verifierKey string) (SinceReport, error) {
	return verifyAgainst(ctx, store, checkpoint, verifierKey, false)
}

// VerifyAll is VerifySince reading the whole log: every event's chain hash and leaf, the tree
// they give compared with the checkpoint's root at its size and with the stored tree at the
// end. It finds what VerifySince leaves to proofs: an event before the checkpoint changed in
// the events table while the stored tree was left as it was. It is the full `audit verify`
// with a checkpoint, O(n).
func VerifyAll(ctx context.Context, store Store, checkpoint, verifierKey string) (SinceReport, error) {
	return verifyAgainst(ctx, store, checkpoint, verifierKey, true)
}

func verifyAgainst(ctx context.Context, store Store, checkpoint, verifierKey string, all bool) (SinceReport, error) {
	old, err := OpenCheckpoint(checkpoint, verifierKey)
	if err != nil {
		return SinceReport{}, err
	}
	size, err := store.AuditTreeSize(ctx)
	if err != nil {
		return SinceReport{}, fmt.Errorf("verify against checkpoint %d: %w", old.Size, err)
	}
	rep := SinceReport{From: old.Checkpoint, To: Checkpoint{Origin: old.Origin, Size: size}}
	if size < old.Size {
		return rep, fmt.Errorf("%w: the log has %d events, fewer than the %d of the checkpoint (its tail was cut)", ErrTampered, size, old.Size)
	}
	if rep.To.Root, err = RootAt(ctx, store, size); err != nil {
		return rep, missing(err, old.Size)
	}
	cons, err := ConsistencyHashes(ctx, store, old.Size, size)
	if err != nil {
		return rep, missing(err, old.Size)
	}
	if err := verifyConsistency(old.Checkpoint, rep.To, cons); err != nil {
		return rep, err
	}

	factory := &compact.RangeFactory{Hash: audit.NodeHash}
	r := factory.NewEmptyRange(0)
	prev := audit.EmptyHead()
	after := int64(0)
	if !all && old.Size > 0 {
		// The checkpoint's tree, as its right edge: stored hashes, trusted only once they give
		// the signed root.
		edge, err := store.AuditTreeHashes(ctx, compact.RangeNodes(0, old.Size, nil))
		if err != nil {
			return rep, missing(err, old.Size)
		}
		if r, err = factory.NewRange(0, old.Size, edge); err != nil {
			return rep, fmt.Errorf("verify against checkpoint %d: %w", old.Size, err)
		}
		if root, err := rangeRoot(r); err != nil || !bytes.Equal(root, old.Root) {
			return rep, fmt.Errorf("%w: the stored tree does not give the root of checkpoint %d", ErrTampered, old.Size)
		}
		// The chain continues from the checkpoint's last event, read first and proved in its
		// tree.
		after = int64(old.Size) - 1
		prev = audit.Head{}
	}
	err = store.ScanAudit(ctx, audit.Filter{AfterSeq: after, MaxSeq: int64(size)}, func(e audit.Event) error {
		if !all && old.Size > 0 && prev.Seq == 0 {
			return anchor(ctx, store, old.Checkpoint, e, &prev)
		}
		chain, leaf := audit.EventHashes(e)
		switch {
		case e.Seq != prev.Seq+1:
			return fmt.Errorf("%w: event %d is missing (seq %d follows seq %d)", ErrTampered, prev.Seq+1, e.Seq, prev.Seq)
		case e.PrevHash != prev.Hash:
			return fmt.Errorf("%w: event %d does not follow the hash of event %d", ErrTampered, e.Seq, prev.Seq)
		case chain != e.Hash:
			return fmt.Errorf("%w: event %d's hash does not match the event (it was changed)", ErrTampered, e.Seq)
		}
		if err := r.Append(leaf, nil); err != nil {
			return fmt.Errorf("add event %d to the tree: %w", e.Seq, err)
		}
		if all && r.End() == old.Size {
			if root, err := rangeRoot(r); err != nil || !bytes.Equal(root, old.Root) {
				return fmt.Errorf("%w: the first %d events do not give the root of the checkpoint (an event was changed)", ErrTampered, old.Size)
			}
		}
		prev = audit.Head{Seq: e.Seq, Hash: e.Hash}
		rep.Events++
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrTampered) {
			return rep, err
		}
		return rep, missing(err, old.Size)
	}
	if uint64(prev.Seq) != size {
		return rep, fmt.Errorf("%w: the tree has %d events, the log ends at event %d", ErrTampered, size, prev.Seq)
	}
	root, err := rangeRoot(r)
	if err != nil {
		return rep, fmt.Errorf("verify against checkpoint %d: %w", old.Size, err)
	}
	if !bytes.Equal(root, rep.To.Root) {
		return rep, fmt.Errorf("%w: the events after checkpoint %d do not give the stored tree's root (events or tree changed)", ErrTampered, old.Size)
	}
	// The stored head must be in the checked chain: a head beyond it is newer events, fine; a
	// head at the tree's size with another hash is a changed last event.
	head, err := store.AuditHead(ctx)
	if err != nil {
		return rep, fmt.Errorf("verify against checkpoint %d: %w", old.Size, err)
	}
	if head.Seq < prev.Seq || (head.Seq == prev.Seq && head.Hash != prev.Hash) {
		return rep, fmt.Errorf("%w: the stored head (event %d) is not the end of the checked chain (event %d)", ErrTampered, head.Seq, prev.Seq)
	}
	return rep, nil
}

// anchor checks e, which must be the checkpoint's last event, against the checkpoint with an
// inclusion proof from the stored tree, and starts the chain from it.
func anchor(ctx context.Context, store Store, ck Checkpoint, e audit.Event, prev *audit.Head) error {
	if uint64(e.Seq) != ck.Size {
		return fmt.Errorf("%w: event %d, the last of the checkpoint, is missing", ErrTampered, ck.Size)
	}
	hashes, err := InclusionHashes(ctx, store, ck.Size-1, ck.Size)
	if err != nil {
		return err
	}
	if err := proof.VerifyInclusion(hasher, ck.Size-1, ck.Size, audit.LeafHash(e), hashes, ck.Root); err != nil {
		return fmt.Errorf("%w: event %d, the last of the checkpoint, was changed: %w", ErrTampered, e.Seq, err)
	}
	if audit.ComputeHash(e.PrevHash, e) != e.Hash {
		return fmt.Errorf("%w: event %d's chain hash does not match the event", ErrTampered, e.Seq)
	}
	*prev = audit.Head{Seq: e.Seq, Hash: e.Hash}
	return nil
}

// missing wraps an error of reading the tree while verifying: a node or an event the tree
// needs and the store has not is a log cut or changed (ErrTampered), anything else a failure
// to read.
func missing(err error, oldSize uint64) error {
	if errors.Is(err, audit.ErrNotStored) {
		return fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return fmt.Errorf("verify against checkpoint %d: %w", oldSize, err)
}

// rangeRoot is the root of the tree a compact range from 0 covers, the empty root for none.
func rangeRoot(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return emptyRoot(), nil
	}
	return r.GetRootHash(nil)
}
