package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// Sampled are the resources whose adapter samples sessions: with a source that answers
	// UnusedSource, the report lists their grants that were never used. Empty leaves that
	// section out.
	Sampled []string
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

// LateAfter is how long after its expiry a revocation still counts as on time: the one
// definition, used by the report and the digest (audit/digest) alike. The scheduler revokes at
// the expiry (lateness p99 is milliseconds), so a second covers a busy target and a revocation
// later than that is worth a reader's look.
const LateAfter = time.Second

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
// Everything taken from the log is escaped as html/template escapes it: the page around the
// rows is templates (report/*.tmpl) run by internal/tmpl, and the rows, built in Go for speed
// (htmlRow), escape each value the same way; the page has no script and loads nothing. A broken chain is reported on the
// page (ReportResult.Verify), not as an error; the error is for failing to read or write.
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
	if err := b.unusedRows(ctx, src); err != nil {
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

// ScanAudit reads the log ahead of the model and the check (scanAhead).
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
