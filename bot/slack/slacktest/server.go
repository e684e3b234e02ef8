// Package slacktest is an in-process fake of the parts of Slack that accessbot talks to: the Web
// API methods it calls (chat.postMessage, chat.update, chat.postEphemeral, views.open,
// users.info, users.lookupByEmail, usergroups.list, usergroups.users.list, conversations.open, auth.test,
// apps.connections.open, and the file upload: files.getUploadURLExternal, the upload URL,
// files.completeUploadExternal), response_urls, and a Socket Mode websocket. It records every
// call for assertions and answers as Slack documents ({"ok":true,...} or {"ok":false,"error":"..."}),
// and it can answer 429 with Retry-After, or a chosen error, for the next calls.
//
// It also plays Slack's side of the inbound traffic: Sender signs and sends slash commands and
// interactions to accessbot's HTTP endpoints exactly as Slack does, and Push sends Socket Mode
// envelopes and AckOf reads their acknowledgements.
//
// It implements Slack's signing on its own, independently of the code under test.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Tokens the fake accepts unless told otherwise.
const (
	BotToken = "xoxb-fake-bot-token"
	AppToken = "xapp-fake-app-token"
)

// Call is one request the fake received.
type Call struct {
	// Method is the Web API method ("chat.postMessage"), or "response_url" for a post to a
	// response URL (then Path is the URL's path).
	Method string
	Path   string
	// Token is the token sent (Authorization: Bearer, or the token argument).
	Token string
	// Args are the form or query arguments, without the token.
	Args url.Values
	// JSON is the body when it was sent as JSON.
	JSON map[string]any
	// RateLimited is true when the fake answered 429.
	RateLimited bool
	// Error is the Slack error code the fake answered with, if any.
	Error string
	// At is when the fake received the call (by the Limits' clock when enforced).
	At time.Time
}

// Arg returns a string argument, from the form or the top level of a JSON body.
func (c Call) Arg(name string) string {
	if v := c.Args.Get(name); v != "" {
		return v
	}
	if s, ok := c.JSON[name].(string); ok {
		return s
	}
	return ""
}

// Decode decodes an argument holding JSON (blocks, attachments), or a JSON body's field.
func (c Call) Decode(name string, v any) error {
	if s := c.Args.Get(name); s != "" {
		return json.Unmarshal([]byte(s), v)
	}
	raw, ok := c.JSON[name]
	if !ok {
		return fmt.Errorf("call %s has no %q", c.Method, name)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// User is a workspace member as users.info shows them.
type User struct {
	ID          string
	Name        string // the handle
	RealName    string
	DisplayName string
	Email       string // empty: no email in the profile
	IsBot       bool
	Deleted     bool
	// TeamID is the user's workspace; empty means the fake's own, T0FAKE (auth.test's).
	TeamID string
	// EnterpriseID, when set, makes the user an Enterprise Grid member (enterprise_user).
	EnterpriseID string
	// Guest makes a multi-channel guest (is_restricted); SingleChannelGuest a single-channel
	// one (is_restricted and is_ultra_restricted, as Slack shows them).
	Guest, SingleChannelGuest bool
	// Stranger is a user from another organization seen through Slack Connect (is_stranger).
	Stranger bool
	// EmailUnconfirmed makes is_email_confirmed false; otherwise it is true for a user with an
	// email. Slack leaves the field out for a user without one, and so does the fake.
	EmailUnconfirmed bool
}

// UserGroup is a user group (usergroups.list).
type UserGroup struct {
	ID     string
	Handle string
	Name   string
	Users  []string
}

// Message is a message the fake holds, as last posted or updated.
type Message struct {
	Channel string
	TS      string
	Text    string
	// Blocks is the blocks argument as sent (JSON).
	Blocks string
}

// Preformatted returns the text of each rich_text_preformatted element of the message's
// rich_text blocks (a code block, as Slack shows it), its text elements joined as Slack joins
// them: what a person selects and copies from it.
func (m Message) Preformatted() ([]string, error) {
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string `json:"type"`
			Elements []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(m.Blocks), &blocks); err != nil {
		return nil, fmt.Errorf("blocks of message %s: %w", m.TS, err)
	}
	var out []string
	for _, b := range blocks {
		if b.Type != "rich_text" {
			continue
		}
		for _, e := range b.Elements {
			if e.Type != "rich_text_preformatted" {
				continue
			}
			var text strings.Builder
			for _, t := range e.Elements {
				text.WriteString(t.Text)
			}
			out = append(out, text.String())
		}
	}
	return out, nil
}

// Server is the fake. Its zero value is not usable; call New or NewServer.
type Server struct {
	// URL is the fake's root URL (http://127.0.0.1:port).
	URL string
	srv *httptest.Server

	mu         sync.Mutex
	botToken   string
	appToken   string
	calls      []Call
	users      map[string]User
	groups     []UserGroup
	messages   map[string]*Message // channel + "/" + ts
	limitN     int
	retryAfter time.Duration
	failures   map[string][]string
	down       bool // SetDown: every Web API and response_url call answers 503
	files      []*File
	nextTS     int64
	nextID     int
	changed    chan struct{}        // closed and replaced whenever something is recorded
	limits     *Limits              // EnforceLimits
	tats       map[string]time.Time // each limited bucket's "theoretical arrival time"

	socket   *websocket.Conn
	socketMu sync.Mutex // serialises writes to socket
	acks     map[string]json.RawMessage
	done     chan struct{}
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
		botToken: BotToken,
		appToken: AppToken,
		users:    map[string]User{},
		messages: map[string]*Message{},
		failures: map[string][]string{},
		acks:     map[string]json.RawMessage{},
		nextTS:   1700000000_000100,
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/response/", s.serveResponseURL)
	mux.HandleFunc("/socket", s.serveSocket)
	mux.HandleFunc("/upload/", s.serveUpload)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the fake and closes the Socket Mode connection.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	conn := s.socket
	s.socket = nil
	s.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	s.srv.Close()
}

// APIURL is the Web API base URL to configure (slack.api_url).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// ResponseURL returns a response_url on the fake; posts to it are recorded as "response_url"
// calls with this path.
func (s *Server) ResponseURL(name string) string { return s.URL + "/response/" + name }

// SetTokens changes the tokens the fake accepts.
func (s *Server) SetTokens(bot, app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.botToken, s.appToken = bot, app
}

// AddUser adds or replaces a workspace member.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddUserGroup adds or replaces a user group.
func (s *Server) AddUserGroup(g UserGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.groups {
		if s.groups[i].ID == g.ID {
			s.groups[i] = g
			return
		}
	}
	s.groups = append(s.groups, g)
}

// SetGroupMembers replaces a user group's members.
func (s *Server) SetGroupMembers(groupID string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.groups {
		if s.groups[i].ID == groupID {
			s.groups[i].Users = users
		}
	}
}

// RateLimit makes the next n Web API calls answer 429 with Retry-After (whole seconds,
// rounded up).
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitN, s.retryAfter = n, retryAfter
}

// FailNext makes the next call of method answer {"ok":false,"error":code}. Calls queue up.
func (s *Server) FailNext(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], code)
}

// SetDown starts (true) or ends (false) an outage: while down, every Web API call and every post
// to a response_url answers 503 Service Unavailable, as Slack does when it is down, and is
// recorded with Error "service_unavailable". Nothing is posted or updated meanwhile.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// refuseIfDownLocked answers 503 and records c when the fake is down; it reports whether it did.
// Called with s.mu held.
func (s *Server) refuseIfDownLocked(w http.ResponseWriter, c Call) bool {
	if !s.down {
		return false
	}
	c.Error = "service_unavailable"
	s.recordLocked(c)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `{"ok":false,"error":"service_unavailable"}`)
	return true
}

// Calls returns the calls received, in order, only of the given methods when any are given.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many calls of method were received.
func (s *Server) Count(method string) int { return len(s.Calls(method)) }

// WaitFor waits until at least n calls of method were received, or timeout passes (real time:
// it waits for goroutines of the code under test), and returns them.
func (s *Server) WaitFor(t testing.TB, method string, n int, timeout time.Duration) []Call {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if calls := s.Calls(method); len(calls) >= n {
			return calls
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %s for %d %s call(s), got %d", timeout, n, method, s.Count(method))
			return nil
		}
	}
}

// Message returns a message as it stands after posts and updates.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the messages the fake holds in a channel, oldest first, as they stand after
// posts and updates.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.Channel == channel {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.ParseFloat(out[i].TS, 64)
		b, _ := strconv.ParseFloat(out[j].TS, 64)
		return a < b
	})
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// record appends a call and wakes WaitFor.
func (s *Server) recordLocked(c Call) {
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
}

// parseRequest reads a Web API request as Slack does: form (body or query) or JSON, with the
// token from the Authorization header or the token argument.
func parseRequest(r *http.Request) (Call, error) {
	c := Call{Args: url.Values{}}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		c.Token = strings.TrimPrefix(auth, "Bearer ")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return c, err
	}
	for k, v := range r.URL.Query() {
		c.Args[k] = v
	}
	switch ct {
	case "application/json":
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &c.JSON); err != nil {
				return c, err
			}
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return c, err
		}
		for k, v := range form {
			c.Args[k] = v
		}
	}
	if tok := c.Args.Get("token"); tok != "" {
		if c.Token == "" {
			c.Token = tok
		}
		c.Args.Del("token")
	}
	if tok, ok := c.JSON["token"].(string); ok && c.Token == "" {
		c.Token = tok
	}
	return c, nil
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	// Slack counts a call when it arrives, before reading it or waiting for the fake's lock.
	s.mu.Lock()
	arrived := s.nowLocked()
	s.mu.Unlock()
	c, err := parseRequest(r)
	c.At = arrived
	c.Method = strings.TrimPrefix(r.URL.Path, "/api/")
	c.Path = r.URL.Path
	if err != nil {
		s.mu.Lock()
		c.Error = "invalid_form_data"
		s.recordLocked(c)
		s.mu.Unlock()
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuseIfDownLocked(w, c) {
		return
	}
	if wait := s.overLimitLocked(c, c.At); wait > 0 {
		c.RateLimited = true
		s.recordLocked(c)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
		return
	}
	if s.limitN > 0 {
		s.limitN--
		c.RateLimited = true
		s.recordLocked(c)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.retryAfter.Seconds()))))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
		return
	}
	want := s.botToken
	if c.Method == "apps.connections.open" {
		want = s.appToken
	}
	if c.Token == "" {
		s.fail(w, c, "not_authed")
		return
	}
	if c.Token != want {
		s.fail(w, c, "invalid_auth")
		return
	}
	if q := s.failures[c.Method]; len(q) > 0 {
		s.failures[c.Method] = q[1:]
		s.fail(w, c, q[0])
		return
	}
	answer, code := s.method(c)
	if code != "" {
		s.fail(w, c, code)
		return
	}
	s.recordLocked(c)
	answer["ok"] = true
	writeJSON(w, answer)
}

func (s *Server) fail(w http.ResponseWriter, c Call, code string) {
	c.Error = code
	s.recordLocked(c)
	writeJSON(w, map[string]any{"ok": false, "error": code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// method answers one Web API method; it returns the answer, or a Slack error code.
func (s *Server) method(c Call) (map[string]any, string) {
	switch c.Method {
	case "auth.test":
		return map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "accessbot",
			"team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}, ""
	case "chat.postMessage":
		ch := c.Arg("channel")
		if ch == "" {
			return nil, "channel_not_found"
		}
		if !hasContent(c) {
			return nil, "no_text"
		}
		if blocksTooLong(c.Arg("blocks")) {
			return nil, "msg_blocks_too_long"
		}
		ts := s.newTS()
		s.messages[ch+"/"+ts] = &Message{Channel: ch, TS: ts, Text: c.Arg("text"), Blocks: c.Arg("blocks")}
		return map[string]any{"channel": ch, "ts": ts, "message": map[string]any{"text": c.Arg("text"), "ts": ts}}, ""
	case "chat.update":
		ch, ts := c.Arg("channel"), c.Arg("ts")
		m, ok := s.messages[ch+"/"+ts]
		if !ok {
			return nil, "message_not_found"
		}
		if blocksTooLong(c.Arg("blocks")) {
			return nil, "msg_blocks_too_long"
		}
		m.Text, m.Blocks = c.Arg("text"), c.Arg("blocks")
		return map[string]any{"channel": ch, "ts": ts, "text": m.Text}, ""
	case "chat.postEphemeral":
		if c.Arg("channel") == "" {
			return nil, "channel_not_found"
		}
		if _, ok := s.users[c.Arg("user")]; !ok {
			return nil, "user_not_found"
		}
		return map[string]any{"message_ts": s.newTS()}, ""
	case "views.open":
		if c.Arg("trigger_id") == "" {
			return nil, "invalid_trigger_id"
		}
		if _, ok := c.JSON["view"].(map[string]any); !ok {
			return nil, "invalid_arguments"
		}
		s.nextID++
		view := c.JSON["view"].(map[string]any)
		out := map[string]any{}
		for k, v := range view {
			out[k] = v
		}
		out["id"] = fmt.Sprintf("V%06d", s.nextID)
		return map[string]any{"view": out}, ""
	case "users.info":
		return s.userInfo(c)
	case "users.lookupByEmail":
		// Slack answers users_not_found for an email no member has.
		for _, u := range s.users {
			if u.Email != "" && strings.EqualFold(u.Email, c.Arg("email")) && !u.Deleted {
				return map[string]any{"user": map[string]any{"id": u.ID, "team_id": "T0FAKE", "name": u.Name,
					"profile": map[string]any{"email": u.Email}}}, ""
			}
		}
		return nil, "users_not_found"
	case "usergroups.list":
		list := make([]map[string]any, 0, len(s.groups))
		for _, g := range s.groups {
			list = append(list, map[string]any{"id": g.ID, "team_id": "T0FAKE", "is_usergroup": true,
				"handle": g.Handle, "name": g.Name, "user_count": len(g.Users)})
		}
		return map[string]any{"usergroups": list}, ""
	case "usergroups.users.list":
		for _, g := range s.groups {
			if g.ID == c.Arg("usergroup") {
				users := append([]string{}, g.Users...)
				sort.Strings(users)
				return map[string]any{"users": users}, ""
			}
		}
		return nil, "no_such_subteam"
	case "conversations.open":
		users := strings.Split(c.Arg("users"), ",")
		if len(users) != 1 || users[0] == "" {
			return nil, "users_list_not_supplied"
		}
		if _, ok := s.users[users[0]]; !ok {
			return nil, "user_not_found"
		}
		return map[string]any{"channel": map[string]any{"id": "D" + strings.TrimPrefix(users[0], "U")}}, ""
	case "files.getUploadURLExternal", "files.completeUploadExternal":
		return s.fileMethod(c)
	case "apps.connections.open":
		u := strings.Replace(s.URL, "http://", "ws://", 1) + "/socket"
		return map[string]any{"url": u}, ""
	}
	return nil, "unknown_method"
}

// maxBlocksText is the text a message's blocks may hold in all, as the fake counts it: Slack
// refuses more with msg_blocks_too_long. Slack does not document the limit; its developers
// give 12,000 characters.
const maxBlocksText = 12000

// blocksTooLong reports whether blocks (JSON) hold more than maxBlocksText characters in their
// "text" strings, wherever they are nested.
func blocksTooLong(blocks string) bool {
	if blocks == "" {
		return false
	}
	var v any
	if json.Unmarshal([]byte(blocks), &v) != nil {
		return false
	}
	n := 0
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "text" {
					n += utf8.RuneCountInString(s)
				} else {
					walk(e)
				}
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return n > maxBlocksText
}

func hasContent(c Call) bool {
	return c.Arg("text") != "" || c.Arg("blocks") != "" || c.Arg("attachments") != ""
}

func (s *Server) newTS() string {
	s.nextTS++
	return fmt.Sprintf("%d.%06d", s.nextTS/1_000_000, s.nextTS%1_000_000)
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	c, err := parseRequest(r)
	c.Method, c.Path = "response_url", r.URL.Path
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuseIfDownLocked(w, c) {
		return
	}
	if err != nil || r.Method != http.MethodPost || c.JSON == nil {
		c.Error = "invalid_payload"
		s.recordLocked(c)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.recordLocked(c)
	writeJSON(w, map[string]any{"ok": true})
}

// userInfo answers users.info as Slack documents it.
func (s *Server) userInfo(c Call) (map[string]any, string) {
	u, ok := s.users[c.Arg("user")]
	if !ok {
		return nil, "user_not_found"
	}
	profile := map[string]any{"real_name": u.RealName, "display_name": u.DisplayName}
	if u.Email != "" {
		profile["email"] = u.Email
	}
	team := u.TeamID
	if team == "" {
		team = "T0FAKE"
	}
	profile["team"] = team
	user := map[string]any{
		"id": u.ID, "team_id": team, "name": u.Name, "real_name": u.RealName,
		"deleted": u.Deleted, "is_bot": u.IsBot, "profile": profile,
		"is_restricted":       u.Guest || u.SingleChannelGuest,
		"is_ultra_restricted": u.SingleChannelGuest,
	}
	if u.Stranger {
		user["is_stranger"] = true
	}
	if u.Email != "" {
		user["is_email_confirmed"] = !u.EmailUnconfirmed
	}
	if u.EnterpriseID != "" {
		user["enterprise_user"] = map[string]any{"id": u.ID, "enterprise_id": u.EnterpriseID,
			"enterprise_name": "Fake Org", "teams": []string{team}}
	}
	return map[string]any{"user": user}, ""
}
