package audit

// The report's model of the log: requests and their grants, rebuilt event by event (add), a
// row written to its section as soon as its story is over (end, emit).

import (
	"time"

	"github.com/accessbot/accessbot/internal/tmpl"
)

// reportRow is one request and what came of it.
type reportRow struct {
	requestID    string
	grantID      string
	kind         string
	resource     string
	subject      string
	account      string
	reason       string
	duration     string
	requestedAt  time.Time
	reviews      []reportReview
	decision     string // approved, auto, breakglass, denied, cancelled, expired, or "" (pending)
	decidedBy    string
	decidedAt    time.Time
	decisionNote string // the rule, or the denial's reason
	// The grant.
	grantedAt    time.Time
	expiresAt    time.Time
	state        string // the grant's last state
	exts         []reportExt
	earlyBy      string
	earlyAt      time.Time
	revokedAt    time.Time
	revokedBy    string
	forcedNote   string
	latenessMs   int64
	failingSince time.Time
	lastError    string
	bgReviewedBy string
	bgReviewedAt time.Time
	bgNote       string

	people []string // everyone who acted on it
	done   bool
	endAt  time.Time
}

// reportReview is a reviewer's approval or denial of a request.
type reportReview struct {
	who, decision, reason string
	at                    time.Time
}

// reportExt is an extension request on a grant.
type reportExt struct {
	requestID string
	by        string
	at        time.Time
	state     string // pending, approved, auto, denied, cancelled, expired, applied
	approvers []string
	expiresAt time.Time
}

// configLoad is a run of starts with the same configuration (config.loaded).
type configLoad struct {
	first, last time.Time
	hash        string
	version     string
	resources   string
	count       int
	before      bool // in force when the period began
}

// reportBuilder builds a report while the log is read: the summary, the policy in force, the
// requests still followed, and each section's rows spooled as they are written.
type reportBuilder struct {
	o           ReportOptions
	f           Filter
	tmpl        *tmpl.Template
	rows        map[string]*reportRow // by request ID, extension requests included
	byGrant     map[string]*reportRow // by grant ID, once granted
	queue       []*reportRow          // in the order requests were made, waiting to be written
	qhead       int
	sum         ReportSummary
	configs     []configLoad
	policy      policyInForce
	grantsOut   spool
	requestsOut spool
	bgOut       spool
	refusedOut  spool
	scansOut    spool
	eventsOut   spool
	row         htmlRow // reused for every row
	// unusedOut holds the grants never used (report_unused.go), shown when unusedShown.
	unusedOut   spool
	unusedShown bool
	unusedTotal int
}

// newReportBuilder starts an empty report; close removes what it spooled.
func newReportBuilder(o ReportOptions) *reportBuilder {
	b := &reportBuilder{
		o:       o,
		f:       o.Filter,
		tmpl:    reportTemplate,
		rows:    map[string]*reportRow{},
		byGrant: map[string]*reportRow{},
	}
	for _, s := range b.spools() {
		s.dir = o.TempDir
	}
	return b
}

// spools are the sections' rows.
func (b *reportBuilder) spools() []*spool {
	return []*spool{&b.grantsOut, &b.requestsOut, &b.bgOut, &b.refusedOut, &b.scansOut, &b.eventsOut, &b.unusedOut}
}

// close removes the sections' temporary files.
func (b *reportBuilder) close() {
	for _, s := range b.spools() {
		s.close()
	}
}

// inPeriod reports whether a time is in the period the filter selects.
func (b *reportBuilder) inPeriod(at time.Time) bool {
	return (b.f.Since.IsZero() || !at.Before(b.f.Since)) && (b.f.Until.IsZero() || at.Before(b.f.Until))
}

// selects reports whether the event is one the filter selects, as storage's ScanAudit does.
func (b *reportBuilder) selects(e *Event) bool {
	f := &b.f
	return b.inPeriod(e.At) &&
		(f.Resource == "" || e.Resource == f.Resource) &&
		(f.Subject == "" || e.Subject == f.Subject) &&
		(f.Person == "" || e.Subject == f.Person || e.Actor == f.Person)
}

// rowOf finds the request an event is about.
func (b *reportBuilder) rowOf(e *Event) *reportRow {
	if e.RequestID != "" {
		if r := b.rows[e.RequestID]; r != nil {
			return r
		}
	}
	if e.GrantID != "" {
		return b.byGrant[e.GrantID]
	}
	return nil
}

// involve adds someone to the people who acted on a request.
func (r *reportRow) involve(who string) {
	if who == "" {
		return
	}
	for _, p := range r.people {
		if p == who {
			return
		}
	}
	r.people = append(r.people, who)
}

// end marks a row's story as over (an unreviewed break-glass use is not over) and writes the
// rows that are now complete at the front of the queue.
func (b *reportBuilder) end(r *reportRow, at time.Time) error {
	r.endAt = at
	r.done = r.kind != "breakglass" || r.bgReviewedBy != "" || r.grantID == ""
	for b.qhead < len(b.queue) && b.queue[b.qhead].done {
		if err := b.emit(b.queue[b.qhead]); err != nil {
			return err
		}
		b.queue[b.qhead] = nil
		b.qhead++
	}
	if b.qhead > 1024 && b.qhead*2 > len(b.queue) {
		b.queue = append(b.queue[:0], b.queue[b.qhead:]...)
		b.qhead = 0
	}
	return nil
}

// listed reports whether the report lists a row: its story overlaps the period and the
// filter selects it.
func (b *reportBuilder) listed(r *reportRow) bool {
	f := &b.f
	if r.done && !f.Since.IsZero() && r.endAt.Before(f.Since) {
		return false
	}
	if f.Resource != "" && r.resource != f.Resource {
		return false
	}
	if f.Subject != "" && r.subject != f.Subject {
		return false
	}
	if f.Person != "" && r.subject != f.Person {
		found := false
		for _, p := range r.people {
			if p == f.Person {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// emit forgets a row and, when the report lists it, counts it and writes it.
func (b *reportBuilder) emit(r *reportRow) error {
	b.forget(r)
	if !b.listed(r) {
		return nil
	}
	carried := !b.f.Since.IsZero() && r.requestedAt.Before(b.f.Since)
	b.sum.countRequest(r, carried)
	if r.grantID == "" {
		return b.writeRow(&b.requestsOut, func(w *htmlRow) { w.request(r, carried) })
	}
	outcome, how := r.outcome()
	b.sum.countGrant(outcome)
	held := b.held(r)
	if err := b.writeRow(&b.grantsOut, func(w *htmlRow) { w.grant(r, carried, outcome, how, held) }); err != nil {
		return err
	}
	if r.kind == "breakglass" {
		return b.writeRow(&b.bgOut, func(w *htmlRow) { w.breakGlass(r, held) })
	}
	return nil
}

// forget drops a row from the requests and grants still followed.
func (b *reportBuilder) forget(r *reportRow) {
	delete(b.rows, r.requestID)
	for _, x := range r.exts {
		delete(b.rows, x.requestID)
	}
	if r.grantID != "" {
		delete(b.byGrant, r.grantID)
	}
}

// countRequest counts a request the report lists, by how it was decided, and the extensions
// applied to its grant.
func (s *ReportSummary) countRequest(r *reportRow, carried bool) {
	s.Requests++
	if carried {
		s.CarriedOver++
	}
	switch r.decision {
	case "approved":
		s.Approved++
	case "auto":
		s.AutoApproved++
	case "breakglass":
		s.BreakGlass++
		if r.bgReviewedBy != "" {
			s.BreakGlassReviewed++
		}
	case "denied":
		s.Denied++
	case "cancelled":
		s.Cancelled++
	case "expired":
		s.Expired++
	default:
		s.Pending++
	}
	for _, x := range r.exts {
		if x.state == "applied" {
			s.Extensions++
		}
	}
}

// countGrant counts a grant the report lists by how it ended (reportRow.outcome).
func (s *ReportSummary) countGrant(outcome string) {
	s.Grants++
	switch outcome {
	case "on_time":
		s.RevokedOnTime++
	case "late":
		s.RevokedLate++
	case "early":
		s.RevokedEarly++
	case "forced":
		s.RevokedForced++
	case "failing":
		s.RevokeFailing++
	case "failed":
		s.Failed++
	default:
		s.Open++
	}
}

// writeRow writes one row of a section: fill builds it in a buffer reused for every row.
func (b *reportBuilder) writeRow(s *spool, fill func(*htmlRow)) error {
	s.rows++
	b.row.b = b.row.b[:0]
	fill(&b.row)
	_, err := s.Write(b.row.b)
	return err
}

// finish writes the rows still waiting, in order: requests and grants whose story is not over.
func (b *reportBuilder) finish() error {
	for ; b.qhead < len(b.queue); b.qhead++ {
		if err := b.emit(b.queue[b.qhead]); err != nil {
			return err
		}
	}
	b.queue = nil
	return nil
}

// decisionName is the request's decision, "pending" while there is none.
func (r *reportRow) decisionName() string {
	if r.decision == "" {
		return "pending"
	}
	return r.decision
}

// outcome says how a grant ended (on_time, late, early, forced, failing, failed, or open), in
// a word and in a phrase.
func (r *reportRow) outcome() (string, string) {
	lateness := time.Duration(r.latenessMs) * time.Millisecond
	switch {
	case r.state == "failed":
		return "failed", "never granted: the target refused it"
	case r.state == "revoked" && r.forcedNote != "":
		return "forced", "forced by " + r.revokedBy + " after failed revocations: " + r.forcedNote
	case r.state == "revoked" && r.earlyBy != "":
		return "early", "early, by " + r.earlyBy + " at " + fmtTime(r.earlyAt)
	case r.state == "revoked" && lateness > LateAfter:
		return "late", "at expiry, " + fmtDur(lateness) + " late"
	case r.state == "revoked":
		return "on_time", "at expiry"
	case r.state == "revoke_failed":
		return "failing", "revocation failing since " + fmtTime(r.failingSince) + "; still retried"
	case r.earlyBy != "":
		return "open", "being revoked early, by " + r.earlyBy
	case r.state == "revoking":
		return "open", "being revoked at expiry"
	default:
		return "open", "not yet revoked (" + r.state + ")"
	}
}

// held is how long the access existed: from the grant to its revocation, or, while it is
// still active, to the report's time (the log is read to its head, so the grant is active
// then; the last event may be hours older).
func (b *reportBuilder) held(r *reportRow) string {
	if r.grantedAt.IsZero() {
		return ""
	}
	if r.revokedAt.IsZero() {
		return fmtDur(b.o.Now.Sub(r.grantedAt)) + " so far"
	}
	return fmtDur(r.revokedAt.Sub(r.grantedAt))
}
