package discord_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/testwait"
)

// fakeHandler records what reaches the bot and answers with a chosen reply.
type fakeHandler struct {
	mu       sync.Mutex
	commands []handled
	actions  []handled
	reply    bot.Reply
	release  chan struct{}
	panics   bool
}

type handled struct {
	actor  grants.Actor
	text   string
	action bot.Action
}

func (h *fakeHandler) Command(_ context.Context, a grants.Actor, text string) bot.Reply {
	h.wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commands = append(h.commands, handled{actor: a, text: text})
	if h.panics {
		panic("handler bug")
	}
	return h.reply
}

func (h *fakeHandler) Act(_ context.Context, a grants.Actor, act bot.Action) bot.Reply {
	h.wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.actions = append(h.actions, handled{actor: a, action: act})
	return h.reply
}

func (h *fakeHandler) wait() {
	h.mu.Lock()
	release := h.release
	h.mu.Unlock()
	if release != nil {
		<-release
	}
}

func (h *fakeHandler) set(r bot.Reply) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reply = r
}

func (h *fakeHandler) got() (commands, actions []handled) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]handled(nil), h.commands...), append([]handled(nil), h.actions...)
}

type fakeAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *fakeAudit) AppendAudit(_ context.Context, e audit.Event) (audit.Event, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return e, nil
}

func (a *fakeAudit) all() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Event(nil), a.events...)
}

// harness is accessbot's Discord endpoint on a real HTTP server, against the fake Discord.
type harness struct {
	fake    *discordtest.Server
	clk     *clock.Fake
	handler *fakeHandler
	audit   *fakeAudit
	links   *fakeLinks
	admins  map[string]bool
	linker  *discord.Links
	server  *discord.Server
	send    *discordtest.Sender
	url     string
	// resources is what Requestable answers.
	resources []*grants.Resource
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fake := discordtest.New(t)
	clk := clock.NewFake(t0)
	h := &harness{fake: fake, clk: clk, handler: &fakeHandler{reply: privateView("ok")}, audit: &fakeAudit{},
		links: newFakeLinks(), admins: map[string]bool{"bob@example.com": true}}
	client := newClient(t, fake, clk, h.links)
	links, err := discord.NewLinks(discord.LinkOptions{Store: h.links, Client: client, Clock: clk, Log: zerolog.Nop(),
		IsAdmin: func(_ context.Context, a grants.Actor) bool { return h.admins[a.ID] }})
	if err != nil {
		t.Fatal(err)
	}
	h.linker = links
	srv, err := discord.NewServer(client, discord.ServerOptions{
		PublicKey: discordtest.PublicKeyHex(),
		Handler:   links.Wrap(h.handler),
		Links:     links,
		Requestable: func(context.Context, grants.Actor) ([]*grants.Resource, error) {
			return h.resources, nil
		},
		Audit: h.audit,
		Clock: clk,
		Log:   zerolog.Nop(),
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
	h.send = &discordtest.Sender{BaseURL: web.URL, Now: clk.Now}
	return h
}

func privateView(title string) bot.Reply {
	return bot.Reply{Private: true, View: &bot.View{Title: title, Tone: bot.ToneNeutral}}
}

// answer is an interaction response, decoded.
type answer struct {
	Type int `json:"type"`
	Data struct {
		Flags  int `json:"flags"`
		Embeds []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			Fields      []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"fields"`
			Footer *struct {
				Text string `json:"text"`
			} `json:"footer"`
		} `json:"embeds"`
		CustomID   string `json:"custom_id"`
		Title      string `json:"title"`
		Components []struct {
			Components []struct {
				CustomID string `json:"custom_id"`
				Value    string `json:"value"`
				Label    string `json:"label"`
			} `json:"components"`
		} `json:"components"`
		Choices []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"choices"`
	} `json:"data"`
}

func (a answer) text() string {
	var b strings.Builder
	for _, e := range a.Data.Embeds {
		b.WriteString(e.Title + "\n" + e.Description + "\n")
		for _, f := range e.Fields {
			b.WriteString(f.Name + ": " + f.Value + "\n")
		}
		if e.Footer != nil {
			b.WriteString(e.Footer.Text)
		}
	}
	return b.String()
}

func (h *harness) do(t *testing.T, i *discordtest.Interaction) answer {
	t.Helper()
	resp, err := h.send.Send(ctx(t), i)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("answer %d: %s", resp.Status, resp.Body)
	}
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		t.Fatalf("answer %q: %v", resp.Body, err)
	}
	return a
}

func TestInteractionsNotSignedByDiscordGet401AndAnAuditEventAndNothingElse(t *testing.T) {
	body := discordtest.Command(alice, "list").JSON()
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name    string
		request func(h *harness) *http.Request
		reason  string
	}{
		{"signed with another key", func(h *harness) *http.Request {
			req, _ := discordtest.SignedRequest(context.Background(), h.url+discord.PathInteractions, other, t0, body)
			return req
		}, "signature does not match"},
		{"signed six minutes ago", func(h *harness) *http.Request {
			req, _ := discordtest.SignedRequest(context.Background(), h.url+discord.PathInteractions, discordtest.PrivateKey(), t0.Add(-6*time.Minute), body)
			return req
		}, "timestamp outside the allowed window"},
		{"without signature headers", func(h *harness) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, h.url+discord.PathInteractions, strings.NewReader(string(body)))
			return req
		}, "missing signature headers"},
		{"with a body changed after signing", func(h *harness) *http.Request {
			req, _ := discordtest.SignedRequest(context.Background(), h.url+discord.PathInteractions, discordtest.PrivateKey(), t0, body)
			req.Body = io.NopCloser(strings.NewReader(strings.Replace(string(body), "list", "revoke", 1)))
			req.ContentLength = -1
			return req
		}, "signature does not match"},
		{"a PING signed with another key", func(h *harness) *http.Request {
			req, _ := discordtest.SignedRequest(context.Background(), h.url+discord.PathInteractions, other, t0, discordtest.Ping().JSON())
			return req
		}, "signature does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			resp, err := h.send.Do(tt.request(h))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.Status)
			}
			if cmds, acts := h.handler.got(); len(cmds)+len(acts) != 0 {
				t.Error("a refused request reached the handler")
			}
			events := h.audit.all()
			if len(events) != 1 || events[0].Type != audit.AuthFailed || !strings.HasPrefix(events[0].Data["reason"], tt.reason) ||
				events[0].Data["platform"] != "discord" || events[0].Data["path"] != discord.PathInteractions {
				t.Errorf("audit events = %+v, want one auth.failed saying %q", events, tt.reason)
			}
			if len(h.fake.Calls()) != 0 {
				t.Error("a refused request called Discord")
			}
		})
	}
}

func TestTheSameSignedInteractionTwiceIsRefusedTheSecondTime(t *testing.T) {
	h := newHarness(t)
	req := func() *http.Request {
		r, _ := discordtest.SignedRequest(context.Background(), h.url+discord.PathInteractions, discordtest.PrivateKey(), t0, []byte(`{"type":1,"id":"1"}`))
		return r
	}
	first, _ := h.send.Do(req())
	second, _ := h.send.Do(req())
	if first.Status != 200 || second.Status != http.StatusUnauthorized {
		t.Errorf("statuses %d then %d, want 200 then 401", first.Status, second.Status)
	}
}

func TestAPingIsAnsweredWithAPong(t *testing.T) {
	h := newHarness(t)
	if a := h.do(t, discordtest.Ping()); a.Type != 1 {
		t.Errorf("answer type %d, want 1 (PONG)", a.Type)
	}
}

func TestACommandReachesTheHandlerAsThePersonTheConfigMaps(t *testing.T) {
	h := newHarness(t)
	h.handler.set(privateView("Requested prod-db"))
	a := h.do(t, discordtest.Command(alice, "request",
		discordtest.Opt{Name: "resource", Value: "prod-db"}, discordtest.Opt{Name: "duration", Value: "1h"},
		discordtest.Opt{Name: "reason", Value: "INC-42 fixing  the index"}))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "Requested prod-db") {
		t.Errorf("answer = %+v, want a private message (type 4, flags 64)", a)
	}
	cmds, _ := h.handler.got()
	if len(cmds) != 1 || cmds[0].text != "request prod-db 1h INC-42 fixing  the index" {
		t.Fatalf("handler got %+v", cmds)
	}
	if got := cmds[0].actor; got.ID != "alice@example.com" || got.Platform != "discord" || got.PlatformID != aliceID || got.Name != "Alice Liddell" {
		t.Errorf("actor = %+v", got)
	}
}

func TestEverySubcommandIsReadBackAsTheTextOfTheGrammar(t *testing.T) {
	opt := func(name, value string) discordtest.Opt { return discordtest.Opt{Name: name, Value: value} }
	tests := []struct {
		sub  string
		opts []discordtest.Opt
		want string
	}{
		{"", nil, "help"},
		{"list", nil, "list"},
		{"resources", nil, "resources"},
		{"status", []discordtest.Opt{opt("id", "r-abc")}, "status r-abc"},
		{"revoke", []discordtest.Opt{opt("id", " g-abc ")}, "revoke g-abc"},
		{"extend", []discordtest.Opt{opt("id", "g-abc"), opt("duration", "30m"), opt("reason", "still INC-42")}, "extend g-abc 30m still INC-42"},
		{"extend", []discordtest.Opt{opt("duration", "30m"), opt("id", "g-abc")}, "extend g-abc 30m"},
		{"cancel", []discordtest.Opt{opt("id", "r-abc")}, "cancel r-abc"},
		{"breakglass", []discordtest.Opt{opt("resource", "prod-db"), opt("duration", "30m"), opt("reason", "INC-99 down")}, "breakglass prod-db 30m INC-99 down"},
		{"help", []discordtest.Opt{opt("topic", "extend")}, "help extend"},
		{"ssh-key add", []discordtest.Opt{opt("key", "ssh-ed25519 AAAA me@laptop")}, "ssh-key add ssh-ed25519 AAAA me@laptop"},
		{"ssh-key list", nil, "ssh-key list"},
		{"ssh-key remove", []discordtest.Opt{opt("fingerprint", "SHA256:abc")}, "ssh-key remove SHA256:abc"},
		{"request", []discordtest.Opt{opt("resource", "prod db"), opt("duration", "1 h"), opt("reason", "x")}, "request proddb 1h x"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			h := newHarness(t)
			h.do(t, discordtest.Command(alice, tt.sub, tt.opts...))
			cmds, _ := h.handler.got()
			if len(cmds) != 1 || cmds[0].text != tt.want {
				t.Errorf("handler got %+v, want %q", cmds, tt.want)
			}
		})
	}
}

func requestForm() *bot.Form {
	return &bot.Form{ID: bot.FormRequest, Title: "Request access", Submit: "Request", Inputs: []bot.Input{
		{ID: bot.InputResource, Label: "Resource", Kind: bot.InputSelect, Options: []bot.Option{{Value: "prod-db"}, {Value: "staging-db"}}},
		{ID: bot.InputDuration, Label: "Duration", Kind: bot.InputText, Optional: true},
		{ID: bot.InputReason, Label: "Reason", Kind: bot.InputLong, Optional: true},
	}}
}

func TestARequestWithOptionsMissingOpensTheFormWithWhatWasGiven(t *testing.T) {
	h := newHarness(t)
	h.handler.set(bot.Reply{Private: true, Form: requestForm()})
	a := h.do(t, discordtest.Command(alice, "request", discordtest.Opt{Name: "resource", Value: "staging-db"}))
	if a.Type != 9 || a.Data.CustomID != "form:request:" || a.Data.Title != "Request access" {
		t.Fatalf("answer = %+v, want the request modal (type 9)", a)
	}
	values := map[string]string{}
	for _, row := range a.Data.Components {
		values[row.Components[0].CustomID] = row.Components[0].Value
	}
	if values["resource"] != "staging-db" || values["duration"] != "" {
		t.Errorf("form values = %v, want the resource given", values)
	}
	cmds, _ := h.handler.got()
	if len(cmds) != 1 || cmds[0].text != "request" {
		t.Errorf("handler got %+v, want the form's command", cmds)
	}
}

func TestAnUnlinkedPersonIsToldHowToLinkAndNeverReachesTheHandler(t *testing.T) {
	h := newHarness(t)
	for _, i := range []*discordtest.Interaction{
		discordtest.Command(eve, "list"),
		discordtest.Command(eve, "request", discordtest.Opt{Name: "resource", Value: "prod-db"}),
		discordtest.Click(eve, "300000000000000001", "1", "approve:r-1"),
		discordtest.ModalSubmit(eve, "form:deny:r-1", map[string]string{"reason": "no"}),
	} {
		a := h.do(t, i)
		if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "/access link you@example.com") || !strings.Contains(a.text(), eveID) {
			t.Errorf("answer = %s, want how to link, privately", a.text())
		}
	}
	if cmds, acts := h.handler.got(); len(cmds)+len(acts) != 0 {
		t.Errorf("an unlinked person reached the handler: %+v %+v", cmds, acts)
	}
}

func TestAClickReachesTheHandlerWithTheButtonsActionAndValue(t *testing.T) {
	h := newHarness(t)
	h.handler.set(privateView("Approved"))
	a := h.do(t, discordtest.Click(bob, "300000000000000001", "900", "approve:r-7k2m9"))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "Approved") {
		t.Errorf("answer = %+v", a)
	}
	_, acts := h.handler.got()
	if len(acts) != 1 || acts[0].action.ID != bot.ActionApprove || acts[0].action.Value != "r-7k2m9" || acts[0].actor.ID != "bob@example.com" {
		t.Errorf("handler got %+v", acts)
	}
}

func TestAClickThatOpensAFormIsAnsweredWithTheModal(t *testing.T) {
	h := newHarness(t)
	h.handler.set(bot.Reply{Private: true, Form: &bot.Form{ID: bot.FormDeny, Value: "r-1", Title: "Deny request",
		Inputs: []bot.Input{{ID: "reason", Label: "Why?", Kind: bot.InputLong, Optional: true}}}})
	a := h.do(t, discordtest.Click(bob, "300000000000000001", "900", "deny:r-1"))
	if a.Type != 9 || a.Data.CustomID != "form:deny:r-1" {
		t.Errorf("answer = %+v, want the deny modal", a)
	}
}

func TestAFormSubmissionReachesTheHandlerWithItsInputs(t *testing.T) {
	h := newHarness(t)
	h.handler.set(privateView("Denied"))
	a := h.do(t, discordtest.ModalSubmit(bob, "form:deny:r-1", map[string]string{"reason": "not during the freeze"}))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "Denied") {
		t.Errorf("answer = %+v", a)
	}
	_, acts := h.handler.got()
	if len(acts) != 1 || acts[0].action.ID != bot.ActionSubmit || acts[0].action.Form != bot.FormDeny ||
		acts[0].action.Value != "r-1" || acts[0].action.Inputs["reason"] != "not during the freeze" {
		t.Errorf("handler got %+v", acts)
	}
}

func TestAFormTheHandlerRefusesSaysWhatIsWrongPrivately(t *testing.T) {
	h := newHarness(t)
	h.handler.set(bot.Reply{Errors: map[string]string{"duration": "\"1x\" is not a duration"}})
	a := h.do(t, discordtest.ModalSubmit(alice, "form:request:", map[string]string{"resource": "prod-db", "duration": "1x"}))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "duration") || !strings.Contains(a.text(), "is not a duration") {
		t.Errorf("answer = %s", a.text())
	}
}

func TestASlowHandlerGetsADeferredResponseAndTheReplyReplacesIt(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	h.handler.release = release
	h.handler.set(privateView("Your access"))
	i := discordtest.Command(alice, "list")
	done := make(chan answer, 1)
	go func() { done <- h.do(t, i) }()
	deadline := time.Now().Add(5 * time.Second)
	for h.clk.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server never started its answer timer")
		}
		time.Sleep(time.Millisecond)
	}
	h.clk.Advance(discord.DefaultBudget)
	a := testwait.Receive(t, done, "the deferred answer")
	if a.Type != 5 || a.Data.Flags != 64 {
		t.Fatalf("answer = %+v, want a deferred private response (type 5, flags 64)", a)
	}
	close(release)
	edit := h.fake.WaitFor(t, discordtest.RouteEditOriginal, 1, 5*time.Second)[0]
	if edit.Params["app"] != discordtest.ApplicationID || edit.Params["token"] != i.Token {
		t.Errorf("edited %s, want the original response of this interaction", edit.Path)
	}
	if edit.Auth != "" {
		t.Error("the follow-up sent the bot token: interaction webhooks take none")
	}
	if !strings.Contains(string(edit.Body), "Your access") {
		t.Errorf("edit = %s", edit.Body)
	}
}

func TestAHandlerPanicIsAPrivateErrorAndTheServerGoesOn(t *testing.T) {
	h := newHarness(t)
	h.handler.panics = true
	a := h.do(t, discordtest.Command(alice, "list"))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "Something went wrong") {
		t.Errorf("answer = %s", a.text())
	}
	h.handler.panics = false
	if a := h.do(t, discordtest.Ping()); a.Type != 1 {
		t.Error("the server stopped answering")
	}
}

func TestResourceNamesCompleteToWhatThePersonMayRequest(t *testing.T) {
	h := newHarness(t)
	h.resources = []*grants.Resource{
		{Name: "staging-db", Description: "Staging PostgreSQL"},
		{Name: "prod-db", Description: "Production PostgreSQL", Policy: grants.Policy{BreakGlass: true}},
		{Name: "prod-ssh", Description: "Production hosts"},
	}
	names := func(a answer) []string {
		var out []string
		for _, c := range a.Data.Choices {
			out = append(out, c.Value)
		}
		return out
	}
	a := h.do(t, discordtest.Autocomplete(alice, "request", discordtest.Opt{Name: "resource", Value: "pro", Focused: true}))
	if a.Type != 8 || strings.Join(names(a), ",") != "prod-db,prod-ssh" || a.Data.Choices[0].Name != "prod-db · Production PostgreSQL" {
		t.Errorf("completions of pro = %+v", a)
	}
	a = h.do(t, discordtest.Autocomplete(alice, "request", discordtest.Opt{Name: "resource", Value: "postgres", Focused: true}))
	if strings.Join(names(a), ",") != "prod-db,staging-db" {
		t.Errorf("completions of postgres = %v, want those whose description matches", names(a))
	}
	a = h.do(t, discordtest.Autocomplete(alice, "breakglass", discordtest.Opt{Name: "resource", Value: "", Focused: true}))
	if strings.Join(names(a), ",") != "prod-db" {
		t.Errorf("breakglass completions = %v, want only resources that allow it", names(a))
	}
	a = h.do(t, discordtest.Autocomplete(eve, "request", discordtest.Opt{Name: "resource", Value: "", Focused: true}))
	if a.Type != 8 || len(a.Data.Choices) != 0 {
		t.Errorf("an unlinked person got completions: %+v", a)
	}
	if cmds, acts := h.handler.got(); len(cmds)+len(acts) != 0 {
		t.Error("a completion reached the handler")
	}
}

func TestWithoutAPublicKeyNoEndpointIsServedAndOnlyPOSTIs(t *testing.T) {
	fake := discordtest.New(t)
	srv, err := discord.NewServer(newClient(t, fake, clock.NewFake(t0), nil), discord.ServerOptions{Handler: &fakeHandler{}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, discord.PathInteractions, strings.NewReader("{}")))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d without a public key, want 404", rec.Code)
	}
	if _, err := discord.NewServer(newClient(t, fake, clock.NewFake(t0), nil), discord.ServerOptions{Handler: &fakeHandler{}, PublicKey: "nothex"}); err == nil {
		t.Error("a bad public key was accepted")
	}

	h := newHarness(t)
	resp, err := http.Get(h.url + discord.PathInteractions)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}
