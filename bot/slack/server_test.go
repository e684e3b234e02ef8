package slack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
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
	// release, when set, holds every call until it is closed: a slow handler.
	release chan struct{}
	panics  bool
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

func (h *fakeHandler) got() (commands, actions []handled) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]handled(nil), h.commands...), append([]handled(nil), h.actions...)
}

// fakeAudit records audit events.
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

// harness is accessbot's Slack endpoints on a real HTTP server, against the fake Slack.
type harness struct {
	fake    *slacktest.Server
	clk     *clock.Fake
	handler *fakeHandler
	audit   *fakeAudit
	server  *slack.Server
	send    *slacktest.Sender
	url     string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fake := slacktest.New(t)
	fake.AddUser(alice)
	fake.AddUser(carol)
	clk := clock.NewFake(t0)
	h := &harness{fake: fake, clk: clk, handler: &fakeHandler{}, audit: &fakeAudit{}}
	srv, err := slack.NewServer(newClient(t, fake, clk), slack.ServerOptions{
		SigningSecret: signingSecret,
		AppToken:      slacktest.AppToken,
		Handler:       h.handler,
		Audit:         h.audit,
		Clock:         clk,
		Log:           zerolog.Nop(),
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
	return h
}

func (h *harness) command(t *testing.T, c slacktest.Command) *slacktest.Response {
	t.Helper()
	resp, err := h.send.Command(ctx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (h *harness) interact(t *testing.T, payload []byte) *slacktest.Response {
	t.Helper()
	resp, err := h.send.Interaction(ctx(t), payload)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

type answer struct {
	ResponseType    string            `json:"response_type"`
	ReplaceOriginal *bool             `json:"replace_original"`
	Text            string            `json:"text"`
	Blocks          []json.RawMessage `json:"blocks"`
	ResponseAction  string            `json:"response_action"`
	Errors          map[string]string `json:"errors"`
	View            *struct {
		Type     string            `json:"type"`
		Blocks   []json.RawMessage `json:"blocks"`
		Callback string            `json:"callback_id"`
	} `json:"view"`
}

func decodeAnswer(t *testing.T, body []byte) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return a
}

var listCommand = slacktest.Command{Text: "list", UserID: alice.ID, ChannelID: "C0GENERAL"}

func TestRequestsThatAreNotSignedBySlackGet401AndAnAuditEventAndNothingElse(t *testing.T) {
	body := []byte(listCommand.Form().Encode())
	tests := []struct {
		name    string
		request func(h *harness) *http.Request
		reason  string
	}{
		{"signed with another secret", func(h *harness) *http.Request {
			req, _ := slacktest.SignedRequest(context.Background(), h.url+slack.PathCommands, "guessed", t0, slacktest.FormContentType, body)
			return req
		}, "signature does not match"},
		{"signed six minutes ago", func(h *harness) *http.Request {
			req, _ := slacktest.SignedRequest(context.Background(), h.url+slack.PathCommands, signingSecret, t0.Add(-6*time.Minute), slacktest.FormContentType, body)
			return req
		}, "timestamp outside the allowed window"},
		{"without signature headers", func(h *harness) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, h.url+slack.PathInteractions, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", slacktest.FormContentType)
			return req
		}, "missing signature headers"},
		{"with a body changed after signing", func(h *harness) *http.Request {
			req, _ := slacktest.SignedRequest(context.Background(), h.url+slack.PathCommands, signingSecret, t0, slacktest.FormContentType, body)
			tampered := strings.Replace(string(body), "list", "revoke", 1)
			req.Body = http.NoBody
			req2, _ := http.NewRequest(http.MethodPost, req.URL.String(), strings.NewReader(tampered))
			req2.Header = req.Header
			return req2
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
				t.Errorf("status = %d, want 401", resp.Status)
			}
			cmds, acts := h.handler.got()
			if len(cmds)+len(acts) != 0 || len(h.fake.Calls()) != 0 {
				t.Errorf("a refused request was processed: %d commands, %d actions, %d Slack calls", len(cmds), len(acts), len(h.fake.Calls()))
			}
			events := h.audit.all()
			if len(events) != 1 {
				t.Fatalf("audit events = %+v, want one", events)
			}
			e := events[0]
			if e.Type != audit.AuthFailed || e.Data["platform"] != "slack" || !strings.Contains(e.Data["reason"], tt.reason) || !strings.HasPrefix(e.Data["path"], "/slack/") {
				t.Errorf("audit event = %+v", e)
			}
			for _, v := range e.Data {
				if strings.Contains(v, "list") || strings.Contains(v, alice.ID) {
					t.Errorf("the audit event holds the request body: %+v", e.Data)
				}
			}
		})
	}
}

func TestTheSameSignedRequestTwiceIsRefusedTheSecondTime(t *testing.T) {
	h := newHarness(t)
	body := []byte(listCommand.Form().Encode())
	var status []int
	for range 2 {
		req, err := slacktest.SignedRequest(ctx(t), h.url+slack.PathCommands, signingSecret, t0, slacktest.FormContentType, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.send.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		status = append(status, resp.Status)
	}
	if status[0] != http.StatusOK || status[1] != http.StatusUnauthorized {
		t.Errorf("statuses = %v, want [200 401]", status)
	}
	if cmds, _ := h.handler.got(); len(cmds) != 1 {
		t.Errorf("handler saw %d commands, want 1", len(cmds))
	}
	if events := h.audit.all(); len(events) != 1 || events[0].Data["reason"] != "signature already used" {
		t.Errorf("audit events = %+v", events)
	}
}

func TestAFloodOfForgedRequestsIsAuditedAtABoundedRate(t *testing.T) {
	h := newHarness(t)
	body := []byte(listCommand.Form().Encode())
	for range 40 {
		req, _ := slacktest.SignedRequest(ctx(t), h.url+slack.PathCommands, "forged", t0, slacktest.FormContentType, body)
		if resp, err := h.send.Do(req); err != nil || resp.Status != http.StatusUnauthorized {
			t.Fatalf("forged request: %v %v", resp, err)
		}
	}
	if n := len(h.audit.all()); n != 30 {
		t.Errorf("audit events for 40 forged requests in a minute = %d, want 30", n)
	}
	h.clk.Advance(time.Minute)
	req, _ := slacktest.SignedRequest(ctx(t), h.url+slack.PathCommands, "forged", h.clk.Now(), slacktest.FormContentType, body)
	if _, err := h.send.Do(req); err != nil {
		t.Fatal(err)
	}
	events := h.audit.all()
	if len(events) != 31 || events[30].Data["suppressed"] != "10" {
		t.Errorf("the next minute's first event = %+v, want suppressed=10", events[len(events)-1])
	}
}

func TestACommandReachesTheHandlerAsThePersonBehindTheSlackUser(t *testing.T) {
	h := newHarness(t)
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Your grants", Text: "None."}}
	resp := h.command(t, slacktest.Command{Text: "list", UserID: alice.ID, ChannelID: "C0GENERAL"})
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	a := decodeAnswer(t, resp.Body)
	if a.ResponseType != "ephemeral" || a.Text != slack.Text(*h.handler.reply.View) || len(a.Blocks) == 0 {
		t.Errorf("answer = %+v", a)
	}
	cmds, _ := h.handler.got()
	if len(cmds) != 1 || cmds[0].text != "list" {
		t.Fatalf("commands = %+v", cmds)
	}
	want := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice Example", Platform: "slack", PlatformID: alice.ID}
	if cmds[0].actor != want {
		t.Errorf("actor = %+v, want %+v", cmds[0].actor, want)
	}
}

func TestTheProfileIsLookedUpOncePerTTL(t *testing.T) {
	h := newHarness(t)
	for range 2 {
		if resp := h.command(t, listCommand); resp.Status != http.StatusOK {
			t.Fatalf("status %d", resp.Status)
		}
	}
	if n := h.fake.Count("users.info"); n != 1 {
		t.Errorf("users.info calls for two commands = %d, want 1", n)
	}
	h.clk.Advance(10*time.Minute + time.Second)
	if resp := h.command(t, listCommand); resp.Status != http.StatusOK {
		t.Fatalf("status %d", resp.Status)
	}
	if n := h.fake.Count("users.info"); n != 2 {
		t.Errorf("users.info calls after the TTL = %d, want 2", n)
	}
}

func TestAPublicReplyIsShownInTheChannel(t *testing.T) {
	h := newHarness(t)
	h.handler.reply = bot.Reply{View: &bot.View{Title: "Request r-1 sent"}}
	a := decodeAnswer(t, h.command(t, listCommand).Body)
	if a.ResponseType != "in_channel" {
		t.Errorf("response_type = %q", a.ResponseType)
	}
}

func TestACommandWithoutArgumentsOpensTheFormWithItsTrigger(t *testing.T) {
	h := newHarness(t)
	form := sampleForms["form_request"]
	h.handler.reply = bot.Reply{Form: &form}
	resp := h.command(t, slacktest.Command{Text: "request", UserID: alice.ID, TriggerID: "trigger-123"})
	if resp.Status != http.StatusOK || len(resp.Body) != 0 {
		t.Errorf("answer = %d %q, want 200 and an empty body", resp.Status, resp.Body)
	}
	opens := h.fake.Calls("views.open")
	if len(opens) != 1 {
		t.Fatalf("views.open calls = %d", len(opens))
	}
	var view struct {
		CallbackID string `json:"callback_id"`
		Blocks     []struct {
			BlockID string `json:"block_id"`
		} `json:"blocks"`
	}
	if err := opens[0].Decode("view", &view); err != nil {
		t.Fatal(err)
	}
	if opens[0].Arg("trigger_id") != "trigger-123" || view.CallbackID != bot.FormRequest || len(view.Blocks) != 3 {
		t.Errorf("views.open with trigger %q, view %+v", opens[0].Arg("trigger_id"), view)
	}
}

func TestAFormThatCannotOpenSaysSoPrivately(t *testing.T) {
	h := newHarness(t)
	h.fake.FailNext("views.open", "expired_trigger_id")
	form := sampleForms["form_request"]
	h.handler.reply = bot.Reply{Form: &form}
	a := decodeAnswer(t, h.command(t, slacktest.Command{Text: "request", UserID: alice.ID}).Body)
	if a.ResponseType != "ephemeral" || !strings.Contains(a.Text, "could not open the form") {
		t.Errorf("answer = %+v", a)
	}
}

func TestAnUnknownProfileIsAPrivateErrorAndNeverReachesTheHandler(t *testing.T) {
	h := newHarness(t)
	a := decodeAnswer(t, h.command(t, slacktest.Command{Text: "list", UserID: "U0STRANGER"}).Body)
	if a.ResponseType != "ephemeral" || !strings.Contains(a.Text, "Slack profile") {
		t.Errorf("answer = %+v", a)
	}
	if cmds, _ := h.handler.got(); len(cmds) != 0 {
		t.Errorf("the handler saw %+v", cmds)
	}
}

// waitForTimer waits (in real time, for the server's goroutine) until the answer budget's timer
// is armed on the fake clock.
func waitForTimer(t *testing.T, clk *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server armed no timer")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestASlowCommandIsAcknowledgedInTimeAndAnsweredThroughTheResponseURL(t *testing.T) {
	h := newHarness(t)
	h.handler.release = make(chan struct{})
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Request r-9 sent to approvers"}}
	cmd := slacktest.Command{Text: "request prod-db 1h INC-1", UserID: alice.ID, ResponseURL: h.fake.ResponseURL("cmd-1")}

	got := make(chan *slacktest.Response, 1)
	go func() {
		resp, err := h.send.Command(context.Background(), cmd)
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	waitForTimer(t, h.clk)
	select {
	case <-got:
		t.Fatal("answered before the budget ran out, while the handler was still busy")
	default:
	}
	h.clk.Advance(slack.DefaultBudget)
	resp := testwait.Receive(t, got, "the acknowledgement")
	a := decodeAnswer(t, resp.Body)
	if a.ResponseType != "ephemeral" || !strings.Contains(a.Text, "Working on it") {
		t.Errorf("acknowledgement = %+v", a)
	}

	close(h.handler.release)
	calls := h.fake.WaitFor(t, "response_url", 1, 5*time.Second)
	if calls[0].Path != "/response/cmd-1" || calls[0].Arg("response_type") != "ephemeral" || calls[0].Arg("text") != slack.Text(*h.handler.reply.View) {
		t.Errorf("late reply = %+v", calls[0])
	}
}

func TestALateReplyIsNeverPostedToAResponseURLOutsideSlack(t *testing.T) {
	h := newHarness(t)
	var hits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer evil.Close()
	h.handler.release = make(chan struct{})
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "secret-ish"}}
	got := make(chan struct{})
	go func() {
		defer close(got)
		if _, err := h.send.Command(context.Background(), slacktest.Command{Text: "list", UserID: alice.ID, ResponseURL: evil.URL + "/hook"}); err != nil {
			t.Error(err)
		}
	}()
	waitForTimer(t, h.clk)
	h.clk.Advance(slack.DefaultBudget)
	testwait.Receive(t, got, "the acknowledgement")
	close(h.handler.release)
	h.server.Wait()
	if hits.Load() != 0 {
		t.Errorf("posted to a response_url on another host")
	}
}

func TestAHandlerPanicIsAPrivateErrorAndTheServerGoesOn(t *testing.T) {
	h := newHarness(t)
	h.handler.panics = true
	a := decodeAnswer(t, h.command(t, listCommand).Body)
	if a.ResponseType != "ephemeral" || !strings.Contains(a.Text, "Something went wrong") {
		t.Errorf("answer = %+v", a)
	}
	h.handler.panics = false
	if resp := h.command(t, listCommand); resp.Status != http.StatusOK {
		t.Errorf("next command: %d", resp.Status)
	}
}

func TestAClickReachesTheHandlerAndAPrivateReplyGoesToTheClicker(t *testing.T) {
	h := newHarness(t)
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "You cannot approve your own request", Tone: bot.ToneDanger}}
	resp := h.interact(t, slacktest.BlockAction{
		UserID: carol.ID, ActionID: bot.ActionApprove, Value: "r-abc123",
		ChannelID: "C0APPROVE", MessageTS: "1700000000.000100", ResponseURL: h.fake.ResponseURL("click-1"),
	}.Payload())
	if resp.Status != http.StatusOK || len(resp.Body) != 0 {
		t.Errorf("answer = %d %q, want 200 and nothing", resp.Status, resp.Body)
	}
	_, acts := h.handler.got()
	if len(acts) != 1 {
		t.Fatalf("actions = %+v", acts)
	}
	if acts[0].action.ID != bot.ActionApprove || acts[0].action.Value != "r-abc123" || acts[0].actor.ID != "carol@example.com" {
		t.Errorf("action = %+v by %+v", acts[0].action, acts[0].actor)
	}
	posts := h.fake.Calls("response_url")
	if len(posts) != 1 {
		t.Fatalf("response_url posts = %+v", posts)
	}
	if posts[0].Arg("response_type") != "ephemeral" || posts[0].JSON["replace_original"] != false {
		t.Errorf("reply = %+v", posts[0].JSON)
	}
}

func TestAClickWithoutAResponseURLIsAnsweredWithAnEphemeralMessage(t *testing.T) {
	h := newHarness(t)
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Only approvers of prod-db may decide"}}
	h.interact(t, slacktest.BlockAction{UserID: carol.ID, ActionID: bot.ActionDeny, Value: "r-1", ChannelID: "C0APPROVE"}.Payload())
	eph := h.fake.Calls("chat.postEphemeral")
	if len(eph) != 1 || eph[0].Arg("channel") != "C0APPROVE" || eph[0].Arg("user") != carol.ID {
		t.Errorf("chat.postEphemeral calls = %+v", eph)
	}
}

func TestAClickInsideAModalIsAnsweredByDM(t *testing.T) {
	h := newHarness(t)
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Done"}}
	h.interact(t, slacktest.BlockAction{UserID: carol.ID, ActionID: bot.ActionRevoke, Value: "g-1"}.Payload())
	if posts := h.fake.Calls("chat.postMessage"); len(posts) != 1 || posts[0].Arg("channel") != "D0CAROL" {
		t.Errorf("posts = %+v", posts)
	}
}

func TestAClickThatOpensAFormUsesTheClicksTrigger(t *testing.T) {
	h := newHarness(t)
	h.handler.reply = bot.Reply{Form: &bot.Form{ID: bot.FormDeny, Value: "r-1", Title: "Deny", Inputs: []bot.Input{{ID: "reason", Label: "Why", Kind: bot.InputLong}}}}
	h.interact(t, slacktest.BlockAction{UserID: carol.ID, ActionID: bot.ActionDeny, Value: "r-1", ChannelID: "C0APPROVE", TriggerID: "trigger-deny"}.Payload())
	opens := h.fake.Calls("views.open")
	if len(opens) != 1 || opens[0].Arg("trigger_id") != "trigger-deny" {
		t.Fatalf("views.open calls = %+v", opens)
	}
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
	}
	if err := opens[0].Decode("view", &view); err != nil || view.CallbackID != "deny" || view.PrivateMetadata != "r-1" {
		t.Errorf("view = %+v, %v", view, err)
	}
}

func TestAFormSubmissionReachesTheHandlerWithItsInputs(t *testing.T) {
	submission := slacktest.ViewSubmission{
		UserID: alice.ID, CallbackID: bot.FormRequest,
		Values:  map[string]string{"duration": "1h", "reason": "INC-42 fixing"},
		Selects: map[string]string{"resource": "prod-db"},
	}
	tests := []struct {
		name  string
		reply bot.Reply
		check func(t *testing.T, status int, body []byte)
	}{
		{"errors keep the form open with each message at its input", bot.Reply{Errors: map[string]string{"duration": "At most 4h for prod-db"}}, func(t *testing.T, status int, body []byte) {
			a := decodeAnswer(t, body)
			if a.ResponseAction != "errors" || a.Errors["duration"] != "At most 4h for prod-db" {
				t.Errorf("answer = %s", body)
			}
		}},
		{"a reply replaces the form", bot.Reply{Private: true, View: &bot.View{Title: "Request r-7 sent"}}, func(t *testing.T, status int, body []byte) {
			a := decodeAnswer(t, body)
			if a.ResponseAction != "update" || a.View == nil || a.View.Type != "modal" || len(a.View.Blocks) == 0 {
				t.Errorf("answer = %s", body)
			}
		}},
		{"no reply closes the form", bot.Reply{}, func(t *testing.T, status int, body []byte) {
			if status != http.StatusOK || len(body) != 0 {
				t.Errorf("answer = %d %q", status, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.handler.reply = tt.reply
			resp := h.interact(t, submission.Payload())
			tt.check(t, resp.Status, resp.Body)
			_, acts := h.handler.got()
			if len(acts) != 1 {
				t.Fatalf("actions = %+v", acts)
			}
			act := acts[0].action
			if act.ID != bot.ActionSubmit || act.Form != bot.FormRequest || act.Inputs["resource"] != "prod-db" ||
				act.Inputs["duration"] != "1h" || act.Inputs["reason"] != "INC-42 fixing" || acts[0].actor.ID != "alice@example.com" {
				t.Errorf("action = %+v by %s", act, acts[0].actor.ID)
			}
		})
	}
}

func TestAFormValueComesBackAsTheActionValue(t *testing.T) {
	h := newHarness(t)
	h.interact(t, slacktest.ViewSubmission{UserID: carol.ID, CallbackID: bot.FormDeny, PrivateMetadata: "r-abc123",
		Values: map[string]string{"reason": "too broad"}}.Payload())
	_, acts := h.handler.got()
	if len(acts) != 1 || acts[0].action.Value != "r-abc123" || acts[0].action.Form != "deny" || acts[0].action.Inputs["reason"] != "too broad" {
		t.Errorf("actions = %+v", acts)
	}
}

func TestOnlyPOSTIsServed(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.url + slack.PathCommands)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status = %d", resp.StatusCode)
	}
}

func TestWithoutASigningSecretNoEndpointIsServed(t *testing.T) {
	fake := slacktest.New(t)
	srv, err := slack.NewServer(newClient(t, fake, clock.NewFake(t0)), slack.ServerOptions{Handler: &fakeHandler{}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, slack.PathCommands, strings.NewReader(url.Values{}.Encode())))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status = %d, want 404", rec.Code)
	}
}

func TestASlowFormSubmissionClosesTheFormAndTheReplyComesByDM(t *testing.T) {
	h := newHarness(t)
	h.handler.release = make(chan struct{})
	h.handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Request r-8 sent"}}
	got := make(chan *slacktest.Response, 1)
	go func() {
		resp, err := h.send.Interaction(context.Background(), slacktest.ViewSubmission{
			UserID: alice.ID, CallbackID: bot.FormRequest, Values: map[string]string{"reason": "x"},
		}.Payload())
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	waitForTimer(t, h.clk)
	h.clk.Advance(slack.DefaultBudget)
	if resp := testwait.Receive(t, got, "the acknowledgement"); resp == nil || resp.Status != http.StatusOK || len(resp.Body) != 0 {
		t.Fatalf("acknowledgement = %+v, want 200 and nothing (which closes the form)", resp)
	}
	close(h.handler.release)
	posts := h.fake.WaitFor(t, "chat.postMessage", 1, 5*time.Second)
	if posts[0].Arg("channel") != "D0ALICE" || posts[0].Arg("text") != slack.Text(*h.handler.reply.View) {
		t.Errorf("late reply = %+v", posts[0])
	}
}
