package digest

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/accessbot/accessbot/audit"
)

// briefSource is a Source that aggregates the window in the database (storage.DB, over the
// index of migration 0018): counts by type, and the few columns and data keys the digest reads
// of the frequent events, without reading or decoding whole events. Build uses it when the
// source has it; the event-by-event scan stays as the reference the tests hold it to.
type briefSource interface {
	audit.Source
	// AuditTypeCounts counts the events f's times and sequence numbers select, by type.
	AuditTypeCounts(ctx context.Context, f audit.Filter) (map[string]int64, error)
	// ScanAuditBrief calls fn for the events of type typ that f selects, in any order, with
	// the columns cols names (data cut to its first BriefDataLen characters).
	// dataHas, when not "", keeps the events whose data prefix holds it or is cut short.
	ScanAuditBrief(ctx context.Context, f audit.Filter, typ string, cols []string, dataHas string,
		fn func(seq, at int64, vals []string) error) error
	// AuditTypeCount counts the events of one type f selects.
	AuditTypeCount(ctx context.Context, f audit.Filter, typ string) (int64, error)
	// AuditEvents calls fn for the whole events of the given sequence numbers.
	AuditEvents(ctx context.Context, seqs []int64, fn func(audit.Event) error) error
}

// briefDataLen is storage.BriefDataLen: the characters of data a brief row holds.
const briefDataLen = 200

// briefRead is what the digest reads of one frequent event type: the columns besides seq and
// at (request_id, grant_id, resource, subject, data, the order of briefRow's fields) and the
// data keys. The rare types the digest reads are read whole (wholeTypes).
type briefRead struct {
	requestID, grantID, names bool
	keys                      []string
	// only, when set, is what the data of the only events that matter holds: the database
	// leaves the others out.
	only string
}

// briefTypes are the frequent types the digest reads, and what it reads of each: what
// builder.add reads of them, and nothing more.
var briefTypes = map[string]briefRead{
	audit.RequestCreated:  {requestID: true, keys: []string{audit.KeyKind}},
	audit.ReviewApproved:  {requestID: true},
	audit.ReviewDenied:    {requestID: true},
	audit.RequestApproved: {requestID: true, keys: []string{audit.KeyApprovals}},
	audit.RequestDenied:   {requestID: true},
	audit.GrantActivating: {grantID: true, keys: []string{audit.KeyBreakGlass}, only: `"` + audit.KeyBreakGlass + `":"`},
	audit.GrantActive:     {requestID: true, grantID: true, names: true, keys: []string{audit.KeyExpiresAt}},
	audit.GrantExtended:   {grantID: true, keys: []string{audit.KeyExpiresAt}},
	// A forced or late revocation is read whole: it is listed with its names, note and error.
	audit.GrantRevoked: {grantID: true, keys: []string{audit.KeyForced, audit.KeyAttempts, audit.KeyLatenessMs}},
}

// readOrder is the order the types are read in, the most events first, so that the two readers
// end together; "" is the counts by type, the rare types come last.
var readOrder = []string{"", audit.RequestCreated, audit.GrantActive, audit.RequestApproved, audit.GrantRevoked,
	audit.ReviewApproved, audit.GrantActivating, audit.RequestDenied, audit.ReviewDenied, audit.GrantExtended}

// columns are the index columns r reads, in briefRow's order.
func (r briefRead) columns() []string {
	var cols []string
	if r.requestID {
		cols = append(cols, "request_id")
	}
	if r.grantID {
		cols = append(cols, "grant_id")
	}
	if r.names {
		cols = append(cols, "resource", "subject")
	}
	if len(r.keys) > 0 {
		cols = append(cols, "data")
	}
	return cols
}

// wholeTypes are the digest's rare event types, read whole.
var wholeTypes = []string{audit.BreakGlassUsed, audit.BreakGlassReviewed, audit.GrantRevokeFailed,
	audit.ReviewRefused, audit.ScanCompleted}

// briefRow is one event as the brief read gives it: what builder.add reads of it (vals in the
// order of briefTypes[typ].keys).
type briefRow struct {
	seq, at                               int64
	typ                                   string
	requestID, grantID, resource, subject string
	// vals are the values of briefKeys[typ], "" for absent; has says which were present.
	vals [3]string
	has  [3]bool
	// whole is the event read whole, for rows whose keys the prefix could not give.
	whole *audit.Event
}

// row decodes one row of a narrow read of type typ: the row to count (keep), or that the event
// must be read whole (a key the data prefix cannot give, a type read whole, a forced or late
// revocation), or neither (an activation that is not break-glass).
func (read briefRead) row(typ string, seq, at int64, vals []string) (r briefRow, keep, whole bool) {
	r = briefRow{seq: seq, at: at, typ: typ}
	if _, brief := briefTypes[typ]; !brief {
		return r, false, true
	}
	i := 0
	next := func() string { i++; return vals[i-1] }
	if read.requestID {
		r.requestID = next()
	}
	if read.grantID {
		r.grantID = next()
	}
	if read.names {
		r.resource, r.subject = next(), next()
	}
	if len(read.keys) > 0 {
		data := next()
		cut := utf8.RuneCountInString(data) >= briefDataLen
		for i, k := range read.keys {
			v, ok, sure := jsonField(data, k)
			if !sure || (!ok && cut) {
				return r, false, true
			}
			// A copy: the value alone, not the prefix it is in.
			r.vals[i], r.has[i] = strings.Clone(v), ok
		}
	}
	switch typ {
	case audit.GrantRevoked:
		// Forced, or late (what builder.revoked lists): read it whole.
		if r.has[0] || lateMs(r.vals[2]) > audit.LateAfter.Milliseconds() {
			return r, false, true
		}
	case audit.GrantActivating:
		// Only break-glass activations matter.
		if !r.has[0] {
			return r, false, false
		}
	}
	return r, true, false
}

// buildBrief is Build over a briefSource: the same digest, aggregated in the database.
func buildBrief(ctx context.Context, src briefSource, head audit.Head, since, until time.Time, o Options) (Digest, error) {
	b := newBuilder(since, until, head, o)
	if head.Seq == 0 {
		return b.finish(), nil
	}
	f := audit.Filter{Since: since, Until: until, MaxSeq: head.Seq}
	var (
		counts map[string]int64
		mu     sync.Mutex
		lists  [][]briefRow
		whole  []int64
		errs   []error
		wg     sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// The frequent types, each its own query: two at a time on two cores.
	types := make(chan string)
	for range 2 {
		wg.Go(func() {
			for typ := range types {
				read := briefTypes[typ]
				cols := read.columns()
				if typ == "" {
					c, err := src.AuditTypeCounts(ctx, f)
					if err != nil {
						fail(err)
					}
					mu.Lock()
					counts = c
					mu.Unlock()
					continue
				}
				var mine []briefRow
				if _, brief := briefTypes[typ]; brief && read.only == "" {
					// Sized first: a million rows would otherwise be copied as the list grows.
					n, err := src.AuditTypeCount(ctx, f, typ)
					if err != nil {
						fail(err)
						continue
					}
					mine = make([]briefRow, 0, n)
				}
				var wholeSeqs []int64
				err := src.ScanAuditBrief(ctx, f, typ, cols, read.only, func(seq, at int64, vals []string) error {
					r, keep, readWhole := read.row(typ, seq, at, vals)
					switch {
					case readWhole:
						wholeSeqs = append(wholeSeqs, seq)
					case keep:
						mine = append(mine, r)
					}
					return nil
				})
				if err != nil {
					fail(err)
					continue
				}
				// Each list in log order: the index gives them in time order, nearly that.
				slices.SortFunc(mine, func(x, y briefRow) int { return cmp.Compare(x.seq, y.seq) })
				mu.Lock()
				lists = append(lists, mine)
				whole = append(whole, wholeSeqs...)
				mu.Unlock()
			}
		})
	}
	for _, typ := range readOrder {
		types <- typ
	}
	// The rare types: their sequence numbers, then the events whole.
	for _, typ := range wholeTypes {
		types <- typ
	}
	close(types)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Digest{}, err
	}
	// The builder's maps at their final size: growing them is a third of its work.
	b.created = make(map[string]time.Time, counts[audit.RequestCreated])
	b.decided = make(map[string]time.Duration, counts[audit.RequestCreated])
	b.auto = make(map[string]bool, counts[audit.RequestCreated])
	b.grants = make(map[string]*Grant, counts[audit.GrantActive])
	b.order = make([]*Grant, 0, counts[audit.GrantActive])
	slices.Sort(whole)
	wholeRows := make([]briefRow, 0, len(whole))
	if err := src.AuditEvents(ctx, whole, func(e audit.Event) error {
		wholeRows = append(wholeRows, briefRow{seq: e.Seq, whole: &e})
		return nil
	}); err != nil {
		return Digest{}, err
	}
	lists = append(lists, wholeRows)
	// Feed them to the builder in log order, as the scan does: a merge of the sorted lists (a
	// dozen), the least head each time.
	for {
		least := -1
		for i, l := range lists {
			if len(l) > 0 && (least < 0 || l[0].seq < lists[least][0].seq) {
				least = i
			}
		}
		if least < 0 {
			break
		}
		r := &lists[least][0]
		lists[least] = lists[least][1:]
		if r.whole != nil {
			b.add(*r.whole)
			continue
		}
		b.addBrief(r)
	}
	// What the builder only counts comes from the counts; so does the number of events.
	b.d.Events = 0
	for _, n := range counts {
		b.d.Events += n
	}
	b.d.Requests.Expired = int(counts[audit.RequestExpired])
	b.d.Requests.Cancelled = int(counts[audit.RequestCancelled])
	b.d.Requests.Refused = int(counts[audit.RequestRefused])
	b.d.Grants.Failed = int(counts[audit.GrantFailed])
	return b.finish(), nil
}

// addBrief is builder.add for a row of a frequent type, from the few values it read: the same
// counting, without an event to build or a payload to decode (a million rows). Each case does
// what add does with what the typed payload would have given; the revocations listed (forced,
// late) never come here, they are read whole. TestTheAggregatedDigestEqualsTheEventByEventOne
// holds the two to the same digest.
func (b *builder) addBrief(r *briefRow) {
	b.d.Events++
	at := time.UnixMicro(r.at).UTC()
	switch r.typ {
	case audit.RequestCreated:
		switch r.vals[0] {
		case kindBreakGlass:
			b.d.Requests.BreakGlass++
			return
		case kindExtend:
			b.d.Requests.Extend++
		default:
			b.d.Requests.Access++
		}
		b.created[r.requestID] = at
	case audit.ReviewApproved, audit.ReviewDenied:
		b.decideAt(r.requestID, at, false)
	case audit.RequestApproved:
		auto := r.vals[0] == audit.ApprovalsAuto
		if auto {
			b.d.Requests.AutoApproved++
		} else {
			b.d.Requests.Approved++
		}
		b.decideAt(r.requestID, at, auto)
	case audit.RequestDenied:
		b.d.Requests.Denied++
		b.decideAt(r.requestID, at, false)
	case audit.GrantActivating:
		if r.vals[0] == "true" {
			b.breakGlass[r.grantID] = true
		}
	case audit.GrantActive:
		b.activeAt(r.grantID, r.requestID, r.resource, r.subject, at, briefTime(r.vals[0]))
	case audit.GrantExtended:
		b.d.Grants.Extended++
		if g := b.grants[r.grantID]; g != nil && !g.Revoked {
			if exp := briefTime(r.vals[0]); !exp.IsZero() {
				g.End = exp.In(b.o.Location)
			}
		}
	case audit.GrantRevoked:
		// Neither forced nor late: counted, and the grant's end.
		b.d.RevocationCount.Revoked++
		if g := b.grants[r.grantID]; g != nil {
			g.End, g.Revoked = at.In(b.o.Location), true
		}
	}
}

// briefTime reads a time as the typed payloads do: RFC 3339, the zero time when absent or bad.
func briefTime(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// lateMs reads a lateness_ms value as the typed payload does (audit.GrantRevokedData): a
// number, or 0. A value that is not a number, or is negative (whose product with a millisecond
// may wrap), is read as late, so that the event is read whole and decoded by the payload's own
// rules.
func lateMs(v string) int64 {
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return math.MaxInt64
	}
	return n
}

// jsonField finds key's string value in data, JSON as json.Marshal writes a map[string]string
// (no spaces), perhaps cut short. ok is false when the key is not there; sure is false when the
// value cannot be read from data (escaped, or cut short): the caller then reads the event whole.
func jsonField(data, key string) (v string, ok, sure bool) {
	needle := `"` + key + `":"`
	i := strings.Index(data, needle)
	if i < 0 {
		return "", false, true
	}
	rest := data[i+len(needle):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", true, false
	}
	v = rest[:j]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", true, false
	}
	return v, true, true
}
