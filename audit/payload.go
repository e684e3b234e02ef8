package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/duration"
)

// An event's details are typed here, once: each event type has a payload struct (RequestCreatedData
// for request.created, and so on), Event.With puts one into an event and Decode reads it back.
//
// Event.Data stays the stored and hashed form. A payload encodes to exactly the keys and value
// strings the producers wrote before payloads existed (the same time layouts, "true" for a flag,
// the same keys left out when empty), so events written before and after hash alike and an old
// log still verifies; testdata/events.jsonl, written by the producers before the change, holds
// the encoding to that.

// Keys of Event.Data, in one place. Which event types use which is in the payload structs.
const (
	KeyKind              = "kind"
	KeyDuration          = "duration"
	KeyReason            = "reason"
	KeyApprovalsNeeded   = "approvals_needed"
	KeyPendingUntil      = "pending_until"
	KeyRule              = "rule"
	KeyApprovals         = "approvals"
	KeyGrantID           = "grant_id"
	KeyAlert             = "alert"
	KeyMessage           = "message"
	KeyAccount           = "account"
	KeyExpiresAt         = "expires_at"
	KeyBreakGlass        = "breakglass"
	KeyRefused           = "refused"
	KeyDecision          = "decision"
	KeyNote              = "note"
	KeyEarly             = "early"
	KeyState             = "state"
	KeyFrom              = "from"
	KeyForced            = "forced"
	KeyPreviousState     = "previous_state"
	KeyAttempts          = "attempts"
	KeyAttempt           = "attempt"
	KeyLastError         = "last_error"
	KeyError             = "error"
	KeyOp                = "op"
	KeyNextAttemptAt     = "next_attempt_at"
	KeyLatenessMs        = "lateness_ms"
	KeyBy                = "by"
	KeyPreviousExpiresAt = "previous_expires_at"
	KeyExtendRequestID   = "extend_request_id"
	KeyTargetExtended    = "target_extended"
	KeyRemaining         = "remaining"
	KeyResources         = "resources"
	KeyFindings          = "findings"
	KeyErrors            = "errors"
	KeyUnlistable        = "unlistable"
	KeyList              = "list"
	KeyErrorList         = "error_list"
	KeyConfigSHA256      = "config_sha256"
	KeyVersion           = "version"
	KeyPlatform          = "platform"
	KeyPath              = "path"
	KeyRemote            = "remote"
	KeySuppressed        = "suppressed"
	KeyFingerprint       = "fingerprint"
	KeyPlatformID        = "platform_id"
	KeyPerson            = "person"
	KeyName              = "name"
	KeyVia               = "via"
	KeyConfirmedOn       = "confirmed_on"
	KeySignals           = "signals"
	KeyChecks            = "checks"
	KeySeverity          = "severity"
	KeySince             = "since"
	KeyUntil             = "until"
	KeyHeadSeq           = "head_seq"
	KeyHeadHash          = "head_hash"
	KeyEvents            = "events"
	KeyTeam              = "team"
	KeyEnterprise        = "enterprise"
	KeyRequests          = "requests"
	KeyGrants            = "grants"
	KeyUnreviewed        = "unreviewed"
	KeyRevocations       = "revocations"
	KeyStepUpIssuer      = "stepup_issuer"
	KeyStepUpSubject     = "stepup_sub"
	KeyStepUpAMR         = "stepup_amr"
	KeyStepUpACR         = "stepup_acr"
	KeyStepUpAuthTime    = "stepup_auth_time"
	KeyTreeSize          = "tree_size"
	KeyTreeRoot          = "tree_root"
	KeyPublishedTo       = "published_to"
	KeySlot              = "slot"
	KeySession           = "session"
	KeyClient            = "client"
	KeyApplication       = "application"
	KeyFirstSeen         = "first_seen"
	KeyLastSeen          = "last_seen"
	KeyStarted           = "started"
	KeyEnded             = "ended"
)

// Values some keys hold.
const (
	// ApprovalsAuto is the approvals of a request.approved by the policy's auto-approve rule.
	ApprovalsAuto = "auto"
	// AlertBreakGlass and AlertRevokeFailed are kinds of alert.raised; a scan that finds
	// standing access says ScanCompletedData.Alert "standing_access".
	AlertBreakGlass   = "breakglass"
	AlertRevokeFailed = "revoke_failed"
	// AlertAccountTaken: a request named an account at a target that is, or was, another
	// person's (two people whose emails share a local part, say); it was refused.
	AlertAccountTaken = "account_taken"
)

// DigestPosted records a scheduled digest before it is delivered (DigestPostedData).
const DigestPosted = "digest.posted"

// CheckpointPublished records a signed checkpoint of the audit log's Merkle tree as it is
// published (CheckpointPublishedData): in a digest, or to the witness channel. SIEM sinks
// forward it like every event, so they hold the checkpoints too.
const CheckpointPublished = "checkpoint.published"

// Where a checkpoint was published (CheckpointPublishedData.To).
const (
	PublishedInDigest  = "digest"  // in the scheduled digest's message
	PublishedToWitness = "witness" // to the witness channel, once per publish interval
)

// Payload is the typed details of one event type. The payload structs of this package are the
// only ones: the encoding is what the hash covers, so it lives beside the chain.
type Payload interface {
	// EventType is the type of the events that carry this payload.
	EventType() string
	encode(w *dataWriter)
}

// decoder is a pointer to a payload, which Decode fills.
type decoder[T any] interface {
	*T
	Payload
	decode(r *dataReader)
}

// With returns e carrying p: the type p belongs to, and p in its stored form as Data. It is the
// one way a producer puts details into an event.
func (e Event) With(p Payload) Event {
	e.Type = p.EventType()
	w := dataWriter{}
	p.encode(&w)
	e.Data = w.m
	return e
}

// Decode reads e's details as the payload T of its type, for example
// Decode[GrantExtendedData](e). It is lenient the way a reader of an old log must be: a key that
// is missing leaves its field zero, and a value that does not parse leaves its field zero and is
// named in the error, with every other field still filled. An event of another type is an
// error and a zero T.
func Decode[T any, P decoder[T]](e Event) (T, error) {
	var v T
	p := P(&v)
	if e.Type != p.EventType() {
		return v, fmt.Errorf("audit event %d is %s, not %s", e.Seq, e.Type, p.EventType())
	}
	r := dataReader{m: e.Data}
	p.decode(&r)
	if err := errors.Join(r.errs...); err != nil {
		return v, fmt.Errorf("audit event %d (%s): %w", e.Seq, e.Type, err)
	}
	return v, nil
}

// Tally is a count of approvals against the number needed; its text form is "2/3".
type Tally struct{ Got, Need int }

// String returns "got/need".
func (t Tally) String() string { return strconv.Itoa(t.Got) + "/" + strconv.Itoa(t.Need) }

// Partial says whether more approvals are needed.
func (t Tally) Partial() bool { return t.Got < t.Need }

// ParseTally reads "got/need".
func ParseTally(s string) (Tally, error) {
	got, need, ok := strings.Cut(s, "/")
	g, err1 := strconv.Atoi(got)
	n, err2 := strconv.Atoi(need)
	if !ok || err1 != nil || err2 != nil {
		return Tally{}, fmt.Errorf("%q is not a tally like 2/3", s)
	}
	return Tally{Got: g, Need: n}, nil
}

// FormatDuration writes a duration as people read it everywhere in accessbot
// (internal/duration.Format: "1h30m", "1d12h", "0").
func FormatDuration(d time.Duration) string { return duration.Format(d) }

// ParseDuration reads what FormatDuration writes, and the older spellings stored logs hold
// ("36h", "0s").
func ParseDuration(s string) (time.Duration, error) { return duration.Parse(s) }

// dataWriter builds an Event.Data. Each method says whether an empty value is written or left
// out, the way the producers did it.
type dataWriter struct{ m map[string]string }

func (w *dataWriter) set(k, v string) {
	if w.m == nil {
		w.m = map[string]string{}
	}
	w.m[k] = v
}

// str writes v, even when empty.
func (w *dataWriter) str(k, v string) { w.set(k, v) }

// opt writes v unless it is empty.
func (w *dataWriter) opt(k, v string) {
	if v != "" {
		w.set(k, v)
	}
}

// int writes n in decimal, even when 0.
func (w *dataWriter) int(k string, n int64) { w.set(k, strconv.FormatInt(n, 10)) }

// optInt writes n unless it is 0.
func (w *dataWriter) optInt(k string, n int64) {
	if n != 0 {
		w.int(k, n)
	}
}

// flag writes "true" when b, and nothing otherwise.
func (w *dataWriter) flag(k string, b bool) {
	if b {
		w.set(k, "true")
	}
}

// time writes t in layout, even the zero time.
func (w *dataWriter) time(k string, t time.Time, layout string) { w.set(k, t.Format(layout)) }

// dur writes d as FormatDuration does, even when 0.
func (w *dataWriter) dur(k string, d time.Duration) { w.set(k, FormatDuration(d)) }

// optDur writes d unless it is 0.
func (w *dataWriter) optDur(k string, d time.Duration) {
	if d != 0 {
		w.dur(k, d)
	}
}

// list writes the items comma separated, even when there are none.
func (w *dataWriter) list(k string, items []string) { w.set(k, strings.Join(items, ",")) }

// optList writes the items comma separated unless there are none.
func (w *dataWriter) optList(k string, items []string) {
	if len(items) > 0 {
		w.list(k, items)
	}
}

// json writes v as JSON unless it is empty (n == 0).
func (w *dataWriter) json(k string, v any, n int) {
	if n == 0 {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings, slices and maps of strings: cannot fail
	}
	w.set(k, string(b))
}

// dataReader reads an Event.Data, collecting what does not parse.
type dataReader struct {
	m    map[string]string
	errs []error
}

func (r *dataReader) fail(k, v string, err error) {
	r.errs = append(r.errs, fmt.Errorf("%s %q: %w", k, v, err))
}

func (r *dataReader) str(k string) string { return r.m[k] }

func (r *dataReader) flag(k string) bool { return r.m[k] == "true" }

func (r *dataReader) int(k string) int { return int(r.int64(k)) }

func (r *dataReader) int64(k string) int64 {
	v, ok := r.m[k]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(k, v, err)
	}
	return n
}

func (r *dataReader) time(k string) time.Time {
	v, ok := r.m[k]
	if !ok {
		return time.Time{}
	}
	// RFC 3339 reads fractional seconds as well, so both layouts the producers use parse here.
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		r.fail(k, v, err)
	}
	return t
}

func (r *dataReader) dur(k string) time.Duration {
	v, ok := r.m[k]
	if !ok {
		return 0
	}
	d, err := ParseDuration(v)
	if err != nil {
		r.fail(k, v, err)
	}
	return d
}

func (r *dataReader) list(k string) []string {
	if v := r.m[k]; v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

func (r *dataReader) json(k string, v any) {
	s, ok := r.m[k]
	if !ok || s == "" {
		return
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		r.fail(k, s, err)
	}
}

// RequestCreatedData is the payload of request.created.
type RequestCreatedData struct {
	// Kind is the request's kind: access, breakglass or extend.
	Kind            string
	Duration        time.Duration
	Reason          string
	ApprovalsNeeded int
	PendingUntil    time.Time
	// Signals are the request's misuse signals as computed when it was made; nil for an
	// extension and for requests from before signals (the key is then left out, so those
	// events still hash as they were written).
	Signals *RequestSignals
	// Checks are the request's outside checks (a ticket, who is on call) as made when it was
	// made; nil for none (the key is then left out).
	Checks []RequestCheck
}

// RequestCheck is one outside check of a request (grants.Check), stored as JSON under the checks
// key of request.created: what was looked up, how it came out, and the facts found then.
type RequestCheck struct {
	Kind    string            `json:"kind"`
	Subject string            `json:"subject,omitempty"`
	Status  string            `json:"status"`
	Summary string            `json:"summary,omitempty"`
	URL     string            `json:"url,omitempty"`
	Problem string            `json:"problem,omitempty"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// RequestSignals are a request's misuse signals (grants.Signals), stored as JSON under the
// signals key of request.created.
type RequestSignals struct {
	// Raised names the signals that were on (grants.SignalFirstAccess, ...).
	Raised            []string `json:"raised,omitempty"`
	FirstAccess       bool     `json:"first_access"`
	FirstAccess90d    bool     `json:"first_access_90d"`
	OutsideHours      bool     `json:"outside_hours"`
	Requests24h       int64    `json:"requests_24h"`
	MedianRequests30d float64  `json:"median_requests_30d"`
	DurationRatio     float64  `json:"duration_ratio"`
	BreakGlass        bool     `json:"break_glass"`
	RecentDenial      bool     `json:"recent_denial"`
}

// EventType implements Payload.
func (RequestCreatedData) EventType() string { return RequestCreated }

func (p RequestCreatedData) encode(w *dataWriter) {
	w.str(KeyKind, p.Kind)
	w.dur(KeyDuration, p.Duration)
	w.str(KeyReason, p.Reason)
	w.int(KeyApprovalsNeeded, int64(p.ApprovalsNeeded))
	w.time(KeyPendingUntil, p.PendingUntil, time.RFC3339)
	if p.Signals != nil {
		w.json(KeySignals, p.Signals, 1)
	}
	if len(p.Checks) > 0 {
		w.json(KeyChecks, p.Checks, 1)
	}
}

func (p *RequestCreatedData) decode(r *dataReader) {
	p.Kind, p.Duration, p.Reason = r.str(KeyKind), r.dur(KeyDuration), r.str(KeyReason)
	p.ApprovalsNeeded, p.PendingUntil = r.int(KeyApprovalsNeeded), r.time(KeyPendingUntil)
	if _, ok := r.m[KeySignals]; ok {
		p.Signals = &RequestSignals{}
		r.json(KeySignals, p.Signals)
	}
	if _, ok := r.m[KeyChecks]; ok {
		r.json(KeyChecks, &p.Checks)
	}
}

// RequestApprovedData is the payload of request.approved: by the auto-approve rule (Auto, Rule)
// or by the last approval needed (Approvals).
type RequestApprovedData struct {
	Auto      bool
	Rule      string // the auto-approve rule's source, when Auto
	Approvals Tally  // when not Auto
}

// EventType implements Payload.
func (RequestApprovedData) EventType() string { return RequestApproved }

func (p RequestApprovedData) encode(w *dataWriter) {
	if p.Auto {
		w.str(KeyRule, p.Rule)
		w.str(KeyApprovals, ApprovalsAuto)
		return
	}
	w.str(KeyApprovals, p.Approvals.String())
}

func (p *RequestApprovedData) decode(r *dataReader) {
	v, ok := r.m[KeyApprovals]
	if p.Auto = v == ApprovalsAuto; p.Auto {
		p.Rule = r.str(KeyRule)
		return
	}
	if ok {
		t, err := ParseTally(v)
		if err != nil {
			r.fail(KeyApprovals, v, err)
		}
		p.Approvals = t
	}
}

// ReviewApprovedData is the payload of review.approved.
type ReviewApprovedData struct {
	// Approvals counts the approvals so far, this one included.
	Approvals Tally
	// The StepUp fields say how the approver re-authenticated at the identity provider when
	// the resource asks for step-up approval: the provider (issuer), the person's subject
	// there, the authentication methods (amr) and context class (acr) it reported, and when
	// the login happened. They are left out when empty, so an approval without step-up (and
	// every event written before step-up existed) encodes and hashes as before.
	StepUpIssuer   string
	StepUpSubject  string
	StepUpAMR      []string
	StepUpACR      string
	StepUpAuthTime time.Time
	// Via says how the approver counted as one when it was not plain group membership: "on
	// call for pagerduty:schedule/PABC (on call: bob@example.com)". Left out when empty.
	Via string
}

// EventType implements Payload.
func (ReviewApprovedData) EventType() string { return ReviewApproved }

func (p ReviewApprovedData) encode(w *dataWriter) {
	w.str(KeyApprovals, p.Approvals.String())
	w.opt(KeyStepUpIssuer, p.StepUpIssuer)
	w.opt(KeyStepUpSubject, p.StepUpSubject)
	w.optList(KeyStepUpAMR, p.StepUpAMR)
	w.opt(KeyStepUpACR, p.StepUpACR)
	if !p.StepUpAuthTime.IsZero() {
		w.time(KeyStepUpAuthTime, p.StepUpAuthTime.UTC(), time.RFC3339)
	}
	w.opt(KeyVia, p.Via)
}

func (p *ReviewApprovedData) decode(r *dataReader) {
	if v, ok := r.m[KeyApprovals]; ok {
		t, err := ParseTally(v)
		if err != nil {
			r.fail(KeyApprovals, v, err)
		}
		p.Approvals = t
	}
	p.StepUpIssuer, p.StepUpSubject, p.StepUpACR = r.str(KeyStepUpIssuer), r.str(KeyStepUpSubject), r.str(KeyStepUpACR)
	p.StepUpAMR = r.list(KeyStepUpAMR)
	p.StepUpAuthTime = r.time(KeyStepUpAuthTime)
	p.Via = r.str(KeyVia)
}

// StepUpRefusedData is the payload of stepup.refused: an approval that waited for the
// approver to re-authenticate at the identity provider and was not recorded.
type StepUpRefusedData struct {
	Decision string // approve
	Refused  string // why: wrong_person, stale_login, no_mfa, bad_state, expired_link, idp_error, ...
	// Detail is a short explanation for the auditor (never a token or a code).
	Detail string
	// Subject is the identity provider's subject of the login, when one was checked.
	Subject string
}

// EventType implements Payload.
func (StepUpRefusedData) EventType() string { return StepUpRefused }

func (p StepUpRefusedData) encode(w *dataWriter) {
	w.str(KeyDecision, p.Decision)
	w.str(KeyRefused, p.Refused)
	w.opt(KeyReason, p.Detail)
	w.opt(KeyStepUpSubject, p.Subject)
}

func (p *StepUpRefusedData) decode(r *dataReader) {
	p.Decision, p.Refused, p.Detail, p.Subject = r.str(KeyDecision), r.str(KeyRefused), r.str(KeyReason), r.str(KeyStepUpSubject)
}

// ReviewDeniedData is the payload of review.denied.
type ReviewDeniedData struct{ Reason string }

// EventType implements Payload.
func (ReviewDeniedData) EventType() string { return ReviewDenied }

func (p ReviewDeniedData) encode(w *dataWriter)  { w.str(KeyReason, p.Reason) }
func (p *ReviewDeniedData) decode(r *dataReader) { p.Reason = r.str(KeyReason) }

// RequestDeniedData is the payload of request.denied.
type RequestDeniedData struct{ Reason string }

// EventType implements Payload.
func (RequestDeniedData) EventType() string { return RequestDenied }

func (p RequestDeniedData) encode(w *dataWriter)  { w.str(KeyReason, p.Reason) }
func (p *RequestDeniedData) decode(r *dataReader) { p.Reason = r.str(KeyReason) }

// RequestCancelledData is the payload of request.cancelled: nothing, the event says it all.
type RequestCancelledData struct{}

// EventType implements Payload.
func (RequestCancelledData) EventType() string { return RequestCancelled }

func (RequestCancelledData) encode(*dataWriter)  {}
func (*RequestCancelledData) decode(*dataReader) {}

// RequestExpiredData is the payload of request.expired.
type RequestExpiredData struct{ PendingUntil time.Time }

// EventType implements Payload.
func (RequestExpiredData) EventType() string { return RequestExpired }

func (p RequestExpiredData) encode(w *dataWriter) {
	w.time(KeyPendingUntil, p.PendingUntil, time.RFC3339)
}
func (p *RequestExpiredData) decode(r *dataReader) { p.PendingUntil = r.time(KeyPendingUntil) }

// RequestRefusedData is the payload of request.refused: an ask the policy refused.
type RequestRefusedData struct {
	Kind     string
	Refused  string // the refusal's reason code (grants.Reason*)
	Reason   string // the requester's reason, as typed
	Duration time.Duration
}

// EventType implements Payload.
func (RequestRefusedData) EventType() string { return RequestRefused }

func (p RequestRefusedData) encode(w *dataWriter) {
	w.str(KeyKind, p.Kind)
	w.str(KeyRefused, p.Refused)
	w.str(KeyReason, p.Reason)
	w.optDur(KeyDuration, p.Duration)
}

func (p *RequestRefusedData) decode(r *dataReader) {
	p.Kind, p.Refused, p.Reason, p.Duration = r.str(KeyKind), r.str(KeyRefused), r.str(KeyReason), r.dur(KeyDuration)
}

// ReviewRefusedData is the payload of review.refused: a click by someone who may not decide.
type ReviewRefusedData struct {
	Decision string // approve, deny or breakglass_review
	Refused  string // the refusal's reason code (grants.Reason*)
}

// EventType implements Payload.
func (ReviewRefusedData) EventType() string { return ReviewRefused }

func (p ReviewRefusedData) encode(w *dataWriter) {
	w.str(KeyDecision, p.Decision)
	w.str(KeyRefused, p.Refused)
}

func (p *ReviewRefusedData) decode(r *dataReader) {
	p.Decision, p.Refused = r.str(KeyDecision), r.str(KeyRefused)
}

// GrantActivatingData is the payload of grant.activating.
type GrantActivatingData struct {
	Account    string
	Duration   time.Duration
	ExpiresAt  time.Time
	BreakGlass bool
}

// EventType implements Payload.
func (GrantActivatingData) EventType() string { return GrantActivating }

func (p GrantActivatingData) encode(w *dataWriter) {
	w.str(KeyAccount, p.Account)
	w.dur(KeyDuration, p.Duration)
	w.time(KeyExpiresAt, p.ExpiresAt, time.RFC3339)
	w.flag(KeyBreakGlass, p.BreakGlass)
}

func (p *GrantActivatingData) decode(r *dataReader) {
	p.Account, p.Duration, p.ExpiresAt = r.str(KeyAccount), r.dur(KeyDuration), r.time(KeyExpiresAt)
	p.BreakGlass = r.flag(KeyBreakGlass)
}

// GrantActiveData is the payload of grant.active.
type GrantActiveData struct {
	Attempts  int
	ExpiresAt time.Time
}

// EventType implements Payload.
func (GrantActiveData) EventType() string { return GrantActive }

func (p GrantActiveData) encode(w *dataWriter) {
	w.int(KeyAttempts, int64(p.Attempts))
	w.time(KeyExpiresAt, p.ExpiresAt, time.RFC3339)
}

func (p *GrantActiveData) decode(r *dataReader) {
	p.Attempts, p.ExpiresAt = r.int(KeyAttempts), r.time(KeyExpiresAt)
}

// GrantFailedData is the payload of grant.failed.
type GrantFailedData struct {
	Error    string
	Attempts int
}

// EventType implements Payload.
func (GrantFailedData) EventType() string { return GrantFailed }

func (p GrantFailedData) encode(w *dataWriter) {
	w.str(KeyError, p.Error)
	w.int(KeyAttempts, int64(p.Attempts))
}

func (p *GrantFailedData) decode(r *dataReader) {
	p.Error, p.Attempts = r.str(KeyError), r.int(KeyAttempts)
}

// GrantRevokingData is the payload of grant.revoking.
type GrantRevokingData struct {
	ExpiresAt time.Time
	// Early is a revocation someone asked for before the expiry.
	Early bool
	// State is "activating" when an early revocation caught the grant before it was active.
	State string
	// From is "activating" when the scheduler found the grant expired before it was active.
	From string
	// Note says why accessbot itself ended the grant early ("ticket OPS-42 closed").
	Note string
}

// EventType implements Payload.
func (GrantRevokingData) EventType() string { return GrantRevoking }

func (p GrantRevokingData) encode(w *dataWriter) {
	w.flag(KeyEarly, p.Early)
	w.time(KeyExpiresAt, p.ExpiresAt, time.RFC3339)
	w.opt(KeyState, p.State)
	w.opt(KeyFrom, p.From)
	w.opt(KeyNote, p.Note)
}

func (p *GrantRevokingData) decode(r *dataReader) {
	p.Early, p.ExpiresAt, p.State, p.From = r.flag(KeyEarly), r.time(KeyExpiresAt), r.str(KeyState), r.str(KeyFrom)
	p.Note = r.str(KeyNote)
}

// GrantRevokedData is the payload of grant.revoked: confirmed by the adapter (Lateness,
// Attempts) or forced by an admin (Forced, Note, PreviousState, Attempts, LastError).
type GrantRevokedData struct {
	// Lateness is how long after the expiry the access went, to the millisecond.
	Lateness      time.Duration
	Attempts      int
	Forced        bool
	Note          string
	PreviousState string
	LastError     string
}

// EventType implements Payload.
func (GrantRevokedData) EventType() string { return GrantRevoked }

func (p GrantRevokedData) encode(w *dataWriter) {
	w.int(KeyAttempts, int64(p.Attempts))
	if p.Forced {
		w.flag(KeyForced, true)
		w.str(KeyNote, p.Note)
		w.str(KeyPreviousState, p.PreviousState)
		w.str(KeyLastError, p.LastError)
		return
	}
	w.int(KeyLatenessMs, p.Lateness.Milliseconds())
}

func (p *GrantRevokedData) decode(r *dataReader) {
	p.Attempts, p.Forced = r.int(KeyAttempts), r.flag(KeyForced)
	p.Note, p.PreviousState, p.LastError = r.str(KeyNote), r.str(KeyPreviousState), r.str(KeyLastError)
	p.Lateness = time.Duration(r.int64(KeyLatenessMs)) * time.Millisecond
}

// GrantRevokeFailedData is the payload of grant.revoke_failed.
type GrantRevokeFailedData struct {
	Error         string
	Attempts      int
	NextAttemptAt time.Time
}

// EventType implements Payload.
func (GrantRevokeFailedData) EventType() string { return GrantRevokeFailed }

func (p GrantRevokeFailedData) encode(w *dataWriter) {
	w.str(KeyError, p.Error)
	w.int(KeyAttempts, int64(p.Attempts))
	w.time(KeyNextAttemptAt, p.NextAttemptAt, time.RFC3339)
}

func (p *GrantRevokeFailedData) decode(r *dataReader) {
	p.Error, p.Attempts, p.NextAttemptAt = r.str(KeyError), r.int(KeyAttempts), r.time(KeyNextAttemptAt)
}

// GrantRetryData is the payload of grant.retry: one failed attempt to grant or revoke.
type GrantRetryData struct {
	Op            string // grant or revoke
	Attempt       int
	Error         string
	NextAttemptAt time.Time // to the nanosecond
}

// EventType implements Payload.
func (GrantRetryData) EventType() string { return GrantRetry }

func (p GrantRetryData) encode(w *dataWriter) {
	w.str(KeyOp, p.Op)
	w.int(KeyAttempt, int64(p.Attempt))
	w.str(KeyError, p.Error)
	w.time(KeyNextAttemptAt, p.NextAttemptAt, time.RFC3339Nano)
}

func (p *GrantRetryData) decode(r *dataReader) {
	p.Op, p.Attempt, p.Error, p.NextAttemptAt = r.str(KeyOp), r.int(KeyAttempt), r.str(KeyError), r.time(KeyNextAttemptAt)
}

// GrantExtendedData is the payload of grant.extended: the grant's expiry moved (By, ExpiresAt,
// PreviousExpiresAt, ExtendRequestID), or the target's own expiry could not follow
// (TargetNotExtended, Error).
type GrantExtendedData struct {
	By                time.Duration
	ExpiresAt         time.Time
	PreviousExpiresAt time.Time
	ExtendRequestID   string
	// TargetNotExtended is stored as target_extended "false".
	TargetNotExtended bool
	Error             string
}

// EventType implements Payload.
func (GrantExtendedData) EventType() string { return GrantExtended }

func (p GrantExtendedData) encode(w *dataWriter) {
	if p.TargetNotExtended {
		w.str(KeyTargetExtended, "false")
		w.str(KeyError, p.Error)
		return
	}
	w.dur(KeyBy, p.By)
	w.time(KeyExpiresAt, p.ExpiresAt, time.RFC3339)
	w.time(KeyPreviousExpiresAt, p.PreviousExpiresAt, time.RFC3339)
	w.str(KeyExtendRequestID, p.ExtendRequestID)
}

func (p *GrantExtendedData) decode(r *dataReader) {
	p.TargetNotExtended, p.Error = r.str(KeyTargetExtended) == "false", r.str(KeyError)
	p.By, p.ExpiresAt, p.PreviousExpiresAt = r.dur(KeyBy), r.time(KeyExpiresAt), r.time(KeyPreviousExpiresAt)
	p.ExtendRequestID = r.str(KeyExtendRequestID)
}

// GrantWarnedData is the payload of grant.expiry_warning.
type GrantWarnedData struct {
	ExpiresAt time.Time
	Remaining time.Duration // to the second
}

// EventType implements Payload.
func (GrantWarnedData) EventType() string { return GrantWarned }

func (p GrantWarnedData) encode(w *dataWriter) {
	w.time(KeyExpiresAt, p.ExpiresAt, time.RFC3339)
	w.dur(KeyRemaining, p.Remaining)
}

func (p *GrantWarnedData) decode(r *dataReader) {
	p.ExpiresAt, p.Remaining = r.time(KeyExpiresAt), r.dur(KeyRemaining)
}

// BreakGlassUsedData is the payload of breakglass.used.
type BreakGlassUsedData struct {
	Duration time.Duration
	Reason   string
	GrantID  string
}

// EventType implements Payload.
func (BreakGlassUsedData) EventType() string { return BreakGlassUsed }

func (p BreakGlassUsedData) encode(w *dataWriter) {
	w.dur(KeyDuration, p.Duration)
	w.str(KeyReason, p.Reason)
	w.str(KeyGrantID, p.GrantID)
}

func (p *BreakGlassUsedData) decode(r *dataReader) {
	p.Duration, p.Reason, p.GrantID = r.dur(KeyDuration), r.str(KeyReason), r.str(KeyGrantID)
}

// BreakGlassReviewedData is the payload of breakglass.reviewed.
type BreakGlassReviewedData struct{ Note string }

// EventType implements Payload.
func (BreakGlassReviewedData) EventType() string { return BreakGlassReviewed }

func (p BreakGlassReviewedData) encode(w *dataWriter)  { w.str(KeyNote, p.Note) }
func (p *BreakGlassReviewedData) decode(r *dataReader) { p.Note = r.str(KeyNote) }

// AlertRaisedData is the payload of alert.raised.
type AlertRaisedData struct {
	Alert   string // AlertBreakGlass, AlertRevokeFailed, AlertAccountTaken, or an alerts: rule's name
	Message string
	// Severity is an alerts: rule's severity; empty (and left out) for the built-in alerts.
	Severity string
}

// EventType implements Payload.
func (AlertRaisedData) EventType() string { return AlertRaised }

func (p AlertRaisedData) encode(w *dataWriter) {
	w.str(KeyAlert, p.Alert)
	w.opt(KeyMessage, p.Message)
	w.opt(KeySeverity, p.Severity)
}

func (p *AlertRaisedData) decode(r *dataReader) {
	p.Alert, p.Message, p.Severity = r.str(KeyAlert), r.str(KeyMessage), r.str(KeySeverity)
}

// ConfigLoadedData is the payload of config.loaded.
type ConfigLoadedData struct {
	// ConfigSHA256 is the hex hash of the config file before ${...} expansion.
	ConfigSHA256 string
	Resources    int
	Version      string
}

// EventType implements Payload.
func (ConfigLoadedData) EventType() string { return ConfigLoaded }

func (p ConfigLoadedData) encode(w *dataWriter) {
	w.str(KeyConfigSHA256, p.ConfigSHA256)
	w.int(KeyResources, int64(p.Resources))
	w.str(KeyVersion, p.Version)
}

func (p *ConfigLoadedData) decode(r *dataReader) {
	p.ConfigSHA256, p.Resources, p.Version = r.str(KeyConfigSHA256), r.int(KeyResources), r.str(KeyVersion)
}

// AuthFailedData is the payload of auth.failed: an inbound request a platform's endpoint
// refused.
type AuthFailedData struct {
	Platform, Path, Remote, Reason string
	// Suppressed counts the refusals not recorded since the last one that was.
	Suppressed int
}

// EventType implements Payload.
func (AuthFailedData) EventType() string { return AuthFailed }

func (p AuthFailedData) encode(w *dataWriter) {
	w.str(KeyPlatform, p.Platform)
	w.str(KeyPath, p.Path)
	w.str(KeyRemote, p.Remote)
	w.str(KeyReason, p.Reason)
	w.optInt(KeySuppressed, int64(p.Suppressed))
}

func (p *AuthFailedData) decode(r *dataReader) {
	p.Platform, p.Path, p.Remote, p.Reason = r.str(KeyPlatform), r.str(KeyPath), r.str(KeyRemote), r.str(KeyReason)
	p.Suppressed = r.int(KeySuppressed)
}

// SSHKeyAddedData is the payload of sshkey.added: the key's fingerprint, never the key.
type SSHKeyAddedData struct{ Fingerprint string }

// EventType implements Payload.
func (SSHKeyAddedData) EventType() string { return SSHKeyAdded }

func (p SSHKeyAddedData) encode(w *dataWriter)  { w.str(KeyFingerprint, p.Fingerprint) }
func (p *SSHKeyAddedData) decode(r *dataReader) { p.Fingerprint = r.str(KeyFingerprint) }

// SSHKeyRemovedData is the payload of sshkey.removed.
type SSHKeyRemovedData struct{ Fingerprint string }

// EventType implements Payload.
func (SSHKeyRemovedData) EventType() string { return SSHKeyRemoved }

func (p SSHKeyRemovedData) encode(w *dataWriter)  { w.str(KeyFingerprint, p.Fingerprint) }
func (p *SSHKeyRemovedData) decode(r *dataReader) { p.Fingerprint = r.str(KeyFingerprint) }

// ScanFinding is one holder a standing-privilege scan found that no active grant explains, as
// scan.completed lists it (grants.ScanFinding is this type).
type ScanFinding struct {
	Resource string `json:"resource"`
	// Account is the holder's account at the target, as the adapter lists it.
	Account string `json:"account"`
	// Detail says what the access is, in the target's words (a role, a group).
	Detail string `json:"detail,omitempty"`
	// GrantID is the grant the target names, or the grant of the account that no longer
	// explains it (revoke_failed, overdue).
	GrantID string `json:"grant_id,omitempty"`
	// Reason is one of the grants.Scan* reasons.
	Reason string `json:"reason"`
	// Why says it for people.
	Why string `json:"why"`
}

// ScanCompletedData is the payload of scan.completed.
type ScanCompletedData struct {
	Resources []string // the resources scanned
	Findings  int      // how many holders no grant explains
	Errors    int      // how many resources could not be listed
	// Unlistable are the resources whose adapter cannot list holders.
	Unlistable []string
	// List is at most 50 of the findings, details clipped.
	List []ScanFinding
	// Alert ("standing_access") and Message are set when the scan found anything.
	Alert, Message string
	// ErrorList maps a resource to why it could not be listed.
	ErrorList map[string]string
}

// EventType implements Payload.
func (ScanCompletedData) EventType() string { return ScanCompleted }

func (p ScanCompletedData) encode(w *dataWriter) {
	w.list(KeyResources, p.Resources)
	w.int(KeyFindings, int64(p.Findings))
	w.int(KeyErrors, int64(p.Errors))
	w.optList(KeyUnlistable, p.Unlistable)
	w.json(KeyList, p.List, len(p.List))
	w.opt(KeyAlert, p.Alert)
	w.opt(KeyMessage, p.Message)
	w.json(KeyErrorList, p.ErrorList, len(p.ErrorList))
}

func (p *ScanCompletedData) decode(r *dataReader) {
	p.Resources, p.Unlistable = r.list(KeyResources), r.list(KeyUnlistable)
	p.Findings, p.Errors = r.int(KeyFindings), r.int(KeyErrors)
	p.Alert, p.Message = r.str(KeyAlert), r.str(KeyMessage)
	r.json(KeyList, &p.List)
	r.json(KeyErrorList, &p.ErrorList)
}

// IdentityLinkRequestedData is the payload of identity.link_requested.
type IdentityLinkRequestedData struct {
	Platform, PlatformID string
	Person               string // the email the account asks to be linked to
	Name                 string // the account's display name
}

// EventType implements Payload.
func (IdentityLinkRequestedData) EventType() string { return IdentityLinkRequested }

func (p IdentityLinkRequestedData) encode(w *dataWriter) {
	w.str(KeyPlatform, p.Platform)
	w.str(KeyPlatformID, p.PlatformID)
	w.str(KeyPerson, p.Person)
	w.str(KeyName, p.Name)
}

func (p *IdentityLinkRequestedData) decode(r *dataReader) {
	p.Platform, p.PlatformID, p.Person, p.Name = r.str(KeyPlatform), r.str(KeyPlatformID), r.str(KeyPerson), r.str(KeyName)
}

// IdentityLinkedData is the payload of identity.linked.
type IdentityLinkedData struct {
	Platform, PlatformID, Person string
	Via                          string // how it was confirmed: by code or by an admin
	ConfirmedOn                  string // the platform the confirmation came from
	// Name is the account's display name when it asked, as the person was shown it before
	// confirming; empty in events written before it was recorded.
	Name string
}

// EventType implements Payload.
func (IdentityLinkedData) EventType() string { return IdentityLinked }

func (p IdentityLinkedData) encode(w *dataWriter) {
	w.str(KeyPlatform, p.Platform)
	w.str(KeyPlatformID, p.PlatformID)
	w.str(KeyPerson, p.Person)
	w.str(KeyVia, p.Via)
	w.str(KeyConfirmedOn, p.ConfirmedOn)
	// Left out when empty, so that older events encode as they were written.
	w.opt(KeyName, p.Name)
}

func (p *IdentityLinkedData) decode(r *dataReader) {
	p.Platform, p.PlatformID, p.Person = r.str(KeyPlatform), r.str(KeyPlatformID), r.str(KeyPerson)
	p.Via, p.ConfirmedOn, p.Name = r.str(KeyVia), r.str(KeyConfirmedOn), r.str(KeyName)
}

// IdentityUnlinkedData is the payload of identity.unlinked. Person is filled by the store,
// which knows whose the removed link was.
type IdentityUnlinkedData struct {
	Platform, PlatformID, Person string
}

// EventType implements Payload.
func (IdentityUnlinkedData) EventType() string { return IdentityUnlinked }

func (p IdentityUnlinkedData) encode(w *dataWriter) {
	// Each is left out when empty: the store decodes the event to add Person and must not add
	// keys the caller left out.
	w.opt(KeyPlatform, p.Platform)
	w.opt(KeyPlatformID, p.PlatformID)
	w.opt(KeyPerson, p.Person)
}

func (p *IdentityUnlinkedData) decode(r *dataReader) {
	p.Platform, p.PlatformID, p.Person = r.str(KeyPlatform), r.str(KeyPlatformID), r.str(KeyPerson)
}

// DigestPostedData is the payload of digest.posted: the digest's window, the head of the chain
// it shows, and the counts it summarises.
type DigestPostedData struct {
	Since, Until time.Time // written in UTC
	Head         Head
	Events       int64
	Requests     int
	Grants       int // activated
	BreakGlass   int
	Unreviewed   int // break-glass uses not reviewed
	Revocations  int // failed, late or forced
	Findings     int
}

// EventType implements Payload.
func (DigestPostedData) EventType() string { return DigestPosted }

func (p DigestPostedData) encode(w *dataWriter) {
	w.time(KeySince, p.Since.UTC(), time.RFC3339)
	w.time(KeyUntil, p.Until.UTC(), time.RFC3339)
	w.int(KeyHeadSeq, p.Head.Seq)
	w.str(KeyHeadHash, p.Head.Hash)
	w.int(KeyEvents, p.Events)
	w.int(KeyRequests, int64(p.Requests))
	w.int(KeyGrants, int64(p.Grants))
	w.int(KeyBreakGlass, int64(p.BreakGlass))
	w.int(KeyUnreviewed, int64(p.Unreviewed))
	w.int(KeyRevocations, int64(p.Revocations))
	w.int(KeyFindings, int64(p.Findings))
}

func (p *DigestPostedData) decode(r *dataReader) {
	p.Since, p.Until = r.time(KeySince), r.time(KeyUntil)
	p.Head = Head{Seq: r.int64(KeyHeadSeq), Hash: r.str(KeyHeadHash)}
	p.Events, p.Requests, p.Grants = r.int64(KeyEvents), r.int(KeyRequests), r.int(KeyGrants)
	p.BreakGlass, p.Unreviewed = r.int(KeyBreakGlass), r.int(KeyUnreviewed)
	p.Revocations, p.Findings = r.int(KeyRevocations), r.int(KeyFindings)
}

// CheckpointPublishedData is the payload of checkpoint.published: the checkpoint (tree size,
// root hash in standard base64, the signed note whole, as docs/transparency.md describes it),
// where it went, and for the witness channel the start of the publish interval it stands for
// (one per interval, however many replicas).
type CheckpointPublishedData struct {
	Size int64
	Root string
	Note string
	To   string    // PublishedInDigest or PublishedToWitness
	Slot time.Time // witness only: the interval's start, written in UTC
}

// EventType implements Payload.
func (CheckpointPublishedData) EventType() string { return CheckpointPublished }

func (p CheckpointPublishedData) encode(w *dataWriter) {
	w.int(KeyTreeSize, p.Size)
	w.str(KeyTreeRoot, p.Root)
	w.str(KeyNote, p.Note)
	w.str(KeyPublishedTo, p.To)
	if !p.Slot.IsZero() {
		w.time(KeySlot, p.Slot.UTC(), time.RFC3339)
	}
}

func (p *CheckpointPublishedData) decode(r *dataReader) {
	p.Size, p.Root, p.Note, p.To = r.int64(KeyTreeSize), r.str(KeyTreeRoot), r.str(KeyNote), r.str(KeyPublishedTo)
	p.Slot = r.time(KeySlot)
}

// Why identity.refused refused an account (IdentityRefusedData.Refused).
const (
	RefusedGuest            = "guest"             // a multi- or single-channel guest
	RefusedExternal         = "external"          // from another organization (Slack Connect)
	RefusedTeam             = "team"              // a workspace not among the allowed ones
	RefusedEmailUnconfirmed = "email_unconfirmed" // the platform says the email is unconfirmed
	RefusedEmailDomain      = "email_domain"      // no email, or one outside the allowed domains
)

// IdentityRefusedData is the payload of identity.refused: who the platform said the account
// is, and why accessbot would not act for it.
type IdentityRefusedData struct {
	Platform, PlatformID string
	Refused              string // one of the Refused* values
	// Team and Enterprise are the workspace and Enterprise Grid organization the platform
	// names for the account; Person is the email it shows. Each is left out when empty.
	Team, Enterprise, Person string
}

// EventType implements Payload.
func (IdentityRefusedData) EventType() string { return IdentityRefused }

func (p IdentityRefusedData) encode(w *dataWriter) {
	w.str(KeyPlatform, p.Platform)
	w.str(KeyPlatformID, p.PlatformID)
	w.str(KeyRefused, p.Refused)
	w.opt(KeyTeam, p.Team)
	w.opt(KeyEnterprise, p.Enterprise)
	w.opt(KeyPerson, p.Person)
}

func (p *IdentityRefusedData) decode(r *dataReader) {
	p.Platform, p.PlatformID, p.Refused = r.str(KeyPlatform), r.str(KeyPlatformID), r.str(KeyRefused)
	p.Team, p.Enterprise, p.Person = r.str(KeyTeam), r.str(KeyEnterprise), r.str(KeyPerson)
}
