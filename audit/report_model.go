package audit

// The report's model of the log: requests and their grants, rebuilt event by event (add), a
// row written to its section as soon as its story is over (end, emit).

import (
	"html/template"
	"strconv"
	"time"
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
	expiresAt    string
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
	expiresAt string
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
	tmpl        *template.Template
	rows        map[string]*reportRow // by request ID, extension requests included
	byGrant     map[string]*reportRow // by grant ID, once granted
	queue       []*reportRow          // in the order requests were made, waiting to be written
	qhead       int
	sum         ReportSummary
	configs     []configLoad
	lastAt      time.Time
	grantsOut   spool
	requestsOut spool
	bgOut       spool
	refusedOut  spool
	scansOut    spool
	eventsOut   spool
	row         htmlRow // reused for every row
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
	return []*spool{&b.grantsOut, &b.requestsOut, &b.bgOut, &b.refusedOut, &b.scansOut, &b.eventsOut}
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

// add takes in one event, in sequence order: it counts it and lists it in the appendix when
// the filter selects it, then hands it to the method for its type. Events about the log as a
// whole (logEvents) are taken as they come; any other event is about a request or its grant
// (rowEvents), and an event of an extension request goes to the grant's row as an extension.
// Each of those methods is the one place that reads its type's Data keys.
func (b *reportBuilder) add(e *Event) error {
	b.lastAt = e.At
	selected := b.selects(e)
	if selected {
		if err := b.addToAppendix(e); err != nil {
			return err
		}
	}
	if add, ok := logEvents[e.Type]; ok {
		return add(b, e, selected)
	}
	r := b.rowOf(e)
	if r == nil {
		return nil
	}
	r.involve(e.Actor)
	if e.RequestID != "" && e.RequestID != r.requestID {
		b.addExtensionEvent(r, e)
		return nil
	}
	if add, ok := rowEvents[e.Type]; ok {
		return add(b, r, e)
	}
	return nil
}

// logEvents take the events that are not part of one request's story, or that start one;
// selected says whether the filter selects the event.
var logEvents = map[string]func(b *reportBuilder, e *Event, selected bool) error{
	ConfigLoaded:   (*reportBuilder).addConfig,
	ScanCompleted:  (*reportBuilder).addScan,
	RequestRefused: (*reportBuilder).addRefused,
	ReviewRefused:  (*reportBuilder).addRefused,
	AlertRaised:    (*reportBuilder).addAlert,
	AuthFailed:     (*reportBuilder).addAuthFailure,
	RequestCreated: (*reportBuilder).addRequest,
}

// rowEvents take the events of a request's story, r being the request's row.
var rowEvents = map[string]func(b *reportBuilder, r *reportRow, e *Event) error{
	ReviewApproved:     (*reportBuilder).addReview,
	ReviewDenied:       (*reportBuilder).addReview,
	RequestApproved:    (*reportBuilder).addApproval,
	BreakGlassUsed:     (*reportBuilder).addBreakGlassUse,
	RequestDenied:      (*reportBuilder).addDenial,
	RequestCancelled:   (*reportBuilder).addCancellation,
	RequestExpired:     (*reportBuilder).addExpiry,
	GrantActivating:    (*reportBuilder).addActivating,
	GrantActive:        (*reportBuilder).addActive,
	GrantRetry:         (*reportBuilder).addRetry,
	GrantFailed:        (*reportBuilder).addGrantFailure,
	GrantExtended:      (*reportBuilder).addExtension,
	GrantRevoking:      (*reportBuilder).addRevoking,
	GrantRevokeFailed:  (*reportBuilder).addRevokeFailure,
	GrantRevoked:       (*reportBuilder).addRevoked,
	BreakGlassReviewed: (*reportBuilder).addBreakGlassReview,
}

// addToAppendix counts an event the filter selects and, with Events, lists it.
func (b *reportBuilder) addToAppendix(e *Event) error {
	b.sum.Events++
	if !b.o.Events {
		return nil
	}
	return b.writeRow(&b.eventsOut, func(w *htmlRow) { w.event(e) })
}

// addAlert counts an alert.raised.
func (b *reportBuilder) addAlert(_ *Event, selected bool) error {
	if selected {
		b.sum.Alerts++
	}
	return nil
}

// addAuthFailure counts an auth.failed: an inbound request with a bad signature.
func (b *reportBuilder) addAuthFailure(_ *Event, selected bool) error {
	if selected {
		b.sum.AuthFailures++
	}
	return nil
}

// addRequest starts a request's row (request.created), in the order requests were made, or
// an extension of the grant it is about. A request made after the period is not listed.
func (b *reportBuilder) addRequest(e *Event, _ bool) error {
	kind, duration, reason := e.Data["kind"], e.Data["duration"], e.Data["reason"]
	if kind == "extend" {
		if r := b.byGrant[e.GrantID]; r != nil {
			b.rows[e.RequestID] = r
			r.exts = append(r.exts, reportExt{requestID: e.RequestID, by: duration, at: e.At, state: "pending"})
		}
		return nil
	}
	if !b.f.Until.IsZero() && !e.At.Before(b.f.Until) {
		return nil // made after the period
	}
	if kind == "" {
		kind = "access"
	}
	r := &reportRow{
		requestID: e.RequestID, kind: kind, resource: e.Resource, subject: e.Subject,
		reason: reason, duration: duration, requestedAt: e.At,
	}
	r.involve(e.Actor)
	b.rows[e.RequestID] = r
	b.queue = append(b.queue, r)
	return nil
}

// addReview records a reviewer's approval or denial (review.approved, review.denied).
func (b *reportBuilder) addReview(r *reportRow, e *Event) error {
	d := "approved"
	if e.Type == ReviewDenied {
		d = "denied"
	}
	r.reviews = append(r.reviews, reportReview{who: e.Actor, decision: d, reason: e.Data["reason"], at: e.At})
	return nil
}

// addApproval records the decision to grant (request.approved): by reviewers, or by the
// policy's rule.
func (b *reportBuilder) addApproval(r *reportRow, e *Event) error {
	r.decidedAt, r.decidedBy = e.At, e.Actor
	if auto, rule := approvalOf(e); auto {
		r.decision, r.decisionNote = "auto", rule
	} else {
		r.decision = "approved"
	}
	return nil
}

// approvalOf reads a request.approved: by the policy's rule (auto) or by reviewers. It is read
// for a request and for an extension request.
func approvalOf(e *Event) (auto bool, rule string) {
	return e.Data["approvals"] == "auto", e.Data["rule"]
}

// addBreakGlassUse records access taken without approval (breakglass.used).
func (b *reportBuilder) addBreakGlassUse(r *reportRow, e *Event) error {
	r.kind, r.decision, r.decidedAt, r.decidedBy = "breakglass", "breakglass", e.At, e.Actor
	if r.reason == "" {
		r.reason = e.Data["reason"]
	}
	return nil
}

// addDenial ends a request with its denial (request.denied).
func (b *reportBuilder) addDenial(r *reportRow, e *Event) error {
	r.decision, r.decidedAt, r.decidedBy, r.decisionNote = "denied", e.At, e.Actor, e.Data["reason"]
	return b.end(r, e.At)
}

// addCancellation ends a request its requester cancelled (request.cancelled).
func (b *reportBuilder) addCancellation(r *reportRow, e *Event) error {
	r.decision, r.decidedAt, r.decidedBy = "cancelled", e.At, e.Actor
	return b.end(r, e.At)
}

// addExpiry ends a request nobody decided in time (request.expired).
func (b *reportBuilder) addExpiry(r *reportRow, e *Event) error {
	r.decision, r.decidedAt = "expired", e.At
	return b.end(r, e.At)
}

// addActivating records the start of a grant (grant.activating): its ID, account and expiry.
func (b *reportBuilder) addActivating(r *reportRow, e *Event) error {
	account, expiresAt, breakGlass := e.Data["account"], e.Data["expires_at"], e.Data["breakglass"] == "true"
	if r.grantID == "" {
		r.grantID = e.GrantID
		b.byGrant[e.GrantID] = r
	}
	r.state = "activating"
	r.account, r.expiresAt = account, expiresAt
	if breakGlass {
		r.kind = "breakglass"
	}
	return nil
}

// addActive records that the target granted the access (grant.active).
func (b *reportBuilder) addActive(r *reportRow, e *Event) error {
	if r.grantedAt.IsZero() {
		r.grantedAt = e.At
	}
	r.state = "active"
	if v := e.Data["expires_at"]; v != "" {
		r.expiresAt = v
	}
	return nil
}

// addRetry keeps the error of a grant being retried (grant.retry).
func (b *reportBuilder) addRetry(r *reportRow, e *Event) error {
	r.lastError = e.Data["error"]
	return nil
}

// addGrantFailure ends a grant the target refused (grant.failed).
func (b *reportBuilder) addGrantFailure(r *reportRow, e *Event) error {
	r.state, r.lastError = "failed", e.Data["error"]
	return b.end(r, e.At)
}

// addExtension records an extension of the grant (grant.extended), or the target's refusal
// of it, and marks the extension request it applied as applied.
func (b *reportBuilder) addExtension(r *reportRow, e *Event) error {
	extended, expiresAt, id, errText := extensionOf(e)
	if !extended {
		r.lastError = errText
		return nil
	}
	if expiresAt != "" {
		r.expiresAt = expiresAt
	}
	for i := range r.exts {
		if r.exts[i].requestID == id {
			r.exts[i].state, r.exts[i].expiresAt = "applied", expiresAt
		}
	}
	return nil
}

// extensionOf reads a grant.extended: whether the target extended the grant, the new expiry,
// the extension request it applied, and the target's error when it did not. It is read for
// the grant and for the extension request.
func extensionOf(e *Event) (extended bool, expiresAt, extendRequestID, errText string) {
	return e.Data["target_extended"] != "false", e.Data["expires_at"], e.Data["extend_request_id"], e.Data["error"]
}

// addRevoking records the start of a revocation (grant.revoking): early, by someone, or at
// expiry, and possibly while the grant itself was still in flight.
func (b *reportBuilder) addRevoking(r *reportRow, e *Event) error {
	early, from := e.Data["early"] == "true", e.Data["state"]
	if early && r.earlyBy == "" {
		r.earlyBy, r.earlyAt = e.Actor, e.At
	}
	if r.state != "revoke_failed" {
		r.state = "revoking"
	}
	if r.state == "revoking" && from == "activating" {
		r.state = "activating" // revoked while its grant was in flight
	}
	return nil
}

// addRevokeFailure records a failed revocation, still being retried (grant.revoke_failed).
func (b *reportBuilder) addRevokeFailure(r *reportRow, e *Event) error {
	r.state, r.lastError = "revoke_failed", e.Data["error"]
	if r.failingSince.IsZero() {
		r.failingSince = e.At
	}
	return nil
}

// addRevoked ends a grant with its revocation (grant.revoked): how late it was, and whether
// an admin forced it after failures.
func (b *reportBuilder) addRevoked(r *reportRow, e *Event) error {
	forced, note, lateness := e.Data["forced"] == "true", e.Data["note"], e.Data["lateness_ms"]
	r.state, r.revokedAt, r.revokedBy = "revoked", e.At, e.Actor
	if forced {
		r.forcedNote = note
		if r.forcedNote == "" {
			r.forcedNote = "-"
		}
	}
	r.latenessMs, _ = strconv.ParseInt(lateness, 10, 64)
	return b.end(r, e.At)
}

// addBreakGlassReview records the review of a break-glass use (breakglass.reviewed); a use
// whose grant is over ends with it.
func (b *reportBuilder) addBreakGlassReview(r *reportRow, e *Event) error {
	r.bgReviewedBy, r.bgReviewedAt, r.bgNote = e.Actor, e.At, e.Data["note"]
	if r.state == "revoked" || r.state == "failed" {
		return b.end(r, r.endAt)
	}
	return nil
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

// addExtensionEvent records an event of an extension request on r's grant.
func (b *reportBuilder) addExtensionEvent(r *reportRow, e *Event) {
	var x *reportExt
	for i := range r.exts {
		if r.exts[i].requestID == e.RequestID {
			x = &r.exts[i]
		}
	}
	if x == nil {
		return
	}
	switch e.Type {
	case ReviewApproved:
		x.approvers = append(x.approvers, e.Actor)
	case RequestApproved:
		if auto, _ := approvalOf(e); auto {
			x.state = "auto"
		} else if x.state == "pending" {
			x.state = "approved"
		}
	case RequestDenied:
		x.state = "denied"
	case RequestCancelled:
		x.state = "cancelled"
	case RequestExpired:
		x.state = "expired"
	case GrantExtended:
		if extended, expiresAt, _, _ := extensionOf(e); extended {
			x.state, x.expiresAt = "applied", expiresAt
			r.expiresAt = expiresAt
		}
	}
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

// addConfig records a start with a configuration (config.loaded) in the period, or the last
// one before it: the policy in force. Starts in a row with the same configuration are one line.
func (b *reportBuilder) addConfig(e *Event, _ bool) error {
	before := !b.f.Since.IsZero() && e.At.Before(b.f.Since)
	if !before && !b.inPeriod(e.At) {
		return nil
	}
	if !before {
		b.sum.ConfigLoads++
	}
	c := configLoad{first: e.At, last: e.At, hash: e.Data["config_sha256"], version: e.Data["version"],
		resources: e.Data["resources"], count: 1, before: before}
	if n := len(b.configs); n > 0 {
		p := &b.configs[n-1]
		if p.hash == c.hash && p.version == c.version && p.resources == c.resources && p.before == c.before {
			p.last = e.At
			p.count++
			return nil
		}
		if before && p.before {
			b.configs[n-1] = c // only the last one before the period matters
			return nil
		}
	}
	b.configs = append(b.configs, c)
	return nil
}

// scanRow is a standing-privilege scan with findings or errors.
type scanRow struct {
	e                  *Event
	resources, message string
	findings, errors   int
}

// addScan counts a scan (scan.completed) and lists it when it found something or failed.
func (b *reportBuilder) addScan(e *Event, selected bool) error {
	if !selected {
		return nil
	}
	findings, _ := strconv.Atoi(e.Data["findings"])
	errs, _ := strconv.Atoi(e.Data["errors"])
	b.sum.Scans++
	b.sum.ScanFindings += findings
	if findings == 0 && errs == 0 {
		return nil
	}
	sc := scanRow{e: e, resources: e.Data["resources"], message: e.Data["message"], findings: findings, errors: errs}
	return b.writeRow(&b.scansOut, func(w *htmlRow) { w.scan(&sc) })
}

// refusedRow is a request the policy refused or a click by someone who may not decide.
type refusedRow struct {
	e                         *Event
	what, why, target, reason string
}

// addRefused lists a refused request (request.refused) or click (review.refused). Either is
// taking part in the request it was about, even when the filter does not select it.
func (b *reportBuilder) addRefused(e *Event, selected bool) error {
	if r := b.rowOf(e); r != nil {
		r.involve(e.Actor)
	}
	if !selected {
		return nil
	}
	x := refusedRow{e: e, why: e.Data["refused"], reason: e.Data["reason"], target: e.RequestID}
	if e.GrantID != "" {
		x.target = e.GrantID
	}
	if e.Type == RequestRefused {
		b.sum.RefusedRequests++
		x.what = refusedRequest(e.Data["kind"], e.Data["duration"])
	} else {
		b.sum.RefusedClicks++
		x.what = refusedDecision(e.Data["decision"])
	}
	return b.writeRow(&b.refusedOut, func(w *htmlRow) { w.refused(&x) })
}

// refusedRequest says what a refused request asked for: "request for 12h", "breakglass request".
func refusedRequest(kind, duration string) string {
	what := "request"
	if kind != "" && kind != "access" {
		what = kind + " request"
	}
	if duration != "" {
		what += " for " + duration
	}
	return what
}

// refusedDecision says what a refused click tried to decide.
func refusedDecision(decision string) string {
	switch decision {
	case "breakglass_review":
		return "break-glass review"
	case "":
		return "decision"
	}
	return decision
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

// held is how long the access existed: from the grant to its revocation, or to the last event
// of the log.
func (b *reportBuilder) held(r *reportRow) string {
	if r.grantedAt.IsZero() {
		return ""
	}
	if r.revokedAt.IsZero() {
		return fmtDur(b.lastAt.Sub(r.grantedAt)) + " so far"
	}
	return fmtDur(r.revokedAt.Sub(r.grantedAt))
}
