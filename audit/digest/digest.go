// Package digest builds the access digest: what happened to access over a window of time (a
// week by default), read from the audit log alone. Requests and their decisions, break-glass
// uses and whether anyone reviewed them, grants made outside working hours, grants by resource
// and by person, how long decisions took, the longest grants, revocations that failed or came
// late, clicks that were refused, what the standing-privilege scan found, and the head of the
// audit chain, so that the chat history where the digest is posted witnesses the log.
//
// Build reads the window's events in one pass (audit.Source.ScanAudit with a time filter) and
// keeps only counters and the few things it lists; over a store that can aggregate in the
// database (storage.DB, see briefSource) it counts there and reads only the columns and data
// keys it needs of the frequent events, and the rare ones whole. Sections turns a Digest into what people
// read; WriteText and WriteMarkdown print it, bot.DigestView posts it, Chart draws grants per
// day by resource.
//
// The digest sees the window only. A grant made before the window and revoked in it is not
// among the longest grants; a break-glass use reviewed after the window's end shows as not
// reviewed (the scheduled digest runs at the window's end, so "not reviewed" means "not yet").
package digest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// EventPosted is the audit event a scheduled digest records before it is delivered. Its data
// (audit.DigestPostedData): since and until (RFC 3339, the window), head_seq and head_hash (the
// chain's head the digest shows), and the counts it summarises.
const EventPosted = audit.DigestPosted

// Event types and data values of the audit log that the digest reads. They are written by
// grants; the digest keeps its own copy because the audit package tree imports nothing of the
// domain.
const (
	kindExtend     = "extend"
	kindBreakGlass = "breakglass"
	refusedSelf    = "self_approval"
)

// WorkingHours say when access is expected: Days, from Start to End (times of day, wall clock
// in the digest's location). Grants made outside them are listed.
type WorkingHours struct {
	Days []time.Weekday
	// Start and End are offsets from midnight; End before Start is a shift over midnight.
	Start, End time.Duration
}

// DefaultWorkingHours is Monday to Friday, 09:00 to 18:00.
func DefaultWorkingHours() WorkingHours {
	return WorkingHours{
		Days:  []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Start: 9 * time.Hour,
		End:   18 * time.Hour,
	}
}

func (w WorkingHours) isZero() bool { return len(w.Days) == 0 && w.Start == 0 && w.End == 0 }

// Contains reports whether t (read in its own location) is within working hours. A shift over
// midnight belongs to the day it starts.
func (w WorkingHours) Contains(t time.Time) bool {
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
	day := t.Weekday()
	if w.Start <= w.End {
		return slices.Contains(w.Days, day) && tod >= w.Start && tod < w.End
	}
	if tod >= w.Start {
		return slices.Contains(w.Days, day)
	}
	return tod < w.End && slices.Contains(w.Days, (day+6)%7)
}

// String says the hours as people write them: "Mon–Fri 09:00–18:00".
func (w WorkingHours) String() string {
	if len(w.Days) == 0 {
		return "no working days"
	}
	days := slices.Clone(w.Days)
	// Monday first.
	slices.SortFunc(days, func(a, b time.Weekday) int { return int((a+6)%7) - int((b+6)%7) })
	days = slices.Compact(days)
	var parts []string
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && (days[j]+1)%7 == days[j+1] {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, shortDay(days[i]))
		case j == i+1:
			parts = append(parts, shortDay(days[i]), shortDay(days[j]))
		default:
			parts = append(parts, shortDay(days[i])+"–"+shortDay(days[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ") + " " + clockText(w.Start) + "–" + clockText(w.End)
}

func shortDay(d time.Weekday) string { return d.String()[:3] }

func clockText(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// Options shape a digest; zero values take the defaults.
type Options struct {
	// Location is where days, hours and dates are read (the config's time_zone); default UTC.
	Location *time.Location
	// WorkingHours default to DefaultWorkingHours.
	WorkingHours WorkingHours
	// Longest is how many of the longest grants are kept; default 5.
	Longest int
	// Limit bounds each list the digest keeps (break-glass uses, grants outside working hours,
	// revocations, refused clicks, scan findings); the counts stay exact. Default 500.
	Limit int
	// Sampled are the resources whose adapter samples sessions (adapters.ActivitySampler): the
	// only ones whose grants can be listed as never used. Empty leaves that section out.
	Sampled []string
}

func (o Options) withDefaults() Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.WorkingHours.isZero() {
		o.WorkingHours = DefaultWorkingHours()
	}
	if o.Longest <= 0 {
		o.Longest = 5
	}
	if o.Limit <= 0 {
		o.Limit = 500
	}
	return o
}

// Digest is what happened over [Since, Until).
type Digest struct {
	// Since and Until bound the window, in Location.
	Since, Until time.Time
	Location     *time.Location `json:"-"`
	WorkingHours WorkingHours
	// Events counts the audit events in the window.
	Events   int64
	Requests Requests
	// Decisions are the times from a request to its first decision.
	Decisions  Decisions
	BreakGlass BreakGlass
	Grants     Grants
	// Revocations are the revocations that failed, came late or were forced, in order.
	Revocations     []Revocation
	RevocationCount RevocationCount
	// Refused are clicks by someone who may not decide (their own request, not an approver).
	Refused []RefusedClick
	// RefusedCount counts them all (RefusedSelf those on the person's own request or grant);
	// Refused holds at most Options.Limit.
	RefusedCount, RefusedSelf int
	Scan                      Scan
	// Policy are the config.changed events of the window (policy.go); nil when the log cannot
	// find them by type.
	Policy *PolicyChanges
	// Signals are the requests that raised misuse signals, and request volumes (signals.go).
	Signals Signals
	// Unused are the grants that ended in the window and were never used (unused.go).
	Unused Unused
	// Head is the audit chain's head when the digest was built: its last sequence number and
	// hash. Build reads no event past it.
	Head audit.Head
	// Checkpoint is a signed checkpoint of the log's Merkle tree to publish with the digest
	// (bot.DigestRunner sets it when transparency is on); nil for none.
	Checkpoint *checkpointPayload `json:",omitempty"`
}

// Requests counts what happened to requests in the window.
type Requests struct {
	// Access, Extend and BreakGlass count the requests made, by kind.
	Access, Extend, BreakGlass int
	// Approved were approved by people, AutoApproved by a rule.
	Approved, AutoApproved     int
	Denied, Expired, Cancelled int
	// Refused are asks the policy turned down (not allowed, too long, no reason).
	Refused int
}

// Total is how many requests were made (break-glass uses included).
func (r Requests) Total() int { return r.Access + r.Extend + r.BreakGlass }

// Decisions are the times from request.created to the first decision on it (a review, or the
// rule that approved it at once), for requests made and decided in the window. Break-glass uses
// are not decided and not counted.
type Decisions struct {
	// Count decisions in all, Median and P95 over them (nearest rank).
	Count       int
	Median, P95 time.Duration
	// ByPeople, PeopleMedian and PeopleP95 leave out automatic approvals.
	ByPeople                int
	PeopleMedian, PeopleP95 time.Duration
	// Undecided counts requests made in the window without a decision by its end (still
	// pending, expired or cancelled).
	Undecided int
}

// BreakGlass lists the break-glass uses of the window.
type BreakGlass struct {
	Uses []BreakGlassUse
	// Count counts the uses; Uses holds at most Options.Limit.
	Count int
	// Unreviewed counts the uses nobody had reviewed by the window's end.
	Unreviewed int
	// EarlierReviewed counts reviews in the window of uses made before it.
	EarlierReviewed int
}

// BreakGlassUse is one use of break-glass access and its review.
type BreakGlassUse struct {
	At                 time.Time
	Person, Resource   string
	GrantID, RequestID string
	Duration, Reason   string
	// ReviewedBy is who reviewed it, empty when nobody had by the window's end.
	ReviewedBy string
	ReviewedAt time.Time
	Note       string
}

// Grants are the grants that became active in the window.
type Grants struct {
	// Activated counts grants that became active (access existed at the target).
	Activated int
	// Extended counts extensions, Failed grants the target refused for good.
	Extended, Failed int
	// AfterHours are grants that became active outside working hours; AfterHoursCount counts
	// them all.
	AfterHours      []Grant
	AfterHoursCount int
	// ByResource and ByPerson count grants, most first.
	ByResource, ByPerson []Count
	// Longest are the longest grants: from active to revoked, or to the expiry they had at the
	// window's end when they were still active.
	Longest []Grant
	// Days are the calendar days the window touches (midnight in Location), and PerDay the
	// grants that became active on each, by resource, for the chart.
	Days   []time.Time
	PerDay map[string][]int
}

// Grant is one grant as the window saw it.
type Grant struct {
	GrantID, RequestID string
	Resource, Person   string
	// Start is when it became active; End when it was revoked (Revoked) or, when its
	// revocation is not in the window, when it expires.
	Start, End time.Time
	Revoked    bool
	BreakGlass bool
}

// Length is how long the grant lasted, or lasts.
func (g Grant) Length() time.Duration { return g.End.Sub(g.Start) }

// Count is a name and how many.
type Count struct {
	Name string
	N    int
}

// Revocation kinds.
const (
	RevocationFailed = "failed" // grant.revoke_failed: the adapter kept failing
	RevocationLate   = "late"   // revoked more than audit.LateAfter past the expiry
	RevocationForced = "forced" // an admin marked it revoked by hand
)

// Revocation is a revocation that failed, came late or was forced.
type Revocation struct {
	At               time.Time
	Kind             string
	GrantID          string
	Resource, Person string
	// Late is how long after the expiry a late revocation came.
	Late time.Duration
	// Error and Attempts are a failed revocation's last error and attempts so far.
	Error    string
	Attempts int
	// By and Note say who forced a revocation and what they wrote.
	By, Note string
}

// RevocationCount counts revocations by kind.
type RevocationCount struct {
	Revoked, Failed, Late, Forced int
}

// RefusedClick is a decision someone tried to make and could not.
type RefusedClick struct {
	At    time.Time
	Actor string
	// Decision is approve, deny or breakglass_review; Reason self_approval or not_approver.
	Decision, Reason   string
	RequestID, GrantID string
	Resource, Subject  string
}

// Scan is what the standing-privilege scans of the window found.
type Scan struct {
	// Runs counts scans, WithFindings those that found access no grant explains, Incomplete
	// those that could not list some resource.
	Runs, WithFindings, Incomplete int
	// Last is when the last scan ran and LastFindings what it found.
	Last         time.Time
	LastFindings int
	// Findings are the distinct findings (resource, account, reason) of every scan.
	Findings []Finding
}

// Finding is access at a target that no active grant explained, as scans saw it.
type Finding struct {
	Resource, Account, Reason, Why, GrantID string
	// First and Last are the first and last scans that saw it; Times how many did.
	First, Last time.Time
	Times       int
}

// Build reads the audit events in [since, until) and returns the digest. It reads the head
// first and nothing past it, so the digest and the head it shows agree.
func Build(ctx context.Context, src audit.Source, since, until time.Time, o Options) (Digest, error) {
	o = o.withDefaults()
	if !until.After(since) {
		return Digest{}, fmt.Errorf("digest window: until (%s) is not after since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	head, err := src.AuditHead(ctx)
	if err != nil {
		return Digest{}, fmt.Errorf("digest: %w", err)
	}
	d, err := counted(ctx, src, head, since, until, o)
	if err != nil {
		return Digest{}, fmt.Errorf("digest: %w", err)
	}
	if d.Policy, err = policyChanges(ctx, src, since, until, head.Seq, o); err != nil {
		return Digest{}, fmt.Errorf("digest: %w", err)
	}
	if st, ok := src.(SignalStore); ok {
		if d.Signals, err = buildSignals(ctx, st, since, until, o); err != nil {
			return Digest{}, err
		}
	}
	if err := buildUnused(ctx, src, &d, o); err != nil {
		return Digest{}, fmt.Errorf("digest: %w", err)
	}
	return d, nil
}

// counted is the digest's counts over the window: aggregated in the database when src is one
// (brief.go), else event by event, the reference both are tested against. The sections read by
// type (policy changes, signals) are added by Build to either.
func counted(ctx context.Context, src audit.Source, head audit.Head, since, until time.Time, o Options) (Digest, error) {
	if bs, ok := src.(briefSource); ok {
		return buildBrief(ctx, bs, head, since, until, o)
	}
	b := newBuilder(since, until, head, o)
	if head.Seq > 0 {
		after, last, err := seqBounds(ctx, src, head.Seq, since, until)
		if err != nil {
			return Digest{}, err
		}
		if last > after {
			f := audit.Filter{Since: since, Until: until, AfterSeq: after, MaxSeq: last}
			if err := scanInto(ctx, src, f, b.add); err != nil {
				return Digest{}, err
			}
		}
	}
	d := b.finish()
	if err := buildUnused(ctx, src, &d, o); err != nil {
		return Digest{}, fmt.Errorf("digest: %w", err)
	}
	return d, nil
}

// scanBatch is how many events the reading goroutine hands the counting one at a time.
const scanBatch = 512

// scanInto reads the events f selects and hands them to add in order, on another goroutine:
// the database read and decoding (most of the time) and the counting overlap.
func scanInto(ctx context.Context, src audit.Source, f audit.Filter, add func(audit.Event)) error {
	batches := make(chan []audit.Event, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for batch := range batches {
			for _, e := range batch {
				add(e)
			}
		}
	}()
	batch := make([]audit.Event, 0, scanBatch)
	err := src.ScanAudit(ctx, f, func(e audit.Event) error {
		batch = append(batch, e)
		if len(batch) == scanBatch {
			batches <- batch
			batch = make([]audit.Event, 0, scanBatch)
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	<-done
	return err
}

// OutOfOrder is how far back in time an event may be stored after a later one. An event
// records when its transaction began; a standing-privilege scan records when it began listing,
// minutes before it is stored. The window's sequence numbers are looked for this much wider.
const OutOfOrder = 6 * time.Hour

// seqBounds narrows the window to sequence numbers: after is below every event at or after
// since, last at or above every event before until (both within OutOfOrder), found by binary
// search on the log, which runs forward in time. The time filter still decides; the bounds only
// spare the database the rows outside the window (a weekly digest of a month-long log reads a
// quarter of it).
func seqBounds(ctx context.Context, src audit.Source, head int64, since, until time.Time) (after, last int64, err error) {
	// at reads event n's time; a missing event (never, the chain has no gaps) reads as zero.
	at := func(n int64) (time.Time, error) {
		var t time.Time
		err := src.ScanAudit(ctx, audit.Filter{AfterSeq: n - 1, MaxSeq: n}, func(e audit.Event) error {
			t = e.At
			return nil
		})
		return t, err
	}
	// first returns the first sequence number whose event is at or after t (head+1: none).
	first := func(t time.Time) (int64, error) {
		lo, hi := int64(1), head+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			mt, err := at(mid)
			if err != nil {
				return 0, err
			}
			if mt.Before(t) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo, nil
	}
	lo, err := first(since.Add(-OutOfOrder))
	if err != nil {
		return 0, 0, err
	}
	hi, err := first(until.Add(OutOfOrder))
	if err != nil {
		return 0, 0, err
	}
	return lo - 1, hi - 1, nil
}

// builder holds what one pass needs.
type builder struct {
	o Options
	d Digest
	// created is when each request of the window was made (not break-glass); decided when it
	// was first decided, and auto whether a rule decided it.
	created map[string]time.Time
	decided map[string]time.Duration
	auto    map[string]bool
	// uses indexes break-glass uses by grant ID; breakGlass marks break-glass grants.
	uses       map[string]int
	breakGlass map[string]bool
	grants     map[string]*Grant
	order      []*Grant
	byResource map[string]int
	byPerson   map[string]int
	findings   map[string]int
}

func newBuilder(since, until time.Time, head audit.Head, o Options) *builder {
	loc := o.Location
	d := Digest{
		Since: since.In(loc), Until: until.In(loc), Location: loc, WorkingHours: o.WorkingHours,
		Head: head,
	}
	// Every calendar day the window touches, by the wall clock (a DST day has 23 or 25 hours).
	y, m, day := d.Since.Date()
	last := d.Until.Add(-time.Microsecond)
	for t := time.Date(y, m, day, 0, 0, 0, 0, loc); !t.After(last); {
		d.Grants.Days = append(d.Grants.Days, t)
		y, m, day = t.Date()
		t = time.Date(y, m, day+1, 0, 0, 0, 0, loc)
	}
	d.Grants.PerDay = map[string][]int{}
	return &builder{
		o: o, d: d,
		created: map[string]time.Time{}, decided: map[string]time.Duration{}, auto: map[string]bool{},
		uses: map[string]int{}, breakGlass: map[string]bool{}, grants: map[string]*Grant{},
		byResource: map[string]int{}, byPerson: map[string]int{}, findings: map[string]int{},
	}
}

func (b *builder) add(e audit.Event) {
	b.d.Events++
	switch e.Type {
	case audit.RequestCreated:
		p, _ := audit.Decode[audit.RequestCreatedData](e)
		switch p.Kind {
		case kindBreakGlass:
			b.d.Requests.BreakGlass++
			return
		case kindExtend:
			b.d.Requests.Extend++
		default:
			b.d.Requests.Access++
		}
		b.created[e.RequestID] = e.At
	case audit.ReviewApproved, audit.ReviewDenied:
		b.decide(e, false)
	case audit.RequestApproved:
		p, _ := audit.Decode[audit.RequestApprovedData](e)
		auto := p.Auto
		if auto {
			b.d.Requests.AutoApproved++
		} else {
			b.d.Requests.Approved++
		}
		b.decide(e, auto)
	case audit.RequestDenied:
		b.d.Requests.Denied++
		b.decide(e, false)
	case audit.RequestExpired:
		b.d.Requests.Expired++
	case audit.RequestCancelled:
		b.d.Requests.Cancelled++
	case audit.RequestRefused:
		b.d.Requests.Refused++
	case audit.BreakGlassUsed:
		bg := &b.d.BreakGlass
		bg.Count++
		p, _ := audit.Decode[audit.BreakGlassUsedData](e)
		gid := e.GrantID
		if gid == "" {
			gid = p.GrantID
		}
		b.breakGlass[gid] = true
		if len(bg.Uses) < b.o.Limit {
			bg.Uses = append(bg.Uses, BreakGlassUse{
				At: e.At.In(b.o.Location), Person: e.Subject, Resource: e.Resource, GrantID: gid,
				RequestID: e.RequestID, Duration: durationText(p.Duration), Reason: p.Reason,
			})
			b.uses[gid] = len(bg.Uses) - 1
		}
	case audit.BreakGlassReviewed:
		if i, ok := b.uses[e.GrantID]; ok {
			u := &b.d.BreakGlass.Uses[i]
			if u.ReviewedBy == "" {
				p, _ := audit.Decode[audit.BreakGlassReviewedData](e)
				u.ReviewedBy, u.ReviewedAt, u.Note = e.Actor, e.At.In(b.o.Location), p.Note
			}
		} else if !b.breakGlass[e.GrantID] {
			b.d.BreakGlass.EarlierReviewed++
		}
	case audit.GrantActivating:
		if p, _ := audit.Decode[audit.GrantActivatingData](e); p.BreakGlass {
			b.breakGlass[e.GrantID] = true
		}
	case audit.GrantActive:
		b.active(e)
	case audit.GrantExtended:
		b.d.Grants.Extended++
		if g := b.grants[e.GrantID]; g != nil && !g.Revoked {
			if p, _ := audit.Decode[audit.GrantExtendedData](e); !p.ExpiresAt.IsZero() {
				g.End = p.ExpiresAt.In(b.o.Location)
			}
		}
	case audit.GrantFailed:
		b.d.Grants.Failed++
	case audit.GrantRevoked:
		b.revoked(e)
	case audit.GrantRevokeFailed:
		b.d.RevocationCount.Failed++
		p, _ := audit.Decode[audit.GrantRevokeFailedData](e)
		b.revocation(Revocation{At: e.At, Kind: RevocationFailed, GrantID: e.GrantID, Resource: e.Resource,
			Person: e.Subject, Error: p.Error, Attempts: p.Attempts})
	case audit.ReviewRefused:
		b.d.RefusedCount++
		p, _ := audit.Decode[audit.ReviewRefusedData](e)
		if p.Refused == refusedSelf {
			b.d.RefusedSelf++
		}
		if len(b.d.Refused) < b.o.Limit {
			b.d.Refused = append(b.d.Refused, RefusedClick{
				At: e.At.In(b.o.Location), Actor: e.Actor, Decision: p.Decision, Reason: p.Refused,
				RequestID: e.RequestID, GrantID: e.GrantID, Resource: e.Resource, Subject: e.Subject,
			})
		}
	case audit.ScanCompleted:
		b.scan(e)
	}
}

// decide records a request's first decision.
func (b *builder) decide(e audit.Event, auto bool) { b.decideAt(e.RequestID, e.At, auto) }

// decideAt is decide with the event's request ID and time: the aggregated path (brief.go) has
// no event to give.
func (b *builder) decideAt(requestID string, t time.Time, auto bool) {
	at, ok := b.created[requestID]
	if !ok {
		return
	}
	if _, done := b.decided[requestID]; done {
		return
	}
	b.decided[requestID] = max(t.Sub(at), 0)
	b.auto[requestID] = auto
}

func (b *builder) active(e audit.Event) {
	p, _ := audit.Decode[audit.GrantActiveData](e)
	b.activeAt(e.GrantID, e.RequestID, e.Resource, e.Subject, e.At, p.ExpiresAt)
}

// activeAt counts a grant.active event: its IDs, names, time and the expiry it wrote.
func (b *builder) activeAt(grantID, requestID, resource, subject string, at, expires time.Time) {
	loc := b.o.Location
	gs := &b.d.Grants
	gs.Activated++
	g := &Grant{
		GrantID: grantID, RequestID: requestID, Resource: resource, Person: subject,
		Start: at.In(loc), End: at.In(loc), BreakGlass: b.breakGlass[grantID],
	}
	if expires.After(at) {
		g.End = expires.In(loc)
	}
	if _, seen := b.grants[g.GrantID]; !seen {
		b.grants[g.GrantID] = g
		b.order = append(b.order, g)
	}
	b.byResource[g.Resource]++
	b.byPerson[g.Person]++
	if !b.o.WorkingHours.Contains(g.Start) {
		gs.AfterHoursCount++
		if len(gs.AfterHours) < b.o.Limit {
			gs.AfterHours = append(gs.AfterHours, *g)
		}
	}
	series := gs.PerDay[g.Resource]
	if series == nil {
		series = make([]int, len(gs.Days))
		gs.PerDay[g.Resource] = series
	}
	// Days are few: a linear search from the end finds the day.
	for i := len(gs.Days) - 1; i >= 0; i-- {
		if !g.Start.Before(gs.Days[i]) {
			series[i]++
			break
		}
	}
}

func (b *builder) revoked(e audit.Event) {
	b.d.RevocationCount.Revoked++
	if g := b.grants[e.GrantID]; g != nil {
		g.End, g.Revoked = e.At.In(b.o.Location), true
	}
	p, _ := audit.Decode[audit.GrantRevokedData](e)
	if p.Forced {
		b.d.RevocationCount.Forced++
		b.revocation(Revocation{At: e.At, Kind: RevocationForced, GrantID: e.GrantID, Resource: e.Resource,
			Person: e.Subject, By: e.Actor, Note: p.Note, Error: p.LastError, Attempts: p.Attempts})
		return
	}
	if late := p.Lateness; late > audit.LateAfter {
		b.d.RevocationCount.Late++
		b.revocation(Revocation{At: e.At, Kind: RevocationLate, GrantID: e.GrantID, Resource: e.Resource,
			Person: e.Subject, Late: late, Attempts: p.Attempts})
	}
}

func (b *builder) revocation(r Revocation) {
	if len(b.d.Revocations) < b.o.Limit {
		r.At = r.At.In(b.o.Location)
		b.d.Revocations = append(b.d.Revocations, r)
	}
}

// durationText is a duration as the event wrote it, or nothing when it wrote none.
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return audit.FormatDuration(d)
}

func (b *builder) scan(e audit.Event) {
	s := &b.d.Scan
	s.Runs++
	p, _ := audit.Decode[audit.ScanCompletedData](e)
	n := p.Findings
	s.Last, s.LastFindings = e.At.In(b.o.Location), n
	if p.Errors > 0 {
		s.Incomplete++
	}
	if n == 0 {
		return
	}
	s.WithFindings++
	at := e.At.In(b.o.Location)
	for _, f := range p.List {
		key := f.Resource + "\x00" + strings.ToLower(f.Account) + "\x00" + f.Reason
		if i, ok := b.findings[key]; ok {
			s.Findings[i].Last = at
			s.Findings[i].Times++
			continue
		}
		if len(s.Findings) >= b.o.Limit {
			continue
		}
		b.findings[key] = len(s.Findings)
		s.Findings = append(s.Findings, Finding{Resource: f.Resource, Account: f.Account, Reason: f.Reason,
			Why: f.Why, GrantID: f.GrantID, First: at, Last: at, Times: 1})
	}
}

func (b *builder) finish() Digest {
	d := b.d
	var all, people []time.Duration
	for id, took := range b.decided {
		all = append(all, took)
		if !b.auto[id] {
			people = append(people, took)
		}
	}
	slices.Sort(all)
	slices.Sort(people)
	d.Decisions = Decisions{
		Count: len(all), Median: percentile(all, 0.5), P95: percentile(all, 0.95),
		ByPeople: len(people), PeopleMedian: percentile(people, 0.5), PeopleP95: percentile(people, 0.95),
		Undecided: len(b.created) - len(b.decided),
	}
	for _, u := range d.BreakGlass.Uses {
		if u.ReviewedBy == "" {
			d.BreakGlass.Unreviewed++
		}
	}
	// Uses past the list's limit are counted as unreviewed: the digest cannot tell.
	d.BreakGlass.Unreviewed += d.BreakGlass.Count - len(d.BreakGlass.Uses)
	d.Grants.ByResource = counts(b.byResource)
	d.Grants.ByPerson = counts(b.byPerson)
	d.Grants.Longest = longest(b.order, b.o.Longest)
	return d
}

// longest returns the n longest grants, longest first; of equal length, the earlier first. One
// pass keeps the n best so far: a month of grants is 100,000.
func longest(grants []*Grant, n int) []Grant {
	before := func(x, y *Grant) bool {
		if lx, ly := x.Length(), y.Length(); lx != ly {
			return lx > ly
		}
		if !x.Start.Equal(y.Start) {
			return x.Start.Before(y.Start)
		}
		return x.GrantID < y.GrantID
	}
	top := make([]*Grant, 0, n+1)
	for _, g := range grants {
		if len(top) == n && !before(g, top[n-1]) {
			continue
		}
		i := len(top)
		for i > 0 && before(g, top[i-1]) {
			i--
		}
		top = slices.Insert(top, i, g)
		if len(top) > n {
			top = top[:n]
		}
	}
	out := make([]Grant, len(top))
	for i, g := range top {
		out[i] = *g
	}
	return out
}

// percentile is the nearest-rank percentile of sorted durations (0 for none).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for name, n := range m {
		out = append(out, Count{Name: name, N: n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Attention reports whether the digest shows something someone should act on: a break-glass use
// nobody reviewed, a revocation that failed, access the last scan found.
func (d Digest) Attention() bool {
	return d.BreakGlass.Unreviewed > 0 || d.RevocationCount.Failed > 0 || d.Scan.LastFindings > 0
}

// WindowStart returns the start of the window of length period that ends at until. A period of
// whole days is counted on loc's calendar, so that a weekly digest covers Monday 09:00 to Monday
// 09:00 across a daylight saving change (167 or 169 hours).
func WindowStart(until time.Time, period time.Duration, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	const day = 24 * time.Hour
	if period > 0 && period%day == 0 {
		return until.In(loc).AddDate(0, 0, -int(period/day))
	}
	return until.Add(-period).In(loc)
}

// Window is the key of a digest's window: "2026-11-17T08:00:00Z/2026-11-24T08:00:00Z". Two
// firings for the same window have the same key.
func (d Digest) Window() string { return WindowKey(d.Since, d.Until) }

// WindowKey is the key of the window [since, until).
func WindowKey(since, until time.Time) string {
	return since.UTC().Format(time.RFC3339) + "/" + until.UTC().Format(time.RFC3339)
}

// PostedPayload is the payload of the digest.posted event of d.
func (d Digest) PostedPayload() audit.DigestPostedData {
	return audit.DigestPostedData{
		Since: d.Since, Until: d.Until, Head: d.Head, Events: d.Events,
		Requests: d.Requests.Total(), Grants: d.Grants.Activated,
		BreakGlass: d.BreakGlass.Count, Unreviewed: d.BreakGlass.Unreviewed,
		Revocations: d.RevocationCount.Failed + d.RevocationCount.Late + d.RevocationCount.Forced,
		Findings:    len(d.Scan.Findings),
	}
}

// PostedData is the data of the digest.posted event of d, as stored.
func (d Digest) PostedData() map[string]string {
	return audit.Event{}.With(d.PostedPayload()).Data
}

// Posted is what a digest.posted event says.
type Posted struct {
	Seq          int64
	At           time.Time
	Since, Until time.Time
	Head         audit.Head
}

// DecodePosted reads a digest.posted event.
func DecodePosted(e audit.Event) (Posted, error) {
	if e.Type != EventPosted {
		return Posted{}, fmt.Errorf("audit event %d is %s, not %s", e.Seq, e.Type, EventPosted)
	}
	d, err := audit.Decode[audit.DigestPostedData](e)
	p := Posted{Seq: e.Seq, At: e.At, Since: d.Since, Until: d.Until, Head: d.Head}
	if err != nil {
		return p, err
	}
	// The window and the head are what a later run matches on: an event without them is
	// broken, not an empty window.
	var missing []string
	for _, k := range []string{audit.KeySince, audit.KeyUntil, audit.KeyHeadSeq} {
		if _, ok := e.Data[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("audit event %d (%s): no %s", e.Seq, EventPosted, strings.Join(missing, ", "))
	}
	return p, nil
}
