package teams_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/teams"
	"github.com/accessbot/accessbot/bot/teams/teamstest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

var (
	alice = teamstest.Member{ID: "29:alice", Name: "Alice", AADObjectID: "00000000-0000-0000-0000-0000000a11ce",
		Email: "Alice@example.com", UPN: "alice@example.com"}
	bob = teamstest.Member{ID: "29:bob", Name: "Bob", AADObjectID: "00000000-0000-0000-0000-000000000b0b",
		Email: "bob@example.com", UPN: "bob@example.com"}
	guest = teamstest.Member{ID: "29:gus", Name: "Gus", AADObjectID: "00000000-0000-0000-0000-000000000605",
		Email: "gus@partner.example", UPN: "gus_partner.example#EXT#@example.onmicrosoft.com", UserRole: "guest"}
)

const (
	personalAlice = "a:personal-alice"
	approvers     = "19:approvers@thread.tacv2"
)

// auditLog records the audit events a server appends.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (l *auditLog) AppendAudit(_ context.Context, e audit.Event) (audit.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return e, nil
}

func (l *auditLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Type)
	}
	return out
}

// handler records what reaches the core and answers with what it got.
type handler struct {
	mu       sync.Mutex
	commands []string
	actors   []grants.Actor
	acts     []bot.Action
}

func (h *handler) Command(_ context.Context, a grants.Actor, text string) bot.Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commands = append(h.commands, text)
	h.actors = append(h.actors, a)
	if text == bot.VerbRequest {
		return bot.Reply{Private: true, Form: &bot.Form{ID: bot.FormRequest, Title: "Request access", Submit: "Request",
			Inputs: []bot.Input{{ID: "resource", Label: "Resource", Kind: bot.InputText}}}}
	}
	return bot.Reply{View: &bot.View{Title: "got " + text, Tone: bot.ToneNeutral}}
}

func (h *handler) Act(_ context.Context, a grants.Actor, act bot.Action) bot.Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acts = append(h.acts, act)
	h.actors = append(h.actors, a)
	return bot.Reply{Private: true, View: &bot.View{Title: "did " + act.ID, Tone: bot.ToneSuccess}}
}

func (h *handler) seen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.commands) + len(h.acts)
}

type endpoint struct {
	fake    *teamstest.Server
	clk     *clock.Fake
	audit   *auditLog
	handler *handler
	client  *teams.Client
	server  *teams.Server
	send    *teamstest.Sender
}

func newEndpoint(t *testing.T, policy teams.IdentityPolicy) *endpoint {
	t.Helper()
	fake := teamstest.New(t)
	fake.SetMember(alice)
	fake.SetMember(bob)
	fake.SetMember(guest)
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	if policy.Tenants == nil {
		policy.Tenants = []string{teamstest.TenantID}
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	c, err := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: teamstest.AppPassword,
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL(), Identity: policy,
		Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	al, h := &auditLog{}, &handler{}
	srv, err := teams.NewServer(c, teams.ServerOptions{AppID: teamstest.AppID, OpenIDMetadataURL: fake.MetadataURL(),
		Tenants: policy.Tenants, Handler: h, Audit: al, Clock: clk, Log: log})
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
	return &endpoint{fake: fake, clk: clk, audit: al, handler: h, client: c, server: srv,
		send: &teamstest.Sender{Fake: fake, URL: web.URL + teams.PathMessages, Now: clk.Now}}
}

// Every way a token can be wrong is refused with 401 and an auth.failed audit event, before
// anything reaches the core.
func TestTheEndpointRefusesWhatTheBotFrameworkDidNotSign(t *testing.T) {
	cases := []struct {
		name   string
		token  teamstest.Token
		change func(map[string]any)
		reason string
	}{
		{name: "a token signed with another key under the real key ID", token: teamstest.Token{Forge: true}, reason: "signature"},
		{name: "an expired token", token: teamstest.Token{Life: -10 * time.Minute}, reason: "expired"},
		{name: "a token for another bot", token: teamstest.Token{Audience: "11111111-0000-0000-0000-000000000000"}, reason: "audience"},
		{name: "a token from another issuer", token: teamstest.Token{Issuer: "https://sts.windows.net/evil/"}, reason: "issuer"},
		{name: "a token whose serviceurl is not the activity's", token: teamstest.Token{ServiceURL: "https://evil.example/"}, reason: "serviceurl"},
		{name: "a token with an unknown key ID", token: teamstest.Token{KeyID: "nobody-knows"}, reason: "unknown key"},
		{name: "a token with alg none", token: teamstest.Token{Alg: "none"}, reason: "RS256"},
		{name: "a token with alg HS256 keyed with the public key", token: teamstest.Token{Alg: "HS256"}, reason: "RS256"},
		{name: "an activity from another tenant", change: func(a map[string]any) {
			a["channelData"] = map[string]any{"tenant": map[string]string{"id": "99999999-0000-0000-0000-000000000000"}}
		}, reason: "tenant"},
		{name: "an activity of a channel the key is not endorsed for", change: func(a map[string]any) { a["channelId"] = "webchat" }, reason: "endorsed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, teams.IdentityPolicy{})
			act := e.fake.Message(alice, personalAlice, teamstest.Personal, "list")
			if tc.change != nil {
				tc.change(act)
			}
			status, body := e.send.SendWith(act, tc.token)
			if status != http.StatusUnauthorized {
				t.Fatalf("status %d (%s), want 401", status, body)
			}
			if got := e.audit.types(); len(got) != 1 || got[0] != audit.AuthFailed {
				t.Fatalf("audit events %v, want one auth.failed", got)
			}
			reason := e.audit.events[0].Data["reason"]
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not say %q", reason, tc.reason)
			}
			if e.handler.seen() != 0 {
				t.Errorf("a refused request reached the core")
			}
		})
	}
}

// A request without a token is refused as well.
func TestARequestWithoutATokenIsRefused(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	resp, err := http.Post(e.send.URL, "application/json", strings.NewReader(`{"type":"message"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(e.audit.types()) != 1 {
		t.Errorf("status %d, audit %v; want 401 and auth.failed", resp.StatusCode, e.audit.types())
	}
}

// A token signed with a key the bot has not fetched makes it fetch the keys again, once; a
// flood of unknown key IDs after that costs no fetch until the refresh interval has passed.
func TestAnUnknownKeyRefreshesTheKeysOnceThenRefuses(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	if status, body := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusOK {
		t.Fatalf("a good request: %d %s", status, body)
	}
	if n := e.fake.KeyFetches(); n != 1 {
		t.Fatalf("%d key fetches after the first request, want 1", n)
	}
	e.clk.Advance(teams.DefaultMinRefresh)
	e.fake.Rotate("key-2", false, false) // Teams signs with a key the JWKS does not list yet
	for i := 0; i < 20; i++ {
		if status, _ := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusUnauthorized {
			t.Fatalf("request %d with an unknown key: status %d, want 401", i, status)
		}
	}
	if n := e.fake.KeyFetches(); n != 2 {
		t.Errorf("%d key fetches after 20 unknown keys, want 2 (one refresh)", n)
	}
	e.fake.Publish()
	e.clk.Advance(teams.DefaultMinRefresh)
	if status, body := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusOK {
		t.Fatalf("once the key is published: %d %s", status, body)
	}
	if n := e.fake.KeyFetches(); n != 3 {
		t.Errorf("%d key fetches, want 3", n)
	}
}

// When the Bot Framework rotates its keys, the new one is fetched at its first use and the
// request accepted.
func TestARotatedKeyIsFetchedAtItsFirstUse(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	if status, _ := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusOK {
		t.Fatal("a good request was refused")
	}
	e.clk.Advance(teams.DefaultMinRefresh)
	e.fake.Rotate("key-2", true, true)
	if status, body := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusOK {
		t.Fatalf("a request signed with the rotated key: %d %s", status, body)
	}
}

// A message to the bot is a command: in a channel the bot's mention is taken out; the answer
// goes through the connector, with one token for both calls.
func TestAMessageIsACommandAnsweredThroughTheConnector(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	if status, body := e.send.Send(e.fake.Message(alice, approvers+";messageid=1", teamstest.Channel, "/access list")); status != http.StatusOK {
		t.Fatalf("status %d %s", status, body)
	}
	if len(e.handler.commands) != 1 || e.handler.commands[0] != "list" {
		t.Fatalf("commands %q, want list", e.handler.commands)
	}
	a := e.handler.actors[0]
	if a.ID != "alice@example.com" || a.Platform != teams.PlatformName || a.PlatformID != alice.ID {
		t.Errorf("actor %+v", a)
	}
	msgs := e.fake.Messages(approvers + ";messageid=1")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), "got list") {
		t.Fatalf("reply: %s", e.fake)
	}
	if n := e.fake.TokensIssued(); n != 1 {
		t.Errorf("%d tokens issued for the member lookup and the reply, want 1", n)
	}
}

func TestCommandTextTakesTheMentionAndThePrefixOut(t *testing.T) {
	for in, want := range map[string]string{
		"<at>accessbot</at> request prod-db 1h INC-1 fix": "request prod-db 1h INC-1 fix",
		"/access list":                     "list",
		"access&nbsp;status r-1":           "status r-1",
		"<p>help</p>":                      "help",
		"":                                 "help",
		"<at>Access Bot</at>":              "help",
		"accessible":                       "accessible",
		"<at id=\"0\">accessbot</at> list": "list",
	} {
		if got := teams.CommandText(in); got != want {
			t.Errorf("CommandText(%q) = %q, want %q", in, got, want)
		}
	}
}

// A guest and a user outside the email domains are refused with one sentence and an
// identity.refused event; nothing reaches the core.
func TestTheIdentityPolicyRefusesGuestsAndOtherDomains(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{EmailDomains: []string{"example.com"}})
	for _, who := range []teamstest.Member{guest} {
		if status, _ := e.send.Send(e.fake.Message(who, "a:personal-gus", teamstest.Personal, "list")); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}
	if e.handler.seen() != 0 {
		t.Fatal("a guest reached the core")
	}
	if got := e.audit.types(); len(got) != 1 || got[0] != audit.IdentityRefused {
		t.Errorf("audit %v, want identity.refused", got)
	}
	msgs := e.fake.Messages("a:personal-gus")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), "guest") {
		t.Errorf("the guest was not told: %s", e.fake)
	}
	allowed := newEndpoint(t, teams.IdentityPolicy{AllowGuests: true, EmailDomains: []string{"partner.example"}})
	allowed.send.Send(allowed.fake.Message(guest, "a:personal-gus", teamstest.Personal, "list"))
	if allowed.handler.seen() != 1 || allowed.handler.actors[0].ID != "gus@partner.example" {
		t.Errorf("an allowed guest: %+v", allowed.handler.actors)
	}
}

// A click on a card is an Action.Execute invoke, answered with a card in the HTTP response.
func TestAClickIsAnsweredWithACard(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	status, body := e.send.Send(e.fake.Invoke(bob, approvers, teamstest.Channel, bot.ActionRevoke, map[string]any{"action": bot.ActionRevoke, "value": "g-1"}))
	if status != http.StatusOK {
		t.Fatalf("status %d %s", status, body)
	}
	var resp struct {
		StatusCode int        `json:"statusCode"`
		Type       string     `json:"type"`
		Value      teams.Card `json:"value"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Type != teams.ContentTypeCard || len(resp.Value.Body) == 0 || resp.Value.Body[0].Text != "did revoke" {
		t.Errorf("answer %s", body)
	}
	if len(e.handler.acts) != 1 || e.handler.acts[0].ID != bot.ActionRevoke || e.handler.acts[0].Value != "g-1" {
		t.Errorf("acts %+v", e.handler.acts)
	}
}

// While the metadata cannot be read, requests are refused (fail closed), and the fetch is tried
// again within seconds, not minutes, since no key is held yet.
func TestKeysThatCannotBeFetchedAreTriedAgainSoon(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	e.fake.Rotate("key-2", false, true) // the JWKS lists no key at all: the fetch fails
	if status, _ := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusUnauthorized {
		t.Fatalf("status %d with no keys, want 401", status)
	}
	e.fake.Publish()
	e.clk.Advance(10 * time.Second)
	if status, body := e.send.Send(e.fake.Message(alice, personalAlice, teamstest.Personal, "list")); status != http.StatusOK {
		t.Fatalf("10 s later, with the key published: %d %s", status, body)
	}
}

// An Action.Submit of a card arrives as a message whose value is the card's data: it reaches
// the core as the form's submission, with its inputs.
func TestAnActionSubmitIsAFormSubmission(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	e.send.Send(e.fake.Submit(alice, personalAlice, teamstest.Personal, map[string]any{
		"action": "submit", "form": bot.FormRequest, "resource": "prod-db", "duration": " 30m ", "reason": "INC-7"}))
	if len(e.handler.acts) != 1 {
		t.Fatalf("acts %+v", e.handler.acts)
	}
	got := e.handler.acts[0]
	if got.ID != bot.ActionSubmit || got.Form != bot.FormRequest || got.Inputs["resource"] != "prod-db" || got.Inputs["duration"] != "30m" || got.Inputs["reason"] != "INC-7" {
		t.Errorf("act %+v", got)
	}
	if _, ok := got.Inputs["action"]; ok {
		t.Errorf("the button's own fields are among the inputs: %v", got.Inputs)
	}
	if msgs := e.fake.Messages(personalAlice); len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), "did submit") {
		t.Errorf("reply: %s", e.fake)
	}
}

// A private reply to a command in a channel goes to the person's personal chat; when that
// cannot be opened, the channel is told how to fix it, without the reply.
func TestAPrivateReplyInAChannelGoesToThePersonalChat(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	e.send.Send(e.fake.Message(alice, approvers, teamstest.Channel, "request"))
	conv := e.fake.PersonalConversation(alice.ID)
	if conv == "" || len(e.fake.Messages(conv)) != 1 || len(e.fake.Messages(approvers)) != 0 {
		t.Fatalf("the form was not sent to alice's personal chat:\n%s", e.fake)
	}
	bobOnly := newEndpoint(t, teams.IdentityPolicy{})
	bobOnly.send.Send(bobOnly.fake.Message(bob, approvers, teamstest.Channel, "list")) // a public reply; bob's member lookup is cached now
	bobOnly.fake.FailNext(teamstest.Fault{Status: http.StatusForbidden})               // the next call: creating bob's personal chat
	bobOnly.send.Send(bobOnly.fake.Message(bob, approvers, teamstest.Channel, "request"))
	msgs := bobOnly.fake.Messages(approvers)
	if len(msgs) != 2 || !strings.Contains(string(msgs[1].Body), "personal chat") || strings.Contains(string(msgs[1].Body), "Request access") {
		t.Errorf("channel after a failed personal chat:\n%s", bobOnly.fake)
	}
}

// A member Teams shows without an email or UPN is "teams:<Entra object ID>".
func TestAMemberWithoutAnEmailIsTheirObjectID(t *testing.T) {
	e := newEndpoint(t, teams.IdentityPolicy{})
	noMail := teamstest.Member{ID: "29:nomail", Name: "No Mail", AADObjectID: "ABCDEF00-0000-0000-0000-000000000001"}
	e.fake.SetMember(noMail)
	e.send.Send(e.fake.Message(noMail, "a:personal-nomail", teamstest.Personal, "list"))
	if len(e.handler.actors) != 1 || e.handler.actors[0].ID != "teams:abcdef00-0000-0000-0000-000000000001" || e.handler.actors[0].Email != "" {
		t.Errorf("actors %+v", e.handler.actors)
	}
}
