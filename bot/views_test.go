package bot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/ghdevice"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/views")

// The views' world: 2026-03-03 at 13:06 UTC; alice asked for prod-db at 13:00.
var (
	now     = time.Date(2026, 3, 3, 13, 6, 0, 0, time.UTC)
	created = time.Date(2026, 3, 3, 13, 0, 0, 0, time.UTC)
)

// leaseMarker is lease data that must never reach a message.
const leaseMarker = "LEASE-DATA-must-not-show"

func goldenResource() *grants.Resource {
	return &grants.Resource{
		Name:        "prod-db",
		Description: "Production PostgreSQL",
		Policy: grants.Policy{
			ApproverGroups:  []string{"sre-leads"},
			Approvals:       2,
			DefaultDuration: time.Hour,
			MaxDuration:     4 * time.Hour,
			ReasonRequired:  true,
			ReasonPattern:   regexp.MustCompile(`^(INC|CHG)-[0-9]+`),
			PendingTTL:      2 * time.Hour,
			BreakGlass:      true,
			WarnBefore:      10 * time.Minute,
		},
	}
}

func goldenRequest() grants.Request {
	return grants.Request{
		ID: "r-7k2m9", Kind: grants.KindAccess, Resource: "prod-db",
		Requester: "alice@example.com", RequesterName: "Alice Liddell",
		Duration: time.Hour, Reason: "INC-42 fixing the index", State: grants.RequestPending,
		ApprovalsNeeded: 2, CreatedAt: created, PendingUntil: created.Add(2 * time.Hour), Version: 1,
	}
}

func goldenGrant(state grants.GrantState) *grants.Grant {
	return &grants.Grant{
		ID: "g-4q8x1", RequestID: "r-7k2m9", Resource: "prod-db", Subject: "alice@example.com",
		Account: "alice", Email: "alice@example.com", State: state, Reason: "INC-42 fixing the index",
		StartsAt: created.Add(2 * time.Minute), ExpiresAt: created.Add(62 * time.Minute),
		LeaseData: map[string]string{"role": leaseMarker},
		CreatedAt: created.Add(2 * time.Minute), Version: 2,
	}
}

var goldenNames = map[string]string{"bob@example.com": "Bob", "carol@example.com": "Carol", "erin@example.com": "Erin"}

func review(who string, d grants.Decision, reason string) grants.Review {
	return grants.Review{RequestID: "r-7k2m9", Reviewer: who, Decision: d, Reason: reason, At: created.Add(time.Minute)}
}

// snap builds a snapshot; change adjusts the request and grant.
func snap(change func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review)) bot.Snapshot {
	r := goldenRequest()
	var g *grants.Grant
	var rvs []grants.Review
	change(&r, &g, &rvs)
	return bot.Snapshot{Request: r, Reviews: rvs, Grant: g, Resource: goldenResource(), Names: goldenNames}
}

func approved(r *grants.Request, g **grants.Grant, rvs *[]grants.Review, st grants.GrantState) {
	*rvs = []grants.Review{review("bob@example.com", grants.Approve, ""), review("carol@example.com", grants.Approve, "")}
	r.State, r.DecidedAt, r.DecidedBy, r.GrantID = grants.RequestApproved, created.Add(2*time.Minute), "carol@example.com", "g-4q8x1"
	*g = goldenGrant(st)
}

func event(typ string, data map[string]string) audit.Event {
	return audit.Event{Seq: 42, At: now.Add(-time.Minute), Type: typ, Actor: "bob@example.com", Resource: "prod-db",
		Subject: "alice@example.com", RequestID: "r-7k2m9", GrantID: "g-4q8x1", Data: data}
}

// goldenViews are every neutral message, by golden file name.
func goldenViews() map[string]any {
	views := map[string]any{}
	pending := snap(func(*grants.Request, **grants.Grant, *[]grants.Review) {})
	views["approval_pending"] = bot.ApprovalView(pending, now)
	views["approval_pending_signals"] = bot.ApprovalView(snap(func(r *grants.Request, _ **grants.Grant, _ *[]grants.Review) {
		r.Signals = []string{grants.SignalFirstAccess, grants.SignalOutsideHours, grants.SignalRecentDenial}
	}), now)
	views["approval_pending_checks"] = bot.ApprovalView(snap(func(r *grants.Request, _ **grants.Grant, _ *[]grants.Review) {
		r.Checks = []grants.Check{
			{Kind: "ticket", Subject: "INC-42", Status: grants.CheckPassed, Summary: "In Progress · P1 · Database down",
				URL: "https://tickets.example.com/browse/INC-42"},
			{Kind: "oncall", Subject: "pagerduty:schedule/PABC123", Status: grants.CheckUnknown,
				Problem: "The oncall check could not be made: no answer in time."},
			{Kind: "ticket", Subject: "OPS-7", Status: grants.CheckFailed, Summary: "Done",
				Problem: "OPS-7 is closed; access needs an open ticket."},
		}
	}), now)
	views["approval_pending_oncall"] = bot.ApprovalView(snap(func(r *grants.Request, _ **grants.Grant, _ *[]grants.Review) {
		r.Checks = []grants.Check{
			{Kind: "oncall", Subject: "pagerduty:escalation/PESC001/level/1", Status: grants.CheckPassed,
				Summary: "Carol (level 2: the requester is on call at level 1)", Notify: []string{"carol@example.com"}},
			{Kind: "oncall", Subject: "opsgenie:schedule/db", Status: grants.CheckPassed, Summary: "Bob, Carol",
				Notify: []string{"Bob@example.com", "carol@example.com"}},
		}
	}), now)
	views["approval_partly_approved"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		*rvs = []grants.Review{review("bob@example.com", grants.Approve, "")}
	}), now)
	views["approval_approved_granting"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantActivating)
	}), now)
	views["approval_granted"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantActive)
	}), now)
	views["approval_auto_approved"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantActive)
		*rvs = nil
		r.DecidedBy, r.Note = grants.PolicyActor, "auto-approved by rule: duration <= 1h"
	}), now)
	views["approval_denied"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		*rvs = []grants.Review{review("bob@example.com", grants.Deny, "use the read replica")}
		r.State, r.DecidedAt, r.DecidedBy, r.Note = grants.RequestDenied, created.Add(time.Minute), "bob@example.com", "use the read replica"
	}), now)
	views["approval_cancelled"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.State, r.DecidedAt, r.DecidedBy = grants.RequestCancelled, created.Add(time.Minute), "alice@example.com"
	}), now)
	views["approval_expired"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.State, r.DecidedAt, r.DecidedBy = grants.RequestExpired, created.Add(2*time.Hour), grants.System.ID
	}), created.Add(2*time.Hour+time.Minute))
	views["approval_revoked_early"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevoked)
		(*g).RevokedBy, (*g).RevokedAt, (*g).ExpiresAt = "alice@example.com", now.Add(-time.Minute), now.Add(-time.Minute)
	}), now)
	views["approval_revoked_on_time"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevoked)
		(*g).RevokedBy, (*g).RevokedAt = grants.System.ID, (*g).ExpiresAt
	}), created.Add(63*time.Minute))
	views["approval_revoked_ticket_closed"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevoked)
		(*g).RevokedBy, (*g).RevokedAt, (*g).ExpiresAt = grants.System.ID, now.Add(-time.Minute), now.Add(-time.Minute)
		(*g).RevokeNote = "ticket OPS-42 closed (Done)"
	}), now)
	views["approval_failed"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantFailed)
		(*g).LastError = "role does not exist"
	}), now)
	views["approval_revoke_failed"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevokeFailed)
	}), created.Add(90*time.Minute))
	views["approval_extend_pending"] = bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.ID, r.Kind, r.Duration, r.GrantID = "r-ext01", grants.KindExtend, 30*time.Minute, "g-4q8x1"
		*g = goldenGrant(grants.GrantActive)
	}), now)

	active := snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantActive)
	})
	bg := snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.Kind, r.State, r.DecidedBy, r.Note, r.GrantID = grants.KindBreakGlass, grants.RequestApproved, "alice@example.com", "break-glass", "g-4q8x1"
		r.Reason = "INC-99 site down"
		*g = goldenGrant(grants.GrantActive)
		(*g).BreakGlass = true
	})
	views["breakglass"] = bot.BreakGlassView(bg, now)
	bgReviewed := bg
	rg := *bg.Grant
	rg.ReviewedBy, rg.ReviewedAt = "erin@example.com", now.Add(-time.Minute)
	bgReviewed.Grant = &rg
	views["breakglass_reviewed"] = bot.BreakGlassView(bgReviewed, now)

	dm := func(name string, e audit.Event, s bot.Snapshot) {
		v, ok := bot.DMView(e, s, now)
		if !ok {
			panic("no DM for " + name)
		}
		views["dm_"+name] = v
	}
	dm("partly_approved", event(audit.ReviewApproved, map[string]string{"approvals": "1/2"}), snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		*rvs = []grants.Review{review("bob@example.com", grants.Approve, "")}
	}))
	dm("approved", event(audit.RequestApproved, map[string]string{"approvals": "2/2"}), snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantActivating)
	}))
	dm("denied", event(audit.RequestDenied, map[string]string{"reason": "use the read replica"}), snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.State, r.DecidedBy, r.Note = grants.RequestDenied, "bob@example.com", "use the read replica"
	}))
	dm("expired", event(audit.RequestExpired, nil), snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.State = grants.RequestExpired
	}))
	dm("granted", event(audit.GrantActive, nil), active)
	failed := snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantFailed)
	})
	dm("failed", event(audit.GrantFailed, map[string]string{"error": "role does not exist"}), failed)
	revoked := snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevoked)
		(*g).RevokedBy, (*g).RevokedAt = "erin@example.com", now.Add(-time.Minute)
	})
	dm("revoked_by_admin", event(audit.GrantRevoked, nil), revoked)
	dm("revoked_ticket_closed", event(audit.GrantRevoked, nil), snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevoked)
		(*g).RevokedBy, (*g).RevokedAt = grants.System.ID, now.Add(-time.Minute)
		(*g).RevokeNote = "ticket OPS-42 closed (Done)"
	}))
	dm("revoke_failed", event(audit.GrantRevokeFailed, nil), snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		approved(r, g, rvs, grants.GrantRevokeFailed)
	}))
	extended := active
	eg := *active.Grant
	eg.ExpiresAt = eg.ExpiresAt.Add(30 * time.Minute)
	extended.Grant = &eg
	e := event(audit.GrantExtended, map[string]string{"by": "30m", "expires_at": eg.ExpiresAt.Format(time.RFC3339)})
	e.Actor = "alice@example.com"
	dm("extended", e, extended)
	dm("breakglass_reviewed", event(audit.BreakGlassReviewed, map[string]string{"note": "checked the session log"}), bgReviewed)

	views["expiry_warning"] = bot.ExpiryWarningView(*goldenGrant(grants.GrantActive), created.Add(52*time.Minute))
	views["secret"] = bot.SecretView(*goldenGrant(grants.GrantActive), &adapters.Secret{Kind: "password", Label: "Password for alice", Value: "s3cr3t-only-in-dm"}, now)
	views["secret_failed"] = bot.SecretFailedView(*goldenGrant(grants.GrantActive))
	alert := event(audit.AlertRaised, map[string]string{"alert": "revoke_failed",
		"message": "Revoking alice@example.com's access to prod-db (grant g-4q8x1) failed 8 times: connection refused. It is retried every 10m until it works or an admin forces it."})
	alert.Actor = grants.System.ID
	views["alert_revoke_failed"] = bot.AlertView(alert, now)
	views["alert_scan_findings"] = bot.AlertView(scanEvent(), now)
	rule := event(audit.AlertRaised, map[string]string{"alert": "first_access_after_hours", "severity": "high",
		"message": "alice requested prod-db for 1h (alert rule first_access_after_hours); signals: first access, outside working hours"})
	views["alert_rule"] = bot.AlertView(rule, now)
	views["delivery_failed"] = bot.DeliveryFailedView(bot.Delivery{Platform: "slack", Kind: bot.DeliverApproval,
		Channel: "C0APPROVE", RequestID: "r-7k2m9"}, "channel_not_found: permanent delivery error")

	out := grants.Outcome{Request: goldenRequest()}
	views["reply_requested"] = bot.RequestedView(out, goldenResource(), now)
	auto := out
	auto.Request.State, auto.AutoApproved, auto.Grant = grants.RequestApproved, true, goldenGrant(grants.GrantActivating)
	views["reply_auto_approved"] = bot.RequestedView(auto, goldenResource(), now)
	bgOut := grants.Outcome{Request: bg.Request, Grant: goldenGrant(grants.GrantActivating)}
	views["reply_breakglass"] = bot.BreakGlassGrantedView(bgOut, now)
	partly := grants.Outcome{Request: goldenRequest()}
	views["reply_approved_partly"] = bot.ApprovedView(partly, []grants.Review{review("bob@example.com", grants.Approve, "")})
	views["reply_approved"] = bot.ApprovedView(grants.Outcome{Request: active.Request, Grant: active.Grant}, active.Reviews)
	views["reply_denied"] = bot.DeniedView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
		r.State, r.Note = grants.RequestDenied, "use the read replica"
	}).Request)
	views["reply_cancelled"] = bot.CancelledView(goldenRequest())
	views["reply_revoking"] = bot.RevokingView(*goldenGrant(grants.GrantRevoking), true)
	extReq := goldenRequest()
	extReq.ID, extReq.Kind, extReq.Duration, extReq.GrantID = "r-ext01", grants.KindExtend, 30*time.Minute, "g-4q8x1"
	views["reply_extend_requested"] = bot.ExtendRequestedView(grants.Outcome{Request: extReq}, goldenResource(), now)
	views["reply_extended"] = bot.ExtendRequestedView(grants.Outcome{Request: extReq, Grant: &eg}, goldenResource(), now)
	views["reply_breakglass_reviewed"] = bot.BreakGlassReviewedView(rg)

	views["list"] = bot.ListView([]grants.Grant{*goldenGrant(grants.GrantActive)}, []grants.Request{extReq}, now)
	views["list_empty"] = bot.ListView(nil, nil, now)
	other := goldenResource()
	other.Name, other.Description, other.Policy.ReasonPattern, other.Policy.Approvals, other.Policy.BreakGlass = "staging-db", "", nil, 1, false
	views["resources"] = bot.ResourcesView([]*grants.Resource{goldenResource(), other}, map[string]bool{"staging-db": true})
	views["status"] = bot.StatusView(active, now)
	views["help"] = bot.HelpView(bot.Command{Name: "help"}, true)
	views["help_unknown_verb"] = bot.HelpView(bot.Command{Name: "help", Unknown: "reqest", Closest: "request"}, true)
	views["error_unknown_resource"] = bot.ErrorView(&grants.Error{Code: grants.ErrNotFound, Reason: grants.ReasonUnknownResource,
		Message: `There is no resource called "prd-db". Did you mean prod-db?`})
	views["error_already_decided"] = bot.ErrorView(&grants.Error{Code: grants.ErrConflict, Reason: grants.ReasonAlreadyDecided,
		Message: "Request r-7k2m9 is already approved."})
	views["error_already_held"] = bot.ErrorView(&grants.Error{Code: grants.ErrConflict, Reason: grants.ReasonAlreadyHeld,
		Message: "You already have this access: your account alice holds prod-db without a grant, so there is nothing to request (accessbot neither grants nor removes it)."})
	_, perr := bot.Parse("request prod-db")
	views["error_grammar"] = bot.ErrorView(perr)
	views["error_internal"] = bot.ErrorView(errors.New("pq: connection refused"))

	views["form_request"] = bot.RequestForm([]*grants.Resource{goldenResource(), other})
	views["form_deny"] = bot.DenyForm(goldenRequest())
	views["form_extend"] = bot.ExtendForm(*goldenGrant(grants.GrantActive), goldenResource())

	pendingLink := bot.Link{UserID: "623456789012345678", Person: "alice@example.com", Name: "alice-dc", CodeHash: "h", RequestedAt: now.Add(-2 * time.Minute)}
	views["link_prompt"] = bot.LinkPromptView(pendingLink, "discord", "623456789012345678:token", now)
	views["link_linked"] = bot.LinkedView(pendingLink, "discord")
	views["link_refused"] = bot.LinkRefusedView(pendingLink, "discord")
	linked := audit.Event{Seq: 44, At: now, Type: audit.IdentityLinked, Actor: "alice@example.com", Subject: "alice@example.com"}.
		With(audit.IdentityLinkedData{Platform: "discord", PlatformID: "623456789012345678", Person: "alice@example.com",
			Via: bot.LinkViaCode, ConfirmedOn: "slack", Name: "alice-dc"})
	views["dm_identity_linked"], _ = bot.LinkNoticeView(linked)
	unlinked := audit.Event{Seq: 45, At: now, Type: audit.IdentityUnlinked, Actor: "erin@example.com", Subject: "alice@example.com"}.
		With(audit.IdentityUnlinkedData{Platform: "discord", PlatformID: "623456789012345678", Person: "alice@example.com"})
	views["dm_identity_unlinked"], _ = bot.LinkNoticeView(unlinked)
	code := ghdevice.Code{UserCode: "WDJB-MJHT", VerificationURI: "https://github.com/login/device", ExpiresAt: now.Add(15 * time.Minute), Interval: 5 * time.Second}
	views["github_login_code"] = bot.GitHubLoginCodeView(code, "alice-gh", bot.GitHubLink{Login: "alice-old"}, now)
	views["github_login_under_way"] = bot.GitHubLoginUnderWayView()
	views["github_login_off"] = bot.GitHubLoginOffView()
	views["github_login_removed"] = bot.GitHubUnlinkedView(bot.GitHubLink{Login: "alice-gh"})
	ghEvent := func(seq int64, p audit.Payload) audit.Event {
		return audit.Event{Seq: seq, At: now, Actor: "alice@example.com", Subject: "alice@example.com"}.With(p)
	}
	views["dm_github_linked"], _ = bot.LinkNoticeView(ghEvent(46, audit.GitHubLinkedData{Login: "alice-gh", ID: 1001, Via: audit.GitHubVia, PreviousLogin: "alice-old", PreviousID: 99}))
	for _, refused := range []string{audit.GitHubRefusedMismatch, audit.GitHubRefusedTaken, audit.GitHubRefusedDenied, audit.GitHubRefusedExpired, audit.GitHubRefusedFailed} {
		views["dm_github_refused_"+refused], _ = bot.LinkNoticeView(ghEvent(47, audit.GitHubLinkRefusedData{Refused: refused, Login: "mallory-gh", ID: 666, Claimed: "alice-gh"}))
	}
	return views
}

// scanEvent is a scan.completed event that found two holders on prod-db and could not list cache.
func scanEvent() audit.Event {
	findings := []grants.ScanFinding{
		{Resource: "prod-db", Account: "alice_admin", Detail: "member of analyst", Reason: grants.ScanNoGrant, Why: "no active grant"},
		{Resource: "prod-db", Account: "bob", Detail: "member of analyst, writer", GrantID: "g-4q8x1", Reason: grants.ScanGrantEnded,
			Why: "grant g-4q8x1 was revoked, yet the access is still there"},
	}
	list, err := json.Marshal(findings)
	if err != nil {
		panic(err)
	}
	return audit.Event{Seq: 43, At: now.Add(-time.Minute), Type: audit.ScanCompleted, Actor: grants.System.ID, Data: map[string]string{
		"resources": "cache,prod-db", "findings": "2", "errors": "1", "list": string(list), "alert": grants.ScanAlert,
		"message": grants.ScanSummary(findings), "error_list": `{"cache":"list redis users: ACL LIST: connection refused"}`,
	}}
}

// A scan that finds standing access is an alert in the security channel; a clean scan is only
// recorded.
func TestScanFindingsAreAnAlertInTheSecurityChannel(t *testing.T) {
	lister := grantstest.NewFakeLister()
	res := grantstest.DefaultResource()
	res.Adapter = lister
	h := bottest.New(t, bottest.Options{Resources: []*grants.Resource{res}})
	sc, err := grants.NewScanner(h.Service, grants.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lister.AddHolder("alice_admin", "member of analyst")
	if _, err := sc.Scan(h.Ctx, grants.Actor{}); err != nil {
		t.Fatal(err)
	}
	h.Deliver()
	posts := h.Platform.Posts(bottest.SecurityChannel)
	if len(posts) != 1 {
		t.Fatalf("%d posts in the security channel, want the scan alert", len(posts))
	}
	says(t, posts[0].View, "Standing access found: 1 holder on prod-db no grant explains",
		"prod-db · alice_admin: member of analyst: no active grant")
	if posts[0].View.Tone != bot.ToneDanger {
		t.Errorf("tone = %s", posts[0].View.Tone)
	}

	lister.RemoveHolder("alice_admin")
	if _, err := sc.Scan(h.Ctx, grants.Actor{}); err != nil {
		t.Fatal(err)
	}
	h.Deliver()
	if n := len(h.Platform.Posts(bottest.SecurityChannel)); n != 1 {
		t.Errorf("%d posts after a clean scan, want still 1", n)
	}
	if n := len(h.AuditEvents(audit.ScanCompleted)); n != 2 {
		t.Errorf("%d scan events, want 2", n)
	}
}

func TestViewsMatchTheirGoldenFiles(t *testing.T) {
	views := goldenViews()
	dir := filepath.Join("testdata", "views")
	names := make([]string, 0, len(views))
	for name := range views {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // golden files are read by people: keep < and > as they are
			enc.SetIndent("", "  ")
			if err := enc.Encode(views[name]); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join(dir, name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./bot -run TestViewsMatchTheirGoldenFiles -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed; if that is intended, rerun with -update\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
	// A golden file whose view is gone is stale.
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		if _, ok := views[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok && !*update {
			t.Errorf("%s has no view any more; delete it", f)
		}
	}
}

func TestNoViewShowsLeaseData(t *testing.T) {
	for name, v := range goldenViews() {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), leaseMarker) {
			t.Errorf("view %s shows lease data: %s", name, b)
		}
	}
}

func TestOnlyTheSecretDMShowsTheSecret(t *testing.T) {
	for name, v := range goldenViews() {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), "s3cr3t-only-in-dm") != (name == "secret") {
			t.Errorf("view %s and the secret: %s", name, b)
		}
	}
}

func TestTimesAreUTCWithARelativePart(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{now.Add(59 * time.Minute), "14:05 UTC, in 59m"},
		{now.Add(59*time.Minute + 29*time.Second), "14:05 UTC, in 59m"},
		// Rounded to the nearest minute, not truncated: a 2m grant made a moment ago ends in
		// 2m, not in 1m.
		{now.Add(59*time.Minute + 30*time.Second), "14:05 UTC, in 1h"},
		{now.Add(2*time.Minute - 5*time.Millisecond), "13:07 UTC, in 2m"},
		{now.Add(-(10*time.Minute - 400*time.Millisecond)), "12:56 UTC, 10m ago"},
		{now.Add(-3 * time.Minute), "13:03 UTC, 3m ago"},
		{now.Add(20 * time.Second), "13:06 UTC, in under a minute"},
		{now.Add(-20 * time.Second), "13:05 UTC, just now"},
		{now.Add(26*time.Hour + 5*time.Minute), "Wed 4 Mar 15:11 UTC, in 1d2h"},
		{now.In(time.FixedZone("CET", 3600)).Add(time.Hour), "14:06 UTC, in 1h"},
		{time.Time{}, "never"},
	}
	for _, tt := range tests {
		if got := bot.At(tt.at, now); got != tt.want {
			t.Errorf("At(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
}

// An auto-approved request's card said "Policy: 2 approvals from sre-leads" although nobody
// approved it: it says the policy approved it, and by which rule.
func TestAnAutoApprovedCardSaysItsRuleNotTheApprovalsItSkipped(t *testing.T) {
	tests := []struct {
		name, note, want string
	}{
		{"the rule from the request's note", "auto-approved by rule: duration <= 1h", "Auto-approved by its rule: duration <= 1h"},
		{"no rule recorded", "", "Auto-approved by its rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := bot.ApprovalView(snap(func(r *grants.Request, g **grants.Grant, rvs *[]grants.Review) {
				approved(r, g, rvs, grants.GrantActive)
				*rvs = nil
				r.DecidedBy, r.Note = grants.PolicyActor, tt.note
			}), now)
			var policy string
			for _, f := range v.Fields {
				if f.Label == "Policy" {
					policy = f.Value
				}
			}
			if policy != tt.want {
				t.Errorf("Policy: %q, want %q", policy, tt.want)
			}
		})
	}
	pending := bot.ApprovalView(snap(func(*grants.Request, **grants.Grant, *[]grants.Review) {}), now)
	if f := pending.Fields[4]; f.Label != "Policy" || f.Value != "2 approvals from sre-leads" {
		t.Errorf("a pending request's %s: %q, want what it needs", f.Label, f.Value)
	}
}
