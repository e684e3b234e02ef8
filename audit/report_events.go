package audit

// How each type of event changes the report: add hands an event to the method for its type,
// and each method reads its type's typed payload (payload.go). A value that does not parse
// reads as zero, as Decode leaves it; the appendix still shows the event's data as stored.

import (
	"strconv"
	"strings"
	"time"
)

// add takes in one event, in sequence order: it counts it and lists it in the appendix when
// the filter selects it, then hands it to the method for its type. Events about the log as a
// whole (logEvents) are taken as they come; any other event is about a request or its grant
// (rowEvents), and an event of an extension request goes to the grant's row as an extension.
// Each of those methods is the one place that reads its type's payload.
func (b *reportBuilder) add(e *Event) error {
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
// selected says whether the filter selects the event. Like rowEvents, a table read only,
// never changed.
var logEvents = map[string]func(b *reportBuilder, e *Event, selected bool) error{
	ConfigLoaded:   (*reportBuilder).addConfig,
	ConfigChanged:  (*reportBuilder).addConfigChange,
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
	p, _ := Decode[RequestCreatedData](*e)
	kind, duration, reason := p.Kind, durationText(p.Duration), p.Reason
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
	reason := "" // an approval has no reason
	if e.Type == ReviewDenied {
		p, _ := Decode[ReviewDeniedData](*e)
		reason = p.Reason
	}
	r.reviews = append(r.reviews, reportReview{who: e.Actor, decision: d, reason: reason, at: e.At})
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
	p, _ := Decode[RequestApprovedData](*e)
	return p.Auto, p.Rule
}

// addBreakGlassUse records access taken without approval (breakglass.used).
func (b *reportBuilder) addBreakGlassUse(r *reportRow, e *Event) error {
	r.kind, r.decision, r.decidedAt, r.decidedBy = "breakglass", "breakglass", e.At, e.Actor
	if r.reason == "" {
		p, _ := Decode[BreakGlassUsedData](*e)
		r.reason = p.Reason
	}
	return nil
}

// addDenial ends a request with its denial (request.denied).
func (b *reportBuilder) addDenial(r *reportRow, e *Event) error {
	p, _ := Decode[RequestDeniedData](*e)
	r.decision, r.decidedAt, r.decidedBy, r.decisionNote = "denied", e.At, e.Actor, p.Reason
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
	p, _ := Decode[GrantActivatingData](*e)
	account, expiresAt, breakGlass := p.Account, p.ExpiresAt, p.BreakGlass
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
	if p, _ := Decode[GrantActiveData](*e); !p.ExpiresAt.IsZero() {
		r.expiresAt = p.ExpiresAt
	}
	return nil
}

// addRetry keeps the error of a grant being retried (grant.retry).
func (b *reportBuilder) addRetry(r *reportRow, e *Event) error {
	p, _ := Decode[GrantRetryData](*e)
	r.lastError = p.Error
	return nil
}

// addGrantFailure ends a grant the target refused (grant.failed).
func (b *reportBuilder) addGrantFailure(r *reportRow, e *Event) error {
	p, _ := Decode[GrantFailedData](*e)
	r.state, r.lastError = "failed", p.Error
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
	if !expiresAt.IsZero() {
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
func extensionOf(e *Event) (extended bool, expiresAt time.Time, extendRequestID, errText string) {
	p, _ := Decode[GrantExtendedData](*e)
	return !p.TargetNotExtended, p.ExpiresAt, p.ExtendRequestID, p.Error
}

// addRevoking records the start of a revocation (grant.revoking): early, by someone, or at
// expiry, and possibly while the grant itself was still in flight.
func (b *reportBuilder) addRevoking(r *reportRow, e *Event) error {
	p, _ := Decode[GrantRevokingData](*e)
	early, from := p.Early, p.State
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
	p, _ := Decode[GrantRevokeFailedData](*e)
	r.state, r.lastError = "revoke_failed", p.Error
	if r.failingSince.IsZero() {
		r.failingSince = e.At
	}
	return nil
}

// addRevoked ends a grant with its revocation (grant.revoked): how late it was, and whether
// an admin forced it after failures.
func (b *reportBuilder) addRevoked(r *reportRow, e *Event) error {
	p, _ := Decode[GrantRevokedData](*e)
	forced, note := p.Forced, p.Note
	r.state, r.revokedAt, r.revokedBy = "revoked", e.At, e.Actor
	if forced {
		r.forcedNote = note
		if r.forcedNote == "" {
			r.forcedNote = "-"
		}
	}
	r.latenessMs = p.Lateness.Milliseconds()
	return b.end(r, e.At)
}

// addBreakGlassReview records the review of a break-glass use (breakglass.reviewed); a use
// whose grant is over ends with it.
func (b *reportBuilder) addBreakGlassReview(r *reportRow, e *Event) error {
	p, _ := Decode[BreakGlassReviewedData](*e)
	r.bgReviewedBy, r.bgReviewedAt, r.bgNote = e.Actor, e.At, p.Note
	if r.state == "revoked" || r.state == "failed" {
		return b.end(r, r.endAt)
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
	p, _ := Decode[ConfigLoadedData](*e)
	c := configLoad{first: e.At, last: e.At, hash: p.ConfigSHA256, version: p.Version,
		resources: strconv.Itoa(p.Resources), count: 1, before: before}
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
	p, _ := Decode[ScanCompletedData](*e)
	findings, errs := p.Findings, p.Errors
	b.sum.Scans++
	b.sum.ScanFindings += findings
	if findings == 0 && errs == 0 {
		return nil
	}
	sc := scanRow{e: e, resources: strings.Join(p.Resources, ","), message: p.Message, findings: findings, errors: errs}
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
	x := refusedRow{e: e, target: e.RequestID}
	if e.GrantID != "" {
		x.target = e.GrantID
	}
	if e.Type == RequestRefused {
		p, _ := Decode[RequestRefusedData](*e)
		b.sum.RefusedRequests++
		x.why, x.reason, x.what = p.Refused, p.Reason, refusedRequest(p.Kind, durationText(p.Duration))
	} else {
		p, _ := Decode[ReviewRefusedData](*e)
		b.sum.RefusedClicks++
		x.why, x.what = p.Refused, refusedDecision(p.Decision)
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

// durationText writes a duration from event data as people read it everywhere (FormatDuration),
// and none as nothing.
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return FormatDuration(d)
}
