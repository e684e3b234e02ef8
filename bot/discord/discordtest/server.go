// Package discordtest is an in-process fake of the parts of Discord that accessbot talks to: the
// REST API routes it calls (channel messages, DM channels, guild members and roles, command
// registration, interaction callbacks and follow-up edits, /users/@me, /gateway) and a gateway
// websocket. It records every call for assertions and answers as Discord documents (JSON
// objects; errors as {"message", "code"} with Discord's codes; 429 with retry_after), and it can
// answer 429, or a chosen error, for the next calls.
//
// It also plays Discord's side of the inbound traffic: Sender signs interactions with a test
// Ed25519 key exactly as Discord signs them (over timestamp + body, headers
// X-Signature-Ed25519 and X-Signature-Timestamp) and posts them to accessbot's endpoint, and
// Push sends them over the gateway.
//
// It implements Discord's signing on its own, independently of the code under test.
package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// IDs and the token the fake uses unless told otherwise.
const (
	BotToken      = "fake-discord-bot-token.abc.def"
	ApplicationID = "100000000000000001"
	GuildID       = "200000000000000001"
	BotUserID     = "100000000000000002"
)

// Routes, as Call.Route names them.
const (
	RoutePostMessage    = "POST /channels/{channel}/messages"
	RouteEditMessage    = "PATCH /channels/{channel}/messages/{message}"
	RouteOpenDM         = "POST /users/@me/channels"
	RouteMe             = "GET /users/@me"
	RouteMember         = "GET /guilds/{guild}/members/{user}"
	RouteRoles          = "GET /guilds/{guild}/roles"
	RouteGlobalCommands = "PUT /applications/{app}/commands"
	RouteGuildCommands  = "PUT /applications/{app}/guilds/{guild}/commands"
	RouteCallback       = "POST /interactions/{id}/{token}/callback"
	RouteEditOriginal   = "PATCH /webhooks/{app}/{token}/messages/@original"
	RouteFollowup       = "POST /webhooks/{app}/{token}"
	RouteGateway        = "GET /gateway"
	RouteGatewayBot     = "GET /gateway/bot"
)

// botRoutes need the bot token; interaction callbacks and webhooks are authorized by the
// interaction token in their path.
var botRoutes = map[string]bool{
	RoutePostMessage: true, RouteEditMessage: true, RouteOpenDM: true, RouteMe: true, RouteMember: true,
	RouteRoles: true, RouteGlobalCommands: true, RouteGuildCommands: true, RouteGatewayBot: true,
}

// Call is one request the fake received.
type Call struct {
	// Route is the route template (RoutePostMessage...), Path the path under the API base.
	Route string
	Path  string
	// Params are the route's path parameters ("channel", "token"...).
	Params map[string]string
	// Auth is the Authorization header.
	Auth string
	// Body is the request body as sent.
	Body []byte
	// Files are the attachments of a multipart message, by file name.
	Files map[string][]byte
	// parts are the form names of a multipart message's files (files[0]...) by file name.
	parts map[string]string
	// Status is what the fake answered; Code Discord's JSON error code, if any.
	Status      int
	Code        int
	RateLimited bool
}

// Decode decodes the body into v.
func (c Call) Decode(v any) error { return json.Unmarshal(c.Body, v) }

// JSON returns the body decoded as a JSON object (nil when it is not one).
func (c Call) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(c.Body, &m)
	return m
}

// Message is a channel message the fake holds, as last posted or edited.
type Message struct {
	ID, ChannelID string
	// Body is the last create or edit payload (content, embeds, components...).
	Body []byte
	// Edits counts the edits.
	Edits int
	// Files are the message's attachments by file name, as last sent.
	Files map[string][]byte
}

// JSON returns the message's last payload decoded.
func (m Message) JSON() map[string]any {
	var out map[string]any
	_ = json.Unmarshal(m.Body, &out)
	return out
}

// Role is a guild role.
type Role struct{ ID, Name string }

type failure struct {
	status, code int
	message      string
}

// Server is the fake. Its zero value is not usable; call New or NewServer.
type Server struct {
	// URL is the fake's root URL (http://127.0.0.1:port).
	URL string
	srv *httptest.Server

	mu         sync.Mutex
	token      string
	calls      []Call
	messages   map[string]*Message // channel + "/" + id
	order      []string
	dms        map[string]string // user -> DM channel
	roles      []Role
	members    map[string][]string // user -> role IDs
	responded  map[string]bool     // interaction IDs answered
	limitN     int
	retryAfter time.Duration
	limits     *Limits            // EnforceLimits
	windows    map[string]*window // each limited bucket's window
	failures   map[string][]failure
	nextID     uint64
	changed    chan struct{}

	gwMu sync.Mutex // guards gws
	// gws are the open gateway connections: like Discord, the fake lets a bot open several
	// sessions, and sends every event to each that has identified.
	gws        map[*gatewayConn]bool
	identified chan struct{}
	done       chan struct{}
}

// New starts a fake that is closed when the test ends.
func New(t testing.TB) *Server {
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake; Close stops it.
func NewServer() *Server {
	s := &Server{
		token:      BotToken,
		messages:   map[string]*Message{},
		dms:        map[string]string{},
		members:    map[string][]string{},
		responded:  map[string]bool{},
		failures:   map[string][]failure{},
		nextID:     1100000000000000000,
		changed:    make(chan struct{}),
		gws:        map[*gatewayConn]bool{},
		identified: make(chan struct{}),
		done:       make(chan struct{}),
	}
	mux := http.NewServeMux()
	for _, r := range []string{RoutePostMessage, RouteEditMessage, RouteOpenDM, RouteMe, RouteMember, RouteRoles,
		RouteGlobalCommands, RouteGuildCommands, RouteCallback, RouteEditOriginal, RouteFollowup, RouteGateway, RouteGatewayBot} {
		method, path, _ := strings.Cut(r, " ")
		mux.HandleFunc(method+" /api/v10"+path, s.route(r))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
	})
	mux.HandleFunc("/gateway", s.serveGateway)
	mux.HandleFunc("/gateway/", s.serveGateway)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the fake and its gateway connections.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	s.gwMu.Lock()
	for c := range s.gws {
		c.ws.Close()
	}
	s.gwMu.Unlock()
	s.srv.Close()
}

// APIURL is the REST API base URL to configure (discord.api_url).
func (s *Server) APIURL() string { return s.URL + "/api/v10" }

// SetToken changes the bot token the fake accepts.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// AddRole adds a role to the guild.
func (s *Server) AddRole(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles = append(s.roles, Role{ID: id, Name: name})
}

// SetMember makes user a member of the guild with these role IDs.
func (s *Server) SetMember(user string, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[user] = append([]string{}, roles...)
}

// RateLimit makes the next n calls answer 429 with retry_after (and Retry-After, rounded up).
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next call of route answer status with Discord's error code (50001
// Missing Access, 10008 Unknown Message...). Failures queue up.
func (s *Server) FailNext(route string, status, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[route] = append(s.failures[route], failure{status: status, code: code, message: message})
}

// Calls returns the calls received, in order, only of the given routes when any are given.
func (s *Server) Calls(routes ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(routes) == 0 || contains(routes, c.Route) {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many calls of route were received.
func (s *Server) Count(route string) int { return len(s.Calls(route)) }

// WaitFor waits until at least n calls of route were received, or timeout passes (real time),
// and returns them.
func (s *Server) WaitFor(t testing.TB, route string, n int, timeout time.Duration) []Call {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if calls := s.Calls(route); len(calls) >= n {
			return calls
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %s for %d %s call(s), got %d", timeout, n, route, s.Count(route))
			return nil
		}
	}
}

// Message returns a message as it stands after posts and edits.
func (s *Server) Message(channel, id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the messages in a channel, oldest first, as they stand.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, key := range s.order {
		if m := s.messages[key]; m.ChannelID == channel {
			out = append(out, *m)
		}
	}
	return out
}

// DMChannel returns the DM channel the fake opened with a user ("" when none was).
func (s *Server) DMChannel(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dms[user]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) recordLocked(c Call) {
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) newIDLocked() string {
	s.nextID++
	return strconv.FormatUint(s.nextID, 10)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// route serves one route: it records the call and answers as Discord does.
func (s *Server) route(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		var files map[string][]byte
		var parts map[string]string
		if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
			// A message with attachments: its JSON is the payload_json part.
			body, files, parts = readMultipart(body, params["boundary"])
		}
		c := Call{Route: name, Path: strings.TrimPrefix(r.URL.Path, "/api/v10"), Params: map[string]string{},
			Auth: r.Header.Get("Authorization"), Body: body, Files: files, parts: parts}
		for _, p := range []string{"channel", "message", "guild", "user", "app", "id", "token"} {
			if v := r.PathValue(p); v != "" {
				c.Params[p] = v
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		fail := func(status, code int, msg string) {
			c.Status, c.Code = status, code
			s.recordLocked(c)
			writeJSON(w, status, map[string]any{"message": msg, "code": code})
		}
		if s.limitLocked(w, &c) {
			return
		}
		if s.limitN > 0 && name != RouteGateway {
			s.limitN--
			c.Status, c.RateLimited = http.StatusTooManyRequests, true
			s.recordLocked(c)
			secs := s.retryAfter.Seconds()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
			w.Header().Set("X-RateLimit-Scope", "user")
			writeJSON(w, http.StatusTooManyRequests, map[string]any{
				"message": "You are being rate limited.", "retry_after": secs, "global": false})
			return
		}
		if botRoutes[name] && c.Auth != "Bot "+s.token {
			fail(http.StatusUnauthorized, 0, "401: Unauthorized")
			return
		}
		if q := s.failures[name]; len(q) > 0 {
			s.failures[name] = q[1:]
			fail(q[0].status, q[0].code, q[0].message)
			return
		}
		if len(body) > 0 && !json.Valid(body) {
			fail(http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
			return
		}
		status, answer, code, msg := s.answerLocked(c)
		if code != 0 || status >= 400 {
			fail(status, code, msg)
			return
		}
		c.Status = status
		s.recordLocked(c)
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, answer)
	}
}

// answerLocked answers one route: status, body, or a Discord error code and message.
func (s *Server) answerLocked(c Call) (int, any, int, string) {
	switch c.Route {
	case RouteMe:
		return 200, map[string]any{"id": BotUserID, "username": "accessbot", "bot": true}, 0, ""
	case RoutePostMessage:
		if !hasContent(c.Body) && len(c.Files) == 0 {
			return 400, nil, 50006, "Cannot send an empty message"
		}
		if msg := checkMessage(c); msg != "" {
			return 400, nil, 50035, "Invalid Form Body: " + msg
		}
		id := s.newIDLocked()
		ch := c.Params["channel"]
		key := ch + "/" + id
		s.messages[key] = &Message{ID: id, ChannelID: ch, Body: c.Body, Files: c.Files}
		s.order = append(s.order, key)
		return 200, map[string]any{"id": id, "channel_id": ch, "author": map[string]any{"id": BotUserID, "bot": true}}, 0, ""
	case RouteEditMessage:
		m, ok := s.messages[c.Params["channel"]+"/"+c.Params["message"]]
		if !ok {
			return 404, nil, 10008, "Unknown Message"
		}
		if msg := checkMessage(c); msg != "" {
			return 400, nil, 50035, "Invalid Form Body: " + msg
		}
		m.Body = c.Body
		if c.Files != nil {
			m.Files = c.Files
		}
		m.Edits++
		return 200, map[string]any{"id": m.ID, "channel_id": m.ChannelID}, 0, ""
	case RouteOpenDM:
		var in struct {
			RecipientID string `json:"recipient_id"`
		}
		if err := json.Unmarshal(c.Body, &in); err != nil || in.RecipientID == "" {
			return 400, nil, 50035, "Invalid Form Body"
		}
		ch := s.dms[in.RecipientID]
		if ch == "" {
			ch = s.newIDLocked()
			s.dms[in.RecipientID] = ch
		}
		return 200, map[string]any{"id": ch, "type": 1, "recipients": []any{map[string]any{"id": in.RecipientID}}}, 0, ""
	case RouteMember:
		if c.Params["guild"] != GuildID {
			return 404, nil, 10004, "Unknown Guild"
		}
		roles, ok := s.members[c.Params["user"]]
		if !ok {
			return 404, nil, 10007, "Unknown Member"
		}
		return 200, map[string]any{"user": map[string]any{"id": c.Params["user"]}, "roles": roles}, 0, ""
	case RouteRoles:
		if c.Params["guild"] != GuildID {
			return 404, nil, 10004, "Unknown Guild"
		}
		list := []any{}
		for _, r := range s.roles {
			list = append(list, map[string]any{"id": r.ID, "name": r.Name})
		}
		return 200, list, 0, ""
	case RouteGlobalCommands, RouteGuildCommands:
		if c.Params["app"] != ApplicationID {
			return 403, nil, 50001, "Missing Access"
		}
		if c.Route == RouteGuildCommands && c.Params["guild"] != GuildID {
			return 403, nil, 50001, "Missing Access"
		}
		var cmds []map[string]any
		if err := json.Unmarshal(c.Body, &cmds); err != nil {
			return 400, nil, 50035, "Invalid Form Body"
		}
		for _, cmd := range cmds {
			cmd["id"] = s.newIDLocked()
			cmd["application_id"] = ApplicationID
			cmd["version"] = "1"
		}
		return 200, cmds, 0, ""
	case RouteCallback:
		if s.responded[c.Params["id"]] {
			return 400, nil, 40060, "Interaction has already been acknowledged."
		}
		s.responded[c.Params["id"]] = true
		return http.StatusNoContent, nil, 0, ""
	case RouteEditOriginal, RouteFollowup:
		if c.Params["app"] != ApplicationID {
			return 404, nil, 10015, "Unknown Webhook"
		}
		return 200, map[string]any{"id": s.newIDLocked(), "webhook_id": ApplicationID}, 0, ""
	case RouteGateway:
		return 200, map[string]any{"url": strings.Replace(s.URL, "http://", "ws://", 1) + "/gateway"}, 0, ""
	case RouteGatewayBot:
		return 200, map[string]any{"url": strings.Replace(s.URL, "http://", "ws://", 1) + "/gateway", "shards": 1,
			"session_start_limit": map[string]any{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}, 0, ""
	}
	return 404, nil, 0, "404: Not Found"
}

func hasContent(body []byte) bool {
	var m struct {
		Content    string            `json:"content"`
		Embeds     []json.RawMessage `json:"embeds"`
		Components []json.RawMessage `json:"components"`
	}
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	return m.Content != "" || len(m.Embeds) > 0 || len(m.Components) > 0
}

// Keys returns the sorted keys of the fake's messages, for debugging failed tests.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.messages))
	for k := range s.messages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String describes the calls received, for failure messages.
func (s *Server) String() string {
	var b strings.Builder
	for _, c := range s.Calls() {
		fmt.Fprintf(&b, "%s %s -> %d\n", c.Route, c.Path, c.Status)
	}
	return b.String()
}

// Embed limits Discord documents (discord.com/developers/docs/resources/message#embed-object-embed-limits),
// which the fake enforces on messages as Discord does: a message over one is refused whole.
const (
	embedTitle       = 256
	embedDescription = 4096
	embedFields      = 25
	embedFieldName   = 256
	embedFieldValue  = 1024
	embedFooter      = 2048
	embedTotal       = 6000
)

// checkMessage says what is wrong with a message create or edit, or "": its embeds' limits, and
// for a multipart message, that every file part is files[n] with an attachment of id n in
// payload_json's attachments, as Discord documents uploads.
func checkMessage(c Call) string {
	var m struct {
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
		Attachments []struct {
			ID       json.Number `json:"id"`
			Filename string      `json:"filename"`
		} `json:"attachments"`
	}
	if json.Unmarshal(c.Body, &m) != nil {
		return "not a message"
	}
	n := func(s string) int { return utf8.RuneCountInString(s) }
	for i, e := range m.Embeds {
		total := n(e.Title) + n(e.Description)
		if n(e.Title) > embedTitle || n(e.Description) > embedDescription || len(e.Fields) > embedFields {
			return fmt.Sprintf("embeds[%d] is over a limit", i)
		}
		for j, f := range e.Fields {
			if n(f.Name) > embedFieldName || n(f.Value) > embedFieldValue {
				return fmt.Sprintf("embeds[%d].fields[%d] is over a limit", i, j)
			}
			total += n(f.Name) + n(f.Value)
		}
		if e.Footer != nil {
			if n(e.Footer.Text) > embedFooter {
				return fmt.Sprintf("embeds[%d].footer is over a limit", i)
			}
			total += n(e.Footer.Text)
		}
		if total > embedTotal {
			return fmt.Sprintf("embeds[%d] is over %d characters", i, embedTotal)
		}
	}
	declared := map[string]bool{}
	for _, a := range m.Attachments {
		declared[a.ID.String()] = true
	}
	for file, part := range c.parts {
		id, ok := strings.CutPrefix(part, "files[")
		id, ok2 := strings.CutSuffix(id, "]")
		if !ok || !ok2 || !declared[id] {
			return fmt.Sprintf("file %q (%s) has no attachment in payload_json", file, part)
		}
	}
	return ""
}

// readMultipart returns the payload_json part of a multipart body, its files by file name and
// their form names (files[0]...) by file name; a body that does not parse comes back as it is,
// which the JSON check then refuses.
func readMultipart(body []byte, boundary string) ([]byte, map[string][]byte, map[string]string) {
	files := map[string][]byte{}
	parts := map[string]string{}
	var payload []byte
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextPart()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(io.LimitReader(part, 8<<20))
		switch {
		case part.FormName() == "payload_json":
			payload = data
		case part.FileName() != "":
			files[part.FileName()] = data
			parts[part.FileName()] = part.FormName()
		}
	}
	if payload == nil {
		return body, files, parts
	}
	return payload, files, parts
}
