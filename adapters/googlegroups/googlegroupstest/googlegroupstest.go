// Package googlegroupstest is an in-process fake of the Cloud Identity Groups v1 REST API's
// group lookup and membership methods (groups:lookup; memberships create, get, lookup, list,
// modifyMembershipRoles, delete), for testing the google-groups adapter over real HTTP.
//
// It follows the published API: bearer tokens with OAuth scopes (a write needs
// cloud-identity.groups, a read also accepts cloud-identity.groups.readonly), Google's JSON
// and error shape ({"error":{"code","message","status"}}), 404 NOT_FOUND for an unknown group,
// member or membership, 409 ALREADY_EXISTS for a duplicate membership, an expiry only on the
// MEMBER role and only where the edition has membership expiry, create and delete answered
// with an Operation (done at once, or not yet when a test asks), paged lists. It records every
// call, fails calls on demand (429 with Retry-After, 503, ...), and keeps a clock: a membership
// whose expiry has passed is gone, as Google removes it by itself.
package googlegroupstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/googletest"
)

// The OAuth scopes of the Groups API.
const (
	ScopeGroups         = "https://www.googleapis.com/auth/cloud-identity.groups"
	ScopeGroupsReadonly = "https://www.googleapis.com/auth/cloud-identity.groups.readonly"
	ScopeCloudIdentity  = "https://www.googleapis.com/auth/cloud-identity"
)

// Token is the bearer token the fake accepts from the start, with ScopeGroups.
const Token = "ya29.fake-groups-token"

// Role is a membership role.
type Role struct {
	Name string `json:"name"`
	// ExpireTime is the role's expiry (RFC 3339), "" for none.
	ExpireTime string `json:"-"`
}

// Membership is a membership as the fake stores it.
type Membership struct {
	Name       string
	Member     string
	Type       string
	Roles      []Role
	CreateTime time.Time
}

// Expiry returns the MEMBER role's expiry, zero for none.
func (m Membership) Expiry() time.Time {
	for _, r := range m.Roles {
		if r.Name == "MEMBER" && r.ExpireTime != "" {
			t, _ := time.Parse(time.RFC3339Nano, r.ExpireTime)
			return t
		}
	}
	return time.Time{}
}

// Call is one request the fake received.
type Call struct {
	// Method is the API method ("token" for the token endpoint): "groups.lookup", "memberships.create", "memberships.get",
	// "memberships.lookup", "memberships.list", "memberships.modifyMembershipRoles",
	// "memberships.delete"; "" for a path the API does not have.
	Method string
	// Path and Query are as received.
	Path  string
	Query string
	// Body is the request body as received.
	Body string
	// Scope is the scope the method needs (the least of those that allow it).
	Scope string
	// Status is the HTTP status the fake answered.
	Status int
}

type group struct {
	email       string
	id          string
	memberships map[string]*Membership // by member email, lower-case
}

type fault struct {
	method string
	code   int
	left   int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint to configure: "http://127.0.0.1:port/".
	URL string

	mu      sync.Mutex
	now     func() time.Time
	tokens  map[string][]string
	groups  map[string]*group // by email, lower-case
	byID    map[string]*group
	users   map[string]string // email, lower-case → type (USER, SERVICE_ACCOUNT, GROUP)
	expiry  bool
	pending int
	faults  []fault
	calls   []Call
	// issuer is the token endpoint, for Application Default Credentials end to end.
	issuer googletest.Issuer
}

// New starts a fake with no groups or users, accepting Token, on an edition with membership
// expiry. It is closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		now:    time.Now,
		tokens: map[string][]string{Token: {ScopeGroups}},
		groups: map[string]*group{},
		byID:   map[string]*group{},
		users:  map[string]string{},
		expiry: true,
	}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(ts.Close)
	s.URL = ts.URL + "/"
	s.issuer.URL = s.URL
	return s
}

// ServiceAccount writes a service account key file whose token_uri is the fake's token
// endpoint (googletest.Issuer) and returns its path, for GOOGLE_APPLICATION_CREDENTIALS. The
// tokens it issues carry the scopes the assertion asked for, which the API checks.
func (s *Server) ServiceAccount(t testing.TB, email string) string {
	return s.issuer.ServiceAccount(t, email)
}

// ScopesAsked returns the scope claim of every assertion the token endpoint accepted.
func (s *Server) ScopesAsked() []string { return s.issuer.ScopesAsked() }

// SetClock sets the fake's time: memberships whose expiry is not after it are gone.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetToken makes token valid with scopes; no scopes makes it invalid.
func (s *Server) SetToken(token string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(scopes) == 0 {
		delete(s.tokens, token)
		return
	}
	s.tokens[token] = scopes
}

// SetExpirySupported says whether the customer's edition has membership expiry; without it
// Google refuses a membership with an expiry.
func (s *Server) SetExpirySupported(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiry = ok
}

// PendOperations makes the next n creates answer an Operation that is not done yet (the
// membership is made all the same, as Google finishes it shortly after).
func (s *Server) PendOperations(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = n
}

// AddGroup makes a group with email and returns its resource name.
func (s *Server) AddGroup(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(email)
	if g, ok := s.groups[key]; ok {
		return "groups/" + g.id
	}
	g := &group{email: email, id: newID(), memberships: map[string]*Membership{}}
	s.groups[key] = g
	s.byID[g.id] = g
	return "groups/" + g.id
}

// AddUser makes users exist, so that they can be members.
func (s *Server) AddUser(emails ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range emails {
		s.users[strings.ToLower(e)] = "USER"
	}
}

// AddMember adds a membership by hand (the admin console), with an expiry unless expires is
// zero, and extra roles ("OWNER", "MANAGER") beside MEMBER.
func (s *Server) AddMember(groupEmail, member string, expires time.Time, roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[strings.ToLower(groupEmail)]
	if g == nil {
		panic("googlegroupstest: AddMember to unknown group " + groupEmail)
	}
	r := Role{Name: "MEMBER"}
	if !expires.IsZero() {
		r.ExpireTime = expires.UTC().Format(time.RFC3339)
	}
	m := &Membership{Name: "groups/" + g.id + "/memberships/" + newID(), Member: member, Type: "USER", Roles: []Role{r}, CreateTime: s.now()}
	for _, extra := range roles {
		m.Roles = append(m.Roles, Role{Name: extra})
	}
	g.memberships[strings.ToLower(member)] = m
}

// Member returns member's membership of the group now, by the fake's clock.
func (s *Server) Member(groupEmail, member string) (Membership, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[strings.ToLower(groupEmail)]
	if g == nil {
		return Membership{}, false
	}
	s.sweep(g)
	m, ok := g.memberships[strings.ToLower(member)]
	if !ok {
		return Membership{}, false
	}
	c := *m
	c.Roles = slices.Clone(m.Roles)
	return c, true
}

// Fail answers the next n calls of method ("" for any) with Google's error for code.
func (s *Server) Fail(method string, code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, code: code, left: n})
}

// ClearFaults drops the faults not yet answered.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns every call so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// sweep drops g's memberships whose expiry has passed, as Google does by itself.
func (s *Server) sweep(g *group) {
	now := s.now()
	for k, m := range g.memberships {
		if e := m.Expiry(); !e.IsZero() && !now.Before(e) {
			delete(g.memberships, k)
		}
	}
}

// statuses are the google.rpc.Code names Google puts beside each HTTP status.
var statuses = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

func writeError(w http.ResponseWriter, code int, msg string) int {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message, e.Error.Status = code, msg, statuses[code]
	writeJSON(w, code, e)
	return code
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var (
	membershipPath  = regexp.MustCompile(`^/v1/groups/([A-Za-z0-9_-]+)/memberships/([A-Za-z0-9_-]+)(:modifyMembershipRoles)?$`)
	membershipsPath = regexp.MustCompile(`^/v1/groups/([A-Za-z0-9_-]+)/memberships(:lookup)?$`)
)

// route names the method of a request and the groups/memberships IDs in its path.
func route(r *http.Request) (method, groupID, membershipID string) {
	p := r.URL.Path
	switch {
	case p == "/v1/groups:lookup" && r.Method == http.MethodGet:
		return "groups.lookup", "", ""
	case membershipPath.MatchString(p):
		m := membershipPath.FindStringSubmatch(p)
		switch {
		case m[3] != "" && r.Method == http.MethodPost:
			return "memberships.modifyMembershipRoles", m[1], m[2]
		case m[3] == "" && r.Method == http.MethodGet:
			return "memberships.get", m[1], m[2]
		case m[3] == "" && r.Method == http.MethodDelete:
			return "memberships.delete", m[1], m[2]
		}
	case membershipsPath.MatchString(p):
		m := membershipsPath.FindStringSubmatch(p)
		switch {
		case m[2] != "" && r.Method == http.MethodGet:
			return "memberships.lookup", m[1], ""
		case m[2] == "" && r.Method == http.MethodGet:
			return "memberships.list", m[1], ""
		case m[2] == "" && r.Method == http.MethodPost:
			return "memberships.create", m[1], ""
		}
	}
	return "", "", ""
}

// writes are the methods that need the read-write scope.
var writes = map[string]bool{"memberships.create": true, "memberships.modifyMembershipRoles": true, "memberships.delete": true}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method, groupID, membershipID := route(r)
	call := Call{Method: method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if r.URL.Path == "/token" {
		// The form carries a signed assertion: not recorded.
		call.Method = "token"
		call.Status = s.issuer.Token(w, r)
	} else {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		call.Body = string(body)
		call.Status = s.handle(w, r, body, &call, groupID, membershipID)
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte, call *Call, groupID, membershipID string) int {
	if call.Method == "" {
		return writeError(w, http.StatusNotFound, fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
	}
	call.Scope = ScopeGroupsReadonly
	if writes[call.Method] {
		call.Scope = ScopeGroups
	}
	s.mu.Lock()
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	scopes, known := s.tokens[bearer]
	s.mu.Unlock()
	if g, ok := s.issuer.Lookup(bearer); ok {
		scopes, known = g.Scopes, true
	}
	if bearer == "" || !known {
		return writeError(w, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
	allowed := slices.Contains(scopes, ScopeGroups) || slices.Contains(scopes, ScopeCloudIdentity) ||
		(!writes[call.Method] && slices.Contains(scopes, ScopeGroupsReadonly))
	if !allowed {
		return writeError(w, http.StatusForbidden, "Request had insufficient authentication scopes.")
	}
	if code := s.takeFault(call.Method); code != 0 {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			return writeError(w, code, "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'cloudidentity.googleapis.com'.")
		}
		if code == http.StatusServiceUnavailable {
			return writeError(w, code, "The service is currently unavailable.")
		}
		return writeError(w, code, "injected fault "+http.StatusText(code))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if call.Method == "groups.lookup" {
		g := s.groups[strings.ToLower(r.URL.Query().Get("groupKey.id"))]
		if g == nil {
			return writeError(w, http.StatusForbidden, "Error(2028): Permission denied for resource groups/"+r.URL.Query().Get("groupKey.id")+" (or it may not exist).")
		}
		writeJSON(w, http.StatusOK, map[string]string{"name": "groups/" + g.id})
		return http.StatusOK
	}
	g := s.byID[groupID]
	if g == nil {
		return writeError(w, http.StatusNotFound, "Error(2028): Group groups/"+groupID+" not found.")
	}
	s.sweep(g)
	switch call.Method {
	case "memberships.lookup":
		m := g.memberships[strings.ToLower(r.URL.Query().Get("memberKey.id"))]
		if m == nil {
			return writeError(w, http.StatusNotFound, "Error(2028): Membership not found for member "+r.URL.Query().Get("memberKey.id")+".")
		}
		writeJSON(w, http.StatusOK, map[string]string{"name": m.Name})
		return http.StatusOK
	case "memberships.list":
		return s.list(w, r, g)
	case "memberships.create":
		return s.create(w, body, g)
	}
	var m *Membership
	for _, x := range g.memberships {
		if x.Name == "groups/"+groupID+"/memberships/"+membershipID {
			m = x
		}
	}
	if m == nil {
		return writeError(w, http.StatusNotFound, "Error(2028): Membership groups/"+groupID+"/memberships/"+membershipID+" not found.")
	}
	switch call.Method {
	case "memberships.get":
		writeJSON(w, http.StatusOK, view(m))
		return http.StatusOK
	case "memberships.delete":
		delete(g.memberships, strings.ToLower(m.Member))
		writeJSON(w, http.StatusOK, map[string]any{"done": true, "response": map[string]string{"@type": "type.googleapis.com/google.protobuf.Empty"}})
		return http.StatusOK
	}
	return s.modify(w, body, m)
}

// wireRole is a role as the API sends it.
type wireRole struct {
	Name         string `json:"name"`
	ExpiryDetail *struct {
		ExpireTime string `json:"expireTime,omitempty"`
	} `json:"expiryDetail,omitempty"`
}

// wireMembership is a membership as the API sends it.
type wireMembership struct {
	Name               string            `json:"name,omitempty"`
	PreferredMemberKey map[string]string `json:"preferredMemberKey"`
	Roles              []wireRole        `json:"roles"`
	Type               string            `json:"type,omitempty"`
	CreateTime         string            `json:"createTime,omitempty"`
	UpdateTime         string            `json:"updateTime,omitempty"`
}

func view(m *Membership) wireMembership {
	out := wireMembership{Name: m.Name, PreferredMemberKey: map[string]string{"id": m.Member}, Type: m.Type,
		CreateTime: m.CreateTime.UTC().Format(time.RFC3339Nano), UpdateTime: m.CreateTime.UTC().Format(time.RFC3339Nano)}
	for _, r := range m.Roles {
		wr := wireRole{Name: r.Name}
		if r.ExpireTime != "" {
			wr.ExpiryDetail = &struct {
				ExpireTime string `json:"expireTime,omitempty"`
			}{r.ExpireTime}
		}
		out.Roles = append(out.Roles, wr)
	}
	return out
}

// checkRoles returns Google's message for roles it would refuse, or "".
func (s *Server) checkRoles(roles []wireRole) string {
	for _, r := range roles {
		switch r.Name {
		case "MEMBER", "MANAGER", "OWNER":
		default:
			return fmt.Sprintf("Invalid membership role %q.", r.Name)
		}
		if r.ExpiryDetail == nil || r.ExpiryDetail.ExpireTime == "" {
			continue
		}
		if r.Name != "MEMBER" {
			return "Expiry details are only supported for MEMBER membership roles."
		}
		if !s.expiry {
			return "Membership expiry is not available for this customer's edition."
		}
		at, err := time.Parse(time.RFC3339Nano, r.ExpiryDetail.ExpireTime)
		if err != nil {
			return fmt.Sprintf("Invalid value at 'membership.roles.expiry_detail.expire_time' (type.googleapis.com/google.protobuf.Timestamp), %q", r.ExpiryDetail.ExpireTime)
		}
		if !at.After(s.now()) {
			return "Membership expiry time must be in the future."
		}
	}
	return ""
}

func (s *Server) create(w http.ResponseWriter, body []byte, g *group) int {
	var in wireMembership
	if err := json.Unmarshal(body, &in); err != nil {
		return writeError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
	}
	member := in.PreferredMemberKey["id"]
	if member == "" {
		return writeError(w, http.StatusBadRequest, "Request contains an invalid argument: preferred_member_key is required.")
	}
	if len(in.Roles) == 0 {
		in.Roles = []wireRole{{Name: "MEMBER"}}
	}
	if msg := s.checkRoles(in.Roles); msg != "" {
		return writeError(w, http.StatusBadRequest, msg)
	}
	kind, ok := s.users[strings.ToLower(member)]
	if !ok {
		return writeError(w, http.StatusNotFound, "Error(2028): Member "+member+" not found.")
	}
	if _, dup := g.memberships[strings.ToLower(member)]; dup {
		return writeError(w, http.StatusConflict, "Error(4003): Cannot create membership '"+member+"' in 'groups/"+g.id+"' because it already exists.")
	}
	m := &Membership{Name: "groups/" + g.id + "/memberships/" + newID(), Member: member, Type: kind, CreateTime: s.now()}
	for _, r := range in.Roles {
		role := Role{Name: r.Name}
		if r.ExpiryDetail != nil {
			role.ExpireTime = r.ExpiryDetail.ExpireTime
		}
		m.Roles = append(m.Roles, role)
	}
	g.memberships[strings.ToLower(member)] = m
	if s.pending > 0 {
		s.pending--
		writeJSON(w, http.StatusOK, map[string]any{"name": "operations/" + newID(), "done": false})
		return http.StatusOK
	}
	resp := struct {
		Type string `json:"@type"`
		wireMembership
	}{"type.googleapis.com/google.apps.cloudidentity.groups.v1.Membership", view(m)}
	writeJSON(w, http.StatusOK, map[string]any{"done": true, "response": resp})
	return http.StatusOK
}

func (s *Server) modify(w http.ResponseWriter, body []byte, m *Membership) int {
	var in struct {
		AddRoles          []wireRole `json:"addRoles"`
		RemoveRoles       []string   `json:"removeRoles"`
		UpdateRolesParams []struct {
			FieldMask      string   `json:"fieldMask"`
			MembershipRole wireRole `json:"membershipRole"`
		} `json:"updateRolesParams"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return writeError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
	}
	if len(in.AddRoles) > 0 || len(in.RemoveRoles) > 0 {
		return writeError(w, http.StatusBadRequest, "The fake supports updateRolesParams only.")
	}
	for _, u := range in.UpdateRolesParams {
		if u.FieldMask != "expiryDetail.expire_time" {
			return writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid field mask %q: only expiryDetail.expire_time can be updated.", u.FieldMask))
		}
		if msg := s.checkRoles([]wireRole{u.MembershipRole}); msg != "" {
			return writeError(w, http.StatusBadRequest, msg)
		}
		found := false
		for i := range m.Roles {
			if m.Roles[i].Name == u.MembershipRole.Name {
				found = true
				m.Roles[i].ExpireTime = ""
				if u.MembershipRole.ExpiryDetail != nil {
					m.Roles[i].ExpireTime = u.MembershipRole.ExpiryDetail.ExpireTime
				}
			}
		}
		if !found {
			return writeError(w, http.StatusBadRequest, fmt.Sprintf("The membership has no role %q to update.", u.MembershipRole.Name))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"membership": view(m)})
	return http.StatusOK
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, g *group) int {
	q := r.URL.Query()
	size, limit := 200, 1000
	if q.Get("view") == "FULL" {
		size, limit = 50, 500
	}
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > limit {
			return writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid page size %q: at most %d in this view.", v, limit))
		}
		if n > 0 {
			size = n
		}
	}
	offset := 0
	if t := q.Get("pageToken"); t != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(t, "p"))
		if err != nil || !strings.HasPrefix(t, "p") {
			return writeError(w, http.StatusBadRequest, "Invalid page token.")
		}
		offset = n
	}
	all := make([]*Membership, 0, len(g.memberships))
	for _, m := range g.memberships {
		all = append(all, m)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	out := struct {
		Memberships   []wireMembership `json:"memberships,omitempty"`
		NextPageToken string           `json:"nextPageToken,omitempty"`
	}{}
	for i := offset; i < len(all) && i < offset+size; i++ {
		out.Memberships = append(out.Memberships, view(all[i]))
	}
	if offset+size < len(all) {
		out.NextPageToken = "p" + strconv.Itoa(offset+size)
	}
	writeJSON(w, http.StatusOK, out)
	return http.StatusOK
}

func (s *Server) takeFault(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := &s.faults[i]
		if f.left > 0 && (f.method == "" || f.method == method) {
			f.left--
			return f.code
		}
	}
	return 0
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
