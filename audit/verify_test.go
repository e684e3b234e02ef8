package audit_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

func TestVerifyFindsTheFirstBadEvent(t *testing.T) {
	const n = 2000
	for _, tt := range []struct {
		name     string
		tamper   func(s *memSource)
		firstBad int64
		problem  string
	}{
		{"an intact log", func(*memSource) {}, 0, ""},
		{"a changed actor", func(s *memSource) { s.events[999].Actor = "mallory" }, 1000, "hash"},
		{"a changed data value", func(s *memSource) { s.events[6].Data = map[string]string{"reason": "none"} }, 7, "hash"},
		{"an added data key", func(s *memSource) { s.events[6].Data["extra"] = "x" }, 7, "hash"},
		{"two changes: the earlier one is named", func(s *memSource) {
			s.events[1900].Type = "x"
			s.events[300].Resource = "elsewhere"
		}, 301, "hash"},
		{"a change after a later gap is still named first", func(s *memSource) {
			s.events[1000].Actor = "mallory"
			s.events = append(s.events[:1500], s.events[1501:]...)
		}, 1001, "hash"},
		{"a removed event", func(s *memSource) { s.events = append(s.events[:99], s.events[100:]...) }, 100, "missing"},
		{"a removed first event", func(s *memSource) { s.events = s.events[1:] }, 1, "missing"},
		{"a removed tail", func(s *memSource) { s.events = s.events[:n-3] }, n - 2, "missing at the end"},
		{"an emptied log", func(s *memSource) { s.events = nil }, 1, "missing at the end"},
		{"a re-hashed event", func(s *memSource) {
			e := &s.events[41]
			e.Actor = "mallory"
			e.Hash = audit.ComputeHash(e.PrevHash, *e)
		}, 43, "prev_hash"},
		{"two events swapped, sequence numbers kept", func(s *memSource) {
			a, b := s.events[10], s.events[20]
			a.Seq, b.Seq = b.Seq, a.Seq
			s.events[10], s.events[20] = b, a
		}, 11, ""},
		{"a head that no event matches", func(s *memSource) { s.head.Hash = strings.Repeat("ab", 32) }, n, "head"},
		{"a malformed hash", func(s *memSource) { s.events[2].Hash = "zz" }, 3, "hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newChain(n)
			tt.tamper(s)
			rep, err := audit.Verify(context.Background(), s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.FirstBad != tt.firstBad {
				t.Fatalf("FirstBad = %d (%s), want %d", rep.FirstBad, rep.Problem, tt.firstBad)
			}
			if !strings.Contains(rep.Problem, tt.problem) {
				t.Errorf("Problem = %q, want it to mention %q", rep.Problem, tt.problem)
			}
			if tt.firstBad == 0 && (rep.Events != n || rep.Head != s.head || !rep.Intact()) {
				t.Errorf("report of an intact log: %+v, want %d events up to %+v", rep, n, s.head)
			}
		})
	}
}

func TestVerifyAcceptsEventsAppendedAfterTheHeadWasRead(t *testing.T) {
	s := newChain(10)
	stale := &staleHead{memSource: s, head: audit.Head{Seq: 6, Hash: s.events[5].Hash}}
	rep, err := audit.Verify(context.Background(), stale, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() || rep.Events != 10 || rep.Head != s.head {
		t.Fatalf("report = %+v, want intact up to seq 10", rep)
	}
}

// staleHead returns a head read before the last events were appended.
type staleHead struct {
	*memSource
	head audit.Head
}

func (s *staleHead) AuditHead(context.Context) (audit.Head, error) { return s.head, nil }

func TestVerifyReturnsReadErrors(t *testing.T) {
	broken := errors.New("disk on fire")
	_, err := audit.Verify(context.Background(), failingSource{broken}, nil)
	if !errors.Is(err, broken) {
		t.Fatalf("err = %v, want the source's error", err)
	}
}

type failingSource struct{ err error }

func (f failingSource) AuditHead(context.Context) (audit.Head, error) { return audit.EmptyHead(), nil }
func (f failingSource) ScanAudit(context.Context, audit.Filter, func(audit.Event) error) error {
	return f.err
}

func TestVerifyStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := audit.Verify(ctx, newChain(3000), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Verify hashes with its own encoder of the canonical form; it must agree with Canonical on
// anything a user could type.
func TestVerifyAgreesWithComputeHashOnAwkwardText(t *testing.T) {
	awkward := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "ünïcödé ✓ 🎉", "\u2028\u2029", "bad utf8 \xff\xfe", "=cmd|' /C calc'!A0",
		strings.Repeat("long ", 200)}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return awkward[rng.IntN(len(awkward))] }
	s := &memSource{head: audit.EmptyHead()}
	for i := range 500 {
		e := audit.Event{
			At:   time.Date(1999+i%40, time.Month(1+i%12), 1+i%28, i%24, i%60, i%60, i*1001, time.FixedZone("x", 3600*(i%5))),
			Type: pick(), Actor: pick(), Resource: pick(), Subject: pick(), RequestID: pick(), GrantID: pick(),
		}
		if i%3 != 0 {
			e.Data = map[string]string{}
			for range rng.IntN(6) {
				e.Data[pick()] = pick()
			}
		}
		s.append(e)
	}
	rep, err := audit.Verify(context.Background(), s, nil)
	if err != nil || !rep.Intact() {
		t.Fatalf("a log sealed with ComputeHash does not verify: %+v, %v", rep, err)
	}
	// And a change to any of that text is caught.
	s.events[250].Data = map[string]string{"\u2028": "\xff"}
	if rep, _ := audit.Verify(context.Background(), s, nil); rep.FirstBad != 251 {
		t.Fatalf("FirstBad = %d, want 251", rep.FirstBad)
	}
}
