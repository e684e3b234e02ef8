package translog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/accessbot/accessbot/audit"
)

// InclusionProof shows that one event is in the log a signed checkpoint names. Its JSON is the
// format `accessbot audit prove` prints and `accessbot audit check` reads (docs/transparency.md).
type InclusionProof struct {
	// Event is the event as the log holds it.
	Event audit.Event `json:"event"`
	// LeafData is audit.Canonical(Event): the exact bytes whose RFC 6962 leaf hash the tree
	// holds (base64 in JSON). An auditor hashes these and reads them as the event's JSON.
	LeafData []byte `json:"leaf_data"`
	// LeafIndex is Event.Seq - 1.
	LeafIndex uint64 `json:"leaf_index"`
	// TreeSize is the checkpoint's size.
	TreeSize uint64 `json:"tree_size"`
	// Proof is the RFC 6962 (RFC 9162 section 2.1.3) audit path, from the leaf's sibling up
	// (base64 SHA-256 hashes in JSON).
	Proof [][]byte `json:"proof"`
	// Checkpoint is the signed note of the checkpoint the proof leads to.
	Checkpoint string `json:"checkpoint"`
}

// ConsistencyProof shows that the log at a newer checkpoint extends the log at an older one:
// the first OldSize events are unchanged.
type ConsistencyProof struct {
	OldSize uint64 `json:"old_size"`
	NewSize uint64 `json:"new_size"`
	// Proof is the RFC 6962 (RFC 9162 section 2.1.4) consistency proof (base64 in JSON).
	Proof [][]byte `json:"proof"`
	// OldCheckpoint and NewCheckpoint are the two signed notes.
	OldCheckpoint string `json:"old_checkpoint"`
	NewCheckpoint string `json:"new_checkpoint"`
}

// hasher is RFC 6962 with SHA-256, the same as audit.LeafHash and audit.NodeHash.
var hasher = rfc6962.DefaultHasher

// Check verifies p offline with only the public verifier key: the checkpoint's signature, that
// the event's leaf is at its index in the tree the checkpoint names, and that the event is
// whole (its leaf data and its chain hash match it). It returns the checkpoint; an error that
// wraps ErrTampered means the proof does not hold.
func Check(p InclusionProof, verifierKey string) (Signed, error) {
	ck, err := OpenCheckpoint(p.Checkpoint, verifierKey)
	if err != nil {
		return Signed{}, err
	}
	if err := checkInclusion(p, ck.Checkpoint); err != nil {
		return Signed{}, err
	}
	return ck, nil
}

// checkInclusion is Check after the signature.
func checkInclusion(p InclusionProof, ck Checkpoint) error {
	e := p.Event
	switch {
	case p.TreeSize != ck.Size:
		return fmt.Errorf("%w: the proof is for a tree of %d events, the checkpoint names %d", ErrTampered, p.TreeSize, ck.Size)
	case e.Seq < 1 || p.LeafIndex != uint64(e.Seq-1):
		return fmt.Errorf("%w: leaf index %d is not the place of event %d", ErrTampered, p.LeafIndex, e.Seq)
	case p.LeafIndex >= p.TreeSize:
		return fmt.Errorf("%w: event %d is after the checkpoint's %d events", ErrTampered, e.Seq, p.TreeSize)
	case p.LeafData != nil && !bytes.Equal(p.LeafData, audit.Canonical(e)):
		return fmt.Errorf("%w: the leaf data is not event %d as shown", ErrTampered, e.Seq)
	case audit.ComputeHash(e.PrevHash, e) != e.Hash:
		return fmt.Errorf("%w: event %d's chain hash does not match the event", ErrTampered, e.Seq)
	}
	if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, audit.LeafHash(e), p.Proof, ck.Root); err != nil {
		return fmt.Errorf("%w: event %d is not in the log of checkpoint %d: %w", ErrTampered, e.Seq, ck.Size, err)
	}
	return nil
}

// CheckConsistency verifies p offline with only the public verifier key: both checkpoints are
// signed by it, and the newer tree extends the older one. It returns the two checkpoints.
func CheckConsistency(p ConsistencyProof, verifierKey string) (old, cur Signed, err error) {
	if old, err = OpenCheckpoint(p.OldCheckpoint, verifierKey); err != nil {
		return Signed{}, Signed{}, fmt.Errorf("old checkpoint: %w", err)
	}
	if cur, err = OpenCheckpoint(p.NewCheckpoint, verifierKey); err != nil {
		return Signed{}, Signed{}, fmt.Errorf("new checkpoint: %w", err)
	}
	if p.OldSize != old.Size || p.NewSize != cur.Size {
		return Signed{}, Signed{}, fmt.Errorf("%w: the proof is from %d to %d events, the checkpoints name %d and %d",
			ErrTampered, p.OldSize, p.NewSize, old.Size, cur.Size)
	}
	if err := verifyConsistency(old.Checkpoint, cur.Checkpoint, p.Proof); err != nil {
		return Signed{}, Signed{}, err
	}
	return old, cur, nil
}

// verifyConsistency checks that cur's tree extends old's.
func verifyConsistency(old, cur Checkpoint, hashes [][]byte) error {
	if cur.Size < old.Size {
		return fmt.Errorf("%w: the log has %d events, fewer than the %d of the earlier checkpoint (its tail was cut)", ErrTampered, cur.Size, old.Size)
	}
	if old.Size == 0 {
		// Every log extends the empty one; RFC 9162 has no proof for it.
		if !bytes.Equal(old.Root, emptyRoot()) {
			return fmt.Errorf("%w: the checkpoint of an empty log has a root hash", ErrTampered)
		}
		return nil
	}
	if err := proof.VerifyConsistency(hasher, old.Size, cur.Size, hashes, old.Root, cur.Root); err != nil {
		return fmt.Errorf("%w: the log of %d events does not extend the checkpoint of %d events (history rewritten or forked): %w",
			ErrTampered, cur.Size, old.Size, err)
	}
	return nil
}

// emptyRoot is the root of a tree without leaves: SHA-256 of nothing.
func emptyRoot() []byte {
	h := sha256.Sum256(nil)
	return h[:]
}

// MarshalProof writes p as indented JSON, the format `audit prove` prints.
func MarshalProof(p InclusionProof) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write inclusion proof: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseProof reads an inclusion proof as MarshalProof writes it.
func ParseProof(b []byte) (InclusionProof, error) {
	var p InclusionProof
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return InclusionProof{}, fmt.Errorf("read inclusion proof: %w", err)
	}
	for i, h := range p.Proof {
		if len(h) != sha256.Size {
			return InclusionProof{}, fmt.Errorf("read inclusion proof: hash %d is %d bytes, not a SHA-256 (%s)", i, len(h), base64.StdEncoding.EncodeToString(h))
		}
	}
	return p, nil
}
