package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/grants"
)

// fakeHandler records what reaches the bot and answers what the test says.
type fakeHandler struct {
	mu       sync.Mutex
	commands []call
	actions  []call
	reply    func(c call) bot.Reply
}

type call struct {
	actor  grants.Actor
	text   string
	action bot.Action
}

func (h *fakeHandler) Command(_ context.Context, a grants.Actor, text string) bot.Reply {
	c := call{actor: a, text: text}
	h.mu.Lock()
	h.commands = append(h.commands, c)
	h.mu.Unlock()
	return h.answer(c)
}

func (h *fakeHandler) Act(_ context.Context, a grants.Actor, act bot.Action) bot.Reply {
	c := call{actor: a, action: act}
	h.mu.Lock()
	h.actions = append(h.actions, c)
	h.mu.Unlock()
	return h.answer(c)
}

func (h *fakeHandler) answer(c call) bot.Reply {
	if h.reply != nil {
		return h.reply(c)
	}
	v := bot.View{Title: "ok: " + c.text + c.action.ID, Tone: bot.ToneNeutral}
	return bot.Reply{Private: true, View: &v}
}

func (h *fakeHandler) calls() (commands, actions []call) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.commands...), append([]call(nil), h.actions...)
}

var people = []web.Person{
	{ID: "alice", Name: "Alice", Email: "Alice@Example.com", Role: "requester"},
	{ID: "bob", Name: "Bob", Email: "bob@example.com", Role: "approver"},
}

func newChat(t *testing.T, h *fakeHandler) (*web.Chat, *httptest.Server) {
	t.Helper()
	chat, err := web.New(web.Options{People: people, Handler: h, Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	chat.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		chat.Close()
		srv.Close()
	})
	openWithToken(t, chat, srv)
	return chat, srv
}

// openWithToken opens the chat's URL with srv's client as a person opens the link accessbot
// printed: the client keeps the cookie, so the test's later requests get in.
func openWithToken(t *testing.T, chat *web.Chat, srv *httptest.Server) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Client().Jar = jar
	resp, err := srv.Client().Get(chat.URL(srv.URL, ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" {
		t.Fatalf("opening the chat's URL: %s at %s", resp.Status, resp.Request.URL)
	}
}

// postJSON posts body as the page does (same origin).
func postJSON(t *testing.T, srv *httptest.Server, path string, body any, header ...string) (int, web.Answer, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a web.Answer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
	}
	return resp.StatusCode, a, string(raw)
}

// event is one Server-Sent Event.
type event struct {
	name string
	data string
}

// stream is an open /chat/api/events stream.
type stream struct {
	t      *testing.T
	events chan event
}

func openStream(t *testing.T, srv *httptest.Server, as string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+web.PathEvents+"?as="+as, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: t, events: make(chan event, 100)}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var e event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			case line == "" && e.name != "":
				s.events <- e
				e = event{}
			}
		}
	}()
	if first := s.next(); first.name != "state" {
		t.Fatalf("the stream starts with %q, want state", first.name)
	}
	return s
}

func (s *stream) next() event {
	s.t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			s.t.Fatal("the event stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		s.t.Fatal("no event within 5s")
	}
	return event{}
}

func (s *stream) message() web.Message {
	s.t.Helper()
	e := s.next()
	if e.name != "message" {
		s.t.Fatalf("event %q, want message", e.name)
	}
	var m web.Message
	if err := json.Unmarshal([]byte(e.data), &m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

// quiet checks that nothing arrives for a moment.
func (s *stream) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case e := <-s.events:
		s.t.Fatalf("unexpected event %s %s", e.name, e.data)
	case <-time.After(d):
	}
}

func TestACommandReachesTheHandlerAsThatPerson(t *testing.T) {
	h := &fakeHandler{}
	_, srv := newChat(t, h)
	status, a, raw := postJSON(t, srv, web.PathCommand, map[string]string{
		"as": "alice", "channel": web.ChannelApprovals, "text": "/access request prod-db 1h INC-1",
	})
	if status != 200 {
		t.Fatalf("command: %d %s", status, raw)
	}
	cmds, _ := h.calls()
	if len(cmds) != 1 {
		t.Fatalf("%d commands reached the handler", len(cmds))
	}
	want := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice", Platform: "web", PlatformID: "alice"}
	if cmds[0].actor != want || cmds[0].text != "request prod-db 1h INC-1" {
		t.Errorf("handler got %+v %q, want %+v", cmds[0].actor, cmds[0].text, want)
	}
	if a.Message == nil || a.Message.To != "alice" || a.Message.Channel != web.ChannelApprovals {
		t.Errorf("the reply is not alice's private message in #approvals: %+v", a.Message)
	}

	// Text without the slash command is taken as its arguments; another command is not run.
	postJSON(t, srv, web.PathCommand, map[string]string{"as": "bob", "text": "list"})
	postJSON(t, srv, web.PathCommand, map[string]string{"as": "bob", "text": "/giphy cats"})
	cmds, _ = h.calls()
	if len(cmds) != 2 || cmds[1].text != "list" || cmds[1].actor.PlatformID != "bob" {
		t.Errorf("commands = %+v", cmds)
	}

	// Somebody the chat does not know cannot act.
	if status, _, raw := postJSON(t, srv, web.PathCommand, map[string]string{"as": "mallory", "text": "list"}); status != http.StatusBadRequest || !strings.Contains(raw, `nobody called \"mallory\"`) {
		t.Errorf("an unknown person: %d %s, want 400 saying there is nobody called mallory", status, raw)
	}
	// Nor can anyone write in another person's DM.
	if status, _, raw := postJSON(t, srv, web.PathCommand, map[string]string{"as": "bob", "channel": web.DMChannel("alice"), "text": "list"}); status != http.StatusBadRequest || !strings.Contains(raw, "cannot write in") {
		t.Errorf("bob in alice's DM: %d %s, want 400 saying he cannot write there", status, raw)
	}
}

func TestAPrivateReplyIsOnlyInThatPersonsStream(t *testing.T) {
	h := &fakeHandler{}
	chat, srv := newChat(t, h)
	alice := openStream(t, srv, "alice")
	bob := openStream(t, srv, "bob")

	if status, _, raw := postJSON(t, srv, web.PathCommand, map[string]string{"as": "alice", "channel": web.ChannelApprovals, "text": "/access list"}); status != 200 {
		t.Fatalf("command: %d %s", status, raw)
	}
	echo, reply := alice.message(), alice.message()
	if echo.From != "alice" || echo.Text != "/access list" || echo.To != "alice" {
		t.Errorf("echo = %+v", echo)
	}
	if reply.View == nil || reply.View.Title != "ok: list" || reply.To != "alice" {
		t.Errorf("reply = %+v", reply)
	}
	bob.quiet(100 * time.Millisecond)

	// A message in a shared channel reaches both; a DM only its person.
	if _, err := chat.Post(context.Background(), web.ChannelApprovals, bot.View{Title: "for everyone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chat.DM(context.Background(), "alice", bot.View{Title: "for alice"}); err != nil {
		t.Fatal(err)
	}
	if m := bob.message(); m.View.Title != "for everyone" {
		t.Errorf("bob got %+v", m)
	}
	bob.quiet(100 * time.Millisecond)
	if m := alice.message(); m.View.Title != "for everyone" {
		t.Errorf("alice got %+v", m)
	}
	if m := alice.message(); m.View.Title != "for alice" || m.Channel != web.DMChannel("alice") {
		t.Errorf("alice got %+v", m)
	}

	// The state agrees.
	st, _ := chat.StateFor("bob")
	for _, m := range st.Messages {
		if m.To == "alice" || m.Channel == web.DMChannel("alice") {
			t.Errorf("bob's state holds alice's message %+v", m)
		}
	}
	resp, err := srv.Client().Get(srv.URL + web.PathState + "?as=alice")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as web.State
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatal(err)
	}
	if as.Me.ID != "alice" || len(as.Messages) != 4 || len(as.People) != 2 || len(as.Channels) != 3 {
		t.Errorf("alice's state: me %s, %d messages, %d people, %d channels", as.Me.ID, len(as.Messages), len(as.People), len(as.Channels))
	}
}

func TestTheStreamDeliversAnUpdate(t *testing.T) {
	chat, srv := newChat(t, &fakeHandler{})
	s := openStream(t, srv, "bob")
	ctx := context.Background()
	ref, err := chat.Post(ctx, web.ChannelApprovals, bot.View{Title: "Alice requests prod-db", Tone: bot.TonePending,
		Buttons: []bot.Button{{ActionID: bot.ActionApprove, Label: "Approve", Value: "r-1", Style: bot.StylePrimary}}})
	if err != nil || ref.Platform != "web" || ref.Channel != web.ChannelApprovals || ref.ID == "" {
		t.Fatalf("post: %+v %v", ref, err)
	}
	posted := s.message()
	if err := chat.Update(ctx, ref, bot.View{Title: "Alice requests prod-db", Text: "Approved by Bob.", Tone: bot.ToneSuccess}); err != nil {
		t.Fatal(err)
	}
	updated := s.message()
	if updated.ID != posted.ID || !updated.Edited || updated.Seq <= posted.Seq || updated.View.Text != "Approved by Bob." || len(updated.View.Buttons) != 0 {
		t.Errorf("update = %+v, posted %+v", updated, posted)
	}

	// A message from before a restart is shown again; a channel that does not exist is a
	// permanent error.
	if err := chat.Update(ctx, bot.MessageRef{Platform: "web", Channel: web.ChannelApprovals, ID: "old-7"}, bot.View{Title: "again"}); err != nil {
		t.Errorf("update of a forgotten message: %v", err)
	}
	if m := s.message(); m.ID != "old-7" || m.View.Title != "again" {
		t.Errorf("re-shown = %+v", m)
	}
	if err := chat.Update(ctx, bot.MessageRef{Channel: "general", ID: "x"}, bot.View{}); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("update in an unknown channel: %v", err)
	}
	if _, err := chat.DM(ctx, "mallory", bot.View{}); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("DM to an unknown person: %v", err)
	}

	// Close ends the stream, so that the server can shut down.
	chat.Close()
	select {
	case _, open := <-s.events:
		if open {
			t.Error("an event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Error("the stream is still open after Close")
	}
}

func TestFormsComeBackAsSubmitActions(t *testing.T) {
	h := &fakeHandler{}
	h.reply = func(c call) bot.Reply {
		switch {
		case c.action.ID == bot.ActionDeny:
			return bot.Reply{Private: true, Form: &bot.Form{ID: bot.FormDeny, Value: c.action.Value, Title: "Deny", Submit: "Deny",
				Inputs: []bot.Input{{ID: "reason", Label: "Reason", Kind: bot.InputLong}}}}
		case c.action.Inputs["reason"] == "":
			return bot.Reply{Errors: map[string]string{"reason": "Say why."}}
		}
		v := bot.View{Title: "Denied"}
		return bot.Reply{Private: true, View: &v}
	}
	_, srv := newChat(t, h)
	_, a, _ := postJSON(t, srv, web.PathAction, map[string]string{"as": "bob", "channel": web.ChannelApprovals, "action": "deny", "value": "r-1"})
	if a.Form == nil || a.Form.ID != bot.FormDeny || a.Form.Value != "r-1" || a.Message != nil {
		t.Fatalf("click answer = %+v", a)
	}
	submit := map[string]any{"as": "bob", "channel": web.ChannelApprovals, "action": "submit", "form": "deny", "value": "r-1",
		"inputs": map[string]string{"reason": ""}}
	if _, a, _ = postJSON(t, srv, web.PathAction, submit); a.Errors["reason"] != "Say why." || a.Message != nil {
		t.Errorf("submit without a reason = %+v", a)
	}
	submit["inputs"] = map[string]string{"reason": "not now"}
	if _, a, _ = postJSON(t, srv, web.PathAction, submit); a.Message == nil || a.Message.View.Title != "Denied" || a.Message.To != "bob" {
		t.Errorf("submit = %+v", a)
	}
	_, acts := h.calls()
	last := acts[len(acts)-1]
	if last.action.ID != bot.ActionSubmit || last.action.Form != bot.FormDeny || last.action.Value != "r-1" ||
		last.action.Inputs["reason"] != "not now" || last.actor.ID != "bob@example.com" {
		t.Errorf("the handler got %+v", last)
	}
}

func TestCrossOriginAndForeignRequestsAreRefused(t *testing.T) {
	h := &fakeHandler{}
	_, srv := newChat(t, h)
	body := map[string]string{"as": "alice", "text": "/access request prod-db 1h"}
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"another site's page, by Sec-Fetch-Site", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"another site's page, by Origin alone", []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"a form post (not JSON)", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"a name that resolves to 127.0.0.1 (DNS rebinding)", []string{"Host", "evil.example:80"}, http.StatusMisdirectedRequest},
		{"through a reverse proxy", []string{"X-Forwarded-For", "203.0.113.9"}, http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, raw := postJSON(t, srv, web.PathCommand, body, tt.header...)
			if status != tt.want {
				t.Errorf("status %d %s, want %d", status, raw, tt.want)
			}
		})
	}
	// A body larger than the limit.
	big := map[string]string{"as": "alice", "text": strings.Repeat("x", 100<<10)}
	if status, _, _ := postJSON(t, srv, web.PathCommand, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a large body: %d, want 413", status)
	}
	// Unknown fields are refused, like the config's unknown keys.
	if status, _, raw := postJSON(t, srv, web.PathCommand, map[string]string{"as": "alice", "text": "list", "admin": "true"}); status != http.StatusBadRequest || !strings.Contains(raw, `unknown field \"admin\"`) {
		t.Errorf("an unknown field: %d %s, want 400 naming the field", status, raw)
	}
	if cmds, acts := h.calls(); len(cmds)+len(acts) != 0 {
		t.Errorf("a refused request reached the handler: %+v %+v", cmds, acts)
	}
	// Reading is refused for a foreign host name too.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+web.PathState, nil)
	req.Host = "attacker.example"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("state for a foreign host: %d", resp.StatusCode)
	}
}

func TestThePageIsSelfContained(t *testing.T) {
	_, srv := newChat(t, &fakeHandler{})
	for path, ctype := range map[string]string{"/chat/": "text/html", "/chat/app.js": "text/javascript", "/chat/app.css": "text/css"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if len(body) == 0 {
			t.Errorf("%s is empty", path)
		}
	}
	// Nothing is loaded from elsewhere (no CDN, no web fonts), and no data becomes HTML.
	err := filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, bad := range []string{"://", "@import", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Get(srv.URL + "/chat/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown path: %d", resp.StatusCode)
	}
}

func TestASlowStreamIsClosedNotWaitedFor(t *testing.T) {
	chat, srv := newChat(t, &fakeHandler{})
	ctx := context.Background()
	// A stream nobody reads from: posting must not block on it.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+web.PathEvents+"?as=bob", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3000 {
			if _, err := chat.Post(ctx, web.ChannelSecurity, bot.View{Title: strings.Repeat("alert ", 50)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("posting blocked on a stream nobody reads")
	}
	st, _ := chat.StateFor("bob")
	if n := len(st.Messages); n != web.DefaultMaxMessages {
		t.Errorf("security keeps %d messages, want %d", n, web.DefaultMaxMessages)
	}
}

func TestAllowRemoteServesOtherHostNames(t *testing.T) {
	chat, err := web.New(web.Options{People: people, Handler: &fakeHandler{}, AllowRemote: true, Token: fixedToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(chat)
	defer srv.Close()
	defer chat.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+web.PathState+"?as=bob", nil)
	req.Host = "chat.lab.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Authorization", "Bearer "+fixedToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("state with allow_remote: %d", resp.StatusCode)
	}
}
