// Package githubtest is an in-process fake of the parts of GitHub's REST API the github adapter
// calls, answering as GitHub documents: team memberships ({"url","role","state"}, "pending" for
// a person not yet in the organization, who gets an invitation), repository collaborators (204
// for an organization member or an existing collaborator, 201 and a repository invitation for
// anyone else), the permission of a user on a repository (permission and role_name), errors as
// {"message","documentation_url","errors"} with 404 and 422, the x-ratelimit-* headers on every
// answer and a 403 once the window's calls are spent, secondary limits as 403/429 with
// retry-after, and paging by Link headers with per_page and page.
//
// Authentication is checked: a personal access token, or a GitHub App's installation token from
// its POST /app/installations/{id}/access_tokens endpoint, which verifies the App's RS256 JWT
// with the App's public key (iss the app ID, iat and exp within ten minutes) and issues tokens
// that expire after an hour. Each call also needs the App permission GitHub documents for it
// (Members for teams, Administration for collaborators and invitations, Metadata for reads).
//
// It records every call and takes injected faults. Its clock is the test's.
package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Names every fake has: an organization with a team and two repositories.
const (
	Org   = "acme"
	Team  = "platform-admins"
	Repo1 = "acme/api"
	Repo2 = "acme/web"
)

// Token is the personal access token the fake accepts when Options.Token is empty.
const Token = "github_pat_test_0123456789abcdef"

// Options configure a fake.
type Options struct {
	// Token is the personal access token accepted; Token when empty.
	Token string
	// AppID, InstallationID and PublicKey, when set, enable the App's token endpoint.
	AppID, InstallationID int64
	PublicKey             *rsa.PublicKey
	// Permissions are the App installation's permissions ("members": "write", ...); every
	// permission at write when nil. A personal access token has every permission.
	Permissions map[string]string
	// Now is the fake's clock (rate-limit windows, token and JWT expiry); time.Now when nil.
	Now func() time.Time
}

// Call is one request the fake received.
type Call struct {
	// Op is the method and the route, with the variables named:
	// "PUT /orgs/{org}/teams/{team_slug}/memberships/{username}".
	Op string
	// Path is the request's path and query.
	Path string
	// Body is the request's body.
	Body string
	// Auth is "pat", "installation", "jwt" or "" (none or refused).
	Auth string
	// Status is what the fake answered.
	Status int
}

// Fault makes the next Times calls of Op (every call when Op is empty) fail with Status and
// GitHub's error body; Times -1 is every call until ClearFaults.
type Fault struct {
	Op      string
	Times   int
	Status  int
	Message string
	// RetryAfter, when set, is sent as retry-after (a secondary rate limit).
	RetryAfter time.Duration
	// Errors, when set, is the body's errors array (a 422's details).
	Errors []map[string]string
	// ResetAfter, when set, makes the answer a primary rate limit: x-ratelimit-remaining 0 and
	// a reset this long from now.
	ResetAfter time.Duration
}

// membership is one team membership.
type membership struct{ role, state string }

// invitation is one repository invitation.
type invitation struct {
	id          int64
	login, perm string
}

// Server is the fake.
type Server struct {
	URL string
	srv *httptest.Server
	o   Options
	// ops answers each op the fake knows (handlers), made once.
	ops map[string]func(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int

	mu         sync.Mutex
	users      []string                        // known logins
	orgMembers []string                        // members of Org
	orgInvites map[int64]string                // invitation ID -> login (lower case) invited to Org
	team       map[string]membership           // login -> membership of Team
	teamOrder  []string                        // logins in the order added
	collabs    map[string]map[string]string    // repo -> login -> permission (pull..admin)
	collabKeys map[string][]string             // repo -> logins in the order added
	invites    map[string]map[int64]invitation // repo -> id -> invitation
	basePerm   string                          // the organization's base permission for members
	nextID     int64
	calls      []Call
	faults     []Fault
	tokens     map[string]time.Time // installation token -> expiry
	limit      int
	used       int
	resetAt    time.Time
	page       int
}

// New starts a fake, closed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Token == "" {
		o.Token = Token
	}
	if o.Permissions == nil {
		o.Permissions = map[string]string{"members": "write", "administration": "write", "metadata": "read"}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		o: o, team: map[string]membership{}, orgInvites: map[int64]string{},
		collabs:    map[string]map[string]string{Repo1: {}, Repo2: {}},
		collabKeys: map[string][]string{},
		invites:    map[string]map[int64]invitation{Repo1: {}, Repo2: {}},
		basePerm:   "pull", nextID: 1000, tokens: map[string]time.Time{}, page: 100,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	s.ops = s.handlers()
	return s
}

// AddUser makes a GitHub user who is not in the organization.
func (s *Server) AddUser(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findUser(login) == "" {
		s.users = append(s.users, login)
	}
}

// AddOrgMember makes a GitHub user who is a member of the organization.
func (s *Server) AddOrgMember(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findUser(login) == "" {
		s.users = append(s.users, login)
	}
	if !slices.Contains(s.orgMembers, login) {
		s.orgMembers = append(s.orgMembers, login)
	}
}

// SetTeamMember gives login an active membership of the team, as an admin would by hand.
func (s *Server) SetTeamMember(login, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setMembership(login, membership{role: role, state: "active"})
}

// SetCollaborator makes login a direct collaborator on repo, as an admin would by hand.
func (s *Server) SetCollaborator(repo, login, perm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setCollab(repo, login, perm)
}

// Membership returns login's team membership: its role and state, or "" and "" when none.
func (s *Server) Membership(login string) (role, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.team[strings.ToLower(login)]
	return m.role, m.state
}

// TeamSize is how many memberships (active or pending) the team has.
func (s *Server) TeamSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.team)
}

// Collaborator returns login's direct permission on repo, or "".
func (s *Server) Collaborator(repo, login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.collabs[repo][strings.ToLower(login)]
}

// Invitations returns the logins with an open invitation to repo, one per invitation.
func (s *Server) Invitations(repo string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, inv := range s.invites[repo] {
		out = append(out, inv.login)
	}
	slices.Sort(out)
	return out
}

// OrgInvitations returns the logins invited to the organization.
func (s *Server) OrgInvitations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.orgInvites {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Accept makes login accept every invitation: they join the organization if invited, their
// pending team membership becomes active, and their repository invitations make them
// collaborators.
func (s *Server) Accept(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(login)
	for id, l := range s.orgInvites {
		if l == key {
			delete(s.orgInvites, id)
			if !s.isOrgMember(login) {
				s.orgMembers = append(s.orgMembers, s.findUser(login))
			}
		}
	}
	if m, ok := s.team[key]; ok && m.state == "pending" {
		m.state = "active"
		s.team[key] = m
	}
	for repo, invs := range s.invites {
		for id, inv := range invs {
			if strings.EqualFold(inv.login, login) {
				s.setCollab(repo, inv.login, inv.perm)
				delete(invs, id)
			}
		}
	}
}

// IsOrgMember reports whether login is a member of the organization.
func (s *Server) IsOrgMember(login string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isOrgMember(login)
}

// SetPageSize caps the items of one list page, whatever per_page the client asks.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.page = n
}

// SetRateLimit allows limit calls per one-hour window (0: unlimited); the window starts now.
func (s *Server) SetRateLimit(limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit, s.used = limit, 0
	s.resetAt = s.o.Now().Truncate(time.Second).Add(time.Hour)
}

// ExpireTokens makes every installation token issued so far invalid, as a revocation would.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
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

// findUser returns the login as GitHub spells it, or "" (logins are case-insensitive).
func (s *Server) findUser(login string) string {
	for _, u := range s.users {
		if strings.EqualFold(u, login) {
			return u
		}
	}
	return ""
}

func (s *Server) isOrgMember(login string) bool {
	return slices.ContainsFunc(s.orgMembers, func(m string) bool { return strings.EqualFold(m, login) })
}

func (s *Server) setMembership(login string, m membership) {
	key := strings.ToLower(login)
	if _, ok := s.team[key]; !ok {
		s.teamOrder = append(s.teamOrder, s.findUser(login))
	}
	s.team[key] = m
}

func (s *Server) setCollab(repo, login, perm string) {
	key := strings.ToLower(login)
	if _, ok := s.collabs[repo][key]; !ok {
		s.collabKeys[repo] = append(s.collabKeys[repo], s.findUser(login))
	}
	s.collabs[repo][key] = perm
}

func (s *Server) deleteCollab(repo, login string) bool {
	key := strings.ToLower(login)
	if _, ok := s.collabs[repo][key]; !ok {
		return false
	}
	delete(s.collabs[repo], key)
	s.collabKeys[repo] = slices.DeleteFunc(s.collabKeys[repo], func(l string) bool { return strings.EqualFold(l, login) })
	return true
}

// Permission levels, lowest first, as requests name them.
var levels = []string{"pull", "triage", "push", "maintain", "admin"}

// roleName is a permission as answers name it.
func roleName(perm string) string {
	switch perm {
	case "pull":
		return "read"
	case "push":
		return "write"
	}
	return perm
}

// routes are the REST paths the fake answers: the method ("*" any, "!GET" any but GET), the
// path ({x} a variable), and the App permission it needs (":rw" read for GET, write otherwise).
var routes = []struct{ method, path, perm string }{
	{http.MethodPost, "app/installations/{installation_id}/access_tokens", ""},
	{http.MethodGet, "orgs/{org}/teams/{team_slug}", "members:read"},
	{http.MethodGet, "orgs/{org}/teams/{team_slug}/members", "members:read"},
	{"*", "orgs/{org}/teams/{team_slug}/memberships/{username}", "members:rw"},
	{http.MethodGet, "orgs/{org}/invitations", "members:read"},
	{http.MethodDelete, "orgs/{org}/invitations/{invitation_id}", "members:write"},
	{http.MethodGet, "repos/{owner}/{repo}", "metadata:read"},
	{http.MethodGet, "repos/{owner}/{repo}/collaborators", "metadata:read"},
	{http.MethodGet, "repos/{owner}/{repo}/collaborators/{username}/permission", "metadata:read"},
	{"!GET", "repos/{owner}/{repo}/collaborators/{username}", "administration:write"},
	{http.MethodGet, "repos/{owner}/{repo}/invitations", "administration:read"},
	{http.MethodDelete, "repos/{owner}/{repo}/invitations/{invitation_id}", "administration:write"},
}

// route names a request's op, the App permission it needs, and its path variables ({owner} and
// {repo} together as one, "owner/repo").
func route(r *http.Request) (op, perm string, vars []string) {
	got := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	m := r.Method
	for _, rt := range routes {
		switch {
		case rt.method == "*", rt.method == "!GET" && m != http.MethodGet, rt.method == m:
		default:
			continue
		}
		want := strings.Split(rt.path, "/")
		if len(want) != len(got) {
			continue
		}
		var vs []string
		match := true
		for k, w := range want {
			switch {
			case w == "{repo}":
				vs[len(vs)-1] += "/" + got[k]
			case strings.HasPrefix(w, "{"):
				vs = append(vs, got[k])
			case w != got[k]:
				match = false
			}
		}
		if !match {
			continue
		}
		perm = rt.perm
		if strings.HasSuffix(perm, ":rw") {
			perm = strings.TrimSuffix(perm, "rw") + map[bool]string{true: "read", false: "write"}[m == http.MethodGet]
		}
		return m + " /" + rt.path, perm, vs
	}
	return m + " " + r.URL.Path, "", nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, perm, vars := route(r)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Op: op, Path: r.URL.RequestURI(), Body: string(body)}
	call.Status = s.handle(w, r, op, perm, vars, body, &call)
	s.calls = append(s.calls, call)
}

const docs = "https://docs.github.com/rest"

// handle answers one request with s.mu held and returns the status.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, op, perm string, vars []string, body []byte, call *Call) int {
	now := s.o.Now()
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	if s.limit > 0 {
		if !now.Before(s.resetAt) {
			s.used = 0
			s.resetAt = now.Truncate(time.Second).Add(time.Hour)
		}
		s.used++
		w.Header().Set("X-Ratelimit-Limit", strconv.Itoa(s.limit))
		w.Header().Set("X-Ratelimit-Remaining", strconv.Itoa(max(s.limit-s.used, 0)))
		w.Header().Set("X-Ratelimit-Used", strconv.Itoa(min(s.used, s.limit)))
		w.Header().Set("X-Ratelimit-Reset", strconv.FormatInt(s.resetAt.Unix(), 10))
		w.Header().Set("X-Ratelimit-Resource", "core")
		if s.used > s.limit {
			return s.fail(w, http.StatusForbidden, "API rate limit exceeded for installation.", docs+"/using-the-rest-api/rate-limits-for-the-rest-api")
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
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		}
		if f.ResetAfter > 0 {
			w.Header().Set("X-Ratelimit-Remaining", "0")
			w.Header().Set("X-Ratelimit-Reset", strconv.FormatInt(now.Add(f.ResetAfter).Unix(), 10))
		}
		if len(f.Errors) > 0 {
			return s.json(w, f.Status, map[string]any{"message": f.Message, "documentation_url": docs, "status": strconv.Itoa(f.Status), "errors": f.Errors})
		}
		return s.fail(w, f.Status, f.Message, docs)
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if scheme != "Bearer" && scheme != "token" {
		return s.fail(w, http.StatusUnauthorized, "Requires authentication", docs)
	}
	if op == "POST /app/installations/{installation_id}/access_tokens" {
		return s.issueToken(w, vars[0], cred, now, call)
	}
	switch exp, ok := s.tokens[cred]; {
	case cred == s.o.Token:
		call.Auth = "pat"
	case ok && now.Before(exp):
		call.Auth = "installation"
		if need, level, _ := strings.Cut(perm, ":"); need != "" && !s.permitted(need, level) {
			return s.fail(w, http.StatusForbidden, "Resource not accessible by integration", docs)
		}
	default:
		return s.fail(w, http.StatusUnauthorized, "Bad credentials", docs)
	}
	h, ok := s.ops[op]
	if !ok {
		return s.notFound(w)
	}
	if strings.Contains(op, " /repos/") {
		if _, ok := s.collabs[vars[0]]; !ok {
			return s.notFound(w)
		}
	}
	return h(w, r, vars, body)
}

// handlers are the answers to each op the fake knows.
func (s *Server) handlers() map[string]func(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	return map[string]func(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int{
		"GET /orgs/{org}/teams/{team_slug}":                             s.opGetOrgsOrgTeamsTeamSlug,
		"GET /orgs/{org}/teams/{team_slug}/memberships/{username}":      s.opGetOrgsOrgTeamsTeamSlugMembershipsUsername,
		"PUT /orgs/{org}/teams/{team_slug}/memberships/{username}":      s.opPutOrgsOrgTeamsTeamSlugMembershipsUsername,
		"DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}":   s.opDeleteOrgsOrgTeamsTeamSlugMembershipsUsername,
		"GET /orgs/{org}/invitations":                                   s.opGetOrgsOrgInvitations,
		"DELETE /orgs/{org}/invitations/{invitation_id}":                s.opDeleteOrgsOrgInvitationsInvitationId,
		"GET /orgs/{org}/teams/{team_slug}/members":                     s.opGetOrgsOrgTeamsTeamSlugMembers,
		"GET /repos/{owner}/{repo}":                                     s.opGetReposOwnerRepo,
		"GET /repos/{owner}/{repo}/collaborators/{username}/permission": s.opGetReposOwnerRepoCollaboratorsUsernamePermission,
		"PUT /repos/{owner}/{repo}/collaborators/{username}":            s.opPutReposOwnerRepoCollaboratorsUsername,
		"DELETE /repos/{owner}/{repo}/collaborators/{username}":         s.opDeleteReposOwnerRepoCollaboratorsUsername,
		"GET /repos/{owner}/{repo}/collaborators":                       s.opGetReposOwnerRepoCollaborators,
		"GET /repos/{owner}/{repo}/invitations":                         s.opGetReposOwnerRepoInvitations,
		"DELETE /repos/{owner}/{repo}/invitations/{invitation_id}":      s.opDeleteReposOwnerRepoInvitationsInvitationId,
	}
}

// opGetOrgsOrgTeamsTeamSlug answers GET /orgs/{org}/teams/{team_slug}.
func (s *Server) opGetOrgsOrgTeamsTeamSlug(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	if vars[0] != Org || vars[1] != Team {
		return s.notFound(w)
	}
	return s.json(w, http.StatusOK, map[string]any{"id": 1, "slug": Team, "name": "Platform admins", "privacy": "closed"})
}

// opGetOrgsOrgTeamsTeamSlugMembershipsUsername answers GET /orgs/{org}/teams/{team_slug}/memberships/{username}.
func (s *Server) opGetOrgsOrgTeamsTeamSlugMembershipsUsername(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	if vars[0] != Org || vars[1] != Team {
		return s.notFound(w)
	}
	m, ok := s.team[strings.ToLower(vars[2])]
	if !ok {
		return s.notFound(w)
	}
	return s.json(w, http.StatusOK, s.membershipJSON(vars[2], m))
}

// opPutOrgsOrgTeamsTeamSlugMembershipsUsername answers PUT /orgs/{org}/teams/{team_slug}/memberships/{username}.
func (s *Server) opPutOrgsOrgTeamsTeamSlugMembershipsUsername(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	if vars[0] != Org || vars[1] != Team || s.findUser(vars[2]) == "" {
		return s.notFound(w)
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := json.Unmarshal(body, &in); err != nil && len(body) > 0 {
		return s.fail(w, http.StatusBadRequest, "Problems parsing JSON", docs)
	}
	if in.Role == "" {
		in.Role = "member"
	}
	if in.Role != "member" && in.Role != "maintainer" {
		return s.invalid(w, "TeamMember", "role", "invalid")
	}
	m := membership{role: in.Role, state: "active"}
	if old, ok := s.team[strings.ToLower(vars[2])]; ok {
		m.state = old.state
	} else if !s.isOrgMember(vars[2]) {
		m.state = "pending"
		if !slices.Contains(slices.Collect(maps.Values(s.orgInvites)), strings.ToLower(vars[2])) {
			s.nextID++
			s.orgInvites[s.nextID] = strings.ToLower(vars[2])
		}
	}
	s.setMembership(vars[2], m)
	return s.json(w, http.StatusOK, s.membershipJSON(vars[2], m))
}

// opDeleteOrgsOrgTeamsTeamSlugMembershipsUsername answers DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}.
func (s *Server) opDeleteOrgsOrgTeamsTeamSlugMembershipsUsername(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	key := strings.ToLower(vars[2])
	_, ok := s.team[key]
	if vars[0] != Org || vars[1] != Team || !ok {
		return s.notFound(w)
	}
	// The organization invitation a pending membership came with stays: GitHub does not
	// document that removing the membership withdraws it, so the fake assumes it does not.
	delete(s.team, key)
	s.teamOrder = slices.DeleteFunc(s.teamOrder, func(l string) bool { return strings.EqualFold(l, vars[2]) })
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// opGetOrgsOrgInvitations answers GET /orgs/{org}/invitations.
func (s *Server) opGetOrgsOrgInvitations(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	if vars[0] != Org {
		return s.notFound(w)
	}
	ids := slices.Sorted(maps.Keys(s.orgInvites))
	var items []any
	for _, id := range ids {
		items = append(items, map[string]any{"id": id, "login": s.findUser(s.orgInvites[id]), "role": "direct_member", "team_count": 1})
	}
	return s.listPage(w, r, items)
}

// opDeleteOrgsOrgInvitationsInvitationId answers DELETE /orgs/{org}/invitations/{invitation_id}.
func (s *Server) opDeleteOrgsOrgInvitationsInvitationId(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	id, err := strconv.ParseInt(vars[1], 10, 64)
	if _, ok := s.orgInvites[id]; vars[0] != Org || err != nil || !ok {
		return s.notFound(w)
	}
	delete(s.orgInvites, id)
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// opGetOrgsOrgTeamsTeamSlugMembers answers GET /orgs/{org}/teams/{team_slug}/members.
func (s *Server) opGetOrgsOrgTeamsTeamSlugMembers(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	if vars[0] != Org || vars[1] != Team {
		return s.notFound(w)
	}
	role := r.URL.Query().Get("role")
	if role == "" {
		role = "all"
	}
	var items []any
	for _, login := range s.teamOrder {
		m := s.team[strings.ToLower(login)]
		if m.state == "active" && (role == "all" || role == m.role) {
			items = append(items, map[string]any{"login": login, "type": "User"})
		}
	}
	return s.listPage(w, r, items)
}

// opGetReposOwnerRepo answers GET /repos/{owner}/{repo}; the repository exists.
func (s *Server) opGetReposOwnerRepo(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	return s.json(w, http.StatusOK, map[string]any{"id": 1, "full_name": repo, "private": true})
}

// opGetReposOwnerRepoCollaboratorsUsernamePermission answers GET /repos/{owner}/{repo}/collaborators/{username}/permission; the repository exists.
func (s *Server) opGetReposOwnerRepoCollaboratorsUsernamePermission(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	login := s.findUser(vars[1])
	if login == "" {
		return s.notFound(w)
	}
	p := s.effective(repo, login)
	return s.json(w, http.StatusOK, map[string]any{"permission": legacy(p), "role_name": roleName(p), "user": map[string]any{"login": login}})
}

// opPutReposOwnerRepoCollaboratorsUsername answers PUT /repos/{owner}/{repo}/collaborators/{username}; the repository exists.
func (s *Server) opPutReposOwnerRepoCollaboratorsUsername(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	login := s.findUser(vars[1])
	if login == "" {
		return s.notFound(w)
	}
	in := struct {
		Permission string `json:"permission"`
	}{Permission: "push"}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return s.fail(w, http.StatusBadRequest, "Problems parsing JSON", docs)
		}
	}
	if !slices.Contains(levels, in.Permission) {
		return s.invalid(w, "Repository", "permission", "invalid")
	}
	if _, ok := s.collabs[repo][strings.ToLower(login)]; ok || s.isOrgMember(login) {
		s.setCollab(repo, login, in.Permission)
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	inv := invitation{login: login, perm: in.Permission}
	for id, old := range s.invites[repo] {
		if strings.EqualFold(old.login, login) {
			inv.id = id
		}
	}
	if inv.id == 0 {
		s.nextID++
		inv.id = s.nextID
	}
	s.invites[repo][inv.id] = inv
	return s.json(w, http.StatusCreated, s.invitationJSON(repo, inv))
}

// opDeleteReposOwnerRepoCollaboratorsUsername answers DELETE /repos/{owner}/{repo}/collaborators/{username}; the repository exists.
func (s *Server) opDeleteReposOwnerRepoCollaboratorsUsername(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	s.deleteCollab(repo, vars[1])
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// opGetReposOwnerRepoCollaborators answers GET /repos/{owner}/{repo}/collaborators; the repository exists.
func (s *Server) opGetReposOwnerRepoCollaborators(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	aff := r.URL.Query().Get("affiliation")
	if aff != "direct" {
		return s.fail(w, http.StatusBadRequest, "the fake answers affiliation=direct only", docs)
	}
	var items []any
	for _, login := range s.collabKeys[repo] {
		p := s.collabs[repo][strings.ToLower(login)]
		perms := map[string]bool{}
		for i, l := range levels {
			perms[l] = i <= slices.Index(levels, p)
		}
		items = append(items, map[string]any{"login": login, "type": "User", "permissions": perms, "role_name": roleName(p)})
	}
	return s.listPage(w, r, items)
}

// opGetReposOwnerRepoInvitations answers GET /repos/{owner}/{repo}/invitations; the repository exists.
func (s *Server) opGetReposOwnerRepoInvitations(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	var ids []int64
	for id := range s.invites[repo] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var items []any
	for _, id := range ids {
		items = append(items, s.invitationJSON(repo, s.invites[repo][id]))
	}
	return s.listPage(w, r, items)
}

// opDeleteReposOwnerRepoInvitationsInvitationId answers DELETE /repos/{owner}/{repo}/invitations/{invitation_id}; the repository exists.
func (s *Server) opDeleteReposOwnerRepoInvitationsInvitationId(w http.ResponseWriter, r *http.Request, vars []string, body []byte) int {
	repo := vars[0]
	id, err := strconv.ParseInt(vars[1], 10, 64)
	if _, ok := s.invites[repo][id]; err != nil || !ok {
		return s.notFound(w)
	}
	delete(s.invites[repo], id)
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// effective is login's permission on repo through any affiliation: direct, or the
// organization's base permission for its members; "none" otherwise.
func (s *Server) effective(repo, login string) string {
	best := -1
	if p, ok := s.collabs[repo][strings.ToLower(login)]; ok {
		best = slices.Index(levels, p)
	}
	if s.isOrgMember(login) {
		best = max(best, slices.Index(levels, s.basePerm))
	}
	if best < 0 {
		return "none"
	}
	return levels[best]
}

// legacy is the permission field of the permission answer: admin, write, read or none.
func legacy(p string) string {
	switch p {
	case "admin":
		return "admin"
	case "maintain", "push":
		return "write"
	case "triage", "pull":
		return "read"
	}
	return "none"
}

func (s *Server) membershipJSON(login string, m membership) map[string]any {
	return map[string]any{"url": s.URL + "/orgs/" + Org + "/teams/" + Team + "/memberships/" + login, "role": m.role, "state": m.state}
}

func (s *Server) invitationJSON(repo string, inv invitation) map[string]any {
	return map[string]any{
		"id": inv.id, "repository": map[string]any{"full_name": repo},
		"invitee": map[string]any{"login": inv.login}, "permissions": roleName(inv.perm),
		"html_url": "https://github.com/" + repo + "/invitations",
	}
}

// permitted reports whether the installation has permission need at level (write includes read).
func (s *Server) permitted(need, level string) bool {
	have := s.o.Permissions[need]
	return have == "write" || (have == "read" && level == "read")
}

// page_ answers one page of items by per_page and page, with Link rel="next" and rel="last".
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, items []any) int {
	q := r.URL.Query()
	per := 30
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s.invalid(w, "", "per_page", "invalid")
		}
		per = min(n, 100)
	}
	per = min(per, s.page)
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s.invalid(w, "", "page", "invalid")
		}
		page = n
	}
	start := min((page-1)*per, len(items))
	end := min(start+per, len(items))
	last := max((len(items)+per-1)/per, 1)
	link := func(p int, rel string) string {
		q.Set("per_page", strconv.Itoa(per))
		q.Set("page", strconv.Itoa(p))
		return "<" + s.URL + r.URL.Path + "?" + q.Encode() + `>; rel="` + rel + `"`
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	out := items[start:end]
	if out == nil {
		out = []any{}
	}
	return s.json(w, http.StatusOK, out)
}

// issueToken is the App's installation token endpoint: the JWT must be the App's, signed by its
// key, and within GitHub's ten minutes.
func (s *Server) issueToken(w http.ResponseWriter, installation, jwt string, now time.Time, call *Call) int {
	if s.o.PublicKey == nil || installation != strconv.FormatInt(s.o.InstallationID, 10) {
		return s.notFound(w)
	}
	jws, err := jose.ParseSigned(jwt, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return s.fail(w, http.StatusUnauthorized, "A JSON web token could not be decoded", docs)
	}
	payload, err := jws.Verify(s.o.PublicKey)
	if err != nil {
		return s.fail(w, http.StatusUnauthorized, "A JSON web token could not be decoded", docs)
	}
	var claims struct {
		Iss any   `json:"iss"`
		Iat int64 `json:"iat"`
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return s.fail(w, http.StatusUnauthorized, "A JSON web token could not be decoded", docs)
	}
	if fmt.Sprint(claims.Iss) != strconv.FormatInt(s.o.AppID, 10) {
		return s.fail(w, http.StatusUnauthorized, "'Issuer' claim ('iss') must be an Integer", docs)
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if iat.After(now.Add(time.Minute)) {
		return s.fail(w, http.StatusUnauthorized, "'Issued at' claim ('iat') must be an Integer representing a time in the past", docs)
	}
	if !exp.After(now) || exp.Sub(iat) > 10*time.Minute {
		return s.fail(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future", docs)
	}
	call.Auth = "jwt"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "ghs_" + hex.EncodeToString(b)
	expires := now.Add(time.Hour).UTC().Truncate(time.Second)
	s.tokens[tok] = expires
	return s.json(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": expires.Format(time.RFC3339), "permissions": s.o.Permissions, "repository_selection": "all"})
}

func (s *Server) json(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func (s *Server) fail(w http.ResponseWriter, status int, message, doc string) int {
	return s.json(w, status, map[string]any{"message": message, "documentation_url": doc, "status": strconv.Itoa(status)})
}

func (s *Server) notFound(w http.ResponseWriter) int {
	return s.fail(w, http.StatusNotFound, "Not Found", docs)
}

// invalid is GitHub's 422 Validation Failed with one error.
func (s *Server) invalid(w http.ResponseWriter, resource, field, code string) int {
	return s.json(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "documentation_url": docs, "status": "422",
		"errors": []map[string]string{{"resource": resource, "field": field, "code": code}},
	})
}
