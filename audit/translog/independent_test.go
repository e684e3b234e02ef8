package translog_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// This file checks proofs the way docs/transparency.md tells an auditor to, with nothing of
// accessbot's and no Merkle library: SHA-256, Ed25519, base64 and JSON. If the document or the
// format drifts, this test fails.

// auditorProof is the proof JSON as the document describes it.
type auditorProof struct {
	Event struct {
		Seq  int64  `json:"seq"`
		Type string `json:"type"`
	} `json:"event"`
	LeafData   string   `json:"leaf_data"`
	LeafIndex  uint64   `json:"leaf_index"`
	TreeSize   uint64   `json:"tree_size"`
	Proof      []string `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
}

// auditorOpen checks the signed note with the verifier key "name+keyhash+base64(0x01||pub)"
// and returns its three first lines: origin, size and root.
func auditorOpen(note, vkey string) (origin string, size uint64, root []byte, err error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return "", 0, nil, fmt.Errorf("verifier key has %d fields", len(parts))
	}
	name, key, _ := parts[0], parts[1], parts[2]
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x01 {
		return "", 0, nil, fmt.Errorf("verifier key is not Ed25519")
	}
	pub := ed25519.PublicKey(raw[1:])
	keyHash := sha256.Sum256(append([]byte(name+"\n"), raw...))
	if fmt.Sprintf("%08x", binary.BigEndian.Uint32(keyHash[:4])) != key {
		return "", 0, nil, fmt.Errorf("verifier key hash does not match")
	}
	// The note: the text (ending in a newline), a blank line, then "— name base64(keyhash||sig)".
	i := strings.LastIndex(note, "\n\n")
	if i < 0 {
		return "", 0, nil, fmt.Errorf("no signatures")
	}
	text, sigs := note[:i+1], note[i+2:]
	ok := false
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, found := strings.CutPrefix(line, "\u2014 "+name+" ")
		if !found {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(sig) != 4+ed25519.SignatureSize || !bytes.Equal(sig[:4], keyHash[:4]) {
			continue
		}
		if ed25519.Verify(pub, []byte(text), sig[4:]) {
			ok = true
		}
	}
	if !ok {
		return "", 0, nil, fmt.Errorf("no good signature by %s", name)
	}
	lines := strings.Split(text, "\n")
	if size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return "", 0, nil, err
	}
	if root, err = base64.StdEncoding.DecodeString(lines[2]); err != nil {
		return "", 0, nil, err
	}
	return lines[0], size, root, nil
}

func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{0x01}, l...), r...))
	return h[:]
}

// auditorCheck is RFC 9162 section 2.1.3.2, verifying an inclusion proof.
func auditorCheck(proofJSON []byte, vkey string) error {
	var p auditorProof
	if err := json.Unmarshal(proofJSON, &p); err != nil {
		return err
	}
	origin, size, root, err := auditorOpen(p.Checkpoint, vkey)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(vkey, origin+"+") || size != p.TreeSize || uint64(p.Event.Seq) != p.LeafIndex+1 {
		return fmt.Errorf("proof and checkpoint disagree")
	}
	data, err := base64.StdEncoding.DecodeString(p.LeafData)
	if err != nil {
		return err
	}
	// The leaf data is the event as canonical JSON: it says what the proof is about.
	var shown struct {
		Seq  int64  `json:"seq"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &shown); err != nil || shown != p.Event {
		return fmt.Errorf("leaf data is not the event")
	}
	leaf := sha256.Sum256(append([]byte{0x00}, data...))
	fn, sn, r := p.LeafIndex, p.TreeSize-1, leaf[:]
	for _, s := range p.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		if sn == 0 {
			return fmt.Errorf("proof too long")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(h, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, h)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !bytes.Equal(r, root) {
		return fmt.Errorf("root mismatch")
	}
	return nil
}

func TestAProofChecksWithOnlySHA256AndEd25519AsTheDocumentSays(t *testing.T) {
	f := newFixture(t, 23)
	ctx := context.Background()
	ck, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= 23; seq++ {
		p, err := f.log.Prove(ctx, seq, ck)
		if err != nil {
			t.Fatal(err)
		}
		text, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := auditorCheck(text, f.vkey); err != nil {
			t.Fatalf("event %d: the auditor's own check failed: %v\n%s", seq, err, text)
		}
		// And the same check refuses a proof with one hash changed.
		p.Proof[0] = nodeHash(p.Proof[0], p.Proof[0])
		bad, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := auditorCheck(bad, f.vkey); err == nil {
			t.Fatalf("event %d: the auditor's check passed a changed proof", seq)
		}
	}
}
