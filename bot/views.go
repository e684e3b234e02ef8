package bot

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// Every function here is pure: it turns domain data into a View, without I/O, so that each
// message can be checked against a golden file. Views never read Grant.LeaseData.

// Snapshot is what a message about a request shows: the request, its reviews, the grant it made
// (for an extend request, the grant it extends), the resource as configured now, and how people
// are shown.
type Snapshot struct {
	Request grants.Request
	Reviews []grants.Review
	Grant   *grants.Grant
	// Resource is nil when the resource is no longer configured.
	Resource *grants.Resource
	// Names maps person IDs to display names; an ID without one is shown as it is.
	Names map[string]string
}

// names shows people by name: the requester by the name they gave, others as Names says.
func (s Snapshot) names() names {
	n := names{}
	for id, name := range s.Names {
		n[id] = name
	}
	if n[s.Request.Requester] == "" && s.Request.RequesterName != "" {
		n[s.Request.Requester] = s.Request.RequesterName
	}
	return n
}

func (s Snapshot) requester() string {
	if s.Request.RequesterName != "" {
		return s.Request.RequesterName
	}
	return s.names().of(s.Request.Requester)
}

func (s Snapshot) approvers() []string {
	var out []string
	for _, rv := range s.Reviews {
		if rv.Decision == grants.Approve {
			out = append(out, rv.Reviewer)
		}
	}
	return out
}

func (s Snapshot) resourceText() string {
	if s.Resource != nil && s.Resource.Description != "" {
		return s.Request.Resource + " (" + s.Resource.Description + ")"
	}
	return s.Request.Resource
}

func reasonText(r string) string {
	if strings.TrimSpace(r) == "" {
		return "(none given)"
	}
	return r
}

// ApprovalView is the message in the resource's approver channel, for every state of the request
// and of the grant it made. Approve and Deny show while the request is pending.
func ApprovalView(s Snapshot, now time.Time) View {
	r := s.Request
	n := s.names()
	v := View{}
	if r.Kind == grants.KindExtend {
		v.Title = fmt.Sprintf("%s asks to extend their access to %s by %s", s.requester(), r.Resource, Duration(r.Duration))
	} else {
		v.Title = fmt.Sprintf("%s requests %s for %s", s.requester(), r.Resource, Duration(r.Duration))
	}
	v.Fields = []Field{
		{Label: "Requester", Value: personText(s.requester(), r.Requester)},
		{Label: "Resource", Value: s.resourceText()},
		{Label: "Duration", Value: Duration(r.Duration)},
		{Label: "Reason", Value: reasonText(r.Reason)},
		{Label: "Policy", Value: policyField(r, s.Resource)},
	}
	if sig := signalsText(r.Signals); sig != "" {
		v.Fields = append(v.Fields, Field{Label: "Signals", Value: sig})
	}
	for _, c := range r.Checks {
		v.Fields = append(v.Fields, Field{Label: checkLabel(c.Kind), Value: checkText(c)})
	}
	if ap := s.approvers(); len(ap) > 0 {
		v.Fields = append(v.Fields, Field{Label: "Approvals", Value: fmt.Sprintf("%d of %d: %s", len(ap), max(r.ApprovalsNeeded, 1), n.list(ap))})
	}
	if r.Kind == grants.KindExtend && s.Grant != nil {
		v.Fields = append(v.Fields, Field{Label: "Grant", Value: fmt.Sprintf("%s, ends %s", s.Grant.ID, At(s.Grant.ExpiresAt, now))})
	}
	v.Text, v.Tone = approvalStatus(s, now)
	if r.State == grants.RequestPending && now.Before(r.PendingUntil) {
		v.Notify = notifyOf(r.Checks)
		v.Buttons = []Button{
			{ActionID: ActionApprove, Label: "Approve", Value: r.ID, Style: StylePrimary},
			{ActionID: ActionDeny, Label: "Deny", Value: r.ID, Style: StyleDanger},
		}
	}
	v.Footer = "Request " + r.ID
	if s.Grant != nil {
		v.Footer += " · grant " + s.Grant.ID
	}
	return v
}

// signalsText is the misuse signals a request raised, as approvers read them: "first access ·
// outside working hours"; empty for none, and then the card has no Signals line.
func signalsText(names []string) string {
	labels := make([]string, 0, len(names))
	for _, n := range names {
		labels = append(labels, grants.SignalLabel(n))
	}
	return strings.Join(labels, " · ")
}

// notifyOf is the people a pending request's checks call on (the people on call), once each.
func notifyOf(cs []grants.Check) []string {
	var out []string
	for _, c := range cs {
		for _, p := range c.Notify {
			if p = grants.CanonicalPerson(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// checkLabel names an outside check's line on the approval card.
func checkLabel(kind string) string {
	switch kind {
	case "oncall":
		return "On call"
	default:
		return capitalize(strings.ReplaceAll(kind, "_", " "))
	}
}

// checkText is one outside check as approvers read it: what was looked up, what was found, and
// what failed or could not be checked ("INC-42: Open · P1 · Database down").
func checkText(c grants.Check) string {
	var parts []string
	head := c.Subject
	if c.URL != "" {
		head = strings.TrimSpace(head + " " + c.URL)
	}
	switch {
	case head != "" && c.Summary != "":
		parts = append(parts, head+": "+c.Summary)
	case head != "":
		parts = append(parts, head)
	case c.Summary != "":
		parts = append(parts, c.Summary)
	}
	switch c.Status {
	case grants.CheckFailed:
		parts = append(parts, "Failed: "+c.Problem)
	case grants.CheckUnknown:
		parts = append(parts, "Not checked: "+c.Problem)
	}
	return strings.TrimSpace(strings.Join(parts, "\n"))
}

func personText(name, id string) string {
	if name == "" || name == id {
		return id
	}
	return name + " (" + id + ")"
}

// approvalStatus says where a request (and its grant) is, in one or two sentences.
func approvalStatus(s Snapshot, now time.Time) (string, Tone) {
	r := s.Request
	n := s.names()
	switch r.State {
	case grants.RequestPending:
		ap := s.approvers()
		if !now.Before(r.PendingUntil) {
			return "Expired unanswered at " + At(r.PendingUntil, now) + ".", ToneNeutral
		}
		left := max(r.ApprovalsNeeded, 1) - len(ap)
		if len(ap) == 0 {
			return fmt.Sprintf("Waiting for %s until %s.", policyText(r.ApprovalsNeeded, s.Resource), At(r.PendingUntil, now)), TonePending
		}
		return fmt.Sprintf("%d of %d approvals: %s. Waiting for %d more until %s.",
			len(ap), max(r.ApprovalsNeeded, 1), n.list(ap), left, At(r.PendingUntil, now)), TonePending
	case grants.RequestDenied:
		text := "Denied by " + n.of(r.DecidedBy)
		if r.Note != "" {
			text += ": " + r.Note
		}
		return text + ".", ToneDanger
	case grants.RequestCancelled:
		return "Cancelled by " + n.of(r.DecidedBy) + ".", ToneNeutral
	case grants.RequestExpired:
		return "Expired unanswered at " + At(r.DecidedAt, now) + ".", ToneNeutral
	}
	// Approved: what follows is the grant's story.
	approved := "Approved by " + n.list(s.approvers())
	switch {
	case r.DecidedBy == grants.PolicyActor:
		approved = "Approved automatically by policy"
		if rule := autoApproveRule(r); rule != "" {
			approved += " (rule: " + rule + ")"
		}
	case len(s.approvers()) == 0:
		approved = "Approved by " + n.of(r.DecidedBy)
	}
	if r.Kind == grants.KindExtend {
		if s.Grant == nil {
			return approved + ".", ToneSuccess
		}
		return fmt.Sprintf("%s: grant %s now ends %s.", approved, s.Grant.ID, At(s.Grant.ExpiresAt, now)), ToneSuccess
	}
	if s.Grant == nil {
		return approved + ". Granting access…", ToneSuccess
	}
	status, tone := grantStatus(*s.Grant, n, now)
	return approved + ". " + status, tone
}

// policyField is the card's Policy line: what the request needs while it waits, and, once the
// policy approved it by itself, that it did and by which rule (the approvals it would otherwise
// have needed no longer apply).
func policyField(r grants.Request, res *grants.Resource) string {
	if r.DecidedBy != grants.PolicyActor {
		return policyText(r.ApprovalsNeeded, res)
	}
	if rule := autoApproveRule(r); rule != "" {
		return "Auto-approved by its rule: " + rule
	}
	return "Auto-approved by its rule"
}

// autoApproveRule is the auto-approve rule that approved the request (from its note), shortened
// for a message; empty when the note names none.
func autoApproveRule(r grants.Request) string {
	rule, ok := strings.CutPrefix(r.Note, "auto-approved by rule: ")
	if !ok || rule == "" {
		return ""
	}
	return truncate(rule, 80)
}

// grantStatus says where a grant is.
func grantStatus(g grants.Grant, n names, now time.Time) (string, Tone) {
	switch g.State {
	case grants.GrantActivating:
		return "Granting access…", ToneSuccess
	case grants.GrantActive:
		if !g.ExpiresAt.After(now) {
			return "Expired at " + At(g.ExpiresAt, now) + "; removing access…", ToneNeutral
		}
		return "Granted until " + At(g.ExpiresAt, now) + ".", ToneSuccess
	case grants.GrantRevoking:
		if g.RevokeNote != "" {
			return "Ended early by accessbot: " + g.RevokeNote + "; removing access…", ToneNeutral
		}
		if early(g) {
			return "Revoked early by " + n.of(g.RevokedBy) + "; removing access…", ToneNeutral
		}
		return "Expired at " + At(g.ExpiresAt, now) + "; removing access…", ToneNeutral
	case grants.GrantRevoked:
		if g.RevokeNote != "" {
			return "Ended early by accessbot at " + At(g.RevokedAt, now) + ": " + g.RevokeNote + ".", ToneNeutral
		}
		if early(g) {
			return "Revoked early by " + n.of(g.RevokedBy) + " at " + At(g.RevokedAt, now) + ".", ToneNeutral
		}
		return "Ended on time at " + At(g.ExpiresAt, now) + "; access removed.", ToneNeutral
	case grants.GrantFailed:
		return "Granting failed: the access was not given.", ToneDanger
	case grants.GrantRevokeFailed:
		return "Removing the access keeps failing since " + At(g.ExpiresAt, now) +
			"; accessbot keeps trying and security has been alerted.", ToneDanger
	}
	return "Grant " + g.ID + " is " + string(g.State) + ".", ToneNeutral
}

// early reports whether a person (not expiry) ended the grant.
func early(g grants.Grant) bool {
	return g.RevokedBy != "" && g.RevokedBy != grants.System.ID
}

// BreakGlassView is the loud announcement of a break-glass use, posted to the approver channel
// and the security channel and kept up to date until it has been reviewed.
func BreakGlassView(s Snapshot, now time.Time) View {
	r := s.Request
	n := s.names()
	v := View{
		Title: fmt.Sprintf("BREAK-GLASS: %s took %s for %s without approval", s.requester(), r.Resource, Duration(r.Duration)),
		Text: fmt.Sprintf("Access was granted at once, without approval. An approver of %s or an admin must review it.",
			r.Resource),
		Fields: []Field{
			{Label: "Requester", Value: personText(s.requester(), r.Requester)},
			{Label: "Resource", Value: s.resourceText()},
			{Label: "Duration", Value: Duration(r.Duration)},
			{Label: "Reason", Value: reasonText(r.Reason)},
		},
		Tone:   ToneDanger,
		Footer: "Request " + r.ID,
	}
	if s.Grant == nil {
		return v
	}
	g := *s.Grant
	status, _ := grantStatus(g, n, now)
	review := "Not reviewed yet."
	if g.ReviewedBy != "" {
		review = "Reviewed by " + n.of(g.ReviewedBy) + " at " + At(g.ReviewedAt, now) + "."
		v.Tone = ToneWarning
	}
	v.Fields = append(v.Fields, Field{Label: "Status", Value: status}, Field{Label: "Review", Value: review})
	v.Footer += " · grant " + g.ID
	if g.ReviewedBy == "" {
		v.Buttons = append(v.Buttons, Button{ActionID: ActionReview, Label: "Mark reviewed", Value: g.ID, Style: StylePrimary})
	}
	if g.State == grants.GrantActive || g.State == grants.GrantActivating {
		v.Buttons = append(v.Buttons, Button{ActionID: ActionRevoke, Label: "Revoke now", Value: g.ID, Style: StyleDanger})
	}
	return v
}

// DMView is the requester's direct message about an audit event, from the state now. ok is false
// for events the requester is not told about (their own commands answer them already).
func DMView(e audit.Event, s Snapshot, now time.Time) (v View, ok bool) {
	r := s.Request
	n := s.names()
	what := "your request for " + r.Resource
	if r.Kind == grants.KindExtend {
		what = "your request to extend " + r.Resource
	}
	footer := "Request " + r.ID
	if s.Grant != nil {
		footer += " · grant " + s.Grant.ID
	}
	switch e.Type {
	case audit.ReviewApproved:
		t, partial := partialTally(e)
		if !partial {
			return View{}, false // request.approved follows in the same change
		}
		return View{
			Title:  fmt.Sprintf("%s approved %s", n.of(e.Actor), what),
			Text:   fmt.Sprintf("%d of %d approvals. Waiting for %d more until %s.", t.Got, t.Need, t.Need-t.Got, At(r.PendingUntil, now)),
			Tone:   TonePending,
			Footer: footer,
		}, true
	case audit.RequestApproved:
		if r.Kind == grants.KindExtend {
			return View{}, false // grant.extended says what changed
		}
		by := "Approved by " + n.list(s.approvers())
		if e.Actor == grants.PolicyActor {
			by = "Approved automatically by policy"
			if rule := autoApproveRule(r); rule != "" {
				by += " (rule: " + rule + ")"
			}
		} else if len(s.approvers()) == 0 {
			by = "Approved by " + n.of(e.Actor)
		}
		return View{
			Title:  capitalize(what) + " was approved",
			Text:   by + ". Granting access now; you will get a message when it is ready.",
			Tone:   ToneSuccess,
			Footer: footer,
		}, true
	case audit.RequestDenied:
		text := "Denied by " + n.of(e.Actor)
		if p, _ := audit.Decode[audit.RequestDeniedData](e); p.Reason != "" {
			text += ": " + p.Reason
		}
		return View{Title: capitalize(what) + " was denied", Text: text + ".", Tone: ToneDanger, Footer: footer}, true
	case audit.RequestExpired:
		return View{
			Title: capitalize(what) + " expired",
			Text: fmt.Sprintf("Nobody decided it before %s. Ask again, or ask an approver (%s) to look.",
				At(r.PendingUntil, now), approversText(s.Resource)),
			Tone:   ToneNeutral,
			Footer: footer,
		}, true
	}
	if s.Grant == nil {
		return View{}, false
	}
	g := *s.Grant
	switch e.Type {
	case audit.GrantActive:
		text := "Until " + At(g.ExpiresAt, now)
		if g.Account != "" {
			text += ", as " + g.Account
		}
		text += ". Press I'm done (or " + code("/access revoke "+g.ID) + ") when you have finished."
		if g.State != grants.GrantActive {
			status, _ := grantStatus(g, n, now)
			text = "It has moved on since: " + status
		}
		return View{
			Title:   "Your access to " + g.Resource + " is active",
			Text:    text,
			Buttons: grantButtons(g, now),
			Tone:    ToneSuccess,
			Footer:  footer,
		}, true
	case audit.GrantFailed:
		text := "Nothing was granted."
		if p, _ := audit.Decode[audit.GrantFailedData](e); p.Error != "" {
			text = "The target refused: " + p.Error + ". Nothing was granted."
		}
		return View{
			Title:  "Your access to " + g.Resource + " could not be granted",
			Text:   text + " Ask an admin to check the resource, then request again.",
			Tone:   ToneDanger,
			Footer: footer,
			Ended:  g.ID,
		}, true
	case audit.GrantRevoked:
		var text string
		switch {
		case g.RevokedBy == g.Subject:
			text = "You ended it at " + At(g.RevokedAt, now) + "."
		case g.RevokeNote != "":
			text = "accessbot ended it at " + At(g.RevokedAt, now) + ": " + g.RevokeNote + "."
		case early(g):
			text = "Revoked by " + n.of(g.RevokedBy) + " at " + At(g.RevokedAt, now) + "."
		default:
			text = "It expired at " + At(g.ExpiresAt, now) + " and has been removed."
		}
		return View{Title: "Your access to " + g.Resource + " has ended", Text: text, Tone: ToneNeutral, Footer: footer, Ended: g.ID}, true
	case audit.GrantRevokeFailed:
		return View{
			Title: "Removing your access to " + g.Resource + " keeps failing",
			Text: "Stop using it: it ended at " + At(g.ExpiresAt, now) +
				". accessbot keeps trying to remove it, and security has been alerted.",
			Tone:   ToneDanger,
			Footer: footer,
			Ended:  g.ID,
		}, true
	case audit.GrantExtended:
		p, _ := audit.Decode[audit.GrantExtendedData](e)
		if p.TargetNotExtended || e.Actor == grants.System.ID {
			return View{}, false
		}
		until := g.ExpiresAt
		if !p.ExpiresAt.IsZero() && g.State != grants.GrantActive {
			until = p.ExpiresAt
		}
		return View{
			Title:   "Your access to " + g.Resource + " was extended",
			Text:    "By " + audit.FormatDuration(p.By) + ": it now ends " + At(until, now) + ".",
			Buttons: grantButtons(g, now),
			Tone:    ToneSuccess,
			Footer:  footer,
		}, true
	case audit.GrantWarned:
		if g.State != grants.GrantActive || !g.ExpiresAt.After(now) {
			return View{}, false // already over: the end has its own message
		}
		return ExpiryWarningView(g, now), true
	case audit.BreakGlassReviewed:
		text := "Reviewed by " + n.of(e.Actor)
		if p, _ := audit.Decode[audit.BreakGlassReviewedData](e); p.Note != "" {
			text += ": " + p.Note
		}
		return View{Title: "Your break-glass use of " + g.Resource + " was reviewed", Text: text + ".", Tone: ToneNeutral, Footer: footer}, true
	}
	return View{}, false
}

// tally reads a review's "2/3".
// partialTally is the approvals a review.approved counts, and whether more are needed.
func partialTally(e audit.Event) (audit.Tally, bool) {
	p, err := audit.Decode[audit.ReviewApprovedData](e)
	return p.Approvals, err == nil && p.Approvals.Partial()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// grantButtons are what the holder of an active grant can do: extend it, or end it.
func grantButtons(g grants.Grant, now time.Time) []Button {
	if g.State != grants.GrantActive || !g.ExpiresAt.After(now) {
		return nil
	}
	return []Button{
		{ActionID: ActionExtend, Label: "Extend", Value: g.ID},
		{ActionID: ActionRevoke, Label: "I'm done", Value: g.ID, Style: StyleDanger},
	}
}

// ExpiryWarningView warns the holder that their access ends soon.
func ExpiryWarningView(g grants.Grant, now time.Time) View {
	return View{
		Title:   "Your access to " + g.Resource + " ends " + Relative(g.ExpiresAt, now),
		Text:    "At " + At(g.ExpiresAt, now) + ". Extend it if you need more time, or press I'm done if you have finished.",
		Buttons: grantButtons(g, now),
		Tone:    ToneWarning,
		Footer:  "Grant " + g.ID,
	}
}

// SecretView carries an adapter's secret to the requester, by DM only. It is never stored.
func SecretView(g grants.Grant, s *adapters.Secret, now time.Time) View {
	label := s.Label
	if label == "" {
		label = s.Kind
	}
	return View{
		Title: "Your " + s.Kind + " for " + g.Resource,
		Text: "Shown once: accessbot does not keep it, so copy it now. It stops working when your access ends, " +
			At(g.ExpiresAt, now) + ".",
		Secret: &Secret{Label: label, Value: s.Value, FileName: SecretFileName(g.Resource, s.Kind)},
		Tone:   ToneWarning,
		Footer: "Grant " + g.ID,
	}
}

// SecretFileName names the file a secret goes in where a platform sends it as one:
// "<resource>.<kind>" ("k8s-prod.kubeconfig"), every character but letters, digits, '.', '-'
// and '_' made a '-' (an exec or webhook adapter chooses its own kind), each part at most 64
// bytes.
func SecretFileName(resource, kind string) string {
	clean := func(s, empty string) string {
		s = strings.Trim(strings.Map(func(r rune) rune {
			if r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
				return r
			}
			return '-'
		}, s), ".-")
		if len(s) > 64 {
			s = s[:64]
		}
		if s == "" {
			return empty
		}
		return s
	}
	return clean(resource, "access") + "." + clean(kind, "secret")
}

// SecretFailedView tells the requester that their secret could not be delivered.
func SecretFailedView(g grants.Grant) View {
	return View{
		Title: "Your credentials for " + g.Resource + " could not be delivered",
		Text: "accessbot does not keep them, so they cannot be sent again. End this grant with " +
			code("/access revoke "+g.ID) + " and request access again.",
		Buttons: []Button{{ActionID: ActionRevoke, Label: "I'm done", Value: g.ID, Style: StyleDanger}},
		Tone:    ToneDanger,
		Footer:  "Grant " + g.ID,
	}
}

// AlertView is an alert from the engine (a revocation that keeps failing, say) for the security
// channel.
func AlertView(e audit.Event, now time.Time) View {
	if e.Type == audit.ScanCompleted {
		return ScanAlertView(e, now)
	}
	p, _ := audit.Decode[audit.AlertRaisedData](e)
	kind := p.Alert
	title := "Alert"
	switch kind {
	case "revoke_failed":
		title = "Revocation failing on " + e.Resource
	case "breakglass":
		title = "Break-glass used on " + e.Resource
	case "":
	default:
		title = "Alert: " + strings.ReplaceAll(kind, "_", " ")
		if e.Resource != "" {
			title += " on " + e.Resource
		}
	}
	v := View{Title: title, Text: p.Message, Tone: ToneDanger}
	if p.Severity != "" {
		v.Fields = append(v.Fields, Field{Label: "Severity", Value: p.Severity})
	}
	if e.Subject != "" {
		v.Fields = append(v.Fields, Field{Label: "Person", Value: e.Subject})
	}
	if e.Resource != "" {
		v.Fields = append(v.Fields, Field{Label: "Resource", Value: e.Resource})
	}
	if e.GrantID != "" {
		v.Fields = append(v.Fields, Field{Label: "Grant", Value: e.GrantID})
	}
	v.Footer = fmt.Sprintf("Audit event #%d at %s", e.Seq, At(e.At, now))
	return v
}

// maxScanFields bounds the holders a scan alert shows; the audit event and `accessbot scan`
// have them all.
const maxScanFields = 20

// ScanAlertView is a standing-privilege scan that found access no active grant explains, for the
// security channel: one field per holder, then the resources that could not be listed.
func ScanAlertView(e audit.Event, now time.Time) View {
	v := View{Tone: ToneDanger, Footer: fmt.Sprintf("Audit event #%d at %s", e.Seq, At(e.At, now))}
	s, err := grants.DecodeScanEvent(e)
	if err != nil {
		p, _ := audit.Decode[audit.ScanCompletedData](e)
		v.Title, v.Text = "Standing access found", p.Message
		return v
	}
	var resources []string
	for _, f := range s.List {
		if !slices.Contains(resources, f.Resource) {
			resources = append(resources, f.Resource)
		}
	}
	where := ""
	switch n := len(resources); {
	case n == 1:
		where = " on " + resources[0]
	case n > 1 && n <= 3:
		where = " on " + strings.Join(resources[:n-1], ", ") + " and " + resources[n-1]
	case n > 3:
		where = fmt.Sprintf(" on %d resources", n)
	}
	holders := "1 holder"
	if s.Findings != 1 {
		holders = fmt.Sprintf("%d holders", s.Findings)
	}
	v.Title = fmt.Sprintf("Standing access found: %s%s no grant explains", holders, where)
	v.Text = "The standing-privilege scan found access at the target that no active grant explains: " +
		"granted by hand, left by a revocation that silently failed, or kept past its expiry. " +
		"Remove it at the target, or add the holder to scan.ignore if it is meant to stay."
	shown := s.List[:min(len(s.List), maxScanFields)]
	for _, f := range shown {
		value := f.Why
		if f.Detail != "" {
			value = f.Detail + ": " + f.Why
		}
		v.Fields = append(v.Fields, Field{Label: f.Resource + " · " + f.Account, Value: value})
	}
	if s.Findings > len(shown) {
		v.Text += fmt.Sprintf("\n\nShowing %d of %d; %s lists them all.", len(shown), s.Findings, code("accessbot scan"))
	}
	names := make([]string, 0, len(s.Errors))
	for name := range s.Errors {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v.Fields = append(v.Fields, Field{Label: "Not scanned: " + name, Value: s.Errors[name]})
	}
	return v
}

// DeliveryFailedView tells the security channel that a message could not be delivered.
func DeliveryFailedView(d Delivery, errText string) View {
	what := string(d.Kind) + " message"
	switch d.Kind {
	case DeliverApproval:
		what = "approval message"
	case DeliverDM, DeliverNotice:
		if d.Person != "" {
			what = "direct message to " + d.Person
		}
	}
	v := View{
		Title: "A chat message could not be delivered",
		Text:  fmt.Sprintf("The %s on %s failed and will not be retried: %s", what, d.Platform, errText),
		Tone:  ToneDanger,
	}
	if d.RequestID != "" {
		v.Fields = append(v.Fields, Field{Label: "Request", Value: d.RequestID})
	}
	if d.GrantID != "" {
		v.Fields = append(v.Fields, Field{Label: "Grant", Value: d.GrantID})
	}
	if d.Channel != "" {
		v.Fields = append(v.Fields, Field{Label: "Channel", Value: d.Channel})
	}
	return v
}

// RequestedView answers `/access request` (and the request form).
func RequestedView(out grants.Outcome, res *grants.Resource, now time.Time) View {
	r := out.Request
	v := View{Footer: "Request " + r.ID}
	fields := []Field{
		{Label: "Resource", Value: r.Resource},
		{Label: "Duration", Value: Duration(r.Duration)},
		{Label: "Reason", Value: reasonText(r.Reason)},
	}
	if out.Grant != nil {
		v.Title = "Approved automatically: " + r.Resource + " for " + Duration(r.Duration)
		v.Text = "Granting access now; you will get a message when it is ready."
		v.Tone = ToneSuccess
		v.Footer += " · grant " + out.Grant.ID
		v.Fields = fields
		return v
	}
	v.Title = "Request sent: " + r.Resource + " for " + Duration(r.Duration)
	v.Text = fmt.Sprintf("Waiting for %s until %s. You will get a message when it is decided; %s withdraws it.",
		policyText(r.ApprovalsNeeded, res), At(r.PendingUntil, now), code("/access cancel "+r.ID))
	v.Tone = TonePending
	v.Fields = fields
	return v
}

// BreakGlassGrantedView answers `/access breakglass`.
func BreakGlassGrantedView(out grants.Outcome, now time.Time) View {
	r := out.Request
	v := View{
		Title: "Break-glass access to " + r.Resource + " for " + Duration(r.Duration),
		Text: "Granting access now, without approval. The approvers and security have been told, and the use " +
			"will be reviewed. End it as soon as you can with I'm done.",
		Tone:   ToneWarning,
		Footer: "Request " + r.ID,
	}
	if out.Grant != nil {
		v.Fields = []Field{{Label: "Ends", Value: At(out.Grant.ExpiresAt, now)}}
		v.Buttons = []Button{{ActionID: ActionRevoke, Label: "I'm done", Value: out.Grant.ID, Style: StyleDanger}}
		v.Footer += " · grant " + out.Grant.ID
	}
	return v
}

// ApprovedView answers an approver's click on Approve.
func ApprovedView(out grants.Outcome, reviews []grants.Review) View {
	r := out.Request
	v := View{Footer: "Request " + r.ID}
	if r.State == grants.RequestApproved {
		v.Title = "You approved " + r.Resource + " for " + r.RequesterName
		v.Text = "It has every approval it needs."
		if r.Kind == grants.KindExtend {
			v.Text += " The grant is extended."
		} else {
			v.Text += " Access is being granted."
		}
		v.Tone = ToneSuccess
		return v
	}
	got := 0
	for _, rv := range reviews {
		if rv.Decision == grants.Approve {
			got++
		}
	}
	need := max(r.ApprovalsNeeded, 1)
	if got == 0 {
		got = 1 // the approval just made, if the reviews were read before it
	}
	v.Title = "You approved " + r.Resource + " for " + r.RequesterName
	v.Text = fmt.Sprintf("%d of %d approvals: it needs %s more.", got, need, plural(need-got, "approval", "approvals"))
	v.Tone = TonePending
	return v
}

// DeniedView answers the deny form.
func DeniedView(r grants.Request) View {
	text := "The requester has been told"
	if r.Note != "" {
		text += ", with your reason: " + r.Note
	}
	return View{
		Title:  "You denied " + r.Resource + " for " + r.RequesterName,
		Text:   text + ".",
		Tone:   ToneDanger,
		Footer: "Request " + r.ID,
	}
}

// CancelledView answers `/access cancel`.
func CancelledView(r grants.Request) View {
	return View{
		Title:  "Request cancelled: " + r.Resource + " for " + Duration(r.Duration),
		Text:   "The approvers' message says so too.",
		Tone:   ToneNeutral,
		Footer: "Request " + r.ID,
	}
}

// RevokingView answers `/access revoke` and I'm done.
func RevokingView(g grants.Grant, self bool) View {
	title := "Ending your access to " + g.Resource
	if !self {
		title = "Ending " + g.Subject + "'s access to " + g.Resource
	}
	text := "Removing it now; you will get a message when it is gone."
	if !self {
		text = "Removing it now; they will get a message when it is gone."
	}
	return View{Title: title, Text: text, Tone: ToneNeutral, Footer: "Grant " + g.ID}
}

// ExtendRequestedView answers `/access extend` (and the extend form).
func ExtendRequestedView(out grants.Outcome, res *grants.Resource, now time.Time) View {
	r := out.Request
	if out.Grant != nil {
		return View{
			Title:  "Extended: " + out.Grant.Resource + " by " + Duration(r.Duration),
			Text:   "Your access now ends " + At(out.Grant.ExpiresAt, now) + ".",
			Tone:   ToneSuccess,
			Footer: "Request " + r.ID + " · grant " + out.Grant.ID,
		}
	}
	return View{
		Title: "Extension requested: " + r.Resource + " by " + Duration(r.Duration),
		Text: fmt.Sprintf("Waiting for %s until %s. You will get a message when it is decided; %s withdraws it.",
			policyText(r.ApprovalsNeeded, res), At(r.PendingUntil, now), code("/access cancel "+r.ID)),
		Tone:   TonePending,
		Footer: "Request " + r.ID + " · grant " + r.GrantID,
	}
}

// BreakGlassReviewedView answers Mark reviewed.
func BreakGlassReviewedView(g grants.Grant) View {
	return View{
		Title:  "You reviewed " + g.Subject + "'s break-glass use of " + g.Resource,
		Text:   "It is recorded in the audit log.",
		Tone:   ToneSuccess,
		Footer: "Grant " + g.ID,
	}
}

// ListView answers `/access list`: the person's grants that are not over, and their pending
// requests.
func ListView(gs []grants.Grant, rs []grants.Request, now time.Time) View {
	v := View{Title: "Your access", Tone: ToneNeutral}
	if len(gs) == 0 && len(rs) == 0 {
		v.Text = "You have no access and no pending requests. " + code("/access resources") +
			" shows what you can request."
		return v
	}
	for _, g := range gs {
		status, _ := grantStatus(g, nil, now)
		label := g.Resource + " · " + g.ID
		if g.BreakGlass {
			label += " (break-glass)"
		}
		v.Fields = append(v.Fields, Field{Label: label, Value: status})
		if g.State == grants.GrantActive && g.ExpiresAt.After(now) && len(v.Buttons) < 5 {
			v.Buttons = append(v.Buttons, Button{ActionID: ActionRevoke, Label: "I'm done: " + g.Resource, Value: g.ID})
		}
	}
	for _, r := range rs {
		what := "pending request for " + Duration(r.Duration)
		if r.Kind == grants.KindExtend {
			what = "pending extension by " + Duration(r.Duration) + " of " + r.GrantID
		}
		v.Fields = append(v.Fields, Field{
			Label: r.Resource + " · " + r.ID,
			Value: capitalize(what) + ", waiting until " + At(r.PendingUntil, now) + ".",
		})
	}
	return v
}

// ResourcesView answers `/access resources`: every resource, with its policy, and whether the
// person may request it.
func ResourcesView(all []*grants.Resource, requestable map[string]bool) View {
	v := View{Title: "Resources", Tone: ToneNeutral}
	if len(all) == 0 {
		v.Text = "No resources are configured."
		return v
	}
	mine := 0
	for _, r := range all {
		p := r.Policy
		var parts []string
		if r.Description != "" {
			parts = append(parts, r.Description+".")
		}
		limits := "Default " + Duration(p.DefaultDuration)
		if p.MaxDuration > 0 {
			limits += ", at most " + Duration(p.MaxDuration)
		}
		parts = append(parts, limits+".")
		if p.AutoApprove != nil {
			parts = append(parts, "Needs "+policyText(p.Approvals, r)+" unless its auto-approve rule matches.")
		} else {
			parts = append(parts, "Needs "+policyText(p.Approvals, r)+".")
		}
		if p.ReasonPattern != nil {
			parts = append(parts, "Reason must match "+p.ReasonPattern.String()+".")
		} else if p.ReasonRequired {
			parts = append(parts, "Reason required.")
		}
		if p.BreakGlass {
			parts = append(parts, "Break-glass allowed.")
		}
		if requestable[r.Name] {
			mine++
		} else {
			parts = append(parts, "You may not request it.")
		}
		v.Fields = append(v.Fields, Field{Label: r.Name, Value: strings.Join(parts, " ")})
	}
	v.Text = fmt.Sprintf("You may request %d of %d. Ask with %s.", mine, len(all), code(Example(VerbRequest)))
	return v
}

// StatusView answers `/access status`: the request and its grant, as the approvers see it, with
// the holder's buttons while the grant is active.
func StatusView(s Snapshot, now time.Time) View {
	var v View
	if s.Request.Kind == grants.KindBreakGlass {
		v = BreakGlassView(s, now)
	} else {
		v = ApprovalView(s, now)
	}
	v.Buttons = nil
	if s.Grant != nil {
		if s.Request.Kind != grants.KindExtend {
			v.Fields = append(v.Fields, Field{Label: "Grant", Value: s.Grant.ID + ": " + string(s.Grant.State)})
		}
		v.Buttons = grantButtons(*s.Grant, now)
	}
	return v
}

// exampleLink is `/access link` as help shows it: the one command of a platform's own (Discord
// gives bots no email), answered in front of the Bot when Discord is enabled.
const exampleLink = "/access link you@example.com"

// HelpView answers `/access help`, and a verb that was not understood. linking says that
// `/access link` is answered here (Discord is enabled), so that it is listed after ssh-key.
func HelpView(c Command, linking bool) View {
	v := View{Title: "accessbot: temporary access, approved by people", Tone: ToneNeutral}
	var lines []string
	if c.Unknown != "" {
		line := "I don't know " + code(truncate(c.Unknown, 30)) + "."
		if c.Closest != "" {
			line += " Did you mean " + code("/access "+c.Closest) + "?"
		}
		lines = append(lines, line)
		v.Tone = ToneWarning
	}
	lines = append(lines, "Access ends by itself when its time is up; every step is in the audit log.")
	v.Text = strings.Join(lines, "\n\n")
	help := map[string]string{
		VerbRequest:     "Ask for access: resource, how long, why. Without arguments, a form opens.",
		VerbList:        "Your access and pending requests.",
		VerbResources:   "What you can request, and each resource's rules.",
		VerbStatus:      "Where a request or grant is.",
		VerbRevoke:      "End your access now (I'm done).",
		VerbExtend:      "Ask for more time on your access.",
		VerbCancel:      "Withdraw a pending request.",
		VerbBreakGlass:  "Emergency access without approval, where allowed: security is alerted and it is reviewed.",
		VerbSSHKey:      "Register your SSH public key (paste your .pub file) for SSH certificates.",
		VerbGitHubLogin: "Link your GitHub login, verified by GitHub (you enter a code at GitHub), for resources that grant to it. `remove` unlinks it.",
		VerbHelp:        "This message.",
	}
	for _, verb := range Verbs {
		if c.Topic != "" && verb != c.Topic {
			continue
		}
		v.Fields = append(v.Fields, Field{Label: code(Example(verb)), Value: help[verb]})
		if verb == VerbSSHKey {
			v.Fields = append(v.Fields,
				Field{Label: code(exampleSSHKeyList), Value: "Your SSH keys and their fingerprints."},
				Field{Label: code(exampleSSHKeyRemove), Value: "Remove one of your SSH keys."})
			if linking && c.Topic == "" {
				v.Fields = append(v.Fields, Field{Label: code(exampleLink),
					Value: "On Discord: link your Discord account to your work email. Then type the code you get with `/access link <code>` where accessbot already knows you, and confirm."})
			}
		}
	}
	v.Footer = "Durations: 30m, 1h, 8h, 1d."
	return v
}

// SSHKeysView answers `/access ssh-key list`: the person's SSH keys, the one certificates are
// signed for first.
func SSHKeysView(keys []SSHKey, now time.Time) View {
	v := View{Title: "Your SSH keys", Tone: ToneNeutral}
	sshKeyFields(&v, keys, now)
	if len(keys) == 0 {
		v.Text = "You have no SSH key registered. Add one with " + code("/access ssh-key add") +
			" and the one line of your .pub file (e.g. ~/.ssh/id_ed25519.pub)."
	} else {
		v.Text = "SSH certificates are signed for the first key that the resource accepts."
	}
	return v
}

// sshKeyFields lists the keys (one field each, by fingerprint) and the footer that says how to
// change them.
func sshKeyFields(v *View, keys []SSHKey, now time.Time) {
	for i, k := range keys {
		parts := []string{k.Type}
		if k.Comment != "" {
			parts = append(parts, k.Comment)
		}
		parts = append(parts, "added "+At(k.AddedAt, now))
		value := strings.Join(parts, " · ")
		if i == 0 {
			value += " · used for certificates"
		}
		v.Fields = append(v.Fields, Field{Label: code(k.Fingerprint), Value: value})
	}
	v.Footer = fmt.Sprintf("%d of %d keys. Add: %s · remove: %s",
		len(keys), MaxSSHKeys, code("/access ssh-key add <your .pub file>"), code("/access ssh-key remove <fingerprint>"))
}

// SSHKeyAddedView answers `/access ssh-key add` when the key was registered.
func SSHKeyAddedView(k SSHKey, keys []SSHKey, now time.Time) View {
	v := View{Title: "SSH key added", Tone: ToneSuccess,
		Text: fmt.Sprintf("Added your %s key %s. Your next SSH certificates are signed for it.", k.Type, code(k.Fingerprint))}
	sshKeyFields(&v, keys, now)
	return v
}

// SSHKeyExistsView answers `/access ssh-key add` with a key the person had already registered.
func SSHKeyExistsView(k SSHKey, keys []SSHKey, now time.Time) View {
	v := View{Title: "Already registered", Tone: ToneNeutral,
		Text: fmt.Sprintf("You had already registered that key (%s); nothing changed.", code(k.Fingerprint))}
	sshKeyFields(&v, keys, now)
	return v
}

// SSHKeyLimitView answers `/access ssh-key add` for someone who has MaxSSHKeys keys already.
func SSHKeyLimitView(keys []SSHKey, now time.Time) View {
	v := View{Title: "Too many SSH keys", Tone: ToneDanger,
		Text: fmt.Sprintf("You have %d SSH keys, the most accessbot keeps: remove one with %s first.",
			MaxSSHKeys, code("/access ssh-key remove <fingerprint>"))}
	sshKeyFields(&v, keys, now)
	return v
}

// SSHKeyRemovedView answers `/access ssh-key remove`.
func SSHKeyRemovedView(k SSHKey, keys []SSHKey, now time.Time) View {
	v := View{Title: "SSH key removed", Tone: ToneSuccess,
		Text: fmt.Sprintf("Removed your %s key %s. Certificates already signed for it stay valid until they expire; %s ends a grant early.",
			k.Type, code(k.Fingerprint), code("/access revoke"))}
	sshKeyFields(&v, keys, now)
	return v
}

// SSHKeyNotFoundView answers `/access ssh-key remove` with a fingerprint the person has no key
// of (another person's key included: nobody removes someone else's key).
func SSHKeyNotFoundView(fingerprint string, keys []SSHKey, now time.Time) View {
	v := View{Title: "Not found", Tone: ToneDanger,
		Text: fmt.Sprintf("You have no SSH key with fingerprint %s.", code(fingerprint))}
	sshKeyFields(&v, keys, now)
	return v
}

// SSHKeyRefusedView explains why a pasted key was not added; it never shows what was pasted.
func SSHKeyRefusedView(err error) View {
	v := View{Title: "Key not added", Tone: ToneDanger, Text: err.Error(),
		Footer: code("/access help "+VerbSSHKey) + " shows how to add a key."}
	var ke *SSHKeyError
	if errors.As(err, &ke) && ke.PrivateKey {
		v.Title = "That is a private key"
	}
	return v
}

// personMessager is an error that says in a sentence, for a person, what could not be done
// (oncall.RotaError: a rota that could not be asked).
type personMessager interface{ PersonMessage() string }

// ErrorView explains why something was refused or failed, for the person who asked.
func ErrorView(err error) View {
	var pe *ParseError
	if errors.As(err, &pe) {
		return View{Title: "That command is not complete", Text: pe.Message, Tone: ToneDanger,
			Footer: code("/access help") + " lists every command."}
	}
	var ge *grants.Error
	var pm personMessager
	if !errors.As(err, &ge) && errors.As(err, &pm) {
		// An outside system (an on-call rota) could not be asked: say which, not "internal".
		return View{Title: "Could not check", Text: pm.PersonMessage(), Tone: ToneWarning}
	}
	if !errors.As(err, &ge) {
		return View{
			Title: "Something went wrong",
			Text:  "accessbot could not do that because of an internal error, which has been logged. Try again in a moment.",
			Tone:  ToneDanger,
		}
	}
	v := View{Text: ge.Message, Tone: ToneDanger}
	switch ge.Reason {
	case grants.ReasonUnknownResource:
		v.Title = "Unknown resource"
		v.Footer = code("/access resources") + " lists them."
	case grants.ReasonUnknownRequest, grants.ReasonUnknownGrant:
		v.Title = "Not found"
		v.Footer = code("/access list") + " shows yours."
	case grants.ReasonDurationTooLong, grants.ReasonDurationInvalid:
		v.Title = "Duration not allowed"
	case grants.ReasonReasonRequired, grants.ReasonReasonMismatch:
		v.Title = "Reason needed"
	case grants.ReasonAlreadyDecided, grants.ReasonAlreadyReviewed, grants.ReasonNotPending,
		grants.ReasonRequestExpired, grants.ReasonNotActive, grants.ReasonNotRevoking:
		// A double click, or someone else was quicker: nothing is wrong.
		v.Title = "Nothing to do"
		v.Tone = ToneNeutral
	case grants.ReasonAlreadyHeld:
		// Standing access at the target: nothing is wrong, and nothing is granted.
		v.Title = "You already have this access"
		v.Tone = ToneNeutral
	case grants.ReasonNotAllowed, grants.ReasonSelfApproval, grants.ReasonNotApprover,
		grants.ReasonNotRequester, grants.ReasonNotOwner, grants.ReasonNotAdmin:
		v.Title = "Not allowed"
	default:
		v.Title = "Cannot do that"
	}
	return v
}

// RequestForm is the form `/access request` opens without arguments: the resources the person
// may request, the duration (with each one's default as a hint) and the reason.
func RequestForm(rs []*grants.Resource) Form {
	f := Form{ID: FormRequest, Title: "Request access", Submit: "Request"}
	sel := Input{ID: InputResource, Label: "Resource", Kind: InputSelect}
	var hints []string
	for _, r := range rs {
		label := r.Name
		if r.Description != "" {
			label += ": " + r.Description
		}
		sel.Options = append(sel.Options, Option{Value: r.Name, Label: truncate(label, 75)})
		hints = append(hints, r.Name+" "+defaultText(r))
	}
	dur := Input{ID: InputDuration, Label: "Duration", Kind: InputText, Placeholder: "1h", Optional: true,
		Hint: "Empty for the resource's default."}
	switch {
	case len(rs) == 1:
		sel.Initial = rs[0].Name
		dur.Initial = Duration(rs[0].Policy.DefaultDuration)
		dur.Hint = "Default " + defaultText(rs[0]) + "."
	case len(hints) > 0 && len(hints) <= 6:
		dur.Hint = "Empty for the default: " + strings.Join(hints, ", ") + "."
	}
	reason := Input{ID: InputReason, Label: "Reason", Kind: InputLong, Placeholder: "INC-42 fixing the index",
		Optional: true, Hint: "Why you need it; some resources require a ticket."}
	f.Inputs = []Input{sel, dur, reason}
	return f
}

// defaultText is a resource's default duration and maximum: "1h (max 4h)".
func defaultText(r *grants.Resource) string {
	s := Duration(r.Policy.DefaultDuration)
	if r.Policy.MaxDuration > 0 {
		s += " (max " + Duration(r.Policy.MaxDuration) + ")"
	}
	return s
}

// DenyForm asks an approver why they deny a request.
func DenyForm(r grants.Request) Form {
	return Form{
		ID: FormDeny, Value: r.ID, Title: "Deny request", Submit: "Deny",
		Inputs: []Input{{ID: InputReason, Label: fmt.Sprintf("Why deny %s for %s?", r.Resource, r.RequesterName),
			Kind: InputLong, Optional: true, Hint: "The requester sees it."}},
	}
}

// ExtendForm asks the holder for how much longer, and why.
func ExtendForm(g grants.Grant, res *grants.Resource) Form {
	dur := Input{ID: InputDuration, Label: "Extend by", Kind: InputText, Placeholder: "30m"}
	if res != nil {
		dur.Initial = Duration(res.Policy.DefaultDuration)
		if res.Policy.MaxDuration > 0 {
			dur.Hint = "At most " + Duration(res.Policy.MaxDuration) + " at a time."
		}
	}
	return Form{
		ID: FormExtend, Value: g.ID, Title: "Extend access", Submit: "Extend",
		Inputs: []Input{dur, {ID: InputReason, Label: "Reason", Kind: InputLong, Optional: true,
			Placeholder: truncate(g.Reason, 100), Hint: "Empty keeps the reason given before."}},
	}
}

// Input IDs of the forms.
const (
	InputResource = "resource"
	InputDuration = "duration"
	InputReason   = "reason"
)
