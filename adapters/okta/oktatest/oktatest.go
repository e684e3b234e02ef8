// Package oktatest is an in-process fake of the parts of Okta's Management API the okta adapter
// calls, answering as Okta documents: the User and Group objects as JSON, errors as
// {errorCode, errorSummary, errorLink, errorId, errorCauses}, the rate-limit headers on every
// answer and a 429 (E0000047) once a window's calls are spent, paging by Link headers with an
// `after` cursor, and authentication checked: an SSWS API token, or a Bearer access token from
// its /oauth2/v1/token endpoint, which verifies the client assertion's signature with the
// configured public key, its claims and that its jti is not replayed.
//
// It records every call and takes injected faults. Its clock is the test's, so a rate limit
// resets when the test's clock passes the reset time.
package oktatest

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// GroupID is the group every fake has.
const GroupID = "00gaccessbot00000001"

// Token is the API token the fake accepts when Options.Token is empty.
const Token = "00-test-ssws-token-0123456789abcdef"

// Options configure a fake.
type Options struct {
	// Token is the SSWS API token accepted; Token when empty.
	Token string
	// ClientID and PublicKey, when set, enable the token endpoint for that service app; its
	// scopes are Scopes.
	ClientID  string
	PublicKey crypto.PublicKey
	// Scopes are the OAuth scopes granted to the service app; okta.groups.manage and
	// okta.users.read when nil.
	Scopes []string
	// Now is the fake's clock (rate-limit windows, token and assertion expiry); time.Now when nil.
	Now func() time.Time
}

// User is a user of the fake.
type User struct {
	ID, Login, Email string
}

// Call is one request the fake received.
type Call struct {
	// Op is the method and the route, with the variables named: "PUT /api/v1/groups/{groupId}/users/{userId}".
	Op string
	// Path is the request's path and query.
	Path string
	// Auth is "SSWS", "Bearer" or "" (the token endpoint).
	Auth string
	// Status is what the fake answered.
	Status int
}

// Fault makes the next Times calls of Op (every call when Op is empty) fail with Status and
// Okta's error body; Times -1 is every call until ClearFaults.
type Fault struct {
	Op      string
	Times   int
	Status  int
	Code    string
	Summary string
	// RetryAfter, for a 429, is when its rate limit resets, from now.
	RetryAfter time.Duration
}

// Server is the fake.
type Server struct {
	URL string
	srv *httptest.Server
	o   Options

	mu      sync.Mutex
	users   []*User
	groups  map[string][]string // group ID -> member user IDs, in the order added
	calls   []Call
	faults  []Fault
	tokens  map[string]time.Time // access token -> expiry
	jtis    map[string]bool
	limit   int       // calls per window; 0 is unlimited
	used    int       // calls in the current window
	resetAt time.Time // the current window's end
	page    int
}

// New starts a fake, closed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Token == "" {
		o.Token = Token
	}
	if o.Scopes == nil {
		o.Scopes = []string{"okta.groups.manage", "okta.users.read"}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, groups: map[string][]string{GroupID: nil}, tokens: map[string]time.Time{}, jtis: map[string]bool{}, page: 200}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// newID makes an Okta object ID: the type's prefix and 17 letters and digits.
func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)[:17]
}

// AddUser adds a user and returns it.
func (s *Server) AddUser(login, email string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{ID: newID("00u"), Login: login, Email: email}
	s.users = append(s.users, u)
	return *u
}

// AddMember adds a user to a group, as an admin would by hand.
func (s *Server) AddMember(groupID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.groups[groupID], userID) {
		s.groups[groupID] = append(s.groups[groupID], userID)
	}
}

// IsMember asks whether the user is in the group.
func (s *Server) IsMember(groupID, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.groups[groupID], userID)
}

// Members returns the group's member IDs.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.groups[groupID])
}

// SetPageSize caps the members one list page holds, whatever limit the client asks.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.page = n
}

// SetRateLimit allows limit calls per one-minute window (0: unlimited); the window starts now.
func (s *Server) SetRateLimit(limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit, s.used = limit, 0
	s.resetAt = s.o.Now().Truncate(time.Second).Add(time.Minute)
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns every call so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount counts the calls of op.
func (s *Server) CallCount(op string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Ops returns the distinct ops called, sorted.
func (s *Server) Ops() []string {
	var ops []string
	for _, c := range s.Calls() {
		if !slices.Contains(ops, c.Op) {
			ops = append(ops, c.Op)
		}
	}
	slices.Sort(ops)
	return ops
}

// oktaError is Okta's error body.
type oktaError struct {
	Code    string  `json:"errorCode"`
	Summary string  `json:"errorSummary"`
	Link    string  `json:"errorLink"`
	ID      string  `json:"errorId"`
	Causes  []cause `json:"errorCauses"`
}

type cause struct {
	Summary string `json:"errorSummary"`
}

// route names a request's op and its path variables.
func route(r *http.Request) (op string, vars []string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	m := r.Method
	switch {
	case m == http.MethodPost && r.URL.Path == "/oauth2/v1/token":
		return "POST /oauth2/v1/token", nil
	case len(parts) == 3 && parts[2] == "users" && m == http.MethodGet:
		return "GET /api/v1/users", nil
	case len(parts) == 4 && parts[2] == "users" && m == http.MethodGet:
		return "GET /api/v1/users/{id}", parts[3:]
	case len(parts) == 4 && parts[2] == "groups" && m == http.MethodGet:
		return "GET /api/v1/groups/{groupId}", parts[3:]
	case len(parts) == 5 && parts[2] == "groups" && parts[4] == "users" && m == http.MethodGet:
		return "GET /api/v1/groups/{groupId}/users", parts[3:4]
	case len(parts) == 6 && parts[2] == "groups" && parts[4] == "users" && (m == http.MethodPut || m == http.MethodDelete):
		return m + " /api/v1/groups/{groupId}/users/{userId}", []string{parts[3], parts[5]}
	}
	return m + " " + r.URL.Path, nil
}

// scopeOf is the OAuth scope an op needs.
func scopeOf(op string) string {
	switch op {
	case "GET /api/v1/users", "GET /api/v1/users/{id}":
		return "okta.users.read"
	case "GET /api/v1/groups/{groupId}", "GET /api/v1/groups/{groupId}/users":
		return "okta.groups.read"
	}
	return "okta.groups.manage"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, vars := route(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Op: op, Path: r.URL.RequestURI()}
	status := s.handle(w, r, op, vars, &call)
	call.Status = status
	s.calls = append(s.calls, call)
}

// handle answers one request with s.mu held and returns the status.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, op string, vars []string, call *Call) int {
	now := s.o.Now()
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	if s.limit > 0 {
		if !now.Before(s.resetAt) {
			s.used = 0
			s.resetAt = now.Truncate(time.Second).Add(time.Minute)
		}
		s.used++
		remaining := max(s.limit-s.used, 0)
		w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(s.limit))
		w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(s.resetAt.Unix(), 10))
		if s.used > s.limit {
			return s.fail(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		}
	}
	for i := range s.faults {
		f := &s.faults[i]
		if f.Times == 0 || (f.Op != "" && f.Op != op) {
			continue
		}
		if f.Times > 0 {
			f.Times--
		}
		if f.Status == http.StatusTooManyRequests {
			reset := now.Add(f.RetryAfter)
			w.Header().Set("X-Rate-Limit-Remaining", "0")
			w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
		}
		return s.fail(w, f.Status, f.Code, f.Summary)
	}
	if op == "POST /oauth2/v1/token" {
		return s.token(w, r, now)
	}
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	call.Auth = scheme
	switch {
	case scheme == "SSWS" && cred == s.o.Token:
	case scheme == "Bearer" && s.o.ClientID != "":
		exp, ok := s.tokens[cred]
		if !ok || !now.Before(exp) {
			return s.fail(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		}
		if need := scopeOf(op); !s.granted(need) {
			w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+s.URL+`/oauth2/v1/authorize", realm="IdpMyAccountAPI", scope="`+need+`", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="`+r.URL.Path+`"`)
			return s.fail(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		}
	default:
		return s.fail(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
	}
	switch op {
	case "GET /api/v1/users/{id}":
		u := s.user(vars[0])
		if u == nil {
			return s.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+vars[0]+" (User)")
		}
		return s.json(w, http.StatusOK, userJSON(u))
	case "GET /api/v1/users":
		email, ok := parseEmailSearch(r.URL.Query().Get("search"))
		if !ok {
			return s.fail(w, http.StatusBadRequest, "E0000031", "Invalid search.", "Invalid search criteria.")
		}
		out := []any{}
		for _, u := range s.users {
			if strings.EqualFold(u.Email, email) {
				out = append(out, userJSON(u))
			}
		}
		return s.json(w, http.StatusOK, out)
	case "GET /api/v1/groups/{groupId}":
		if _, ok := s.groups[vars[0]]; !ok {
			return s.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+vars[0]+" (UserGroup)")
		}
		return s.json(w, http.StatusOK, map[string]any{"id": vars[0], "type": "OKTA_GROUP", "profile": map[string]string{"name": "accessbot-test", "description": ""}})
	case "GET /api/v1/groups/{groupId}/users":
		return s.listMembers(w, r, vars[0])
	case "PUT /api/v1/groups/{groupId}/users/{userId}", "DELETE /api/v1/groups/{groupId}/users/{userId}":
		members, ok := s.groups[vars[0]]
		if !ok {
			return s.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+vars[0]+" (UserGroup)")
		}
		if u := s.user(vars[1]); u == nil || u.ID != vars[1] {
			return s.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+vars[1]+" (User)")
		}
		if r.Method == http.MethodPut {
			if !slices.Contains(members, vars[1]) {
				s.groups[vars[0]] = append(members, vars[1])
			}
		} else {
			s.groups[vars[0]] = slices.DeleteFunc(members, func(id string) bool { return id == vars[1] })
		}
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	return s.fail(w, http.StatusNotFound, "E0000022", "The endpoint does not support the provided HTTP method")
}

// granted reports whether the service app's scopes allow need (manage implies read).
func (s *Server) granted(need string) bool {
	if slices.Contains(s.o.Scopes, need) {
		return true
	}
	return need == "okta.groups.read" && slices.Contains(s.o.Scopes, "okta.groups.manage")
}

// parseEmailSearch reads the one search the fake supports: profile.email eq "<email>".
func parseEmailSearch(q string) (string, bool) {
	rest, ok := strings.CutPrefix(q, `profile.email eq "`)
	if !ok || !strings.HasSuffix(rest, `"`) {
		return "", false
	}
	email := strings.TrimSuffix(rest, `"`)
	return email, !strings.ContainsAny(email, `"\`)
}

// user finds a user by ID or login, as GET /api/v1/users/{id} does.
func (s *Server) user(idOrLogin string) *User {
	for _, u := range s.users {
		if u.ID == idOrLogin || strings.EqualFold(u.Login, idOrLogin) {
			return u
		}
	}
	return nil
}

func userJSON(u *User) map[string]any {
	return map[string]any{
		"id": u.ID, "status": "ACTIVE", "type": map[string]string{"id": "oty0000000000000000"},
		"profile": map[string]string{"login": u.Login, "email": u.Email, "firstName": u.Login, "lastName": "Test"},
	}
}

// listMembers answers one page of a group's members, with a Link rel="next" to the next.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, groupID string) int {
	members, ok := s.groups[groupID]
	if !ok {
		return s.fail(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+groupID+" (UserGroup)")
	}
	limit := 1000
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return s.fail(w, http.StatusBadRequest, "E0000001", "Api validation failed: limit", "limit: must be a positive number")
		}
		limit = min(n, 1000)
	}
	limit = min(limit, s.page)
	start := 0
	if after := r.URL.Query().Get("after"); after != "" {
		i := slices.Index(members, after)
		if i < 0 {
			return s.fail(w, http.StatusBadRequest, "E0000001", "Api validation failed: after", "after: the cursor is not valid")
		}
		start = i + 1
	}
	end := min(start+limit, len(members))
	page := []any{}
	for _, id := range members[start:end] {
		page = append(page, userJSON(s.user(id)))
	}
	self := s.URL + r.URL.RequestURI()
	w.Header().Add("Link", "<"+self+`>; rel="self"`)
	if end < len(members) {
		q := url.Values{"limit": {strconv.Itoa(limit)}, "after": {members[end-1]}}
		w.Header().Add("Link", "<"+s.URL+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	return s.json(w, http.StatusOK, page)
}

// token is the org authorization server's token endpoint, for client credentials with a
// private-key JWT assertion.
func (s *Server) token(w http.ResponseWriter, r *http.Request, now time.Time) int {
	refuse := func(code, desc string) int {
		return s.json(w, http.StatusUnauthorized, map[string]string{"error": code, "error_description": desc})
	}
	if s.o.ClientID == "" {
		return refuse("invalid_client", "Client authentication failed.")
	}
	if err := r.ParseForm(); err != nil {
		return s.json(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "The request body is not a form."})
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		return s.json(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "The authorization grant type is not supported by the authorization server."})
	}
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return refuse("invalid_client", "client_assertion_type is invalid.")
	}
	jws, err := jose.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return refuse("invalid_client", "The client_assertion token is invalid.")
	}
	payload, err := jws.Verify(s.o.PublicKey)
	if err != nil {
		return refuse("invalid_client", "The client_assertion signature is invalid.")
	}
	var c struct {
		Iss, Sub, Aud, Jti string
		Exp, Iat           int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return refuse("invalid_client", "The client_assertion token is invalid.")
	}
	switch {
	case c.Iss != s.o.ClientID || c.Sub != s.o.ClientID:
		return refuse("invalid_client", "The client_assertion token has an invalid iss or sub.")
	case c.Aud != s.URL+"/oauth2/v1/token":
		return refuse("invalid_client", "The audience claim for client_assertion must be the endpoint invoked for the request.")
	case c.Exp <= now.Unix() || c.Exp > now.Add(time.Hour).Unix():
		return refuse("invalid_client", "The client_assertion token is expired or its expiry is more than an hour away.")
	case c.Jti == "" || s.jtis[c.Jti]:
		return refuse("invalid_client", "The client_assertion token has already been used.")
	}
	s.jtis[c.Jti] = true
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if !slices.Contains(s.o.Scopes, sc) {
			return s.json(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope", "error_description": "One or more scopes are not configured for the authorization server resource."})
		}
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	access := hex.EncodeToString(tok)
	s.tokens[access] = now.Add(time.Hour)
	return s.json(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": access, "scope": r.PostForm.Get("scope")})
}

// ExpireTokens makes every access token issued so far invalid, as a revoked token is.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

func (s *Server) json(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// fail answers Okta's error body.
func (s *Server) fail(w http.ResponseWriter, status int, code, summary string, causes ...string) int {
	e := oktaError{Code: code, Summary: summary, Link: code, ID: "oae" + newID(""), Causes: []cause{}}
	for _, c := range causes {
		e.Causes = append(e.Causes, cause{Summary: c})
	}
	return s.json(w, status, e)
}

// String describes the fake.
func (s *Server) String() string { return fmt.Sprintf("oktatest at %s", s.URL) }
