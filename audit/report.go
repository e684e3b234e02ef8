package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FormatHTML is the export format of the auditor's report (WriteReport).
const FormatHTML = "html"

// ReportOptions shape WriteReport.
type ReportOptions struct {
	// Filter selects what the report lists, as it selects events for the other formats: Since
	// and Until bound the period, Resource, Subject and Person select the grants (a grant is
	// about a person when they asked for it, reviewed it, revoked it or reviewed its break-glass
	// use). AfterSeq and MaxSeq are ignored: the report always reads the whole log.
	Filter Filter
	// Events adds an appendix with every event of the period the filter selects.
	Events bool
	// Version is the accessbot version that writes the report.
	Version string
	// Now is the time the report is generated; zero means time.Now().
	Now time.Time
	// TempDir is where sections are spooled while the log is read (a large report does not
	// wait in memory); empty means os.TempDir(). Up to spoolInMemory bytes per section stay in
	// memory.
	TempDir string
	// Progress, when not nil, is called with the number of events read so far and the head's
	// sequence number read at the start (the total, unless events are appended meanwhile).
	Progress func(done, total int64)
}

// ReportSummary is what a report counts. The requests the report lists are split by how they
// were decided (Approved + AutoApproved + BreakGlass + Denied + Cancelled + Expired + Pending ==
// Requests), and the grants by how they ended (RevokedOnTime + RevokedLate + RevokedEarly +
// RevokedForced + RevokeFailing + Failed + Open == Grants).
type ReportSummary struct {
	// Events is how many events of the period the filter selects (what jsonl would export).
	Events int64 `json:"events"`
	// Requests listed: made in the period, or made before it and not over when it began
	// (CarriedOver of them). Extension requests are counted in Extensions instead.
	Requests     int `json:"requests"`
	CarriedOver  int `json:"carried_over"`
	Approved     int `json:"approved"`      // by reviewers
	AutoApproved int `json:"auto_approved"` // by the policy's rule
	BreakGlass   int `json:"breakglass"`    // granted without approval, reviewed afterwards
	Denied       int `json:"denied"`
	Cancelled    int `json:"cancelled"`
	Expired      int `json:"expired"` // no decision in time
	Pending      int `json:"pending"` // still waiting when the report was made
	// BreakGlassReviewed of BreakGlass have been reviewed.
	BreakGlassReviewed int `json:"breakglass_reviewed"`
	// Extensions is how many extensions were applied to the grants listed.
	Extensions int `json:"extensions"`

	Grants        int `json:"grants"`
	RevokedOnTime int `json:"revoked_on_time"` // at expiry, within LateAfter
	RevokedLate   int `json:"revoked_late"`    // at expiry, more than LateAfter after it
	RevokedEarly  int `json:"revoked_early"`   // before expiry, by the holder or an admin
	RevokedForced int `json:"revoked_forced"`  // marked revoked by an admin after failures
	RevokeFailing int `json:"revoke_failing"`  // revoke_failed: still being retried
	Failed        int `json:"failed"`          // the target refused the grant
	Open          int `json:"open"`            // activating, active or being revoked

	RefusedRequests int `json:"refused_requests"` // requests the policy refused
	RefusedClicks   int `json:"refused_clicks"`   // approvals, denials, reviews by someone who may not
	Alerts          int `json:"alerts"`
	AuthFailures    int `json:"auth_failures"`
	Scans           int `json:"scans"`
	ScanFindings    int `json:"scan_findings"`
	ConfigLoads     int `json:"config_loads"`
}

// ReportResult is what WriteReport found.
type ReportResult struct {
	Summary ReportSummary
	// Verify is the check of the whole chain, as Verify reports it.
	Verify Report
}

// LateAfter is how long after its expiry a revocation still counts as on time in a report.
const LateAfter = time.Minute

// spoolInMemory is how much of a section stays in memory before it goes to a temporary file.
const spoolInMemory = 4 << 20

// WriteReport writes one self-contained, printable HTML page for auditors: the period, the
// result of verifying the whole chain, the policy in force (config.loaded), summary numbers,
// every grant of the period with its request, reviews, reason, grant and revocation times,
// requests that made no grant, break-glass uses and their reviews, refused actions and scans,
// and, with Events, every event of the period.
//
// It reads the log once, from the first event to the head: each event is checked as Verify
// checks it (one range) and goes into a model of requests and grants keyed by request ID. A
// request's row is written once its story is over (or at the end), in the order the requests
// were made, to a spool per section; the summary, known only at the end, is written first and
// the spools are copied after it. Memory holds the requests still open, not the log.
//
// Everything taken from the log is escaped as html/template escapes it (the page by
// html/template, the rows by htmlRow); the page has no script and loads nothing. A broken
// chain is reported on the page (ReportResult.Verify), not as an error; the error is for
// failing to read or write.
func WriteReport(ctx context.Context, src Source, o ReportOptions, w io.Writer) (ReportResult, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	head, err := src.AuditHead(ctx)
	if err != nil {
		return ReportResult{}, fmt.Errorf("read audit head: %w", err)
	}
	b := newReportBuilder(o)
	defer b.close()

	// One pass: Verify's own check of a single range, fed by a source that also hands every
	// event to the model, and keeps reading after the check stopped at a bad event.
	run := &verifyRun{head: head}
	tee := &teeSource{Source: src, model: b.add, progress: o.Progress, total: head.Seq}
	res, err := run.verifyRange(ctx, tee, seqRange{lo: 1})
	if err != nil {
		return ReportResult{}, fmt.Errorf("read audit log: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ReportResult{}, err
	}
	rep := merge([]seqRange{{lo: 1}}, []rangeResult{res}, head)
	if o.Progress != nil {
		o.Progress(tee.n, head.Seq)
	}
	if err := b.finish(); err != nil {
		return ReportResult{}, err
	}
	if err := b.write(w, rep); err != nil {
		return ReportResult{}, fmt.Errorf("write report: %w", err)
	}
	return ReportResult{Summary: b.sum, Verify: rep}, nil
}

// teeSource hands each event to the model before Verify's check sees it, and goes on reading
// when the check has stopped at the first bad event. The model and the check run while the
// scan reads ahead (scanAhead).
type teeSource struct {
	Source
	model    func(*Event) error
	progress func(done, total int64)
	total    int64
	n        int64 // events handled, on the worker
	stopped  bool  // the check has found the first bad event
}

const teeProgressEvery = 16 << 10

func (t *teeSource) ScanAudit(ctx context.Context, f Filter, fn func(Event) error) error {
	return scanAhead(ctx, t.Source, f, func(e *Event) error { return t.handle(ctx, e, fn) })
}

// handle gives one event to the model, then to the check until it stops.
func (t *teeSource) handle(ctx context.Context, e *Event, check func(Event) error) error {
	t.n++
	if t.n%checkEvery == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.progress != nil && t.n%teeProgressEvery == 0 {
			t.progress(t.n, t.total)
		}
	}
	if err := t.model(e); err != nil {
		return err
	}
	if t.stopped {
		return nil
	}
	if err := check(*e); err != nil {
		if errors.Is(err, errStop) {
			t.stopped = true
			return nil
		}
		return err
	}
	return nil
}

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

type configLoad struct {
	first, last time.Time
	hash        string
	version     string
	resources   string
	count       int
	before      bool // in force when the period began
}

type reportBuilder struct {
	o           ReportOptions
	f           Filter
	tmpl        *template.Template
	rows        map[string]*reportRow // by request ID, extension requests included
	byGrant     map[string]*reportRow
	queue       []*reportRow // in the order requests were made, waiting to be written
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
	row         htmlRow
}

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

func (b *reportBuilder) spools() []*spool {
	return []*spool{&b.grantsOut, &b.requestsOut, &b.bgOut, &b.refusedOut, &b.scansOut, &b.eventsOut}
}

func (b *reportBuilder) close() {
	for _, s := range b.spools() {
		s.close()
	}
}

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

// add takes in one event, in sequence order.
func (b *reportBuilder) add(e *Event) error {
	b.lastAt = e.At
	selected := b.selects(e)
	if selected {
		b.sum.Events++
		if b.o.Events {
			if err := b.writeRow(&b.eventsOut, func(w *htmlRow) { w.event(e) }); err != nil {
				return err
			}
		}
	}
	switch e.Type {
	case ConfigLoaded:
		b.addConfig(e)
		return nil
	case ScanCompleted:
		if selected {
			return b.addScan(e)
		}
		return nil
	case RequestRefused, ReviewRefused:
		// A refused click is taking part in the request it was about.
		if r := b.rowOf(e); r != nil {
			r.involve(e.Actor)
		}
		if selected {
			return b.addRefused(e)
		}
		return nil
	case AlertRaised:
		if selected {
			b.sum.Alerts++
		}
		return nil
	case AuthFailed:
		if selected {
			b.sum.AuthFailures++
		}
		return nil
	case RequestCreated:
		if e.Data["kind"] == "extend" {
			if r := b.byGrant[e.GrantID]; r != nil {
				b.rows[e.RequestID] = r
				r.exts = append(r.exts, reportExt{requestID: e.RequestID, by: e.Data["duration"], at: e.At, state: "pending"})
			}
			return nil
		}
		if !b.f.Until.IsZero() && !e.At.Before(b.f.Until) {
			return nil // made after the period
		}
		kind := e.Data["kind"]
		if kind == "" {
			kind = "access"
		}
		r := &reportRow{
			requestID: e.RequestID, kind: kind, resource: e.Resource, subject: e.Subject,
			reason: e.Data["reason"], duration: e.Data["duration"], requestedAt: e.At,
		}
		r.involve(e.Actor)
		b.rows[e.RequestID] = r
		b.queue = append(b.queue, r)
		return nil
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
	switch e.Type {
	case ReviewApproved, ReviewDenied:
		d := "approved"
		if e.Type == ReviewDenied {
			d = "denied"
		}
		r.reviews = append(r.reviews, reportReview{who: e.Actor, decision: d, reason: e.Data["reason"], at: e.At})
	case RequestApproved:
		r.decidedAt, r.decidedBy = e.At, e.Actor
		if e.Data["approvals"] == "auto" {
			r.decision, r.decisionNote = "auto", e.Data["rule"]
		} else {
			r.decision = "approved"
		}
	case BreakGlassUsed:
		r.kind, r.decision, r.decidedAt, r.decidedBy = "breakglass", "breakglass", e.At, e.Actor
		if r.reason == "" {
			r.reason = e.Data["reason"]
		}
	case RequestDenied:
		r.decision, r.decidedAt, r.decidedBy, r.decisionNote = "denied", e.At, e.Actor, e.Data["reason"]
		return b.end(r, e.At)
	case RequestCancelled:
		r.decision, r.decidedAt, r.decidedBy = "cancelled", e.At, e.Actor
		return b.end(r, e.At)
	case RequestExpired:
		r.decision, r.decidedAt = "expired", e.At
		return b.end(r, e.At)
	case GrantActivating:
		if r.grantID == "" {
			r.grantID = e.GrantID
			b.byGrant[e.GrantID] = r
		}
		r.state = "activating"
		r.account, r.expiresAt = e.Data["account"], e.Data["expires_at"]
		if e.Data["breakglass"] == "true" {
			r.kind = "breakglass"
		}
	case GrantActive:
		if r.grantedAt.IsZero() {
			r.grantedAt = e.At
		}
		r.state = "active"
		if v := e.Data["expires_at"]; v != "" {
			r.expiresAt = v
		}
	case GrantRetry:
		r.lastError = e.Data["error"]
	case GrantFailed:
		r.state, r.lastError = "failed", e.Data["error"]
		return b.end(r, e.At)
	case GrantExtended:
		if e.Data["target_extended"] == "false" {
			r.lastError = e.Data["error"]
			return nil
		}
		if v := e.Data["expires_at"]; v != "" {
			r.expiresAt = v
		}
		id := e.Data["extend_request_id"]
		for i := range r.exts {
			if r.exts[i].requestID == id {
				r.exts[i].state, r.exts[i].expiresAt = "applied", e.Data["expires_at"]
			}
		}
	case GrantRevoking:
		if e.Data["early"] == "true" && r.earlyBy == "" {
			r.earlyBy, r.earlyAt = e.Actor, e.At
		}
		if r.state != "revoke_failed" {
			r.state = "revoking"
		}
		if r.state == "revoking" && e.Data["state"] == "activating" {
			r.state = "activating" // revoked while its grant was in flight
		}
	case GrantRevokeFailed:
		r.state, r.lastError = "revoke_failed", e.Data["error"]
		if r.failingSince.IsZero() {
			r.failingSince = e.At
		}
	case GrantRevoked:
		r.state, r.revokedAt, r.revokedBy = "revoked", e.At, e.Actor
		if e.Data["forced"] == "true" {
			r.forcedNote = e.Data["note"]
			if r.forcedNote == "" {
				r.forcedNote = "-"
			}
		}
		r.latenessMs, _ = strconv.ParseInt(e.Data["lateness_ms"], 10, 64)
		return b.end(r, e.At)
	case BreakGlassReviewed:
		r.bgReviewedBy, r.bgReviewedAt, r.bgNote = e.Actor, e.At, e.Data["note"]
		if r.state == "revoked" || r.state == "failed" {
			return b.end(r, r.endAt)
		}
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
		if e.Data["approvals"] == "auto" {
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
		if e.Data["target_extended"] != "false" {
			x.state, x.expiresAt = "applied", e.Data["expires_at"]
			r.expiresAt = e.Data["expires_at"]
		}
	}
}

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
	delete(b.rows, r.requestID)
	for _, x := range r.exts {
		delete(b.rows, x.requestID)
	}
	if r.grantID != "" {
		delete(b.byGrant, r.grantID)
	}
	if !b.listed(r) {
		return nil
	}
	s := &b.sum
	s.Requests++
	carried := !b.f.Since.IsZero() && r.requestedAt.Before(b.f.Since)
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
	if r.grantID == "" {
		return b.writeRow(&b.requestsOut, func(w *htmlRow) { w.request(r, carried) })
	}
	s.Grants++
	outcome, how := r.outcome()
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
	held := b.held(r)
	if err := b.writeRow(&b.grantsOut, func(w *htmlRow) { w.grant(r, carried, outcome, how, held) }); err != nil {
		return err
	}
	if r.kind == "breakglass" {
		return b.writeRow(&b.bgOut, func(w *htmlRow) { w.breakGlass(r, held) })
	}
	return nil
}

func (b *reportBuilder) addConfig(e *Event) {
	before := !b.f.Since.IsZero() && e.At.Before(b.f.Since)
	if !before && !b.inPeriod(e.At) {
		return
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
			return
		}
		if before && p.before {
			b.configs[n-1] = c // only the last one before the period matters
			return
		}
	}
	b.configs = append(b.configs, c)
}

func (b *reportBuilder) addScan(e *Event) error {
	b.sum.Scans++
	n, _ := strconv.Atoi(e.Data["findings"])
	b.sum.ScanFindings += n
	errs, _ := strconv.Atoi(e.Data["errors"])
	if n == 0 && errs == 0 {
		return nil
	}
	return b.writeRow(&b.scansOut, func(w *htmlRow) {
		w.s("\n<tr data-seq=\"").n(e.Seq).s(`" data-findings="`).n(int64(n)).s("\">\n<td>").n(e.Seq).
			s(`</td><td class="when">`).t(e.At).s("</td><td>").e(e.Actor).s("</td><td>").e(e.Data["resources"]).
			s(`</td><td class="n">`).n(int64(n)).s(`</td><td class="n">`).n(int64(errs)).s("</td><td>").
			e(e.Data["message"]).s("</td>\n</tr>")
	})
}

func (b *reportBuilder) addRefused(e *Event) error {
	what, why := "", e.Data["refused"]
	if e.Type == RequestRefused {
		b.sum.RefusedRequests++
		what = "request"
		if k := e.Data["kind"]; k != "" && k != "access" {
			what = k + " request"
		}
		if d := e.Data["duration"]; d != "" {
			what += " for " + d
		}
	} else {
		b.sum.RefusedClicks++
		switch d := e.Data["decision"]; d {
		case "breakglass_review":
			what = "break-glass review"
		case "":
			what = "decision"
		default:
			what = d
		}
	}
	target := e.RequestID
	if e.GrantID != "" {
		target = e.GrantID
	}
	return b.writeRow(&b.refusedOut, func(w *htmlRow) {
		w.s("\n<tr data-seq=\"").n(e.Seq).s(`" data-type="`).e(e.Type).s(`" data-why="`).e(why).s("\">\n<td>").
			n(e.Seq).s(`</td><td class="when">`).t(e.At).s("</td><td>").e(e.Actor).s("</td><td>").e(what).
			s("</td><td>").e(e.Resource).s(`</td><td class="mono">`).e(target).s("</td><td>").e(e.Subject).
			s("</td><td>").e(why).s(`</td><td data-field="reason">`).e(e.Data["reason"]).s("</td>\n</tr>")
	})
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

// Rows are written by hand, not by html/template: a report has a row per grant and, with
// Events, per event, and executing a template per row cost more than reading the log. Every
// value from the log goes through htmlRow.e, which escapes exactly as html/template does in
// text and quoted attributes (TestReportEscapesEveryField); everything htmlRow.s writes is a
// literal of this file.

// htmlRow builds one row.
type htmlRow struct {
	b    []byte
	keys []string
}

// s appends markup written in this file.
func (w *htmlRow) s(markup string) *htmlRow {
	w.b = append(w.b, markup...)
	return w
}

// e appends text from the log, escaped as html/template's htmlEscaper escapes it: NUL, the
// quotes, &, +, < and >. They are all ASCII, so bytes are replaced one by one.
func (w *htmlRow) e(text string) *htmlRow {
	last := 0
	for i := 0; i < len(text); i++ {
		var repl string
		switch text[i] {
		case 0:
			repl = "\uFFFD"
		case '"':
			repl = "&#34;"
		case '&':
			repl = "&amp;"
		case '\'':
			repl = "&#39;"
		case '+':
			repl = "&#43;"
		case '<':
			repl = "&lt;"
		case '>':
			repl = "&gt;"
		default:
			continue
		}
		w.b = append(w.b, text[last:i]...)
		w.b = append(w.b, repl...)
		last = i + 1
	}
	w.b = append(w.b, text[last:]...)
	return w
}

func (w *htmlRow) n(v int64) *htmlRow {
	w.b = strconv.AppendInt(w.b, v, 10)
	return w
}

// t appends a time as the report shows times (nothing for the zero time).
func (w *htmlRow) t(at time.Time) *htmlRow {
	if !at.IsZero() {
		w.b = at.UTC().AppendFormat(w.b, timeLayout)
	}
	return w
}

func (w *htmlRow) when(cond bool, markup string) *htmlRow {
	if cond {
		w.b = append(w.b, markup...)
	}
	return w
}

func (w *htmlRow) reviews(rs []reportReview) *htmlRow {
	if len(rs) == 0 {
		return w
	}
	w.s(`<ul class="reviews">`)
	for _, rv := range rs {
		w.s(`<li><span data-reviewer="`).e(rv.who).s(`">`).e(rv.who).s("</span> ").e(rv.decision).s(" ").t(rv.at)
		if rv.reason != "" {
			w.s(": ").e(rv.reason)
		}
		w.s("</li>")
	}
	return w.s("</ul>")
}

func (w *htmlRow) grant(r *reportRow, carried bool, outcome, how, held string) {
	w.s("\n<tr id=\"grant-").e(r.grantID).s(`" class="outcome-`).e(outcome).s(`" data-grant="`).e(r.grantID).
		s(`" data-request="`).e(r.requestID).s(`" data-kind="`).e(r.kind).s(`" data-decision="`).e(r.decisionName()).
		s(`" data-outcome="`).e(outcome).s(`" data-state="`).e(r.state).s("\">\n")
	w.s(`<td class="mono">`).e(r.grantID).s(`<br><span class="small">`).e(r.requestID).s("</span>").
		when(carried, `<br><span class="tag">before the period</span>`).
		when(r.kind == "breakglass", `<br><span class="tag">break-glass</span>`).s("</td>\n")
	w.s(`<td data-field="resource">`).e(r.resource).s("</td>\n")
	w.s(`<td><span data-field="subject">`).e(r.subject).s("</span>")
	if r.account != "" {
		w.s(`<br><span class="mono" data-field="account">`).e(r.account).s("</span>")
	}
	w.s("</td>\n")
	w.s(`<td data-field="reason">`).e(r.reason).s("</td>\n")
	w.s(`<td class="when"><span data-field="requested">`).t(r.requestedAt).s(`</span><br><span class="small">for `).
		e(r.duration).s("</span></td>\n")
	w.s(`<td data-field="approval">`)
	switch {
	case r.decision == "auto":
		w.s("auto-approved by rule <code>").e(r.decisionNote).s("</code>")
	case r.decision == "breakglass":
		w.s("none: break-glass")
	case len(r.reviews) > 0:
		w.reviews(r.reviews)
	default:
		w.e(r.decisionName())
	}
	w.s("</td>\n")
	w.s(`<td class="when" data-field="granted">`).t(r.grantedAt).s("</td>\n")
	w.s(`<td><span class="when" data-field="expires">`).e(fmtRFC3339(r.expiresAt)).s("</span>")
	for _, x := range r.exts {
		w.s(`<br><span class="small">extension +`).e(x.by).s(" asked ").t(x.at).s(": ").e(x.state)
		if len(x.approvers) > 0 {
			w.s(" by ").e(strings.Join(x.approvers, ", "))
		}
		w.s("</span>")
	}
	w.s("</td>\n")
	w.s(`<td><span class="when" data-field="revoked">`).t(r.revokedAt).s("</span>").when(!r.revokedAt.IsZero(), "<br>").
		s(`<span class="small" data-field="how">`).e(how).s("</span>")
	if r.lastError != "" {
		w.s(`<br><span class="small">last error: `).e(r.lastError).s("</span>")
	}
	w.s("</td>\n")
	w.s(`<td class="when" data-field="held">`).e(held).s("</td>\n</tr>")
}

func (w *htmlRow) request(r *reportRow, carried bool) {
	w.s("\n<tr id=\"request-").e(r.requestID).s(`" data-request="`).e(r.requestID).s(`" data-kind="`).e(r.kind).
		s(`" data-decision="`).e(r.decisionName()).s("\">\n")
	w.s(`<td class="mono">`).e(r.requestID).when(carried, `<br><span class="tag">before the period</span>`).s("</td>\n")
	w.s(`<td data-field="resource">`).e(r.resource).s("</td>\n")
	w.s(`<td data-field="subject">`).e(r.subject).s("</td>\n")
	w.s(`<td data-field="reason">`).e(r.reason).s("</td>\n")
	w.s(`<td class="when"><span data-field="requested">`).t(r.requestedAt).s(`</span><br><span class="small">for `).
		e(r.duration).s("</span></td>\n")
	w.s(`<td data-field="outcome">`).e(r.decisionName())
	if r.decisionNote != "" {
		w.s(": ").e(r.decisionNote)
	}
	w.s("</td>\n")
	w.s(`<td class="when">`).t(r.decidedAt)
	if r.decidedBy != "" {
		w.s(`<br><span class="small">`).e(r.decidedBy).s("</span>")
	}
	w.s("</td>\n<td>").reviews(r.reviews).s("</td>\n</tr>")
}

func (w *htmlRow) breakGlass(r *reportRow, held string) {
	reviewed := r.bgReviewedBy != ""
	w.s("\n<tr id=\"breakglass-").e(r.grantID).s(`"`).when(!reviewed, ` class="unreviewed"`).s(` data-grant="`).e(r.grantID).
		s(`" data-reviewed="`)
	if reviewed {
		w.s("true")
	} else {
		w.s("false")
	}
	w.s("\">\n")
	w.s(`<td class="mono">`).e(r.grantID).s("</td>\n")
	w.s("<td>").e(r.resource).s("</td>\n")
	w.s("<td>").e(r.subject).s("</td>\n")
	w.s(`<td data-field="reason">`).e(r.reason).s("</td>\n")
	w.s(`<td class="when">`).t(r.requestedAt).s(`<br><span class="small">for `).e(r.duration).s("</span></td>\n")
	w.s(`<td class="when">`).e(held).s("</td>\n")
	w.s(`<td class="when">`)
	if reviewed {
		w.s(`<span data-reviewer="`).e(r.bgReviewedBy).s(`">`).e(r.bgReviewedBy).s("</span><br>").t(r.bgReviewedAt)
	} else {
		w.s("<strong>not reviewed</strong>")
	}
	w.s("</td>\n")
	w.s(`<td data-field="review-note">`).e(r.bgNote).s("</td>\n</tr>")
}

// event writes a row of the appendix; the data as key=value pairs in key order.
func (w *htmlRow) event(e *Event) {
	w.s("\n<tr data-seq=\"").n(e.Seq).s(`"><td>`).n(e.Seq).s(`</td><td class="when">`).t(e.At).s("</td><td>").e(e.Type).
		s("</td><td>").e(e.Actor).s("</td><td>").e(e.Resource).s("</td><td>").e(e.Subject).s(`</td><td class="mono">`).
		e(e.RequestID).s(`</td><td class="mono">`).e(e.GrantID).s("</td><td>")
	w.keys = w.keys[:0]
	for k := range e.Data {
		w.keys = append(w.keys, k)
	}
	sort.Strings(w.keys)
	for i, k := range w.keys {
		if i > 0 {
			w.s("; ")
		}
		w.e(k).s("=").e(e.Data[k])
	}
	w.s(`</td><td class="mono small">`).e(e.Hash).s("</td></tr>")
}

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

const timeLayout = "2006-01-02 15:04:05"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// fmtRFC3339 shows an RFC 3339 time from event data as the report shows times.
func fmtRFC3339(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return fmtTime(t)
	}
	return s
}

// fmtDur writes a duration as 1h30m, 45m10s, 2d3h, or 350ms.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	d = d.Round(time.Second)
	var sb strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		sb.WriteString(strconv.FormatInt(int64(days), 10) + "d")
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		sb.WriteString(strconv.FormatInt(int64(h), 10) + "h")
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		sb.WriteString(strconv.FormatInt(int64(m), 10) + "m")
		d -= m * time.Minute
	}
	if s := d / time.Second; s > 0 {
		sb.WriteString(strconv.FormatInt(int64(s), 10) + "s")
	}
	return sb.String()
}

// pageView is the page around the sections.
type pageView struct {
	Title, Period, Generated, Version, Filters string
	Verify                                     verifyView
	Configs                                    []configView
	Sum                                        ReportSummary
	LateAfter                                  string
	GrantsRows, RequestsRows, BGRows           int
	RefusedRows, ScanRows, EventRows           int
	Events                                     bool
}

type verifyView struct {
	Intact   bool
	Empty    bool
	Events   int64
	HeadSeq  int64
	HeadHash string
	FirstBad int64
	Problem  string
	GoodUpTo int64
}

type configView struct {
	First, Last, Hash, Version, Resources string
	Count                                 int
	Before                                bool
}

// write writes the page: the parts known only now, then the spooled sections.
func (b *reportBuilder) write(w io.Writer, rep Report) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	f := b.f
	period := "the whole audit log"
	switch {
	case !f.Since.IsZero() && !f.Until.IsZero():
		period = fmtTime(f.Since) + " to " + fmtTime(f.Until) + " UTC"
	case !f.Since.IsZero():
		period = "from " + fmtTime(f.Since) + " UTC"
	case !f.Until.IsZero():
		period = "until " + fmtTime(f.Until) + " UTC"
	}
	var filters []string
	if f.Resource != "" {
		filters = append(filters, "resource "+f.Resource)
	}
	if f.Subject != "" {
		filters = append(filters, "requests of "+f.Subject)
	}
	if f.Person != "" {
		filters = append(filters, "requests "+f.Person+" took part in")
	}
	version := b.o.Version
	if version == "" {
		version = "unknown"
	}
	p := pageView{
		Title:     "Access report: " + period,
		Period:    period,
		Generated: b.o.Now.UTC().Format(timeLayout) + " UTC",
		Version:   version,
		Filters:   strings.Join(filters, "; "),
		Sum:       b.sum,
		LateAfter: fmtDur(LateAfter),
		Verify: verifyView{
			Intact: rep.Intact(), Empty: rep.Intact() && rep.Head.Seq == 0, Events: rep.Events,
			HeadSeq: rep.Head.Seq, HeadHash: rep.Head.Hash, FirstBad: rep.FirstBad, Problem: rep.Problem,
			GoodUpTo: rep.FirstBad - 1,
		},
		GrantsRows: b.sum.Grants, RequestsRows: b.sum.Requests - b.sum.Grants,
		BGRows: b.bgOut.rows, RefusedRows: b.refusedOut.rows, ScanRows: b.scansOut.rows,
		EventRows: b.eventsOut.rows, Events: b.o.Events,
	}
	for _, c := range b.configs {
		p.Configs = append(p.Configs, configView{First: fmtTime(c.first), Last: fmtTime(c.last), Hash: c.hash,
			Version: c.version, Resources: c.resources, Count: c.count, Before: c.before})
	}
	sections := []struct {
		name string
		s    *spool
	}{
		{"grants", &b.grantsOut}, {"requests", &b.requestsOut}, {"breakglass", &b.bgOut},
		{"refused", &b.refusedOut}, {"scans", &b.scansOut}, {"events", &b.eventsOut},
	}
	if err := b.tmpl.ExecuteTemplate(bw, "top", p); err != nil {
		return err
	}
	for _, sec := range sections {
		if sec.name == "events" && !b.o.Events {
			continue
		}
		if err := b.tmpl.ExecuteTemplate(bw, sec.name+"-start", p); err != nil {
			return err
		}
		if err := sec.s.copyTo(bw); err != nil {
			return err
		}
		if err := b.tmpl.ExecuteTemplate(bw, sec.name+"-end", p); err != nil {
			return err
		}
	}
	if err := b.tmpl.ExecuteTemplate(bw, "bottom", p); err != nil {
		return err
	}
	return bw.Flush()
}

// spool keeps a section's rows: in memory up to spoolInMemory bytes, then in a temporary file.
type spool struct {
	dir  string
	mem  bytes.Buffer
	file *os.File
	fw   *bufio.Writer
	rows int
	err  error
}

func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil {
		if s.mem.Len()+len(p) <= spoolInMemory {
			return s.mem.Write(p)
		}
		f, err := os.CreateTemp(s.dir, "accessbot-report-*")
		if err != nil {
			s.err = fmt.Errorf("spool report section: %w", err)
			return 0, s.err
		}
		s.file, s.fw = f, bufio.NewWriterSize(f, 256<<10)
		if _, err := s.fw.Write(s.mem.Bytes()); err != nil {
			s.err = err
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	n, err := s.fw.Write(p)
	if err != nil {
		s.err = fmt.Errorf("spool report section: %w", err)
	}
	return n, err
}

func (s *spool) copyTo(w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	if s.file == nil {
		_, err := w.Write(s.mem.Bytes())
		return err
	}
	if err := s.fw.Flush(); err != nil {
		return fmt.Errorf("spool report section: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool report section: %w", err)
	}
	_, err := io.Copy(w, s.file)
	return err
}

func (s *spool) close() {
	if s.file != nil {
		_ = s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}

// reportTemplate is the page around the rows: "top" (title, verification, policy, summary),
// each section's start and end, and "bottom", all written at the end around the spooled rows.
var reportTemplate = template.Must(template.New("report").Parse(reportHTML))

const reportHTML = `
{{- define "top" -}}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="accessbot {{.Version}}">
<title>{{.Title}}</title>
<style>
:root { color-scheme: light; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1a1a1a; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
p.note { color: #555; margin: 4px 0 10px; max-width: 70em; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
.verdict { font-size: 15px; font-weight: 600; padding: 10px 12px; border-radius: 4px; margin: 8px 0; }
.intact .verdict { background: #e8f5e9; border: 1px solid #2e7d32; color: #1b5e20; }
.broken .verdict { background: #ffebee; border: 2px solid #c62828; color: #b71c1c; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
table.numbers { width: auto; min-width: 28em; }
table.numbers td.n { text-align: right; font-variant-numeric: tabular-nums; min-width: 5em; }
table.numbers tr.sub th { font-weight: normal; padding-left: 22px; }
.when { white-space: nowrap; }
#events td, td[data-field="reason"] { overflow-wrap: anywhere; }
ul.reviews { margin: 0; padding-left: 14px; }
.tag { display: inline-block; white-space: nowrap; font-family: system-ui, sans-serif; font-size: 11px; padding: 0 4px; border-radius: 3px; background: #eee; border: 1px solid #ccc; }
tr.outcome-failing td, tr.outcome-failed td, tr.outcome-late td, tr.outcome-forced td { background: #fff4e5; }
tr.unreviewed td { background: #fff4e5; }
.empty { color: #777; font-style: italic; }
.small { font-size: 11px; color: #555; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { margin: 0; font-size: 10px; }
  section.page { break-before: page; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  tr, .verdict { break-inside: avoid; }
  .verdict, tr td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
</style>
</head>
<body>
<header>
<h1>Access report</h1>
<dl class="meta">
<dt>Period</dt><dd id="period">{{.Period}}</dd>
{{- if .Filters}}
<dt>Listed</dt><dd id="filters">only {{.Filters}}</dd>
{{- end}}
<dt>Generated</dt><dd id="generated">{{.Generated}}</dd>
<dt>By</dt><dd id="version">accessbot {{.Version}}</dd>
</dl>
</header>
{{with .Verify}}
<section id="verification" class="{{if .Intact}}intact{{else}}broken{{end}}" data-intact="{{.Intact}}" data-head-seq="{{.HeadSeq}}" data-first-bad="{{.FirstBad}}">
<h2>Audit log verification</h2>
{{- if .Empty}}
<p class="verdict">Chain intact: the audit log is empty.</p>
{{- else if .Intact}}
<p class="verdict">Chain intact: events 1–{{.HeadSeq}}, head seq {{.HeadSeq}} hash <code>{{.HeadHash}}</code></p>
{{- else}}
<p class="verdict">BROKEN at seq {{.FirstBad}}: {{.Problem}}</p>
<p class="note">{{if gt .GoodUpTo 0}}Events 1–{{.GoodUpTo}} are intact. {{end}}From seq {{.FirstBad}} on, the log was changed, or events were removed or reordered, after accessbot wrote them: what this report shows from there cannot be trusted.</p>
{{- end}}
<p class="note">The whole audit log was verified, from its first event to its head, whatever period and filter this report lists: each event's hash covers the event and the hash of the one before it, so a changed, removed or reordered event breaks the chain. Anyone can check it again with <code>accessbot audit verify</code>, or from a JSON Lines export.</p>
</section>
{{end}}
<section id="config">
<h2>Policy in force</h2>
<p class="note">The SHA-256 of the configuration file (before secrets are expanded), recorded each time accessbot started.</p>
{{- if .Configs}}
<table>
<thead><tr><th>Loaded</th><th>Config SHA-256</th><th>accessbot</th><th>Resources</th></tr></thead>
<tbody>
{{- range .Configs}}
<tr data-config="{{.Hash}}"><td class="when">{{if .Before}}in force when the period began (loaded {{.Last}}){{else}}{{.First}}{{if gt .Count 1}} to {{.Last}} ({{.Count}} starts){{end}}{{end}}</td><td class="mono">{{.Hash}}</td><td>{{.Version}}</td><td>{{.Resources}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="empty">No config.loaded event before the end of the period.</p>
{{- end}}
</section>
{{with .Sum}}
<section id="summary">
<h2>Summary</h2>
<table class="numbers">
<tbody>
<tr><th>Audit events in the period</th><td class="n" data-n="events">{{.Events}}</td></tr>
<tr><th>Requests listed</th><td class="n" data-n="requests">{{.Requests}}</td></tr>
{{- if .CarriedOver}}
<tr class="sub"><th>made before the period, still open when it began</th><td class="n" data-n="carried_over">{{.CarriedOver}}</td></tr>
{{- end}}
<tr class="sub"><th>approved by reviewers</th><td class="n" data-n="approved">{{.Approved}}</td></tr>
<tr class="sub"><th>auto-approved by a policy rule</th><td class="n" data-n="auto_approved">{{.AutoApproved}}</td></tr>
<tr class="sub"><th>break-glass (granted at once, reviewed afterwards)</th><td class="n" data-n="breakglass">{{.BreakGlass}}</td></tr>
<tr class="sub"><th>denied</th><td class="n" data-n="denied">{{.Denied}}</td></tr>
<tr class="sub"><th>cancelled</th><td class="n" data-n="cancelled">{{.Cancelled}}</td></tr>
<tr class="sub"><th>expired without a decision</th><td class="n" data-n="expired">{{.Expired}}</td></tr>
<tr class="sub"><th>still pending</th><td class="n" data-n="pending">{{.Pending}}</td></tr>
<tr><th>Break-glass uses reviewed</th><td class="n" data-n="breakglass_reviewed">{{.BreakGlassReviewed}} of {{.BreakGlass}}</td></tr>
<tr><th>Grants</th><td class="n" data-n="grants">{{.Grants}}</td></tr>
<tr class="sub"><th>revoked on time (at expiry, within {{$.LateAfter}})</th><td class="n" data-n="revoked_on_time">{{.RevokedOnTime}}</td></tr>
<tr class="sub"><th>revoked late (at expiry, more than {{$.LateAfter}} after it)</th><td class="n" data-n="revoked_late">{{.RevokedLate}}</td></tr>
<tr class="sub"><th>revoked early</th><td class="n" data-n="revoked_early">{{.RevokedEarly}}</td></tr>
<tr class="sub"><th>revocation forced by an admin</th><td class="n" data-n="revoked_forced">{{.RevokedForced}}</td></tr>
<tr class="sub"><th>revocation failing (still retried)</th><td class="n" data-n="revoke_failing">{{.RevokeFailing}}</td></tr>
<tr class="sub"><th>refused by the target</th><td class="n" data-n="failed">{{.Failed}}</td></tr>
<tr class="sub"><th>still active</th><td class="n" data-n="open">{{.Open}}</td></tr>
<tr><th>Extensions applied</th><td class="n" data-n="extensions">{{.Extensions}}</td></tr>
<tr><th>Requests refused by the policy</th><td class="n" data-n="refused_requests">{{.RefusedRequests}}</td></tr>
<tr><th>Refused clicks (self-approval, not an approver)</th><td class="n" data-n="refused_clicks">{{.RefusedClicks}}</td></tr>
<tr><th>Alerts raised</th><td class="n" data-n="alerts">{{.Alerts}}</td></tr>
<tr><th>Rejected inbound requests (bad signature)</th><td class="n" data-n="auth_failures">{{.AuthFailures}}</td></tr>
<tr><th>Standing-privilege scans</th><td class="n" data-n="scans">{{.Scans}}</td></tr>
<tr class="sub"><th>findings (access no grant explains)</th><td class="n" data-n="scan_findings">{{.ScanFindings}}</td></tr>
<tr><th>Starts with a configuration</th><td class="n" data-n="config_loads">{{.ConfigLoads}}</td></tr>
</tbody>
</table>
<p class="note">A request is listed when it was made before the end of the period and its story was not over before the period began; it is followed to its end, even past the period. Times are UTC.</p>
</section>
{{end}}
{{- end}}

{{- define "grants-start"}}
<section id="grants" class="page">
<h2>Grants ({{.GrantsRows}})</h2>
<table>
<thead><tr><th>Grant</th><th>Resource</th><th>Person / account</th><th>Reason</th><th>Requested</th><th>Approval</th><th>Granted</th><th>Expires</th><th>Revoked</th><th>Held</th></tr></thead>
<tbody>
{{- end}}
{{- define "grants-end"}}
</tbody>
</table>
{{- if not .GrantsRows}}
<p class="empty">No grant in this period.</p>
{{- end}}
</section>
{{- end}}

{{- define "requests-start"}}
<section id="requests">
<h2>Requests without a grant ({{.RequestsRows}})</h2>
<table>
<thead><tr><th>Request</th><th>Resource</th><th>Person</th><th>Reason</th><th>Requested</th><th>Outcome</th><th>Decided</th><th>Reviews</th></tr></thead>
<tbody>
{{- end}}
{{- define "requests-end"}}
</tbody>
</table>
{{- if not .RequestsRows}}
<p class="empty">None.</p>
{{- end}}
</section>
{{- end}}

{{- define "breakglass-start"}}
<section id="breakglass" class="page">
<h2>Break-glass uses and their reviews ({{.BGRows}})</h2>
<table>
<thead><tr><th>Grant</th><th>Resource</th><th>Person</th><th>Reason</th><th>Used</th><th>Held</th><th>Reviewed</th><th>Review note</th></tr></thead>
<tbody>
{{- end}}
{{- define "breakglass-end"}}
</tbody>
</table>
{{- if not .BGRows}}
<p class="empty">No break-glass use.</p>
{{- end}}
</section>
{{- end}}

{{- define "refused-start"}}
<section id="refused" class="page">
<h2>Refused actions ({{.RefusedRows}})</h2>
<p class="note">Requests the policy refused, and clicks by people who may not decide (their own request, or not an approver).</p>
<table>
<thead><tr><th>Seq</th><th>When</th><th>Who</th><th>Tried</th><th>Resource</th><th>Request / grant</th><th>For</th><th>Why refused</th><th>Reason given</th></tr></thead>
<tbody>
{{- end}}
{{- define "refused-end"}}
</tbody>
</table>
{{- if not .RefusedRows}}
<p class="empty">None.</p>
{{- end}}
</section>
{{- end}}

{{- define "scans-start"}}
<section id="scans">
<h2>Scans with findings or errors ({{.ScanRows}} of {{.Sum.Scans}})</h2>
<table>
<thead><tr><th>Seq</th><th>When</th><th>By</th><th>Resources</th><th>Findings</th><th>Errors</th><th>Summary</th></tr></thead>
<tbody>
{{- end}}
{{- define "scans-end"}}
</tbody>
</table>
{{- if not .ScanRows}}
<p class="empty">None.</p>
{{- end}}
</section>
{{- end}}

{{- define "events-start"}}
<section id="events" class="page">
<h2>Appendix: audit events of the period ({{.EventRows}})</h2>
<table>
<thead><tr><th>Seq</th><th>At</th><th>Type</th><th>Actor</th><th>Resource</th><th>Subject</th><th>Request</th><th>Grant</th><th>Data</th><th>Hash</th></tr></thead>
<tbody>
{{- end}}
{{- define "events-end"}}
</tbody>
</table>
</section>
{{- end}}

{{- define "bottom"}}
<footer>
<p class="note">Written by accessbot {{.Version}} at {{.Generated}}. {{with .Verify}}{{if .Intact}}Head of the audit log: seq {{.HeadSeq}}, hash <code>{{.HeadHash}}</code>.{{else}}The audit log is BROKEN at seq {{.FirstBad}}.{{end}}{{end}}</p>
</footer>
</body>
</html>
{{end}}`
