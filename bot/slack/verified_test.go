package slack_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/clock"
)

// verifiedHarness is newHarness with an identity policy and one more user.
func verifiedHarness(t *testing.T, p slack.IdentityPolicy, u slacktest.User) *harness {
	t.Helper()
	fake := slacktest.New(t)
	fake.AddUser(u)
	clk := clock.NewFake(t0)
	h := &harness{fake: fake, clk: clk, handler: &fakeHandler{}, audit: &fakeAudit{}}
	c, err := slack.NewClient(slack.ClientOptions{
		BotToken: slacktest.BotToken, APIURL: fake.APIURL(), Clock: clk, Log: zerolog.Nop(), Identity: p,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := slack.NewServer(c, slack.ServerOptions{
		SigningSecret: signingSecret, Handler: h.handler, Audit: h.audit, Clock: clk, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.server = srv
	mux := http.NewServeMux()
	srv.Mount(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(func() {
		web.Close()
		srv.Wait()
	})
	h.url = web.URL
	h.send = &slacktest.Sender{BaseURL: web.URL, Secret: signingSecret, Now: clk.Now}
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Your grants", Text: "None."}}
	return h
}

// Finding 3 of issue 13: nothing restricted Slack teams, guests, Slack Connect users or email
// domains. Each kind of account is refused by default (or by the setting that names it), with
// one private sentence and an identity.refused event, and accepted where the config says so.
func TestTheIdentityPolicyDecidesWhichSlackUsersAccessbotActsFor(t *testing.T) {
	member := slacktest.User{ID: "U0MEMBER", Name: "mia", RealName: "Mia", Email: "mia@example.com"}
	with := func(f func(u *slacktest.User)) slacktest.User {
		u := member
		f(&u)
		return u
	}
	tests := []struct {
		name    string
		policy  slack.IdentityPolicy
		user    slacktest.User
		refused string // "" when accepted
	}{
		{"a member of the bot's workspace is accepted", slack.IdentityPolicy{}, member, ""},
		{"a multi-channel guest is refused", slack.IdentityPolicy{},
			with(func(u *slacktest.User) { u.Guest = true }), audit.RefusedGuest},
		{"a single-channel guest is refused", slack.IdentityPolicy{},
			with(func(u *slacktest.User) { u.SingleChannelGuest = true }), audit.RefusedGuest},
		{"a guest is accepted with allow_guests", slack.IdentityPolicy{AllowGuests: true},
			with(func(u *slacktest.User) { u.SingleChannelGuest = true }), ""},
		{"a Slack Connect user of another organization is refused", slack.IdentityPolicy{},
			with(func(u *slacktest.User) { u.TeamID, u.Stranger = "T0PARTNER", true }), audit.RefusedExternal},
		{"a Slack Connect user is accepted with allow_external", slack.IdentityPolicy{AllowExternal: true},
			with(func(u *slacktest.User) { u.TeamID, u.Stranger = "T0PARTNER", true }), ""},
		{"a member of a workspace not listed is refused", slack.IdentityPolicy{Teams: []string{"T0HOME"}},
			with(func(u *slacktest.User) { u.TeamID = "T0OTHER" }), audit.RefusedTeam},
		{"the bot's own workspace is not home when others are listed", slack.IdentityPolicy{Teams: []string{"T0HOME"}},
			member, audit.RefusedTeam},
		{"a member of a listed workspace is accepted", slack.IdentityPolicy{Teams: []string{"T0HOME"}},
			with(func(u *slacktest.User) { u.TeamID = "T0HOME" }), ""},
		{"a member of the enterprise from another of its workspaces is accepted",
			slack.IdentityPolicy{Teams: []string{"T0HOME"}, EnterpriseID: "E0ORG"},
			with(func(u *slacktest.User) { u.TeamID, u.EnterpriseID = "T0OTHER", "E0ORG" }), ""},
		{"a member of another enterprise is refused",
			slack.IdentityPolicy{Teams: []string{"T0HOME"}, EnterpriseID: "E0ORG"},
			with(func(u *slacktest.User) { u.TeamID, u.EnterpriseID = "T0OTHER", "E0ELSE" }), audit.RefusedTeam},
		{"an unconfirmed email is refused", slack.IdentityPolicy{},
			with(func(u *slacktest.User) { u.EmailUnconfirmed = true }), audit.RefusedEmailUnconfirmed},
		{"a user Slack shows no email for is accepted without a domain list", slack.IdentityPolicy{},
			with(func(u *slacktest.User) { u.Email = "" }), ""},
		{"an email outside the allowed domains is refused", slack.IdentityPolicy{EmailDomains: []string{"example.com"}},
			with(func(u *slacktest.User) { u.Email = "mia@evil.example" }), audit.RefusedEmailDomain},
		{"a subdomain is not the domain", slack.IdentityPolicy{EmailDomains: []string{"example.com"}},
			with(func(u *slacktest.User) { u.Email = "mia@evil.example.com" }), audit.RefusedEmailDomain},
		{"no email is refused when domains are listed", slack.IdentityPolicy{EmailDomains: []string{"example.com"}},
			with(func(u *slacktest.User) { u.Email = "" }), audit.RefusedEmailDomain},
		{"an email in an allowed domain is accepted", slack.IdentityPolicy{EmailDomains: []string{"corp.example", "example.com"}},
			with(func(u *slacktest.User) { u.Email = "Mia@Example.com" }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := verifiedHarness(t, tt.policy, tt.user)
			cmd := slacktest.Command{Text: "list", UserID: tt.user.ID, ChannelID: "C0GENERAL"}
			a := decodeAnswer(t, h.command(t, cmd).Body)
			cmds, _ := h.handler.got()
			var refusals []audit.Event
			for _, e := range h.audit.all() {
				if e.Type == audit.IdentityRefused {
					refusals = append(refusals, e)
				}
			}
			if tt.refused == "" {
				if len(cmds) != 1 || len(refusals) != 0 {
					t.Fatalf("accepted user: the handler saw %d commands, %d identity.refused events; answer %+v", len(cmds), len(refusals), a)
				}
				return
			}
			if len(cmds) != 0 {
				t.Fatalf("a refused user reached the handler: %+v", cmds)
			}
			want := (&slack.RefusedError{Refused: tt.refused}).Sentence()
			if a.ResponseType != "ephemeral" || !strings.HasSuffix(a.Text, "\n"+want) {
				t.Errorf("answer %q (%s), want the private sentence %q", a.Text, a.ResponseType, want)
			}
			if len(refusals) != 1 {
				t.Fatalf("%d identity.refused events, want 1", len(refusals))
			}
			p, err := audit.Decode[audit.IdentityRefusedData](refusals[0])
			if err != nil || p.Refused != tt.refused || p.PlatformID != tt.user.ID || p.Platform != "slack" {
				t.Errorf("identity.refused %+v (%v), want %s for %s", p, err, tt.refused, tt.user.ID)
			}
			if refusals[0].Actor != "slack:"+tt.user.ID {
				t.Errorf("event actor %q, want slack:%s", refusals[0].Actor, tt.user.ID)
			}

			// Trying again at once is refused again, without flooding the audit log.
			h.command(t, cmd)
			h.clk.Advance(2 * time.Minute)
			h.command(t, slacktest.Command{Text: "list", UserID: tt.user.ID, ChannelID: "C0GENERAL"})
			n := 0
			for _, e := range h.audit.all() {
				if e.Type == audit.IdentityRefused {
					n++
				}
			}
			if cmds, _ := h.handler.got(); len(cmds) != 0 || n != 2 {
				t.Errorf("after three tries over two minutes: %d commands handled, %d events; want 0 and 2", len(cmds), n)
			}
		})
	}
}

func TestAClickByARefusedUserIsRefusedPrivately(t *testing.T) {
	guest := slacktest.User{ID: "U0GUEST", Name: "gus", Email: "gus@example.com", Guest: true}
	h := verifiedHarness(t, slack.IdentityPolicy{}, guest)
	resp := h.interact(t, slacktest.BlockAction{
		UserID: guest.ID, ActionID: bot.ActionApprove, Value: "r-1",
		ChannelID: "C0APPROVE", MessageTS: "1700000000.000100", ResponseURL: h.fake.ResponseURL("click-1"),
	}.Payload())
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d", resp.Status)
	}
	if _, acts := h.handler.got(); len(acts) != 0 {
		t.Errorf("a guest's click reached the handler: %+v", acts)
	}
	posts := h.fake.Calls("response_url")
	want := (&slack.RefusedError{Refused: audit.RefusedGuest}).Sentence()
	if len(posts) != 1 || posts[0].Arg("response_type") != "ephemeral" || !strings.Contains(posts[0].Arg("text"), want) {
		t.Errorf("reply to the click: %+v, want the private sentence %q", posts, want)
	}
}

// A Slack user ID names the same person as the email Slack shows for it: grants counts them
// once (grants.Aliases).
func TestASlackIDResolvesToThePersonsEmail(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(alice)
	fake.AddUser(nomail)
	fake.AddUser(slacktest.User{ID: "U0GUEST", Email: "gus@example.com", Guest: true})
	c := newClient(t, fake, clock.NewFake(t0))
	for _, tt := range []struct{ in, want string }{
		{"slack:U0ALICE", "alice@example.com"},
		{"SLACK:U0ALICE", "alice@example.com"},
		{"slack:U0NOMAIL", "slack:U0NOMAIL"},
		{"slack:U0GONE", "slack:U0GONE"},
		{"slack:U0GUEST", "slack:U0GUEST"},
		{"discord:81234", "discord:81234"},
		{"bob@example.com", "bob@example.com"},
	} {
		got, err := c.ResolvePerson(ctx(t), tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ResolvePerson(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
