// Package translog makes accessbot's audit log a transparency log: an RFC 6962 Merkle tree
// over the events (leaf n-1 is the event with seq n, hashed as audit.LeafHash), signed
// checkpoints of it, inclusion proofs (this event is in the log a checkpoint names) and
// consistency proofs (this log extends the one an earlier checkpoint named).
//
// Checking needs no database: Check, CheckConsistency and OpenCheckpoint take the proof and
// the public verifier key, so an auditor checks offline. Proving reads the tree the store keeps
// (storage, migration 0014) through the Store interface: O(log n) node hashes, never the whole
// log. docs/transparency.md documents the formats for auditors with their own tools.
package translog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// ErrTampered marks a proof or a log that does not check out: the signature, the inclusion, the
// consistency with an earlier checkpoint, or the events themselves. Errors without it are
// failures to read or parse.
var ErrTampered = errors.New("the audit log does not match")

// Checkpoint is a statement of the log at one moment: its first Size events have the Merkle
// root Root. Signed, it commits accessbot to that history: a later log that rewrote, cut or
// forked it cannot produce a consistency proof to it.
type Checkpoint struct {
	// Origin names the log; it is also the name of the key that signs its checkpoints.
	Origin string
	Size   uint64
	// Root is the RFC 6962 root hash of the first Size leaves (SHA-256 of nothing when 0).
	Root []byte
	// Time is when the checkpoint was made, to the second.
	Time time.Time
}

// timePrefix starts the extension line that carries the checkpoint's time.
const timePrefix = "time "

// Body returns the text that is signed, the C2SP tlog-checkpoint format: the origin, the size
// in decimal, the root hash in standard base64, each on a line of its own, then one extension
// line "time <RFC 3339 UTC>".
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n%s%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root),
		timePrefix, c.Time.UTC().Format(time.RFC3339))
}

// ParseCheckpoint reads a checkpoint body as Body writes it; extension lines other than the
// time are allowed and ignored, as the format says.
func ParseCheckpoint(body string) (Checkpoint, error) {
	text, ok := strings.CutSuffix(body, "\n")
	if !ok {
		return Checkpoint{}, errors.New("parse checkpoint: the text does not end with a newline")
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: %d lines, want at least 3 (origin, size, root hash)", len(lines))
	}
	var c Checkpoint
	if c.Origin = lines[0]; !ValidOrigin(c.Origin) {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: origin %q is empty or has spaces or '+'", c.Origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: size %q is not a decimal number", lines[1])
	}
	c.Size = size
	if c.Root, err = base64.StdEncoding.DecodeString(lines[2]); err != nil || len(c.Root) != 32 {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: root hash %q is not a base64 SHA-256", lines[2])
	}
	for _, l := range lines[3:] {
		if l == "" {
			return Checkpoint{}, errors.New("parse checkpoint: an empty extension line")
		}
		if v, ok := strings.CutPrefix(l, timePrefix); ok {
			if c.Time, err = time.Parse(time.RFC3339, v); err != nil {
				return Checkpoint{}, fmt.Errorf("parse checkpoint: time %q: %w", v, err)
			}
		}
	}
	return c, nil
}

// ValidOrigin reports whether origin can name a log and its key: not empty, no spaces, no '+'
// (a note key name's rules), printable.
func ValidOrigin(origin string) bool {
	if origin == "" || len(origin) > 255 || strings.Contains(origin, "+") {
		return false
	}
	for _, r := range origin {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return false
		}
	}
	return true
}

// GenerateKey returns a new Ed25519 key pair for the log origin, as signed-note keys: the
// signer key ("PRIVATE+KEY+origin+...", a secret for the transparency config) and the
// verifier key ("origin+hash+base64", public: auditors and witnesses check with it).
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	if !ValidOrigin(origin) {
		return "", "", fmt.Errorf("generate checkpoint key: origin %q is empty or has spaces or '+'", origin)
	}
	signerKey, verifierKey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("generate checkpoint key: %w", err)
	}
	return signerKey, verifierKey, nil
}

// VerifierKey returns the public verifier key of signerKey, for showing to auditors.
func VerifierKey(signerKey string) (string, error) {
	// note.NewSigner checks the key's form and its hash; the seed is then at the end.
	if _, err := note.NewSigner(signerKey); err != nil {
		return "", fmt.Errorf("read checkpoint signer key: %w", err)
	}
	// PRIVATE+KEY+<name>+<hash>+<base64 of 0x01 || seed>; base64 may itself hold '+'.
	rest := strings.TrimPrefix(signerKey, "PRIVATE+KEY+")
	name, rest, _ := strings.Cut(rest, "+")
	_, key64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return "", errors.New("read checkpoint signer key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("read checkpoint signer key: %w", err)
	}
	return vkey, nil
}

// Signed is a checkpoint with its signed note, the text that is published and that proofs
// carry.
type Signed struct {
	Checkpoint
	Note string
}

// SignCheckpoint signs c with signer, whose name must be c's origin.
func SignCheckpoint(c Checkpoint, signer note.Signer) (Signed, error) {
	if signer.Name() != c.Origin {
		return Signed{}, fmt.Errorf("sign checkpoint: the key is for %q, the log is %q", signer.Name(), c.Origin)
	}
	c.Time = c.Time.UTC().Truncate(time.Second)
	msg, err := note.Sign(&note.Note{Text: c.Body()}, signer)
	if err != nil {
		return Signed{}, fmt.Errorf("sign checkpoint: %w", err)
	}
	return Signed{Checkpoint: c, Note: string(msg)}, nil
}

// OpenCheckpoint checks the signed note text with the verifier key and returns its checkpoint.
// The note must carry a good signature by that key, and the key's name must be the origin.
func OpenCheckpoint(text, verifierKey string) (Signed, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Signed{}, fmt.Errorf("read verifier key: %w", err)
	}
	return openWith(text, v)
}

func openWith(text string, v note.Verifier) (Signed, error) {
	n, err := note.Open([]byte(text), note.VerifierList(v))
	if err != nil {
		return Signed{}, fmt.Errorf("%w: checkpoint signature: %w", ErrTampered, err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Signed{}, err
	}
	if c.Origin != v.Name() {
		return Signed{}, fmt.Errorf("%w: the checkpoint is of log %q, the key of %q", ErrTampered, c.Origin, v.Name())
	}
	return Signed{Checkpoint: c, Note: text}, nil
}
