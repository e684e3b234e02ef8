package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// The Merkle tree over the log (RFC 6962, section 2.1) has the event with sequence number n as
// its leaf n-1. These are its two hash functions, written out here (rather than taken from a
// library) because they are the whole of what an auditor must recompute with their own tools:
// docs/transparency.md states them, and audit/translog proves and checks with them.

// LeafHash returns the RFC 6962 hash of e as a leaf: SHA-256(0x00 || Canonical(e)). It covers
// what the chain hash covers (the event without its hashes), so an auditor recomputes it from
// an exported event; the 0x00 prefix keeps a leaf from passing for an interior node.
func LeafHash(e Event) []byte {
	// appendCanonical writes what Canonical does without reflection; appends and backfills
	// hash every event.
	var h hasher
	h.buf = append(h.buf, 0x00)
	h.buf = h.appendCanonical(h.buf, &e)
	sum := sha256.Sum256(h.buf)
	return sum[:]
}

// NodeHash returns the RFC 6962 hash of an interior node: SHA-256(0x01 || left || right).
func NodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// ErrNotStored marks a node or leaf of the tree that the store does not have: the tree or the
// log is shorter than asked, which on a log that once had it means rows were removed.
var ErrNotStored = errors.New("not stored")

// EventHashes returns what ComputeHash(e.PrevHash, e) and LeafHash(e) return, from one
// canonical encoding written without reflection: a verifier that checks both for every event
// of a long log spends its time hashing, not encoding.
func EventHashes(e Event) (chain string, leaf []byte) {
	var h hasher
	canon := h.appendCanonical(make([]byte, 1, 512), &e) // canon[0] is the leaf prefix 0x00
	l := sha256.Sum256(canon)
	c := sha256.New()
	if decodeHash(h.prev[:], e.PrevHash) {
		c.Write(h.prev[:])
	} else {
		// As ComputeHash does with a malformed previous hash.
		c.Write([]byte(e.PrevHash))
	}
	c.Write(canon[1:])
	return hex.EncodeToString(c.Sum(nil)), l[:]
}
