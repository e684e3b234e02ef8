package translog_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/translog"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

const origin = "accessbot.example.com/audit"

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// fixture is a SQLite log of n events with a transparency log over it.
type fixture struct {
	db   *storage.DB
	log  *translog.Log
	skey string
	vkey string
}

func newFixture(t *testing.T, n int) fixture {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := db.AppendAudit(ctx, audit.Event{At: now.Add(time.Duration(i) * time.Second), Type: audit.RequestCreated,
			Actor: "alice@example.com", Resource: "prod-db", Subject: "alice@example.com", RequestID: "r" + string(rune('a'+i%26)),
			Data: map[string]string{"reason": "INC-1 <urgent> & \"quoted\"", "n": string(rune('0' + i%10))}}); err != nil {
			t.Fatal(err)
		}
	}
	skey, vkey, err := translog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := translog.NewLog(db, skey, clock.NewFake(now))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, log: l, skey: skey, vkey: vkey}
}

func TestACheckpointBodyIsTheC2SPCheckpointFormat(t *testing.T) {
	c := translog.Checkpoint{Origin: origin, Size: 42, Root: make([]byte, 32), Time: time.Date(2026, 12, 4, 13, 14, 15, 0, time.FixedZone("CET", 3600))}
	c.Root[0] = 0xfb
	want := "accessbot.example.com/audit\n42\n+wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 2026-12-04T12:14:15Z\n"
	if got := c.Body(); got != want {
		t.Fatalf("Body() = %q, want %q", got, want)
	}
	back, err := translog.ParseCheckpoint(want)
	if err != nil {
		t.Fatal(err)
	}
	if back.Origin != c.Origin || back.Size != c.Size || string(back.Root) != string(c.Root) || !back.Time.Equal(c.Time) {
		t.Errorf("ParseCheckpoint(Body()) = %+v, want %+v", back, c)
	}
	// Another log's extension lines are allowed; the time is not required.
	if _, err := translog.ParseCheckpoint("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nwitness x\n"); err != nil {
		t.Errorf("a checkpoint with a foreign extension line: %v", err)
	}
}

func TestParseCheckpointRefusesAMalformedBody(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tt := range []struct{ name, body string }{
		{"no final newline", origin + "\n1\n" + root},
		{"too few lines", origin + "\n1\n"},
		{"an origin with a space", "a b\n1\n" + root + "\n"},
		{"a negative size", origin + "\n-1\n" + root + "\n"},
		{"a size with a leading zero", origin + "\n01\n" + root + "\n"},
		{"a short root", origin + "\n1\nAAAA\n"},
		{"an empty extension line", origin + "\n1\n" + root + "\n\n"},
		{"a bad time", origin + "\n1\n" + root + "\ntime yesterday\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := translog.ParseCheckpoint(tt.body); err == nil {
				t.Errorf("ParseCheckpoint(%q) accepted it", tt.body)
			}
		})
	}
}

func TestVerifierKeyIsThePublicHalfOfTheSignerKey(t *testing.T) {
	// Enough keys that some base64 holds '+', the separator of the key's fields.
	for range 50 {
		skey, vkey, err := translog.GenerateKey(origin)
		if err != nil {
			t.Fatal(err)
		}
		got, err := translog.VerifierKey(skey)
		if err != nil || got != vkey {
			t.Fatalf("VerifierKey(%q) = %q, %v; want %q", skey, got, err, vkey)
		}
	}
	if _, _, err := translog.GenerateKey("bad origin"); err == nil {
		t.Error("a key was generated for an origin with a space")
	}
}

func TestOpenCheckpointRefusesAnotherKeyOrAChangedText(t *testing.T) {
	f := newFixture(t, 5)
	ck, err := f.log.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := translog.OpenCheckpoint(ck.Note, f.vkey); err != nil {
		t.Fatalf("OpenCheckpoint of a good checkpoint: %v", err)
	}
	_, otherKey, _ := translog.GenerateKey(origin)
	_, otherLog, _ := translog.GenerateKey("another.example.com/log")
	for _, tt := range []struct{ name, note, vkey string }{
		{"another key of the same name", ck.Note, otherKey},
		{"another log's key", ck.Note, otherLog},
		{"a changed size", strings.Replace(ck.Note, "\n5\n", "\n4\n", 1), f.vkey},
		{"no signature", ck.Body(), f.vkey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := translog.OpenCheckpoint(tt.note, tt.vkey); !errors.Is(err, translog.ErrTampered) {
				t.Errorf("OpenCheckpoint = %v, want a mismatch", err)
			}
		})
	}
}

func TestCheckRefusesAChangedProof(t *testing.T) {
	f := newFixture(t, 11)
	ctx := context.Background()
	good, err := f.log.ProveLatest(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := translog.Check(good, f.vkey); err != nil {
		t.Fatalf("Check of a good proof: %v", err)
	}
	older, err := f.log.Prove(ctx, 6, mustCheckpointAt(t, f, good))
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := translog.GenerateKey(origin)
	for _, tt := range []struct {
		name   string
		change func(p *translog.InclusionProof)
		vkey   string
	}{
		{"the event's actor", func(p *translog.InclusionProof) { p.Event.Actor = "mallory@example.com" }, f.vkey},
		{"the event's actor with its chain hash recomputed", func(p *translog.InclusionProof) {
			p.Event.Actor = "mallory@example.com"
			p.Event.Hash = audit.ComputeHash(p.Event.PrevHash, p.Event)
			p.LeafData = audit.Canonical(p.Event)
		}, f.vkey},
		{"the event's data", func(p *translog.InclusionProof) { p.Event.Data["reason"] = "routine" }, f.vkey},
		{"the leaf data alone", func(p *translog.InclusionProof) { p.LeafData = append([]byte(nil), p.LeafData[1:]...) }, f.vkey},
		{"the leaf index", func(p *translog.InclusionProof) { p.LeafIndex++ }, f.vkey},
		{"the tree size", func(p *translog.InclusionProof) { p.TreeSize-- }, f.vkey},
		{"a proof hash", func(p *translog.InclusionProof) { p.Proof[0] = append([]byte(nil), p.Proof[1]...) }, f.vkey},
		{"a proof hash dropped", func(p *translog.InclusionProof) { p.Proof = p.Proof[1:] }, f.vkey},
		{"another checkpoint of the log", func(p *translog.InclusionProof) { p.Checkpoint = older.Checkpoint }, f.vkey},
		{"another key", func(p *translog.InclusionProof) {}, otherKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text, _ := translog.MarshalProof(good)
			p, err := translog.ParseProof(text) // a deep copy
			if err != nil {
				t.Fatal(err)
			}
			tt.change(&p)
			if _, err := translog.Check(p, tt.vkey); !errors.Is(err, translog.ErrTampered) {
				t.Errorf("Check = %v, want a mismatch", err)
			}
		})
	}
}

// mustCheckpointAt returns a checkpoint of the log one event longer than p's, so that the
// same event's proof differs.
func mustCheckpointAt(t *testing.T, f fixture, p translog.InclusionProof) translog.Signed {
	t.Helper()
	if _, err := f.db.AppendAudit(context.Background(), audit.Event{At: now, Type: audit.ConfigLoaded, Actor: "accessbot"}); err != nil {
		t.Fatal(err)
	}
	ck, err := f.log.Checkpoint(context.Background())
	if err != nil || ck.Size != p.TreeSize+1 {
		t.Fatalf("checkpoint: %v, size %d", err, ck.Size)
	}
	return ck
}
