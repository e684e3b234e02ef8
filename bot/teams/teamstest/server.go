// Package teamstest fakes the Bot Framework side of Microsoft Teams for tests: the OpenID
// metadata and its JWKS, with RSA keys of its own that can be rotated; the token endpoint
// (client credentials, checking the secret); and the Bot Connector API, which records every
// call (send, update, create conversation, member lookups), answers as the real one documents,
// and can be told to answer 429 or 5xx. Sign and the Sender make requests as the Bot Framework
// signs them.
package teamstest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// The fake's identities.
const (
	AppID       = "00000000-0000-0000-0000-0000000000b0"
	AppPassword = "fake-app-password"
	TenantID    = "00000000-0000-0000-0000-00000000a11a"
	Issuer      = "https://api.botframework.com"
	// ConnectorScope and GraphScope are the scopes the token endpoint grants.
	ConnectorScope = "https://api.botframework.com/.default"
	GraphScope     = "https://graph.microsoft.com/.default"
	// ChannelID is what every activity says it comes from.
	ChannelID = "msteams"
)

// Call is one request the connector or token endpoint received.
type Call struct {
	Method string
	// Path is the path under the service URL, unescaped segment by segment
	// ("v3/conversations/19:x@thread.tacv2/activities").
	Path string
	Body []byte
	// Auth is the Authorization header.
	Auth string
}

// Message is an activity posted to a conversation, with its updates.
type Message struct {
	Conversation string
	ID           string
	Body         []byte // the latest version
	Updates      int
}

// Fault is an answer the connector gives instead of handling a call.
type Fault struct {
	Status     int
	RetryAfter int // seconds; 0 leaves the header out
}

// TB is what the fake needs of a test: testing.TB is one; a benchmark program passes its own.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	t   TB
	srv *httptest.Server

	mu       sync.Mutex
	keys     []*signingKey // the JWKS, in order
	signer   *signingKey   // the key Sign uses
	calls    []Call
	tokens   map[string]string   // token -> scope
	groups   map[string][]string // Entra object ID or UPN (lowercase) -> group IDs
	issued   int
	members  map[string]Member // by Teams user ID
	messages []*Message
	convs    map[string]string // user ID -> personal conversation ID
	faults   []Fault
	keyFetch int
	metaHits int
	nextID   int
}

type signingKey struct {
	kid          string
	priv         *rsa.PrivateKey
	endorsements []string
}

// Member is a user the member API knows.
type Member struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	AADObjectID string `json:"aadObjectId"`
	Email       string `json:"email,omitempty"`
	UPN         string `json:"userPrincipalName,omitempty"`
	TenantID    string `json:"tenantId"`
	UserRole    string `json:"userRole"`
}

// New starts a fake with one signing key ("key-1", endorsed for msteams).
func New(t TB) *Server {
	t.Helper()
	s := &Server{t: t, tokens: map[string]string{}, members: map[string]Member{}, convs: map[string]string{}, groups: map[string][]string{}}
	s.signer = s.newKey("key-1", []string{ChannelID})
	s.keys = []*signingKey{s.signer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openid", s.metadata)
	mux.HandleFunc("GET /keys", s.jwks)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("/connector/", s.connector)
	mux.HandleFunc("POST /graph/v1.0/users/{user}/checkMemberGroups", s.checkMemberGroups)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *Server) newKey(kid string, endorsements []string) *signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatal(err)
	}
	return &signingKey{kid: kid, priv: priv, endorsements: endorsements}
}

// URL is the fake's base URL.
func (s *Server) URL() string { return s.srv.URL }

// MetadataURL is the OpenID metadata document's URL.
func (s *Server) MetadataURL() string { return s.srv.URL + "/openid" }

// TokenURL is the token endpoint's URL.
func (s *Server) TokenURL() string { return s.srv.URL + "/token" }

// GraphURL is Microsoft Graph's fake base URL.
func (s *Server) GraphURL() string { return s.srv.URL + "/graph/v1.0/" }

// ServiceURL is the connector's service URL.
func (s *Server) ServiceURL() string { return s.srv.URL + "/connector/" }

// Rotate adds a new signing key with the given ID, which Sign uses from now on; the JWKS lists
// it only when publish is true (a token signed with an unpublished key has an unknown kid).
// With drop, the keys before are taken out of the JWKS.
func (s *Server) Rotate(kid string, publish, drop bool) {
	k := s.newKey(kid, []string{ChannelID})
	s.mu.Lock()
	defer s.mu.Unlock()
	if drop {
		s.keys = nil
	}
	if publish {
		s.keys = append(s.keys, k)
	}
	s.signer = k
}

// Publish adds the key Sign uses to the JWKS, if it is not there.
func (s *Server) Publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k == s.signer {
			return
		}
	}
	s.keys = append(s.keys, s.signer)
}

// Endorse sets the channels the current signing key is endorsed for.
func (s *Server) Endorse(channels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signer.endorsements = channels
}

// KeyFetches counts the fetches of the JWKS.
func (s *Server) KeyFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyFetch
}

func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.metaHits++
	s.mu.Unlock()
	writeJSON(w, map[string]any{
		"issuer": Issuer, "jwks_uri": s.srv.URL + "/keys",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.keyFetch++
	var keys []map[string]any
	for _, k := range s.keys {
		jwk := jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"}
		raw, err := jwk.MarshalJSON()
		if err != nil {
			s.mu.Unlock()
			http.Error(w, err.Error(), 500)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["endorsements"] = k.endorsements
		keys = append(keys, m)
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"keys": keys})
}

// token answers the client-credentials grant: the app ID and password must match, and the
// scope be the Bot Framework's.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	s.record(r, []byte(redactForm(r.PostForm)))
	f := r.PostForm
	scope := f.Get("scope")
	if f.Get("grant_type") != "client_credentials" || (scope != ConnectorScope && scope != GraphScope) {
		w.WriteHeader(400)
		writeJSON(w, map[string]string{"error": "invalid_request"})
		return
	}
	if f.Get("client_id") != AppID || f.Get("client_secret") != AppPassword {
		w.WriteHeader(401)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	s.mu.Lock()
	s.issued++
	tok := fmt.Sprintf("connector-token-%d", s.issued)
	s.tokens[tok] = scope
	s.mu.Unlock()
	writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": tok})
}

func redactForm(f url.Values) string {
	c := url.Values{}
	for k, v := range f {
		if k == "client_secret" {
			v = []string{"REDACTED"}
		}
		c[k] = v
	}
	return c.Encode()
}

// TokensIssued counts the connector tokens the token endpoint gave out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// SetMember makes the member API know a user.
func (s *Server) SetMember(m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.TenantID == "" {
		m.TenantID = TenantID
	}
	if m.UserRole == "" {
		m.UserRole = "user"
	}
	s.members[m.ID] = m
}

// FailNext makes the next len(faults) connector calls answer with the faults, in order.
func (s *Server) FailNext(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

func (s *Server) record(r *http.Request, body []byte) string {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/connector/"), "/")
	for i, seg := range segs {
		if u, err := url.PathUnescape(seg); err == nil {
			segs[i] = u
		}
	}
	path := strings.Join(segs, "/")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: path, Body: body, Auth: r.Header.Get("Authorization")})
	s.mu.Unlock()
	return path
}

// connector answers the Bot Connector API.
func (s *Server) connector(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	path := s.record(r, body)
	s.mu.Lock()
	authorized := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] == ConnectorScope
	var fault *Fault
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		fault = &f
	}
	s.mu.Unlock()
	if !authorized {
		w.WriteHeader(401)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "Unauthorized", "message": "token not valid"}})
		return
	}
	if fault != nil {
		if fault.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(fault.RetryAfter))
		}
		w.WriteHeader(fault.Status)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "Fault", "message": http.StatusText(fault.Status)}})
		return
	}
	segs := strings.Split(path, "/")
	switch {
	case r.Method == http.MethodPost && path == "v3/conversations":
		s.createConversation(w, body)
	case r.Method == http.MethodPost && len(segs) == 4 && segs[3] == "activities":
		s.post(w, segs[2], body)
	case r.Method == http.MethodPut && len(segs) == 5 && segs[3] == "activities":
		s.update(w, segs[2], segs[4], body)
	case r.Method == http.MethodGet && len(segs) == 5 && segs[3] == "members":
		s.member(w, segs[4])
	default:
		w.WriteHeader(404)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "NotFound", "message": "no such route"}})
	}
}

func (s *Server) createConversation(w http.ResponseWriter, body []byte) {
	var req struct {
		Members []struct {
			ID string `json:"id"`
		} `json:"members"`
		TenantID string `json:"tenantId"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Members) != 1 || req.TenantID == "" {
		w.WriteHeader(400)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "BadArgument", "message": "one member and a tenant"}})
		return
	}
	user := req.Members[0].ID
	s.mu.Lock()
	_, known := s.members[user]
	conv := s.convs[user]
	if conv == "" {
		conv = "a:personal-" + strings.TrimPrefix(user, "29:")
		s.convs[user] = conv
	}
	s.mu.Unlock()
	if !known {
		w.WriteHeader(403)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "Forbidden", "message": "the user has not installed the bot"}})
		return
	}
	writeJSON(w, map[string]string{"id": conv})
}

func (s *Server) post(w http.ResponseWriter, conv string, body []byte) {
	s.mu.Lock()
	s.nextID++
	id := fmt.Sprintf("1700000000%03d", s.nextID)
	s.messages = append(s.messages, &Message{Conversation: conv, ID: id, Body: body})
	s.mu.Unlock()
	w.WriteHeader(201)
	writeJSON(w, map[string]string{"id": id})
}

func (s *Server) update(w http.ResponseWriter, conv, id string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.Conversation == conv && m.ID == id {
			m.Body, m.Updates = body, m.Updates+1
			writeJSON(w, map[string]string{"id": id})
			return
		}
	}
	w.WriteHeader(404)
	writeJSON(w, map[string]any{"error": map[string]string{"code": "NotFound", "message": "no such activity"}})
}

func (s *Server) member(w http.ResponseWriter, user string) {
	s.mu.Lock()
	m, ok := s.members[user]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(404)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "MemberNotFoundInConversation", "message": "no such member"}})
		return
	}
	writeJSON(w, m)
}

// Calls returns the calls received so far (connector and token endpoint).
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Messages returns the messages of a conversation, in order, as they are now.
func (s *Server) Messages(conv string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.Conversation == conv {
			out = append(out, *m)
		}
	}
	return out
}

// PersonalConversation returns the personal conversation the fake made with a user ("" when
// none).
func (s *Server) PersonalConversation(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.convs[user]
}

// String lists the messages, for test failures.
func (s *Server) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, m := range s.messages {
		fmt.Fprintf(&b, "%s #%s (%d updates): %s\n", m.Conversation, m.ID, m.Updates, m.Body)
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// SetGroups makes Graph say that user (an Entra object ID or a UPN) is in the groups, by object
// ID (transitively, as checkMemberGroups answers).
func (s *Server) SetGroups(user string, groupIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[strings.ToLower(user)] = groupIDs
}

// GraphCalls counts the checkMemberGroups calls Graph received.
func (s *Server) GraphCalls() int {
	n := 0
	for _, c := range s.Calls() {
		if strings.HasSuffix(c.Path, "/checkMemberGroups") {
			n++
		}
	}
	return n
}

// checkMemberGroups answers POST /users/{id}/checkMemberGroups with the asked groups the user
// is in; a user Graph does not know is 404.
func (s *Server) checkMemberGroups(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	user := r.PathValue("user")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: "graph/users/" + user + "/checkMemberGroups", Body: body, Auth: r.Header.Get("Authorization")})
	authorized := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] == GraphScope
	groups, known := s.groups[strings.ToLower(user)]
	s.mu.Unlock()
	if !authorized {
		w.WriteHeader(401)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}})
		return
	}
	var req struct {
		GroupIDs []string `json:"groupIds"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.GroupIDs) == 0 {
		w.WriteHeader(400)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "Request_BadRequest", "message": "groupIds required"}})
		return
	}
	if !known {
		w.WriteHeader(404)
		writeJSON(w, map[string]any{"error": map[string]string{"code": "Request_ResourceNotFound", "message": "no such user"}})
		return
	}
	in := []string{}
	for _, g := range req.GroupIDs {
		for _, have := range groups {
			if strings.EqualFold(g, have) {
				in = append(in, g)
			}
		}
	}
	writeJSON(w, map[string]any{"value": in})
}
