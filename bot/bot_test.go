package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
)

var (
	alice = grantstest.Alice // requests
	bob   = grantstest.Bob   // approver of prod-db and prod-api (sre)
	carol = grantstest.Carol // approver of prod-db and prod-api (sre)
	dave  = grantstest.Dave  // approver of billing-db only (finance)
	erin  = grantstest.Erin  // admin
)

// resources are prod-db (the grantstest default: 1 approval from sre, 1h default, 4h max,
// reason required, break-glass), prod-api (2 approvals, a ticket pattern), restricted (only sre
// and ops-lead may request) and billing-db (approved by finance).
func resources() []*grants.Resource {
	prodDB := grantstest.DefaultResource()
	prodAPI := grantstest.DefaultResource()
	prodAPI.Name, prodAPI.Description = "prod-api", "the production API hosts"
	prodAPI.Policy.Approvals = 2
	prodAPI.Policy.ReasonPattern = grantstest.TicketPattern
	prodAPI.Policy.BreakGlass = false
	restricted := grantstest.DefaultResource()
	restricted.Name, restricted.Description = "restricted", "the vault"
	restricted.Policy.RequesterGroups = []string{"sre"}
	restricted.Policy.Requesters = []string{"ops-lead@example.com"}
	billing := grantstest.DefaultResource()
	billing.Name, billing.Description = "billing-db", "invoices"
	billing.Policy.ApproverGroups = []string{"finance"}
	return []*grants.Resource{prodDB, prodAPI, restricted, billing}
}

func newHarness(t *testing.T) *bottest.Harness {
	t.Helper()
	return bottest.New(t, bottest.Options{
		Resources: resources(),
		Groups:    map[string][]string{"sre": {bob.ID, carol.ID}, "finance": {dave.ID}},
	})
}

// view returns the reply's view after checking that it is private.
func view(t *testing.T, r bot.Reply) bot.View {
	t.Helper()
	if !r.Private {
		t.Errorf("reply is not private: %+v", r)
	}
	if r.View == nil {
		t.Fatalf("reply has no view: %+v", r)
	}
	return *r.View
}

// says fails the test unless the view's title, text, fields or footer contain every part.
func says(t *testing.T, v bot.View, parts ...string) {
	t.Helper()
	all := viewText(v)
	for _, p := range parts {
		if !strings.Contains(all, p) {
			t.Errorf("view does not say %q:\n%s", p, all)
		}
	}
}

func viewText(v bot.View) string {
	var b strings.Builder
	b.WriteString(v.Title + "\n" + v.Text + "\n")
	for _, f := range v.Fields {
		b.WriteString(f.Label + ": " + f.Value + "\n")
	}
	if v.Secret != nil {
		b.WriteString(v.Secret.Label + ": " + v.Secret.Value + "\n")
	}
	for _, btn := range v.Buttons {
		b.WriteString("[" + btn.ActionID + " " + btn.Label + " " + btn.Value + "]\n")
	}
	b.WriteString(v.Footer)
	return b.String()
}

func buttonIDs(v bot.View) []string {
	var out []string
	for _, b := range v.Buttons {
		out = append(out, b.ActionID)
	}
	return out
}

func TestRequestAnswersPrivatelyWithWhatHappensNext(t *testing.T) {
	h := newHarness(t)
	v := view(t, h.Command(alice, "request prod-db 1h INC-42 fixing the index"))
	says(t, v, "Request sent: prod-db for 1h", "1 approval from sre", "/access cancel r-1", "INC-42 fixing the index")
	if v.Tone != bot.TonePending {
		t.Errorf("tone %s, want pending", v.Tone)
	}
	if r := h.Request("r-1"); r.State != grants.RequestPending || r.Requester != alice.ID || r.Duration != time.Hour {
		t.Errorf("stored request %+v", r)
	}
}

func TestEveryCommandRemembersWhereToReachThePerson(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "list")
	h.Click(bob, bot.ActionApprove, "r-404")
	for _, a := range []grants.Actor{alice, bob} {
		id, err := h.DB.PlatformUser(h.Ctx, a.ID, "slack")
		if err != nil || id != a.PlatformID {
			t.Errorf("PlatformUser(%s) = %q, %v; want %q", a.ID, id, err, a.PlatformID)
		}
	}
}

func TestRequestRefusalsAreExactAndPrivate(t *testing.T) {
	tests := []struct {
		name  string
		actor grants.Actor
		text  string
		title string
		say   []string
	}{
		{"unknown resource names the closest", alice, "request prd-db 1h INC-1", "Unknown resource",
			[]string{`There is no resource called "prd-db"`, "Did you mean prod-db", "/access resources"}},
		{"too long names the maximum", alice, "request prod-db 5h INC-1", "Duration not allowed",
			[]string{"5h is longer than the maximum of 4h for prod-db"}},
		{"missing reason", alice, "request prod-db 1h", "Reason needed",
			[]string{"A reason is required for prod-db"}},
		{"missing reason names the pattern", alice, "request prod-api 1h", "Reason needed",
			[]string{"^INC-[0-9]+"}},
		{"reason not matching names the pattern", alice, "request prod-api 1h fixing things", "Reason needed",
			[]string{"The reason must match ^INC-[0-9]+ for prod-api"}},
		{"not allowed names who is", alice, "request restricted 1h INC-1", "Not allowed",
			[]string{"You may not request restricted", "sre", "ops-lead@example.com"}},
		{"break-glass where it is off", alice, "breakglass prod-api 1h INC-1", "Cannot do that",
			[]string{"Break-glass access is not enabled for prod-api"}},
		{"grammar", alice, "request prod-db", "That command is not complete",
			[]string{"`/access request prod-db 1h INC-42 fixing the index`"}},
		{"duration grammar", alice, "request prod-db soonish INC-1", "That command is not complete",
			[]string{`"soonish" is not a duration`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			v := view(t, h.Command(tt.actor, tt.text))
			if v.Title != tt.title {
				t.Errorf("title %q, want %q", v.Title, tt.title)
			}
			if v.Tone != bot.ToneDanger {
				t.Errorf("tone %s, want danger", v.Tone)
			}
			says(t, v, tt.say...)
			if rs, _ := h.Service.ListRequests(h.Ctx, grants.RequestFilter{}); len(rs) != 0 {
				t.Errorf("a refused request was stored: %+v", rs)
			}
		})
	}
}

func TestRequestWithoutArgumentsOpensAFormOfWhatThePersonMayRequest(t *testing.T) {
	h := newHarness(t)
	r := h.Command(alice, "request")
	if r.Form == nil || !r.Private {
		t.Fatalf("reply %+v, want a form", r)
	}
	f := *r.Form
	if f.ID != bot.FormRequest || len(f.Inputs) != 3 {
		t.Fatalf("form %+v", f)
	}
	var names []string
	for _, o := range f.Inputs[0].Options {
		names = append(names, o.Value)
	}
	if got, want := strings.Join(names, ","), "billing-db,prod-api,prod-db"; got != want {
		t.Errorf("resource options %s, want %s (not restricted, which alice may not request)", got, want)
	}
	if hint := f.Inputs[1].Hint; !strings.Contains(hint, "prod-db 1h (max 4h)") {
		t.Errorf("duration hint %q does not give prod-db's default and maximum", hint)
	}
	// Bob (sre) may also request restricted.
	if r := h.Command(bob, "request"); r.Form == nil || len(r.Form.Inputs[0].Options) != 4 {
		t.Errorf("bob's form %+v, want 4 resources", r.Form)
	}
}

func TestRequestFormErrorsComeBackOnTheirInputs(t *testing.T) {
	tests := []struct {
		name   string
		inputs map[string]string
		input  string
		say    string
	}{
		{"no resource", map[string]string{"duration": "1h", "reason": "INC-1"}, "resource", "Choose a resource"},
		{"a duration that is not one", map[string]string{"resource": "prod-db", "duration": "soon", "reason": "INC-1"}, "duration", `"soon" is not a duration`},
		{"too long", map[string]string{"resource": "prod-db", "duration": "8h", "reason": "INC-1"}, "duration", "maximum of 4h"},
		{"reason missing", map[string]string{"resource": "prod-db", "duration": "1h"}, "reason", "A reason is required"},
		{"reason not matching", map[string]string{"resource": "prod-api", "duration": "1h", "reason": "x"}, "reason", "^INC-[0-9]+"},
		{"not allowed", map[string]string{"resource": "restricted", "duration": "1h", "reason": "INC-1"}, "resource", "open to sre"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.Submit(alice, bot.FormRequest, "", tt.inputs)
			if r.View != nil || r.Form != nil || len(r.Errors) != 1 {
				t.Fatalf("reply %+v, want one input error", r)
			}
			if got := r.Errors[tt.input]; !strings.Contains(got, tt.say) {
				t.Errorf("error on %s = %q, want it to say %q (all: %v)", tt.input, got, tt.say, r.Errors)
			}
		})
	}
	t.Run("a good form makes the request, with the default duration when empty", func(t *testing.T) {
		h := newHarness(t)
		v := view(t, h.Submit(alice, bot.FormRequest, "", map[string]string{"resource": "prod-db", "duration": "", "reason": "INC-7"}))
		says(t, v, "Request sent: prod-db for 1h")
		if r := h.Request("r-1"); r.Duration != time.Hour || r.Reason != "INC-7" {
			t.Errorf("stored %+v", r)
		}
	})
}

func TestApproveClickApprovesOnceAndADoubleClickIsHarmless(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42")
	v := view(t, h.Click(bob, bot.ActionApprove, "r-1"))
	says(t, v, "You approved prod-db for alice", "Access is being granted")
	if v.Tone != bot.ToneSuccess {
		t.Errorf("tone %s", v.Tone)
	}
	for _, a := range []grants.Actor{bob, carol} {
		v = view(t, h.Click(a, bot.ActionApprove, "r-1"))
		if v.Title != "Nothing to do" || v.Tone != bot.ToneNeutral {
			t.Errorf("a later click by %s: %q (%s), want a calm 'Nothing to do'", a.ID, v.Title, v.Tone)
		}
		says(t, v, "Request r-1 is already approved")
	}
	gs, _ := h.Service.ListGrants(h.Ctx, grants.GrantFilter{})
	if len(gs) != 1 {
		t.Errorf("%d grants, want 1", len(gs))
	}
}

func TestPartialApprovalSaysHowManyMore(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-api 1h INC-42")
	says(t, view(t, h.Click(bob, bot.ActionApprove, "r-1")), "1 of 2 approvals: it needs 1 approval more")
	v := view(t, h.Click(bob, bot.ActionApprove, "r-1"))
	says(t, v, "You have already reviewed request r-1")
	says(t, view(t, h.Click(carol, bot.ActionApprove, "r-1")), "It has every approval it needs")
}

func TestClicksByThoseWhoMayNotDecideAreRefusedAndAudited(t *testing.T) {
	tests := []struct {
		name   string
		actor  grants.Actor
		action string
		say    string
	}{
		{"a non-approver approving", erin, bot.ActionApprove, "You are not an approver for prod-db; approvers are in sre"},
		{"an approver of another resource approving", dave, bot.ActionApprove, "You are not an approver for prod-db"},
		{"the requester approving", alice, bot.ActionApprove, "You cannot decide your own request"},
		{"a non-approver denying", dave, bot.ActionDeny, "You are not an approver for prod-db"},
		{"the requester denying", alice, bot.ActionDeny, "You cannot decide your own request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.Command(alice, "request prod-db 1h INC-42")
			r := h.Click(tt.actor, tt.action, "r-1")
			if r.Form != nil {
				t.Fatalf("a form opened for someone who may not decide")
			}
			v := view(t, r)
			if v.Title != "Not allowed" {
				t.Errorf("title %q", v.Title)
			}
			says(t, v, tt.say)
			refused := h.AuditEvents(audit.ReviewRefused)
			if len(refused) != 1 || refused[0].Actor != tt.actor.ID || refused[0].RequestID != "r-1" {
				t.Errorf("review.refused events %+v, want one by %s", refused, tt.actor.ID)
			}
			if st := h.Request("r-1").State; st != grants.RequestPending {
				t.Errorf("request is %s after a refused click", st)
			}
		})
	}
	t.Run("an admin approving their own request", func(t *testing.T) {
		h := newHarness(t)
		h.Dir.Set("sre", bob.ID, erin.ID)
		h.Command(erin, "request prod-db 1h INC-42")
		says(t, view(t, h.Click(erin, bot.ActionApprove, "r-1")), "You cannot decide your own request")
		if n := len(h.AuditEvents(audit.ReviewRefused)); n != 1 {
			t.Errorf("%d review.refused events, want 1", n)
		}
	})
}

func TestDenyAsksForAReasonAndTellsTheApprover(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42")
	r := h.Click(bob, bot.ActionDeny, "r-1")
	if r.Form == nil || r.Form.ID != bot.FormDeny || r.Form.Value != "r-1" || r.Form.Inputs[0].ID != "reason" {
		t.Fatalf("deny click reply %+v, want the deny form for r-1", r)
	}
	v := view(t, h.Submit(bob, bot.FormDeny, "r-1", map[string]string{"reason": "  use the replica  "}))
	says(t, v, "You denied prod-db for alice", "with your reason: use the replica")
	req := h.Request("r-1")
	if req.State != grants.RequestDenied || req.Note != "use the replica" || req.DecidedBy != bob.ID {
		t.Errorf("stored %+v", req)
	}
	// Deny again: the form does not even open.
	v = view(t, h.Click(carol, bot.ActionDeny, "r-1"))
	says(t, v, "Request r-1 is already denied")
}

func TestCommandsAboutOnesOwnAccess(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	h.Command(alice, "request prod-api 2h INC-43")

	v := view(t, h.Command(alice, "list"))
	says(t, v, "prod-db · g-1: Granted until 11:00 UTC, in 1h", "prod-api · r-2", "Pending request for 2h")
	if got := buttonIDs(v); len(got) != 1 || got[0] != bot.ActionRevoke {
		t.Errorf("list buttons %v, want one I'm done", got)
	}
	says(t, view(t, h.Command(bob, "list")), "You have no access and no pending requests")

	v = view(t, h.Command(alice, "resources"))
	says(t, v, "You may request 3 of 4", "prod-api: the production API hosts. Default 1h, at most 4h. Needs 2 approvals from sre. Reason must match ^INC-[0-9]+.",
		"restricted: the vault. Default 1h, at most 4h. Needs 1 approval from sre. Reason required. Break-glass allowed. You may not request it.")

	for _, id := range []string{"r-1", "g-1", "G-1"} {
		v = view(t, h.Command(alice, "status "+id))
		says(t, v, "alice requests prod-db for 1h", "Approved by bob. Granted until 11:00 UTC, in 1h", "Request r-1 · grant g-1")
		if got := buttonIDs(v); strings.Join(got, ",") != "extend,revoke" {
			t.Errorf("status %s buttons %v, want extend and revoke", id, got)
		}
	}
	v = view(t, h.Command(alice, "status r-99"))
	says(t, v, `There is no request "r-99"`)

	v = view(t, h.Command(alice, "extend g-1 30m"))
	says(t, v, "Extension requested: prod-db by 30m", "Waiting for 1 approval from sre", "/access cancel r-3")
	v = view(t, h.Command(alice, "cancel r-3"))
	says(t, v, "Request cancelled: prod-db for 30m")
	v = view(t, h.Command(alice, "cancel r-3"))
	says(t, v, "Request r-3 is already cancelled")
	v = view(t, h.Command(bob, "cancel r-2"))
	says(t, v, "Only the person who made a request can cancel it")

	v = view(t, h.Command(bob, "revoke g-1"))
	says(t, v, "Only the person who holds a grant, or an admin, can revoke it")
	v = view(t, h.Command(alice, "revoke r-1")) // the request's ID finds its grant
	says(t, v, "Ending your access to prod-db")
	if g := h.Grant("g-1"); g.State != grants.GrantRevoking || g.RevokedBy != alice.ID {
		t.Errorf("grant after revoke: %s by %s", g.State, g.RevokedBy)
	}
	v = view(t, h.Click(alice, bot.ActionRevoke, "g-1")) // I'm done, twice
	if v.Title != "Nothing to do" {
		t.Errorf("second revoke: %q", v.Title)
	}
	says(t, v, "already being revoked")
}

func TestAdminsMayRevokeOthersAccess(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	says(t, view(t, h.Command(erin, "revoke g-1")), "Ending alice@example.com's access to prod-db", "they will get a message")
}

func TestExtendButtonOpensAFormForTheHolderOnly(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	says(t, view(t, h.Click(bob, bot.ActionExtend, "g-1")), "Only the person who holds a grant can extend it")
	r := h.Click(alice, bot.ActionExtend, "g-1")
	if r.Form == nil || r.Form.ID != bot.FormExtend || r.Form.Value != "g-1" {
		t.Fatalf("reply %+v, want the extend form", r)
	}
	if d := r.Form.Inputs[0]; d.Initial != "1h" || !strings.Contains(d.Hint, "At most 4h") {
		t.Errorf("duration input %+v, want the default and the maximum", d)
	}
	if r := h.Submit(alice, bot.FormExtend, "g-1", map[string]string{"duration": ""}); r.Errors["duration"] == "" {
		t.Errorf("an empty duration was accepted: %+v", r)
	}
	if r := h.Submit(alice, bot.FormExtend, "g-1", map[string]string{"duration": "9h"}); !strings.Contains(r.Errors["duration"], "maximum of 4h") {
		t.Errorf("too long: %+v", r.Errors)
	}
	v := view(t, h.Submit(alice, bot.FormExtend, "g-1", map[string]string{"duration": "30m", "reason": ""}))
	says(t, v, "Extension requested: prod-db by 30m")
	if r := h.Request("r-2"); r.Kind != grants.KindExtend || r.Reason != "INC-42" {
		t.Errorf("extend request %+v, want the grant's reason kept", r)
	}
}

func TestBreakGlassGrantsAtOnceAndSaysItIsReviewed(t *testing.T) {
	h := newHarness(t)
	v := view(t, h.Command(alice, "breakglass prod-db 30m INC-99 site down"))
	says(t, v, "Break-glass access to prod-db for 30m", "security have been told", "Ends: 10:30 UTC, in 30m")
	if v.Tone != bot.ToneWarning {
		t.Errorf("tone %s", v.Tone)
	}
	if g := h.Grant("g-1"); !g.BreakGlass {
		t.Errorf("grant %+v is not break-glass", g)
	}
	says(t, view(t, h.Click(alice, bot.ActionReview, "g-1")), "You cannot review your own break-glass use")
	says(t, view(t, h.Click(bob, bot.ActionReview, "g-1")), "You reviewed alice@example.com's break-glass use of prod-db")
	says(t, view(t, h.Click(carol, bot.ActionReview, "g-1")), "already reviewed by bob@example.com")
}

func TestHelpAndUnknownVerbs(t *testing.T) {
	h := newHarness(t)
	v := view(t, h.Command(alice, "help"))
	for _, verb := range bot.Verbs {
		says(t, v, bot.Example(verb))
	}
	v = view(t, h.Command(alice, "revok g-1"))
	says(t, v, "I don't know `revok`", "Did you mean `/access revoke`?")
	v = view(t, h.Command(alice, "help extend"))
	if len(v.Fields) != 1 || !strings.Contains(v.Fields[0].Label, "/access extend") {
		t.Errorf("help extend fields %+v", v.Fields)
	}
	v = view(t, h.Click(alice, "frobnicate", "x"))
	says(t, v, "This button is not one accessbot knows")
}

// `/access link` is a command people need to know of when Discord is enabled (it is how a
// Discord account becomes theirs); help listed it nowhere.
func TestHelpListsAccessLinkOnlyWhereItIsAnswered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		linking bool
	}{
		{"help lists /access link when Discord accounts can be linked", true},
		{"help does not offer /access link when nothing answers it", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := bottest.New(t, bottest.Options{Resources: resources(), Linking: tc.linking})
			v := view(t, h.Command(alice, "help"))
			listed := false
			for _, f := range v.Fields {
				if strings.Contains(f.Label, "/access link") {
					listed = true
				}
			}
			if listed != tc.linking {
				t.Errorf("help lists /access link: %v, want %v; fields %+v", listed, tc.linking, v.Fields)
			}
		})
	}
}

func TestInternalErrorsAreLoggedAndNotShown(t *testing.T) {
	h := newHarness(t)
	h.DB.Close() // every store call now fails
	v := view(t, h.Command(alice, "request prod-db 1h INC-42"))
	if v.Title != "Something went wrong" || strings.Contains(v.Text, "sql") {
		t.Errorf("view %+v", v)
	}
	if !strings.Contains(h.Logs.String(), "chat command failed") {
		t.Errorf("the failure was not logged:\n%s", h.Logs)
	}
	h.DB = nil
}
