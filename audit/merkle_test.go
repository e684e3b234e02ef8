package audit_test

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/accessbot/accessbot/audit"
)

func TestLeafAndNodeHashesAreRFC6962OverTheCanonicalEvent(t *testing.T) {
	awkward := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "ünïcödé ✓ 🎉", "\u2028\u2029", "bad utf8 \xff\xfe", strings.Repeat("long ", 200)}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func() string { return awkward[rng.IntN(len(awkward))] }
	for i := range 300 {
		e := audit.Event{
			Seq:  int64(i + 1),
			At:   time.Date(1999+i%40, time.Month(1+i%12), 1+i%28, i%24, i%60, i%60, i*1001, time.FixedZone("x", 3600*(i%5))),
			Type: pick(), Actor: pick(), Resource: pick(), Subject: pick(), RequestID: pick(), GrantID: pick(),
		}
		if i%3 != 0 {
			e.Data = map[string]string{}
			for range rng.IntN(6) {
				e.Data[pick()] = pick()
			}
		}
		// The leaf covers exactly the canonical bytes the chain hash covers, with RFC 6962's
		// leaf prefix.
		want := sha256.Sum256(append([]byte{0x00}, audit.Canonical(e)...))
		got := audit.LeafHash(e)
		if !bytes.Equal(got, want[:]) || !bytes.Equal(got, rfc6962.DefaultHasher.HashLeaf(audit.Canonical(e))) {
			t.Fatalf("event %d: LeafHash %x, want SHA-256(0x00 || Canonical) %x", i, got, want)
		}
		e.PrevHash = []string{audit.ZeroHash, "not hex", strings.Repeat("ab", 32)}[i%3]
		if chain, leaf := audit.EventHashes(e); chain != audit.ComputeHash(e.PrevHash, e) || !bytes.Equal(leaf, got) {
			t.Fatalf("event %d: EventHashes disagrees with ComputeHash and LeafHash", i)
		}
	}
	l, r := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	if got := audit.NodeHash(l, r); !bytes.Equal(got, rfc6962.DefaultHasher.HashChildren(l, r)) {
		t.Errorf("NodeHash is not RFC 6962's")
	}
}
