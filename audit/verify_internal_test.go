package audit

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitRangesCoversTheLogWithAnOpenEnd(t *testing.T) {
	for _, tt := range []struct {
		head    int64
		n       int
		minSize int64
		want    []seqRange
	}{
		{0, 4, 10, []seqRange{{lo: 1}}},
		{39, 4, 10, []seqRange{{1, 13}, {14, 26}, {27, 0}}},
		{100, 4, 10, []seqRange{{1, 25}, {26, 50}, {51, 75}, {76, 0}}},
		{100, 1, 10, []seqRange{{lo: 1}}},
		{15, 4, 10, []seqRange{{lo: 1}}},
	} {
		if got := splitRanges(tt.head, tt.n, tt.minSize); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitRanges(%d, %d, %d) = %v, want %v", tt.head, tt.n, tt.minSize, got, tt.want)
		}
	}
}

// chain is a small in-memory Source for checking the edges of Verify's ranges.
type chain struct {
	events []Event
	head   Head
}

func newTestChain(n int) *chain {
	c := &chain{head: EmptyHead()}
	for i := 1; i <= n; i++ {
		e := Seal(c.head, Event{At: time.Unix(int64(i), 0), Type: "t", Actor: fmt.Sprint("a", i)})
		c.events = append(c.events, e)
		c.head = Head{Seq: e.Seq, Hash: e.Hash}
	}
	return c
}

func (c *chain) AuditHead(context.Context) (Head, error) { return c.head, nil }

func (c *chain) ScanAudit(_ context.Context, f Filter, fn func(Event) error) error {
	for _, e := range c.events {
		if e.Seq <= f.AfterSeq || (f.MaxSeq != 0 && e.Seq > f.MaxSeq) {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (c *chain) remove(seq int64) {
	for i, e := range c.events {
		if e.Seq == seq {
			c.events = append(c.events[:i], c.events[i+1:]...)
			return
		}
	}
}

func TestVerifyFindsProblemsAtTheEdgesOfItsRanges(t *testing.T) {
	// 100 events in four ranges: 1-25, 26-50, 51-75, 76-.
	for _, tt := range []struct {
		name     string
		tamper   func(c *chain)
		firstBad int64
		problem  string
	}{
		{"intact", func(*chain) {}, 0, ""},
		{"the last event of a range removed", func(c *chain) { c.remove(25) }, 25, "missing"},
		{"the first event of a range removed", func(c *chain) { c.remove(26) }, 26, "missing"},
		{"a whole range removed", func(c *chain) {
			for s := int64(26); s <= 50; s++ {
				c.remove(s)
			}
		}, 26, "missing"},
		{"the last event of a range re-hashed", func(c *chain) {
			e := &c.events[49]
			e.Actor = "mallory"
			e.Hash = ComputeHash(e.PrevHash, *e)
		}, 51, "prev_hash"},
		{"the first event of a range changed", func(c *chain) { c.events[50].Actor = "mallory" }, 51, "hash does not match the event"},
		{"problems in two ranges: the earlier is named", func(c *chain) {
			c.events[80].Actor = "mallory"
			c.remove(60)
		}, 60, "missing"},
		{"the tail removed into the second-to-last range", func(c *chain) { c.events = c.events[:70] }, 71, "missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestChain(100)
			tt.tamper(c)
			var progress []int64
			rep, err := verify(context.Background(), c, func(n int64) { progress = append(progress, n) },
				verifyOptions{parts: 4, minSize: 10, progressEvery: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if rep.FirstBad != tt.firstBad || !strings.Contains(rep.Problem, tt.problem) {
				t.Fatalf("report %+v, want first bad %d with a problem about %q", rep, tt.firstBad, tt.problem)
			}
			if tt.firstBad == 0 && (rep.Events != 100 || rep.Head != c.head) {
				t.Errorf("report of an intact log %+v, want 100 events up to %+v", rep, c.head)
			}
			if len(progress) == 0 || progress[len(progress)-1] != rep.Events {
				t.Errorf("progress %v, want it to end at %d", progress, rep.Events)
			}
		})
	}
}

func TestAppendCanonicalMatchesCanonical(t *testing.T) {
	texts := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "ünïcödé ✓ 🎉", "\u2028\u2029", "bad utf8 \xff\xfe", "=cmd|' /C calc'!A0"}
	times := []time.Time{
		{},
		time.Date(-5, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 6, 1, 0, 30, 0, 1500, time.FixedZone("x", -9*3600-1800)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1, 999).In(time.FixedZone("y", 14*3600)),
	}
	var h hasher
	for i := range 400 {
		e := Event{
			Seq: int64(i*7919) - 100, At: times[i%len(times)],
			Type: texts[i%len(texts)], Actor: texts[(i+1)%len(texts)], Resource: texts[(i+2)%len(texts)],
			Subject: texts[(i+3)%len(texts)], RequestID: texts[(i+4)%len(texts)], GrantID: texts[(i+5)%len(texts)],
		}
		if i%4 != 0 {
			e.Data = map[string]string{}
			for j := range i % 5 {
				e.Data[texts[(i+j)%len(texts)]] = texts[(i*j)%len(texts)]
			}
		}
		want := string(Canonical(e))
		if got := string(h.appendCanonical(nil, &e)); got != want {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestAnUppercaseHashDoesNotVerify(t *testing.T) {
	c := newTestChain(3)
	// ComputeHash writes lowercase; a stored hash must equal it exactly.
	c.events[2].Hash = strings.ToUpper(c.events[2].Hash)
	c.head.Hash = c.events[2].Hash
	rep, err := Verify(context.Background(), c, nil)
	if err != nil || rep.FirstBad != 3 {
		t.Fatalf("report %+v, %v; want first bad 3", rep, err)
	}
}

func TestVerifyReportsProgressThatNeverGoesBackwards(t *testing.T) {
	c := newTestChain(20_000)
	var calls []int64
	rep, err := verify(context.Background(), c, func(done int64) { calls = append(calls, done) },
		verifyOptions{parts: 4, minSize: 100, progressEvery: 2500})
	if err != nil || !rep.Intact() {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	if len(calls) < 5 || calls[len(calls)-1] != 20_000 {
		t.Fatalf("progress calls %v, want several ending at 20000", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] < calls[i-1] {
			t.Fatalf("progress went backwards: %v", calls)
		}
	}
}
