package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/accessbot/accessbot/bot"
)

// The HTTP surface, under Prefix.
const (
	Prefix      = "/chat/"
	PathState   = Prefix + "api/state"
	PathEvents  = Prefix + "api/events"
	PathCommand = Prefix + "api/command"
	PathAction  = Prefix + "api/action"
)

const (
	// maxBody bounds a JSON request: a command, a click, a form.
	maxBody = 64 << 10
	// maxText bounds a command's text and each form input.
	maxText = 4000
	// maxInputs bounds the inputs of a submitted form.
	maxInputs = 20
	// heartbeat keeps an event stream open through proxies and finds dead clients.
	heartbeat = 20 * time.Second
	// writeTimeout bounds each write to an event stream.
	writeTimeout = 15 * time.Second
)

//go:embed static
var static embed.FS

// securityHeaders are on every answer: no framing, no sniffing, and a page that loads nothing
// but its own script and style.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// Mount serves the web chat under /chat/ on mux. Everything under /chat/ needs the token (see
// URL); /chat itself only sends a browser on to /chat/.
func (c *Chat) Mount(mux *http.ServeMux) {
	mux.Handle(Prefix, c)
	mux.HandleFunc("GET /chat", func(w http.ResponseWriter, r *http.Request) {
		// The query goes along: it may hold the token of the URL to open.
		to := Prefix
		if r.URL.RawQuery != "" {
			to += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
}

// ServeHTTP serves the page, its assets and the JSON API.
func (c *Chat) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.http.ServeHTTP(w, r) }

func (c *Chat) routes() http.Handler {
	mux := http.NewServeMux()
	for name, ctype := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"app.css":    "text/css; charset=utf-8",
	} {
		body, err := static.ReadFile("static/" + name)
		if err != nil {
			panic(err) // embedded at build time
		}
		path := Prefix + name
		if name == "index.html" {
			path = Prefix + "{$}"
		}
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
		})
	}
	mux.HandleFunc("GET "+PathState, c.serveState)
	mux.HandleFunc("GET "+PathEvents, c.serveEvents)
	mux.HandleFunc("POST "+PathCommand, c.serveCommand)
	mux.HandleFunc("POST "+PathAction, c.serveAction)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.Warn().Str("path", r.URL.Path).Str("origin", r.Header.Get("Origin")).
			Str("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")).Msg("refused a cross-origin request to the web chat")
		writeError(w, http.StatusForbidden, "cross-origin requests are refused")
	}))
	guarded := cop.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		if !c.allowRemote {
			if why := notLocal(r); why != "" {
				c.log.Warn().Str("host", r.Host).Str("remote", r.RemoteAddr).Str("path", r.URL.Path).
					Str("reason", why).Msg("refused a web chat request that is not local")
				writeError(w, http.StatusMisdirectedRequest, "the web chat answers only on localhost, from this machine (web.allow_remote is false)")
				return
			}
		}
		if !c.admit(w, r) {
			return
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				c.log.Error().Interface("panic", p).Str("stack", string(debug.Stack())).Msg("panic in the web chat")
				writeError(w, http.StatusInternalServerError, "something went wrong on our side")
			}
		}()
		guarded.ServeHTTP(w, r)
	})
}

// notLocal says why a request does not come from this machine for a loopback name, or "".
func notLocal(r *http.Request) string {
	if !loopbackName(r.Host) {
		return "host name is not loopback"
	}
	if !loopbackName(r.RemoteAddr) {
		return "client is not on this machine"
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return "came through a proxy (" + h + ")"
		}
	}
	return ""
}

// loopbackName reports whether host (with or without a port) is localhost or a loopback IP.
func loopbackName(host string) bool {
	name := strings.ToLower(host)
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(b)
}

// person reads the person a request acts as.
func (c *Chat) person(w http.ResponseWriter, as string) (Person, bool) {
	if as == "" {
		return c.people[0], true
	}
	p, ok := c.byID[as]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("there is nobody called %q here", truncate(as, 40)))
	}
	return p, ok
}

// serveState answers GET /chat/api/state?as=ID: what the person sees now.
func (c *Chat) serveState(w http.ResponseWriter, r *http.Request) {
	p, ok := c.person(w, r.URL.Query().Get("as"))
	if !ok {
		return
	}
	s, _ := c.StateFor(p.ID)
	writeJSON(w, http.StatusOK, s)
}

// serveEvents answers GET /chat/api/events?as=ID with a Server-Sent Events stream: first the
// state ("state"), then every message posted or changed that the person may see ("message").
func (c *Chat) serveEvents(w http.ResponseWriter, r *http.Request) {
	p, ok := c.person(w, r.URL.Query().Get("as"))
	if !ok {
		return
	}
	sub, state, ok := c.subscribe(p)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "the web chat is shutting down")
		return
	}
	defer c.unsubscribe(sub)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			c.log.Error().Err(err).Msg("encode a web chat event")
			return false
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// A page reconnects two seconds after a lost stream.
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if !send("state", state) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case m, open := <-sub.ch:
			if !open {
				return
			}
			if !send("message", m) {
				return
			}
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
	}
}

// readJSON decodes a small JSON body into v, strictly.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json)")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			writeError(w, http.StatusRequestEntityTooLarge, "request too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "not a valid request: "+truncate(err.Error(), 200))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "not a valid request: more than one JSON value")
		return false
	}
	return true
}

// commandRequest is the body of POST /chat/api/command.
type commandRequest struct {
	As      string `json:"as"`
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

// actionRequest is the body of POST /chat/api/action: a button click (action, value) or a
// form submission (action "submit", form, value, inputs).
type actionRequest struct {
	As      string            `json:"as"`
	Channel string            `json:"channel"`
	Action  string            `json:"action"`
	Value   string            `json:"value"`
	Form    string            `json:"form"`
	Inputs  map[string]string `json:"inputs"`
}

// Answer is the answer to a command or an action.
type Answer struct {
	// Message is the reply, also delivered on the event stream.
	Message *Message `json:"message,omitempty"`
	// Form is a dialog to open.
	Form *bot.Form `json:"form,omitempty"`
	// Errors are problems with a submitted form's inputs, by input ID; the form stays open.
	Errors map[string]string `json:"errors,omitempty"`
}

// channel checks the channel a request acts in; empty means the person's DM.
func (c *Chat) channel(w http.ResponseWriter, p Person, ch string) (string, bool) {
	if ch == "" {
		return DMChannel(p.ID), true
	}
	if !c.knownChannel(ch) || !visible(&Message{Channel: ch}, p.ID) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s cannot write in %q", p.Name, truncate(ch, 40)))
		return "", false
	}
	return ch, true
}

// serveCommand runs `/access <text>` as the person, in a channel.
func (c *Chat) serveCommand(w http.ResponseWriter, r *http.Request) {
	var req commandRequest
	if !readJSON(w, r, &req) {
		return
	}
	p, ok := c.person(w, req.As)
	if !ok {
		return
	}
	ch, ok := c.channel(w, p, req.Channel)
	if !ok {
		return
	}
	text := strings.TrimSpace(req.Text)
	if len(text) > maxText {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a command is at most %d characters", maxText))
		return
	}
	args, isAccess := cutCommand(text)
	// What the person typed shows in the channel for them alone, as a slash command does.
	c.show(r.Context(), &Message{Channel: ch, From: p.ID, To: p.ID, Text: text})
	var reply bot.Reply
	if isAccess {
		reply = c.handler.Command(context.WithoutCancel(r.Context()), p.Actor(), args)
	} else {
		v := bot.View{Title: "Only /access commands here", Tone: bot.ToneNeutral,
			Text: "This chat understands accessbot's commands: try `/access help`."}
		reply = bot.Reply{Private: true, View: &v}
	}
	writeJSON(w, http.StatusOK, c.answer(r.Context(), ch, p, reply))
}

// cutCommand returns the text after "/access"; text without a leading slash is taken as the
// arguments themselves. It reports false for another slash command.
func cutCommand(text string) (string, bool) {
	if !strings.HasPrefix(text, "/") {
		return text, true
	}
	name, rest, _ := strings.Cut(text, " ")
	if !strings.EqualFold(name, "/access") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// serveAction runs a button click or a form submission as the person.
func (c *Chat) serveAction(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	if !readJSON(w, r, &req) {
		return
	}
	p, ok := c.person(w, req.As)
	if !ok {
		return
	}
	ch, ok := c.channel(w, p, req.Channel)
	if !ok {
		return
	}
	if req.Action == "" || len(req.Action) > 64 || len(req.Value) > 256 || len(req.Form) > 64 || len(req.Inputs) > maxInputs {
		writeError(w, http.StatusBadRequest, "not a valid action")
		return
	}
	act := bot.Action{ID: req.Action, Value: req.Value}
	if req.Action == bot.ActionSubmit {
		if req.Form == "" {
			writeError(w, http.StatusBadRequest, "a form submission names its form")
			return
		}
		act.Form, act.Inputs = req.Form, map[string]string{}
		for k, v := range req.Inputs {
			if len(k) > 64 || len(v) > maxText {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a form input is at most %d characters", maxText))
				return
			}
			act.Inputs[k] = v
		}
	}
	reply := c.handler.Act(context.WithoutCancel(r.Context()), p.Actor(), act)
	writeJSON(w, http.StatusOK, c.answer(r.Context(), ch, p, reply))
}

// answer posts a reply's view in the channel (for the person alone when private) and returns
// what the page needs.
func (c *Chat) answer(ctx context.Context, ch string, p Person, reply bot.Reply) Answer {
	var a Answer
	if len(reply.Errors) > 0 {
		a.Errors = reply.Errors
		return a
	}
	a.Form = reply.Form
	if reply.View != nil {
		v := *reply.View
		m := &Message{Channel: ch, View: &v}
		if reply.Private {
			m.To = p.ID
		}
		posted := c.show(ctx, m)
		a.Message = &posted
	}
	return a
}

// show posts a message that answers a person: the command has run, so a Store that fails to
// keep the message is logged and the message shown all the same (until a restart).
func (c *Chat) show(ctx context.Context, m *Message) Message {
	ctx = context.WithoutCancel(ctx)
	c.write.Lock()
	defer c.write.Unlock()
	if err := c.restoreLocked(ctx); err != nil {
		c.log.Error().Err(err).Msg("web chat history not loaded")
	}
	posted, err := c.addWriting(ctx, m)
	if err == nil {
		return posted
	}
	c.log.Error().Err(err).Str("channel", m.Channel).Msg("web chat message not stored; shown until a restart")
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insertLocked(m)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
