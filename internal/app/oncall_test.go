package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
	pdt "github.com/accessbot/accessbot/oncall/pagerduty/pagerdutytest"
)

// webActor is a person of the web chat below, as the chat shows them to the bot.
func webActor(id string) grants.Actor {
	email := id + "@example.com"
	return grants.Actor{ID: email, Email: email, Name: id, Platform: "web", PlatformID: id}
}

// card waits for the approval card of a request in the web chat and returns its view.
func card(t *testing.T, a *app.App, requestID string, ready func(bot.View) bool) bot.View {
	t.Helper()
	var found bot.View
	waitFor(t, "the approval card of "+requestID, func() bool {
		st, _ := a.Web.StateFor("bob")
		for _, m := range st.Messages {
			if m.View != nil && strings.Contains(m.View.Footer, "Request "+requestID) && ready(*m.View) {
				found = *m.View
				return true
			}
		}
		return false
	})
	return found
}

func field(v bot.View, label string) string {
	var out []string
	for _, f := range v.Fields {
		if f.Label == label {
			out = append(out, f.Value)
		}
	}
	return strings.Join(out, "\n")
}

// The whole on-call path as wired, through the web chat and PagerDuty's fake: the card names
// and calls on who is on call, the on-call person approves; a requester on call at level 1 has
// level 2 called on, who approves; during an outage a member of the named group still approves
// and the card says what was not checked.
func TestApprovalsFollowTheRotaThroughTheWiredApp(t *testing.T) {
	pd := pdt.New(t)
	pd.PageSize = 1 // every answer is paged
	carolPD := pdt.User{ID: "PCAROL1", Name: "Carol", Email: "Carol@Example.com"}
	davePD := pdt.User{ID: "PDAVE01", Name: "Dave", Email: "dave@example.com"}
	pd.Policy("PESC001", []pdt.User{carolPD}, []pdt.User{davePD})

	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: prod-db
    adapter: {type: exec, command: /bin/true}
    policy:
      approvers: [leads, "pagerduty:escalation/PESC001/level/1"]
      reason_required: false
oncall:
  pagerduty:
    token: "${PD_TOKEN}"
    api_url: "` + pd.URL + `"
web:
  enabled: true
  people:
    - {id: alice, email: alice@example.com}
    - {id: bob, email: bob@example.com}
    - {id: carol, email: carol@example.com}
    - {id: dave, email: dave@example.com}
`
	clk := clock.NewFake(time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
	a, ctx, cancel := newApp(t, dir, yaml, func(k string) (string, bool) { return pdt.Token, k == "PD_TOKEN" }, clk)
	// The web chat's dispatcher starts where the log is when it first runs; its cursor made now
	// has it deliver every request below, however soon after Run they are made.
	if _, err := a.DB.InitCursor(ctx, bot.CursorName(web.PlatformName)); err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}()
	alice, bob, carol, dave := webActor("alice"), webActor("bob"), webActor("carol"), webActor("dave")
	request := func(who grants.Actor) string {
		t.Helper()
		out, err := a.Service.Request(ctx, who, grants.RequestInput{Resource: "prod-db", Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return out.Request.ID
	}
	approve := func(who grants.Actor, id string) bot.Reply {
		t.Helper()
		return a.Bot.Act(ctx, who, bot.Action{ID: bot.ActionApprove, Value: id})
	}
	state := func(id string) grants.RequestState {
		t.Helper()
		r, err := a.Service.GetRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}

	// 1. Alice asks; the card names Carol, on call at level 1, and calls on her; Dave, at level
	// 2, may not approve; Carol does.
	r1 := request(alice)
	v := card(t, a, r1, func(v bot.View) bool { return len(v.Notify) > 0 })
	if got := field(v, "On call"); got != "pagerduty:escalation/PESC001/level/1: Carol" || !slices.Equal(v.Notify, []string{"carol@example.com"}) {
		t.Fatalf("card: on call %q, notify %v", got, v.Notify)
	}
	approve(dave, r1)
	if state(r1) != grants.RequestPending {
		t.Fatal("dave, at level 2, approved while the requester is not on call")
	}
	approve(carol, r1)
	if state(r1) != grants.RequestApproved {
		t.Fatalf("carol, on call, approved; request is %s", state(r1))
	}

	// 2. Carol, on call at level 1, asks: the card calls on Dave at level 2, who approves;
	// Carol never approves her own request.
	r2 := request(carol)
	v = card(t, a, r2, func(v bot.View) bool { return len(v.Notify) > 0 })
	if got := field(v, "On call"); !strings.Contains(got, "Dave (level 2: the requester is on call at level 1)") || !slices.Equal(v.Notify, []string{"dave@example.com"}) {
		t.Fatalf("card of the on-call requester: on call %q, notify %v", got, v.Notify)
	}
	approve(carol, r2)
	if state(r2) != grants.RequestPending {
		t.Fatal("carol approved her own request")
	}
	approve(dave, r2)
	if state(r2) != grants.RequestApproved {
		t.Fatalf("dave, at the next level, approved; request is %s", state(r2))
	}

	// 3. PagerDuty is down (and the minute's answer is old): the card says what was not
	// checked; Carol is no approver now; Bob of the named group approves.
	pd.SetDown(true)
	clk.Advance(2 * time.Minute)
	r3 := request(alice)
	v = card(t, a, r3, func(bot.View) bool { return true })
	if got := field(v, "On call"); !strings.Contains(got, "Not checked") || !strings.Contains(got, "503") || len(v.Notify) != 0 {
		t.Fatalf("card during the outage: on call %q, notify %v", got, v.Notify)
	}
	reply := approve(carol, r3)
	if state(r3) != grants.RequestPending {
		t.Fatal("carol approved while PagerDuty could not say she is on call")
	}
	if reply.View == nil || !strings.Contains(reply.View.Text, "could not ask who is on call for pagerduty:escalation/PESC001") {
		t.Fatalf("carol's refused click answered %+v, want the rota named", reply.View)
	}
	approve(bob, r3)
	if state(r3) != grants.RequestApproved {
		t.Fatalf("bob of leads approved during the outage; request is %s", state(r3))
	}

	// The log says who was on call when each rota approval was made, and what the card saw.
	var vias, checks []string
	if err := a.DB.ScanAudit(ctx, audit.Filter{}, func(e audit.Event) error {
		switch e.Type {
		case audit.ReviewApproved:
			vias = append(vias, e.Actor+": "+e.Data[audit.KeyVia])
		case audit.RequestCreated:
			checks = append(checks, e.Data[audit.KeyChecks])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"carol@example.com: on call for pagerduty:escalation/PESC001/level/1: carol@example.com",
		"dave@example.com: on call at level 2 of pagerduty:escalation/PESC001, asked because the requester is on call at level 1: dave@example.com",
		"bob@example.com: ",
	}
	if !slices.Equal(vias, want) {
		t.Fatalf("review.approved via:\n%s\nwant:\n%s", strings.Join(vias, "\n"), strings.Join(want, "\n"))
	}
	if len(checks) != 3 || !strings.Contains(checks[0], "carol@example.com") || !strings.Contains(checks[2], "unknown") {
		t.Fatalf("request.created checks: %q", checks)
	}
}

// A rota that does not exist is named by /readyz, and the app still starts.
func TestReadyzNamesARotaThatDoesNotExist(t *testing.T) {
	pd := pdt.New(t)
	pd.Schedule("PSCHED1", pdt.User{ID: "PCAROL1", Name: "Carol", Email: "carol@example.com"})
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: prod-db
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads, "pagerduty:schedule/PSCHED1", "pagerduty:schedule/PGONE00"]}
oncall:
  pagerduty: {token: "` + pdt.Token + `", api_url: "` + pd.URL + `"}
`
	status, body := readyz(t, runApp(t, dir, yaml), "PGONE00")
	if status != 503 || !strings.Contains(body, "pagerduty:schedule/PGONE00") || !strings.Contains(body, "no such schedule") || strings.Contains(body, "PSCHED1") {
		t.Fatalf("GET /readyz = %d %s, want 503 naming PGONE00 alone", status, body)
	}
}
