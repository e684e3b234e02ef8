package teams_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/teams"
	"github.com/accessbot/accessbot/bot/teams/teamstest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

var carol = teamstest.Member{ID: "29:carol", Name: "Carol", AADObjectID: "00000000-0000-0000-0000-00000000ca01",
	Email: "carol@example.com"}

const securityChannel = "19:security@thread.tacv2"

// stack is the chat side of accessbot on Teams: a real grants Service, store and Bot
// delivering through the Teams client, and the messaging endpoint, all against the fake.
type stack struct {
	fake    *teamstest.Server
	clk     *clock.Fake
	db      *storage.DB
	svc     *grants.Service
	sched   *grants.Scheduler
	bot     *bot.Bot
	adapter *grantstest.FakeAdapter
	send    *teamstest.Sender
}

func ctx(t *testing.T) context.Context { return t.Context() }

// stackOptions change the stack: approvers in an Entra ID group, read through the fake Graph.
type stackOptions struct {
	approverGroup string
}

func newStack(t *testing.T, opts ...stackOptions) *stack {
	t.Helper()
	var o stackOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	c := ctx(t)
	fake := teamstest.New(t)
	for _, m := range []teamstest.Member{alice, bob, carol} {
		fake.SetMember(m)
	}
	clk := clock.NewFake(grantstest.Start)
	db, err := storage.Open(c, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(t.TempDir(), "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(c); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	client, err := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: teamstest.AppPassword,
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL(), GraphURL: fake.GraphURL(),
		Identity: teams.IdentityPolicy{Tenants: []string{teamstest.TenantID}}, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	adapter := grantstest.NewFakeAdapter()
	res := grantstest.DefaultResource()
	res.Adapter = adapter
	res.Policy.ApproverGroups = []string{"sre"}
	var dir grants.Directory = grantstest.NewDirectory(map[string][]string{"sre": {"bob@example.com"}})
	if o.approverGroup != "" {
		res.Policy.ApproverGroups = []string{o.approverGroup}
		dir = client.Directory(dir)
	}
	relay := &bot.Relay{}
	svc, err := grants.NewService(grants.Options{
		Store: db, Resources: []*grants.Resource{res}, Directory: dir,
		Groups: []string{"sre"}, Clock: clk, Log: log, Notifier: relay, Secrets: relay,
	})
	if err != nil {
		t.Fatal(err)
	}
	client.UseReviewers(svc.MayReview)
	b, err := bot.New(bot.Options{Service: svc, Store: db, Clock: clk, Log: log,
		Channels:  map[string]bot.Channels{teams.PlatformName: {Approvals: approvers, Security: securityChannel}},
		Platforms: []bot.Platform{client},
		Delivery:  bot.DeliveryOptions{Retry: grants.RetryPolicy{Jitter: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	relay.Attach(b)
	srv, err := teams.NewServer(client, teams.ServerOptions{AppID: teamstest.AppID, OpenIDMetadataURL: fake.MetadataURL(),
		Tenants: []string{teamstest.TenantID}, Handler: b, Approvals: b, Audit: db, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(func() {
		web.Close()
		srv.Wait()
	})
	s := &stack{fake: fake, clk: clk, db: db, svc: svc, bot: b, adapter: adapter,
		sched: grants.NewScheduler(svc, grants.SchedulerOptions{CallTimeout: 5 * time.Second, Sweep: -1}),
		send:  &teamstest.Sender{Fake: fake, URL: web.URL + teams.PathMessages, Now: clk.Now}}
	s.deliver(t)
	return s
}

// deliver runs the scheduler, then the dispatcher and outbox of Teams, until nothing is left.
func (s *stack) deliver(t *testing.T) {
	t.Helper()
	d, o := s.bot.Workers(teams.PlatformName)
	for i := 0; i < 5; i++ {
		if _, err := s.sched.RunDue(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DispatchOnce(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := o.SendDue(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// sent is a message activity as the connector received it.
type sent struct {
	Attachments []struct {
		ContentType string     `json:"contentType"`
		Content     teams.Card `json:"content"`
	} `json:"attachments"`
}

func cardOf(t *testing.T, body []byte) teams.Card {
	t.Helper()
	var m sent
	if err := json.Unmarshal(body, &m); err != nil || len(m.Attachments) != 1 || m.Attachments[0].ContentType != teams.ContentTypeCard {
		t.Fatalf("not a message with one card: %s", body)
	}
	return m.Attachments[0].Content
}

// invoke sends an invoke and returns the card it is answered with.
func (s *stack) invoke(t *testing.T, act map[string]any) teams.Card {
	t.Helper()
	status, body := s.send.Send(act)
	var resp struct {
		StatusCode int        `json:"statusCode"`
		Type       string     `json:"type"`
		Value      teams.Card `json:"value"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &resp) != nil || resp.Type != teams.ContentTypeCard {
		t.Fatalf("invoke answer %d: %s", status, body)
	}
	return resp.Value
}

func text(c teams.Card) string {
	var b strings.Builder
	for _, e := range c.Body {
		b.WriteString(e.Text + " ")
		for _, f := range e.Facts {
			b.WriteString(f.Title + " " + f.Value + " ")
		}
	}
	return strings.ReplaceAll(b.String(), `\`, "")
}

func verbs(c teams.Card) []string {
	var out []string
	for _, a := range c.Actions {
		out = append(out, a.Verb)
	}
	return out
}

// The story on Teams: Alice asks in her personal chat, the approval card appears in the
// approvers' channel with Approve and Deny (Action.Execute) and a refresh for the people who
// used accessbot; Alice may not approve her own request (answered with the card, without the
// buttons, and a note) and Carol is no approver (answered with the refusal alone: the request is
// not hers to see); Bob's refresh shows him the buttons; he approves; the access is granted, the card is updated in place for everyone, Alice
// hears of it in her personal chat, is warned before expiry with Extend and I'm done, and the
// access is revoked at expiry.
func TestTheWholeStoryOnTeams(t *testing.T) {
	s := newStack(t)
	// Bob and Carol have used accessbot: their cards will refresh.
	s.send.Send(s.fake.Message(bob, "a:personal-bob", teamstest.Personal, "list"))
	s.send.Send(s.fake.Message(carol, "a:personal-carol", teamstest.Personal, "list"))
	if status, body := s.send.Send(s.fake.Message(alice, personalAlice, teamstest.Personal, "request prod-db 1h INC-42 fixing the index")); status != http.StatusOK {
		t.Fatalf("request: %d %s", status, body)
	}
	replies := s.fake.Messages(personalAlice)
	if len(replies) != 1 || !strings.Contains(text(cardOf(t, replies[0].Body)), "prod-db") {
		t.Fatalf("alice's answer:\n%s", s.fake)
	}
	s.deliver(t)
	msgs := s.fake.Messages(approvers)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the approvers' channel, want the approval card:\n%s", len(msgs), s.fake)
	}
	card := cardOf(t, msgs[0].Body)
	if card.Version < "1.4" || !slices.Contains(verbs(card), bot.ActionApprove) || !slices.Contains(verbs(card), bot.ActionDeny) {
		t.Fatalf("the approval card has no Approve and Deny: %s", msgs[0].Body)
	}
	if card.Refresh == nil || card.Refresh.Action.Verb != teams.VerbRefresh ||
		!slices.Contains(card.Refresh.UserIDs, bob.ID) || !slices.Contains(card.Refresh.UserIDs, alice.ID) {
		t.Fatalf("the approval card's refresh: %+v", card.Refresh)
	}
	requestID := card.Refresh.Action.Data.Value
	data := map[string]any{"action": bot.ActionApprove, "value": requestID}

	// Alice cannot approve her own request; her card loses the buttons.
	c := s.invoke(t, (s.fake.Invoke(alice, approvers, teamstest.Channel, bot.ActionApprove, data)))
	if !strings.Contains(text(c), "your own request") || slices.Contains(verbs(c), bot.ActionApprove) {
		t.Errorf("self-approval answer: %s / %v", text(c), verbs(c))
	}
	// Carol is no approver.
	c = s.invoke(t, (s.fake.Invoke(carol, approvers, teamstest.Channel, bot.ActionApprove, data)))
	if !strings.Contains(text(c), "not an approver") || slices.Contains(verbs(c), bot.ActionApprove) {
		t.Errorf("non-approver answer: %s / %v", text(c), verbs(c))
	}
	// The refresh shows Bob the buttons, and Carol none.
	c = s.invoke(t, (s.fake.Invoke(bob, approvers, teamstest.Channel, teams.VerbRefresh, map[string]any{"action": "refresh", "value": requestID})))
	if !slices.Contains(verbs(c), bot.ActionApprove) {
		t.Errorf("bob's refreshed card has no Approve: %v", verbs(c))
	}
	// Carol may not see the request: her refresh gets no card (Teams keeps the posted one, and
	// her clicks are refused), so that a refresh shows nobody a request that is not theirs.
	if _, body := s.send.Send(s.fake.Invoke(carol, approvers, teamstest.Channel, teams.VerbRefresh, map[string]any{"action": "refresh", "value": requestID})); strings.Contains(string(body), teams.ContentTypeCard) || strings.Contains(string(body), "prod-db") {
		t.Errorf("carol's refresh shows the request: %s", body)
	}
	// Alice's (the requester's) refresh shows the request without the buttons.
	c = s.invoke(t, s.fake.Invoke(alice, approvers, teamstest.Channel, teams.VerbRefresh, map[string]any{"action": "refresh", "value": requestID}))
	if !strings.Contains(text(c), "prod-db") || slices.Contains(verbs(c), bot.ActionApprove) {
		t.Errorf("alice's refreshed card: %s / %v", text(c), verbs(c))
	}
	// A click carries only names: data saying someone else clicked changes nothing.
	if rs, _ := s.svc.ListRequests(ctx(t), grants.RequestFilter{}); len(rs) != 1 || rs[0].State != grants.RequestPending {
		t.Fatalf("the request is no longer pending after refused clicks: %+v", rs)
	}

	// Bob approves.
	c = s.invoke(t, (s.fake.Invoke(bob, approvers, teamstest.Channel, bot.ActionApprove, data)))
	if !strings.Contains(strings.ToLower(text(c)), "approv") {
		t.Errorf("bob's answer: %s", text(c))
	}
	s.deliver(t)
	if len(s.adapter.Calls()) == 0 {
		t.Fatal("the adapter was never asked to grant")
	}
	now := s.fake.Messages(approvers)
	if len(now) != 1 || now[0].Updates == 0 || !strings.Contains(strings.ToLower(text(cardOf(t, now[0].Body))), "granted") {
		t.Errorf("the approval card was not updated in place:\n%s", s.fake)
	}
	if slices.Contains(verbs(cardOf(t, now[0].Body)), bot.ActionApprove) {
		t.Errorf("the decided card still has Approve")
	}
	dm := s.fake.PersonalConversation(alice.ID)
	if dm == "" || len(s.fake.Messages(dm)) < 2 {
		t.Fatalf("alice was not told in her personal chat:\n%s", s.fake)
	}

	// The expiry warning, with Extend and I'm done.
	s.clk.Advance(51 * time.Minute)
	s.deliver(t)
	var warning *teams.Card
	for _, m := range s.fake.Messages(dm) {
		if c := cardOf(t, m.Body); slices.Contains(verbs(c), bot.ActionExtend) && slices.Contains(verbs(c), bot.ActionRevoke) {
			warning = &c
		}
	}
	if warning == nil {
		t.Fatalf("no expiry warning with Extend and I'm done:\n%s", s.fake)
	}
	// Extend opens the extend form in place of the warning.
	grantID := ""
	for _, a := range warning.Actions {
		if a.Verb == bot.ActionExtend {
			grantID = a.Data.Value
		}
	}
	form := s.invoke(t, s.fake.Invoke(alice, dm, teamstest.Personal, bot.ActionExtend, map[string]any{"action": bot.ActionExtend, "value": grantID}))
	if len(form.Actions) != 1 || form.Actions[0].Data.Form != bot.FormExtend || form.Actions[0].Data.Value != grantID {
		t.Errorf("Extend answered %+v, want the extend form", form.Actions)
	}
	// Revoked at expiry.
	s.clk.Advance(10 * time.Minute)
	s.deliver(t)
	final := cardOf(t, s.fake.Messages(approvers)[0].Body)
	if txt := strings.ToLower(text(final)); !strings.Contains(txt, "revoked") && !strings.Contains(txt, "expired") && !strings.Contains(txt, "ended") {
		t.Errorf("the approval card does not say the access ended: %s", txt)
	}
	revoked := false
	for _, call := range s.adapter.Calls() {
		if call.Op == "revoke" {
			revoked = true
		}
	}
	if !revoked {
		t.Errorf("the adapter was never asked to revoke: %+v", s.adapter.Calls())
	}
}

// The request form is a card; its Action.Execute submission makes the request.
func TestTheRequestFormOnTeamsMakesTheRequest(t *testing.T) {
	s := newStack(t)
	s.send.Send(s.fake.Message(alice, personalAlice, teamstest.Personal, "request"))
	msgs := s.fake.Messages(personalAlice)
	if len(msgs) != 1 {
		t.Fatalf("no form:\n%s", s.fake)
	}
	form := cardOf(t, msgs[0].Body)
	if len(form.Actions) != 1 || form.Actions[0].Verb != teams.VerbSubmit || form.Actions[0].Data.Form != bot.FormRequest {
		t.Fatalf("the form's submit: %+v", form.Actions)
	}
	c := s.invoke(t, (s.fake.Invoke(alice, personalAlice, teamstest.Personal, teams.VerbSubmit, map[string]any{
		"action": "submit", "form": bot.FormRequest, "resource": "prod-db", "duration": "30m", "reason": "INC-7 checking a report"})))
	if !strings.Contains(text(c), "prod-db") {
		t.Fatalf("submission answer: %s", text(c))
	}
	if rs, _ := s.svc.ListRequests(ctx(t), grants.RequestFilter{}); len(rs) != 1 {
		t.Errorf("%d requests, want 1", len(rs))
	}
	c = s.invoke(t, (s.fake.Invoke(alice, personalAlice, teamstest.Personal, teams.VerbSubmit, map[string]any{
		"action": "submit", "form": bot.FormRequest, "resource": "prod-db", "duration": "forever"})))
	if !strings.Contains(text(c), "not a duration") {
		t.Errorf("a bad duration: %s", text(c))
	}
}

// A 429 from the connector is a RetryAfterError with its wait: the outbox waits it out and
// the approval card is posted after.
func TestA429FromTheConnectorIsWaitedOut(t *testing.T) {
	s := newStack(t)
	s.send.Send(s.fake.Message(alice, personalAlice, teamstest.Personal, "request prod-db 1h INC-42 fixing the index"))
	s.fake.FailNext(teamstest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 7})
	s.deliver(t)
	if n := len(s.fake.Messages(approvers)); n != 0 {
		t.Fatalf("%d approval cards while rate limited", n)
	}
	s.clk.Advance(8 * time.Second)
	s.deliver(t)
	if n := len(s.fake.Messages(approvers)); n != 1 {
		t.Fatalf("%d approval cards after the wait, want 1:\n%s", n, s.fake)
	}
}

func TestTheClientMapsConnectorFailures(t *testing.T) {
	fake := teamstest.New(t)
	c, err := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: teamstest.AppPassword,
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL()})
	if err != nil {
		t.Fatal(err)
	}
	v := bot.View{Title: "hello"}
	fake.FailNext(teamstest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 3})
	_, err = c.Post(ctx(t), approvers, v)
	if ra, ok := errors.AsType[*bot.RetryAfterError](err); !ok || ra.After != 3*time.Second {
		t.Errorf("429: %v, want a RetryAfterError of 3s", err)
	}
	fake.FailNext(teamstest.Fault{Status: http.StatusBadGateway})
	if _, err = c.Post(ctx(t), approvers, v); err == nil || errors.Is(err, bot.ErrPermanent) {
		t.Errorf("502: %v, want a retryable error", err)
	}
	fake.FailNext(teamstest.Fault{Status: http.StatusForbidden})
	if _, err = c.Post(ctx(t), approvers, v); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("403: %v, want permanent", err)
	}
	if _, err = c.Post(ctx(t), approvers, v); err != nil {
		t.Errorf("after the faults: %v", err)
	}
	if n := fake.TokensIssued(); n != 1 {
		t.Errorf("%d tokens issued for four calls, want 1 (cached)", n)
	}
	big := bot.View{Title: "secret", Secret: &bot.Secret{Label: "kubeconfig", Value: strings.Repeat("x", 50_000)}}
	if _, err = c.DM(ctx(t), alice.ID, big); !errors.Is(err, bot.ErrSecretTooLong) {
		t.Errorf("a secret over Teams' limit: %v, want ErrSecretTooLong", err)
	}
	wrong, _ := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: "wrong",
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL()})
	if _, err = wrong.Post(ctx(t), approvers, v); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a wrong secret: %v", err)
	}
}

// The digest's chart is posted inline, as a data: URI in an Image, which Teams shows.
func TestTheDigestChartIsPostedInline(t *testing.T) {
	fake := teamstest.New(t)
	c, err := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: teamstest.AppPassword,
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL()})
	if err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\n fake chart")
	if err := c.Upload(ctx(t), securityChannel, "digest.png", png, "Access this week"); err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages(securityChannel)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	card := cardOf(t, msgs[0].Body)
	if len(card.Body) != 2 || card.Body[1].Type != "Image" || card.Body[1].URL != "data:image/png;base64,"+base64.StdEncoding.EncodeToString(png) {
		t.Errorf("chart card: %s", msgs[0].Body)
	}
}

// An approver group may be an Entra ID group: Graph's checkMemberGroups says who is in it (Bob,
// by his Entra object ID), the answer is cached, and Carol, in no group, is refused.
func TestAnEntraGroupDecidesWhoApproves(t *testing.T) {
	const oncall = "0c0c0c0c-0000-0000-0000-00000000000c"
	s := newStack(t, stackOptions{approverGroup: teams.GroupPrefix + oncall})
	s.fake.SetGroups(bob.AADObjectID, oncall)
	s.fake.SetGroups(carol.AADObjectID)
	s.send.Send(s.fake.Message(alice, personalAlice, teamstest.Personal, "request prod-db 1h INC-42 fixing the index"))
	s.deliver(t)
	card := cardOf(t, s.fake.Messages(approvers)[0].Body)
	requestID := ""
	for _, a := range card.Actions {
		if a.Verb == bot.ActionApprove {
			requestID = a.Data.Value
		}
	}
	data := map[string]any{"action": bot.ActionApprove, "value": requestID}
	c := s.invoke(t, s.fake.Invoke(carol, approvers, teamstest.Channel, bot.ActionApprove, data))
	if !strings.Contains(text(c), "not an approver") {
		t.Errorf("carol: %s", text(c))
	}
	c = s.invoke(t, s.fake.Invoke(bob, approvers, teamstest.Channel, teams.VerbRefresh, map[string]any{"action": "refresh", "value": requestID}))
	if !slices.Contains(verbs(c), bot.ActionApprove) {
		t.Errorf("bob's refreshed card has no Approve: %v", verbs(c))
	}
	calls := s.fake.GraphCalls()
	s.invoke(t, s.fake.Invoke(bob, approvers, teamstest.Channel, bot.ActionApprove, data))
	s.deliver(t)
	if len(s.adapter.Calls()) == 0 {
		t.Fatal("bob, in the Entra ID group, could not approve")
	}
	if s.fake.GraphCalls() != calls {
		t.Errorf("Graph asked again within the cache's life: %d calls, then %d", calls, s.fake.GraphCalls())
	}
	for _, call := range s.fake.Calls() {
		if strings.HasSuffix(call.Path, "/checkMemberGroups") && !strings.Contains(call.Path, bob.AADObjectID) && !strings.Contains(call.Path, carol.AADObjectID) {
			t.Errorf("Graph asked about %s, not an object ID", call.Path)
		}
	}
}

// A Graph outage is an error, never a membership: authorization fails closed.
func TestAGraphOutageFailsClosed(t *testing.T) {
	fake := teamstest.New(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	c, err := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: teamstest.AppPassword,
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL(), GraphURL: down.URL})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := c.Directory(nil).MemberOf(ctx(t), grants.Actor{ID: "bob@example.com", Email: "bob@example.com"},
		teams.GroupPrefix+"0c0c0c0c-0000-0000-0000-00000000000c")
	if ok || err == nil {
		t.Errorf("MemberOf during an outage = %v, %v; want false and an error", ok, err)
	}
	if ok, err := c.Directory(nil).MemberOf(ctx(t), grants.Actor{ID: "bob@example.com"}, "sre"); ok || err != nil {
		t.Errorf("a group that is not Entra's: %v, %v", ok, err)
	}
}
