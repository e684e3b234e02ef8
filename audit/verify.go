package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Filter selects events for a scan. The zero Filter selects every event.
type Filter struct {
	// Since and Until select events at or after Since and before Until; zero means no bound.
	Since, Until time.Time
	// Resource and Subject select events about one resource or one person (the Subject field).
	Resource, Subject string
	// Person selects events a person took part in: as the Subject (their own requests and
	// grants) or as the Actor (their approvals, denials, revocations, refused clicks).
	Person string
	// AfterSeq selects events with a sequence number above it.
	AfterSeq int64
	// MaxSeq, when not 0, selects events with a sequence number at or below it.
	MaxSeq int64
}

// Source is where events are stored; storage implements it.
type Source interface {
	// ScanAudit calls fn for every event f selects, in sequence order, without loading them all
	// into memory. An error from fn stops the scan and is returned.
	ScanAudit(ctx context.Context, f Filter, fn func(Event) error) error
	// AuditHead returns the stored end of the chain.
	AuditHead(ctx context.Context) (Head, error)
}

// Report is the outcome of Verify.
type Report struct {
	// Events is how many events were read.
	Events int64
	// Head is the end of the chain as read: the last event's sequence number and hash.
	Head Head
	// FirstBad is the sequence number of the first event that was changed, removed or moved;
	// 0 when the log is intact.
	FirstBad int64
	// Problem says what is wrong at FirstBad.
	Problem string
}

// Intact reports whether Verify found nothing wrong.
func (r Report) Intact() bool { return r.FirstBad == 0 }

// progressEvery is how many events pass between calls to Verify's progress function.
const progressEvery = 100_000

// Verify reads the whole log in sequence order and checks the chain: sequence numbers run from
// 1 without gaps, each event's PrevHash is the previous event's Hash, each Hash is the hash of
// its event, and the stored head is an event of the chain (so a removed tail shows). It reports
// the first bad sequence number in Report; the error is for failing to read.
//
// Events appended while Verify runs are checked as well; the head is read first, so they do
// not look like a mismatch. progress, when not nil, is called with the number of events read
// every 100,000 events and at the end, one call at a time.
//
// A long log is cut into consecutive ranges of sequence numbers, read and hashed in parallel
// (one per CPU, at most four), and the ranges' ends are checked against each other afterwards:
// a million events from SQLite take under two seconds on two cores.
func Verify(ctx context.Context, src Source, progress func(done int64)) (Report, error) {
	return verify(ctx, src, progress, verifyOptions{
		parts:         min(runtime.GOMAXPROCS(0), maxRanges),
		minSize:       minRange,
		progressEvery: progressEvery,
	})
}

// verifyOptions are Verify's sizes, smaller in tests.
type verifyOptions struct {
	parts         int   // at most this many ranges
	minSize       int64 // of at least this many events each
	progressEvery int64
}

func verify(ctx context.Context, src Source, progress func(done int64), o verifyOptions) (Report, error) {
	head, err := src.AuditHead(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("read audit head: %w", err)
	}
	ranges := splitRanges(head.Seq, o.parts, o.minSize)
	run := &verifyRun{head: head, progress: progress, every: o.progressEvery}
	results := make([]rangeResult, len(ranges))
	errs := make([]error, len(ranges))
	var wg sync.WaitGroup
	for i, r := range ranges {
		wg.Go(func() { results[i], errs[i] = run.verifyRange(ctx, src, r) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return Report{}, fmt.Errorf("verify events from seq %d: %w", ranges[i].lo, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	rep := merge(ranges, results, head)
	if progress != nil {
		progress(rep.Events)
	}
	return rep, nil
}

const (
	maxRanges = 4
	// minRange is the least number of events worth a range (and a connection) of its own.
	minRange = 50_000
)

// seqRange is the sequence numbers from lo to hi; hi 0 means no end.
type seqRange struct{ lo, hi int64 }

// splitRanges cuts 1..headSeq into at most n ranges; the last one has no end, to take in
// events appended meanwhile.
func splitRanges(headSeq int64, n int, minSize int64) []seqRange {
	n = int(min(int64(n), headSeq/minSize))
	if n <= 1 {
		return []seqRange{{lo: 1}}
	}
	size := headSeq / int64(n)
	out := make([]seqRange, n)
	for i := range out {
		out[i] = seqRange{lo: int64(i)*size + 1, hi: int64(i+1) * size}
	}
	out[n-1].hi = 0
	return out
}

// rangeResult is what one range found, and its ends for checking against its neighbours.
type rangeResult struct {
	events    int64
	firstPrev string // PrevHash of the range's first event, when it is the event at lo
	hasFirst  bool
	last      Head // the last event read
	complete  bool // every event of the range was read
	firstBad  int64
	problem   string
}

// verifyRun is state shared by the ranges of one Verify.
type verifyRun struct {
	head     Head
	progress func(int64)
	every    int64 // events between calls to progress

	// bad is the smallest bad sequence number any range found so far: others stop past it.
	bad atomic.Int64

	mu       sync.Mutex
	done     atomic.Int64
	reported int64
}

const checkEvery = 1024

func (v *verifyRun) verifyRange(ctx context.Context, src Source, r seqRange) (rangeResult, error) {
	var (
		res     rangeResult
		h       hasher
		next    = r.lo
		counted int64 // events already added to the progress count
	)
	if r.lo == 1 {
		// The chain starts from the zero hash.
		res.last = EmptyHead()
	}
	fail := func(seq int64, problem string) error {
		res.firstBad, res.problem = seq, problem
		for {
			cur := v.bad.Load()
			if (cur != 0 && cur <= seq) || v.bad.CompareAndSwap(cur, seq) {
				break
			}
		}
		return errStop
	}
	stopped := false
	err := src.ScanAudit(ctx, Filter{AfterSeq: r.lo - 1, MaxSeq: r.hi}, func(e Event) error {
		if res.events%checkEvery == 0 && res.events > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			v.addProgress(res.events - counted)
			counted = res.events
			// Another range found a problem before this point: nothing here can come first.
			if bad := v.bad.Load(); bad != 0 && bad < e.Seq {
				stopped = true
				return errStop
			}
		}
		res.events++
		if res.events == 1 && e.Seq == r.lo {
			res.firstPrev, res.hasFirst = e.PrevHash, true
		}
		switch {
		case e.Seq != next:
			// Read in order, so sequence numbers only increase: this is a gap.
			return fail(next, fmt.Sprintf("event missing: seq %d follows seq %d", e.Seq, next-1))
		case (res.events > 1 || r.lo == 1) && e.PrevHash != res.last.Hash:
			return fail(e.Seq, fmt.Sprintf("prev_hash does not match the hash of seq %d (seq %d was changed or removed, or events were reordered)", next-1, next-1))
		case !h.matches(&e):
			return fail(e.Seq, "hash does not match the event (the event was changed)")
		case e.Seq == v.head.Seq && e.Hash != v.head.Hash:
			return fail(e.Seq, "hash does not match the stored head")
		}
		res.last = Head{Seq: e.Seq, Hash: e.Hash}
		next++
		return nil
	})
	v.addProgress(res.events - counted)
	if err != nil && !errors.Is(err, errStop) {
		return res, err
	}
	if res.firstBad != 0 || stopped || ctx.Err() != nil {
		return res, nil
	}
	switch {
	case r.hi != 0 && next <= r.hi:
		_ = fail(next, fmt.Sprintf("event missing: seq %d is followed by no event up to seq %d", next-1, r.hi+1))
	case r.hi == 0 && next <= v.head.Seq:
		_ = fail(next, fmt.Sprintf("events missing at the end: the stored head is seq %d, the last event is seq %d", v.head.Seq, next-1))
	default:
		res.complete = true
	}
	return res, nil
}

// addProgress counts n more events read and calls progress when another v.every passed.
func (v *verifyRun) addProgress(n int64) {
	if v.progress == nil || n == 0 {
		return
	}
	done := v.done.Add(n)
	if done/v.every == (done-n)/v.every {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// Ranges report concurrently: never go backwards.
	if done > v.reported {
		v.reported = done
		v.progress(done)
	}
}

// merge puts the ranges' findings together: the earliest problem of any range, or a range
// whose first event does not link to the end of the range before it.
func merge(ranges []seqRange, results []rangeResult, head Head) Report {
	var rep Report
	consider := func(seq int64, problem string) {
		if rep.FirstBad == 0 || seq < rep.FirstBad {
			rep.FirstBad, rep.Problem = seq, problem
		}
	}
	for i, res := range results {
		rep.Events += res.events
		if res.firstBad != 0 {
			consider(res.firstBad, res.problem)
		}
		if i > 0 && results[i-1].complete && res.hasFirst && res.firstPrev != results[i-1].last.Hash {
			lo := ranges[i].lo
			consider(lo, fmt.Sprintf("prev_hash does not match the hash of seq %d (seq %d was changed or removed, or events were reordered)", lo-1, lo-1))
		}
	}
	if rep.FirstBad == 0 {
		rep.Head = results[len(results)-1].last
		if rep.Head.Seq == 0 {
			rep.Head = EmptyHead()
		}
	}
	return rep
}

// errStop ends a scan early once a range knows its first bad event.
var errStop = errors.New("stop scan")

// hasher recomputes event hashes with buffers it reuses.
type hasher struct {
	buf  []byte
	keys []string
	prev [sha256.Size]byte
	sum  [sha256.Size]byte
	hex  [2 * sha256.Size]byte
}

// matches reports whether e.Hash == ComputeHash(e.PrevHash, *e), without allocating.
func (h *hasher) matches(e *Event) bool {
	if len(e.Hash) != 2*sha256.Size {
		return false
	}
	h.buf = h.buf[:0]
	if decodeHash(h.prev[:], e.PrevHash) {
		h.buf = append(h.buf, h.prev[:]...)
	} else {
		// As ComputeHash does with a malformed previous hash.
		h.buf = append(h.buf, e.PrevHash...)
	}
	h.buf = h.appendCanonical(h.buf, e)
	h.sum = sha256.Sum256(h.buf)
	hex.Encode(h.hex[:], h.sum[:])
	return string(h.hex[:]) == e.Hash
}

// hexValue maps a hex digit (either case, as hex.DecodeString accepts) to its value, and
// anything else to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte("0123456789abcdef") {
		t[c] = byte(i)
	}
	for i, c := range []byte("ABCDEF") {
		t[c] = byte(10 + i)
	}
	return t
}()

// decodeHash decodes a hex SHA-256 without allocating; false when s is not one.
func decodeHash(dst []byte, s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := range sha256.Size {
		hi, lo := hexValue[s[2*i]], hexValue[s[2*i+1]]
		if hi|lo == 0xff || hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// appendCanonical appends exactly what Canonical(*e) returns, without reflection: plain
// strings are copied and anything encoding/json would escape goes through encoding/json.
// TestVerifyAgreesWithComputeHashOnAwkwardText holds the two together.
func (h *hasher) appendCanonical(b []byte, e *Event) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":"`...)
	b = appendCanonicalTime(b, e.At)
	b = append(b, `","type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"actor":`...)
	b = appendJSONString(b, e.Actor)
	b = append(b, `,"resource":`...)
	b = appendJSONString(b, e.Resource)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, e.Subject)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, e.RequestID)
	b = append(b, `,"grant_id":`...)
	b = appendJSONString(b, e.GrantID)
	b = append(b, `,"data":{`...)
	h.keys = h.keys[:0]
	for k := range e.Data {
		h.keys = append(h.keys, k)
	}
	slices.Sort(h.keys)
	for i, k := range h.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, e.Data[k])
	}
	clear(h.keys)
	return append(b, "}}"...)
}

// appendCanonicalTime appends t as Canonical formats it, "2006-01-02T15:04:05.000000Z" in UTC,
// by hand for four-digit years (time.Format is a tenth of the hashing cost otherwise).
func appendCanonicalTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Truncate(time.Microsecond).AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	}
	hour, minute, sec := t.Clock()
	digits := func(b []byte, v, n int) []byte {
		var d [6]byte
		for i := n - 1; i >= 0; i-- {
			d[i] = byte('0' + v%10)
			v /= 10
		}
		return append(b, d[:n]...)
	}
	b = digits(b, year, 4)
	b = append(b, '-')
	b = digits(b, int(month), 2)
	b = append(b, '-')
	b = digits(b, day, 2)
	b = append(b, 'T')
	b = digits(b, hour, 2)
	b = append(b, ':')
	b = digits(b, minute, 2)
	b = append(b, ':')
	b = digits(b, sec, 2)
	b = append(b, '.')
	b = digits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendJSONString appends s as encoding/json.Marshal writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				panic(err) // a string always marshals
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
