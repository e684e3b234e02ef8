package tickets_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/tickets"
	"github.com/accessbot/accessbot/tickets/jira/jiratest"
	"github.com/accessbot/accessbot/tickets/servicenow"
	"github.com/accessbot/accessbot/tickets/servicenow/servicenowtest"
)

// flow is a chat core over a real store whose prod-db resource needs an open Jira ticket and
// ends with it, with the ticket comments' forwarder and the closer.
type flow struct {
	h        *bottest.Harness
	jira     *jiratest.Server
	lookup   *tickets.Lookup
	comments *sink.Forwarder
	closer   *tickets.Closer
}

func newFlow(t *testing.T, autoApprove string) *flow {
	t.Helper()
	fake, sys := jiraSystem(t)
	l, err := tickets.NewLookup([]tickets.System{sys}, map[string]tickets.Policy{"prod-db": {
		System: "jira", Pattern: regexp.MustCompile(tickets.DefaultPattern(tickets.KindJira)), MustBeOpen: true, EndWithTicket: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	res := grantstest.DefaultResource()
	if autoApprove != "" {
		rule, err := grants.CompileRule(autoApprove)
		if err != nil {
			t.Fatal(err)
		}
		res.Policy.AutoApprove = rule
	}
	h := bottest.New(t, bottest.Options{Resources: []*grants.Resource{res}, Lookups: []grants.Lookup{l}})
	f := &flow{h: h, jira: fake, lookup: l}
	f.comments, err = sink.New(sink.Options{Name: tickets.CommentsName, Store: h.DB, Clock: h.Clock, Log: zerolog.Nop(), Batch: 1,
		Sink: tickets.NewCommenter(l, h.Service, time.UTC, zerolog.Nop())})
	if err != nil {
		t.Fatal(err)
	}
	f.closer = tickets.NewCloser(l, h.Service, h.Clock, 5*time.Minute, zerolog.Nop())
	return f
}

// card returns the approval card of the last post to the approvals channel.
func (f *flow) card(t *testing.T) bot.View {
	t.Helper()
	f.h.Deliver()
	posts := f.h.Platform.Posts(bottest.ApprovalsChannel)
	if len(posts) == 0 {
		t.Fatal("no approval card was posted")
	}
	v, _ := f.h.Platform.Message(posts[len(posts)-1].Ref)
	return v
}

func field(v bot.View, label string) string {
	for _, fl := range v.Fields {
		if fl.Label == label {
			return fl.Value
		}
	}
	return ""
}

func (f *flow) comments42(t *testing.T) []string {
	t.Helper()
	is, _ := f.jira.Issue("OPS-42")
	return is.Comments
}

func TestARequestNamingAnOpenTicketIsLinkedApprovedGrantedAndCommented(t *testing.T) {
	f := newFlow(t, "")
	alice, bob := grantstest.Alice, grantstest.Bob
	f.h.Command(alice, "request prod-db 1h OPS-42 fixing the index")
	card := f.card(t)
	if got := field(card, "Ticket"); got != "OPS-42 "+f.jira.URL+"/browse/OPS-42: In Progress · P1 · Database down" {
		t.Fatalf("the card's ticket line is %q", got)
	}
	f.h.Click(bob, bot.ActionApprove, "r-1")
	f.h.RunDue()
	if g := f.h.Grant("g-1"); g.State != grants.GrantActive {
		t.Fatalf("grant %s", g.State)
	}
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err != nil {
		t.Fatal(err)
	}
	c := f.comments42(t)
	if len(c) != 1 || !strings.Contains(c[0], alice.ID+" was granted access to prod-db until") || !strings.Contains(c[0], "(grant g-1)") {
		t.Fatalf("comments %q", c)
	}
	// Revoked: a second comment, naming who revoked.
	if _, err := f.h.Service.Revoke(f.h.Ctx, alice, "g-1"); err != nil {
		t.Fatal(err)
	}
	f.h.RunDue()
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err != nil {
		t.Fatal(err)
	}
	c = f.comments42(t)
	if len(c) != 2 || !strings.Contains(c[1], "was revoked by "+alice.ID) {
		t.Fatalf("comments %q", c)
	}
}

func TestReasonsThatNameNoTicketOrAMissingOneAreRefusedInChat(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"just looking", "prod-db needs a Jira ticket in the reason: name one matching [A-Z][A-Z0-9]+-[0-9]+."},
		{"OPS-99 fix", "OPS-99 does not exist in Jira."},
		{"OPS-7 again", "OPS-7 is closed (Done)."},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			f := newFlow(t, "")
			reply := f.h.Command(grantstest.Alice, "request prod-db 1h "+tt.reason)
			if !strings.Contains(reply.View.Text+reply.View.Title, tt.want) {
				t.Fatalf("reply %+v, want %q", reply.View, tt.want)
			}
			if ev := f.h.AuditEvents(audit.RequestCreated); len(ev) != 0 {
				t.Fatalf("a request was created: %+v", ev)
			}
		})
	}
}

func TestJiraDownShowsNotCheckedNoAutoApprovalAndApproversStillApprove(t *testing.T) {
	f := newFlow(t, "true")
	f.jira.SetDown(true)
	f.h.Command(grantstest.Alice, "request prod-db 1h OPS-42 fixing the index")
	if r := f.h.Request("r-1"); r.State != grants.RequestPending {
		t.Fatalf("request %s with Jira down; want pending (no auto-approval)", r.State)
	}
	card := f.card(t)
	if got := field(card, "Ticket"); !strings.Contains(got, "Not checked: OPS-42 could not be checked in Jira") {
		t.Fatalf("the card's ticket line is %q", got)
	}
	f.h.Click(grantstest.Bob, bot.ActionApprove, "r-1")
	f.h.RunDue()
	if g := f.h.Grant("g-1"); g.State != grants.GrantActive {
		t.Fatalf("grant %s", g.State)
	}
	// The comment waits for Jira, and goes out once when it is back.
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err == nil {
		t.Fatal("the comment forwarder succeeded with Jira down")
	}
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err == nil {
		t.Fatal("the comment forwarder succeeded with Jira down")
	}
	f.jira.SetDown(false)
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err != nil {
		t.Fatal(err)
	}
	if c := f.comments42(t); len(c) != 1 || !strings.Contains(c[0], "(grant g-1)") {
		t.Fatalf("comments after the outage %q; want the one grant comment, once", c)
	}
	// With Jira up the same rule auto-approves.
	f.h.Command(grantstest.Carol, "request prod-db 1h OPS-42 second look")
	if r := f.h.Request("r-2"); r.State != grants.RequestApproved {
		t.Fatalf("request %s with Jira up and an auto-approve rule", r.State)
	}
}

// grantOn42 makes alice's grant g-1 on OPS-42 active.
func (f *flow) grantOn42(t *testing.T) {
	t.Helper()
	f.h.Command(grantstest.Alice, "request prod-db 1h OPS-42 fixing the index")
	f.h.Click(grantstest.Bob, bot.ActionApprove, "r-1")
	f.h.RunDue()
	if g := f.h.Grant("g-1"); g.State != grants.GrantActive {
		t.Fatalf("grant %s", g.State)
	}
}

func TestAClosedTicketRevokesItsGrantOnTheSchedule(t *testing.T) {
	f := newFlow(t, "")
	f.grantOn42(t)
	ctx, cancel := context.WithCancel(f.h.Ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.closer.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	bottest.Eventually(t, 5*time.Second, "the closer arms its timer", func() bool { return f.h.Clock.Timers() > 0 })
	f.h.Advance(5 * time.Minute) // the ticket is open: nothing happens
	bottest.Eventually(t, 5*time.Second, "the closer arms its next timer", func() bool { return f.h.Clock.Timers() > 0 })
	if g := f.h.Grant("g-1"); g.State != grants.GrantActive {
		t.Fatalf("grant %s while its ticket is open", g.State)
	}
	f.jira.SetCategory("OPS-42", "Done", "done")
	f.h.Advance(5 * time.Minute)
	bottest.Eventually(t, 5*time.Second, "the grant is revoked", func() bool { return f.h.Grant("g-1").State == grants.GrantRevoking })
	f.h.RunDue()
	if g := f.h.Grant("g-1"); g.State != grants.GrantRevoked || g.RevokedBy != grants.System.ID {
		t.Fatalf("grant %s by %s", g.State, g.RevokedBy)
	}
	ev := f.h.AuditEvents(audit.GrantRevoking)
	if len(ev) != 1 || ev[0].Actor != grants.System.ID || ev[0].Data[audit.KeyNote] != "ticket OPS-42 closed (Done)" {
		t.Fatalf("grant.revoking %+v", ev)
	}
	if note := f.h.Grant("g-1").RevokeNote; note != "ticket OPS-42 closed (Done)" {
		t.Errorf("grant's revoke note %q, want the ticket's closing", note)
	}
	// The holder and the approvers are told why it ended, not that it expired.
	if c := f.card(t); !strings.Contains(c.Text, "ticket OPS-42 closed (Done)") {
		t.Errorf("approval card says %q, want the ticket's closing", c.Text)
	}
	dms := f.h.Platform.DMs(grantstest.Alice.PlatformID)
	if len(dms) == 0 || !strings.Contains(dms[len(dms)-1].View.Text, "ticket OPS-42 closed (Done)") {
		t.Errorf("alice's last DM %+v, want the ticket's closing", dms)
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type refusals struct {
	mu      sync.Mutex
	reasons []string
}

func (r *refusals) Record(_ context.Context, _ *http.Request, reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason.Error())
}

func TestAVerifiedJiraWebhookRechecksTheTicketAndRevokes(t *testing.T) {
	f := newFlow(t, "")
	f.grantOn42(t)
	sys, _ := f.lookup.System("jira")
	refused := &refusals{}
	hook := tickets.NewWebhook(sys, []byte("hook-secret"), f.closer, refused, f.h.Clock)
	post := func(body []byte, sig string) int {
		req := httptest.NewRequest(http.MethodPost, tickets.WebhookPath("jira"), bytes.NewReader(body))
		if sig != "" {
			req.Header.Set(tickets.JiraSignatureHeader, sig)
		}
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		return rec.Code
	}
	body := fmt.Appendf(nil, `{"timestamp":%d,"webhookEvent":"jira:issue_updated","issue":{"key":"OPS-42","fields":{"status":{"name":"Done"}}}}`,
		f.h.Clock.Now().UnixMilli())

	// The payload claims Done, but the ticket is open in Jira: nothing is revoked.
	if code := post(body, sign("hook-secret", body)); code != http.StatusNoContent {
		t.Fatalf("verified webhook answered %d", code)
	}
	if g := f.h.Grant("g-1"); g.State != grants.GrantActive {
		t.Fatalf("grant %s: the payload was trusted", g.State)
	}
	// Forged, replayed and stale deliveries are refused and recorded.
	stale := fmt.Appendf(nil, `{"timestamp":%d,"issue":{"key":"OPS-42"}}`, f.h.Clock.Now().Add(-time.Hour).UnixMilli())
	for name, code := range map[string]int{
		"forged":   post(body, sign("wrong", body)),
		"unsigned": post(body, ""),
		"replayed": post(body, sign("hook-secret", body)),
		"stale":    post(stale, sign("hook-secret", stale)),
	} {
		if code != http.StatusUnauthorized {
			t.Errorf("%s webhook answered %d, want 401", name, code)
		}
	}
	if len(refused.reasons) != 4 {
		t.Fatalf("refusals recorded: %q", refused.reasons)
	}
	// The ticket closes in Jira: the next verified delivery revokes.
	f.jira.SetCategory("OPS-42", "Done", "done")
	f.h.Advance(time.Second)
	body2 := fmt.Appendf(nil, `{"timestamp":%d,"issue":{"key":"OPS-42"}}`, f.h.Clock.Now().UnixMilli())
	if code := post(body2, sign("hook-secret", body2)); code != http.StatusNoContent {
		t.Fatalf("verified webhook answered %d", code)
	}
	if g := f.h.Grant("g-1"); g.State != grants.GrantRevoking {
		t.Fatalf("grant %s after the webhook; want revoking", g.State)
	}
}

func TestAServiceNowWebhookIsSignedOverItsTimestampAndBody(t *testing.T) {
	fake := servicenowtest.New("accessbot", "pw", "")
	defer fake.Close()
	sys, err := servicenow.New(servicenow.Options{Name: "snow", BaseURL: fake.URL, Username: "accessbot", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := tickets.NewLookup([]tickets.System{sys}, nil)
	clk := clock.NewFake(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	closer := tickets.NewCloser(l, nil, clk, time.Minute, zerolog.Nop())
	refused := &refusals{}
	hook := tickets.NewWebhook(sys, []byte("s"), closer, refused, clk)
	body := []byte(`{"number":"PRB0000001"}`)
	ts := fmt.Sprint(clk.Now().Unix())
	post := func(ts, sig string) int {
		req := httptest.NewRequest(http.MethodPost, tickets.WebhookPath("snow"), bytes.NewReader(body))
		req.Header.Set(tickets.TimestampHeader, ts)
		req.Header.Set(tickets.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		return rec.Code
	}
	// A body signed without its timestamp does not verify; signed with it, it does (and names no
	// ticket accessbot reads, so nothing is asked of ServiceNow).
	if code := post(ts, sign("s", body)); code != http.StatusUnauthorized {
		t.Fatalf("signature over the body alone answered %d", code)
	}
	if code := post(ts, sign("s", append([]byte(ts+"."), body...))); code != http.StatusNoContent {
		t.Fatalf("signed delivery answered %d", code)
	}
	if len(refused.reasons) != 1 || len(fake.Calls()) != 0 {
		t.Fatalf("refusals %q, calls %+v", refused.reasons, fake.Calls())
	}
}

func TestACommentRefusedForGoodIsSkippedAndTheNextGoesOut(t *testing.T) {
	f := newFlow(t, "")
	f.grantOn42(t)
	f.jira.FailNext(jiratest.Failure{Status: http.StatusBadRequest, Body: `{"errorMessages":["Comment body is too long"],"errors":{}}`})
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err != nil {
		t.Fatalf("a refused comment stopped the forwarder: %v", err)
	}
	if _, err := f.h.Service.Revoke(f.h.Ctx, grantstest.Alice, "g-1"); err != nil {
		t.Fatal(err)
	}
	f.h.RunDue()
	f.jira.FailNext(jiratest.Failure{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err == nil {
		t.Fatal("a 429 was not retried")
	}
	if _, err := f.comments.ForwardOnce(f.h.Ctx); err != nil {
		t.Fatal(err)
	}
	if c := f.comments42(t); len(c) != 1 || !strings.Contains(c[0], "was revoked") {
		t.Fatalf("comments %q; want the revocation's alone", c)
	}
}
