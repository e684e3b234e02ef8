// Package gcpiamtest is an in-process fake of the IAM methods of Google's Cloud Resource Manager
// v3 REST API (getIamPolicy, setIamPolicy and testIamPermissions on projects, folders and
// organizations), for testing the gcp-iam adapter's REST client and its credentials
// (golang.org/x/oauth2/google) over real HTTP.
//
// It follows the published API: it checks the bearer token, answers Google's JSON and error
// shape ({"error":{"code","message","status"}}), gives every write a new etag and refuses a
// write with a stale one (409 ABORTED), applies the policy version rules (a conditional binding
// needs version 3; read as version 1, conditional bindings come back with "_withcond_" role
// names), and rejects what Google rejects: an unknown role, a member that is malformed or does
// not exist, a condition without a title or with an expression it does not understand, a
// policy over 1,500 members. It records every call, can fail calls on demand (429, 503, ...),
// runs a test's hook between a read and a write (another writer), and evaluates conditions at
// a time the test chooses, so a test can see access end at expiry without any revoke.
package gcpiamtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/googletest"
)

// Limits Google documents for an allow policy (cloud.google.com/iam/quotas).
const (
	// MaxMembers is the most principals all bindings of a policy may name, each appearance
	// counted.
	MaxMembers = 1500
	// MaxConditionalPerRoleMember is the most bindings of one role and one member with
	// different conditions.
	MaxConditionalPerRoleMember = 20
	maxTitle                    = 100
	maxDescription              = 256
	maxLogicOperators           = 12
)

// Token is the bearer token the fake accepts unless a test sets Server.Token.
const Token = "ya29.fake-access-token"

// Policy is an IAM policy as the API sends it.
type Policy struct {
	Version      int             `json:"version,omitempty"`
	Bindings     []Binding       `json:"bindings,omitempty"`
	AuditConfigs json.RawMessage `json:"auditConfigs,omitempty"`
	Etag         string          `json:"etag,omitempty"`
}

// Binding is one role binding.
type Binding struct {
	Role      string   `json:"role"`
	Members   []string `json:"members,omitempty"`
	Condition *Expr    `json:"condition,omitempty"`
}

// Expr is an IAM condition.
type Expr struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Expression  string `json:"expression,omitempty"`
	Location    string `json:"location,omitempty"`
}

// Call is one request the fake received.
type Call struct {
	// Method is "getIamPolicy", "setIamPolicy" or "testIamPermissions" (or what the path said),
	// or "token" for the token endpoint.
	Method string
	// Resource is "projects/<id>", "folders/<n>" or "organizations/<n>".
	Resource string
	// Permission is the IAM permission the call needs ("" for testIamPermissions, which needs
	// none).
	Permission string
	// RequestedVersion is a getIamPolicy's options.requestedPolicyVersion.
	RequestedVersion int
	// Sent is a setIamPolicy's policy as sent.
	Sent *Policy
	// Tested is a testIamPermissions call's permissions.
	Tested []string
	// Status is the HTTP status the fake answered.
	Status int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint to configure: "http://127.0.0.1:port/".
	URL string

	mu          sync.Mutex
	bearer      string
	now         func() time.Time
	policies    map[string]*Policy
	principals  map[string]bool
	roles       map[string]bool
	permissions map[string]bool
	faults      []fault
	beforeSet   func(resource string)
	calls       []Call
	// issuer is the token endpoint, for Application Default Credentials end to end.
	issuer googletest.Issuer
}

type fault struct {
	method string
	code   int
	left   int
}

// New starts a fake that knows no resources and no principals yet, accepts Token, knows the
// common predefined roles, and gives the caller every permission it checks. It is closed when
// the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		bearer:      Token,
		now:         time.Now,
		policies:    map[string]*Policy{},
		principals:  map[string]bool{},
		roles:       map[string]bool{},
		permissions: map[string]bool{},
	}
	for _, r := range []string{"roles/viewer", "roles/editor", "roles/owner", "roles/browser", "roles/bigquery.dataViewer", "roles/storage.objectViewer", "roles/logging.viewer"} {
		s.roles[r] = true
	}
	for _, kind := range []string{"projects", "folders", "organizations"} {
		s.permissions["resourcemanager."+kind+".getIamPolicy"] = true
		s.permissions["resourcemanager."+kind+".setIamPolicy"] = true
	}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(ts.Close)
	s.URL = ts.URL + "/"
	s.issuer.URL, s.issuer.Require = s.URL, cloudPlatformScope
	return s
}

// ServiceAccount writes a service account key file whose token_uri is the fake's token
// endpoint (googletest.Issuer) and returns its path, for GOOGLE_APPLICATION_CREDENTIALS. The
// endpoint issues tokens only to assertions asking for the cloud-platform scope, as the adapter
// does.
func (s *Server) ServiceAccount(t testing.TB, email string) string {
	return s.issuer.ServiceAccount(t, email)
}

// SetToken changes the static bearer token the fake accepts (tokens its token endpoint issued
// stay valid).
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bearer = token
}

// SetClock sets what request.time is when the fake evaluates a condition; time.Now by default.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// AddResource makes a resource ("projects/p", "folders/1", "organizations/1") with an empty
// policy.
func (s *Server) AddResource(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.policies[name]; !ok {
		s.policies[name] = &Policy{Version: 1, Etag: newEtag()}
	}
}

// AddPrincipal makes a principal exist ("user:alice@example.com", "group:sre@example.com",
// "serviceAccount:x@p.iam.gserviceaccount.com").
func (s *Server) AddPrincipal(members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range members {
		s.principals[m] = true
	}
}

// AddRole makes a role (a custom role) grantable.
func (s *Server) AddRole(role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[role] = true
}

// SetPermissions replaces the permissions the caller holds on every resource.
func (s *Server) SetPermissions(perms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.permissions = map[string]bool{}
	for _, p := range perms {
		s.permissions[p] = true
	}
}

// Fail answers the next n calls of method ("" for any) with Google's error for code (429
// RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 403 PERMISSION_DENIED, ...).
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

// BeforeSet runs fn at the start of every setIamPolicy, before the etag is compared: what it
// changes through Modify happens between the caller's read and its write. nil removes it.
func (s *Server) BeforeSet(fn func(resource string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeSet = fn
}

// Modify changes a resource's policy as another writer would (the console, Terraform): fn edits
// a copy, which is stored with a new etag. It fails the test's process with a panic on an
// unknown resource, a programming error in the test.
func (s *Server) Modify(resource string, fn func(p *Policy)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[resource]
	if !ok {
		panic("gcpiamtest: Modify of unknown resource " + resource)
	}
	c := clonePolicy(p)
	fn(c)
	c.Etag = newEtag()
	if hasConditions(c) {
		c.Version = 3
	}
	s.policies[resource] = c
}

// Policy returns a copy of a resource's policy as stored (version 3 view).
func (s *Server) Policy(resource string) Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[resource]
	if !ok {
		return Policy{}
	}
	return *clonePolicy(p)
}

// Calls returns every call so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Has reports whether member holds role on resource now, by the fake's clock: a binding of the
// role names the member and has no condition, or one that holds now.
func (s *Server) Has(resource, member, role string) bool {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	return s.HasAt(resource, member, role, now)
}

// HasAt reports whether member holds role on resource at time at.
func (s *Server) HasAt(resource, member, role string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[resource]
	if !ok {
		return false
	}
	for _, b := range p.Bindings {
		if b.Role != role || !slices.Contains(b.Members, member) {
			continue
		}
		if b.Condition == nil {
			return true
		}
		if holds, err := evaluate(b.Condition.Expression, at); err == nil && holds {
			return true
		}
	}
	return false
}

// Count returns how many bindings of role name member on resource, conditional or not.
func (s *Server) Count(resource, member, role string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if p, ok := s.policies[resource]; ok {
		for _, b := range p.Bindings {
			if b.Role == role && slices.Contains(b.Members, member) {
				n++
			}
		}
	}
	return n
}

// apiError is Google's error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// statuses are the google.rpc.Code names Google puts beside each HTTP status.
var statuses = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

func writeError(w http.ResponseWriter, code int, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message, e.Error.Status = code, msg, statuses[code]
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// pathRE is the v3 REST path of the three methods: /v3/{resource}:{method}.
var pathRE = regexp.MustCompile(`^/v3/((?:projects|folders|organizations)/[^/:]+):([A-Za-z]+)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	call := Call{}
	var status int
	if r.URL.Path == "/token" {
		call.Method = "token"
		status = s.issuer.Token(w, r)
	} else {
		status = s.handle(w, r, &call)
	}
	call.Status = status
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

// handle answers one request and returns the status it answered.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, call *Call) int {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
		return http.StatusNotFound
	}
	resource, method := m[1], m[2]
	call.Resource, call.Method = resource, method
	kind, _, _ := strings.Cut(resource, "/")
	switch method {
	case "getIamPolicy", "setIamPolicy":
		call.Permission = "resourcemanager." + kind + "." + method
	case "testIamPermissions":
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("Method %s not found.", method))
		return http.StatusNotFound
	}

	s.mu.Lock()
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, issued := s.issuer.Lookup(bearer)
	authorized := bearer != "" && (bearer == s.bearer || issued)
	s.mu.Unlock()
	if !authorized {
		writeError(w, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return http.StatusUnauthorized
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "could not read the request body")
		return http.StatusBadRequest
	}
	if code := s.takeFault(method); code != 0 {
		msg := map[int]string{
			429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute' of service 'cloudresourcemanager.googleapis.com'.",
			503: "The service is currently unavailable.",
		}[code]
		if msg == "" {
			msg = "injected fault " + http.StatusText(code)
		}
		writeError(w, code, msg)
		return code
	}

	switch method {
	case "getIamPolicy":
		return s.getIamPolicy(w, resource, body, call)
	case "setIamPolicy":
		return s.setIamPolicy(w, resource, body, call)
	}
	return s.testIamPermissions(w, resource, body, call)
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

// denied is Google's answer to a call without the permission, or on a resource that does not
// exist: the two are not told apart.
func denied(w http.ResponseWriter, perm, resource string) int {
	writeError(w, http.StatusForbidden, fmt.Sprintf("Permission '%s' denied on resource '//cloudresourcemanager.googleapis.com/%s' (or it may not exist).", perm, resource))
	return http.StatusForbidden
}

func (s *Server) getIamPolicy(w http.ResponseWriter, resource string, body []byte, call *Call) int {
	var req struct {
		Options *struct {
			RequestedPolicyVersion int `json:"requestedPolicyVersion"`
		} `json:"options"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
			return http.StatusBadRequest
		}
	}
	if req.Options != nil {
		call.RequestedVersion = req.Options.RequestedPolicyVersion
	}
	switch call.RequestedVersion {
	case 0, 1, 3:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid requested policy version %d: valid values are 0, 1 and 3.", call.RequestedVersion))
		return http.StatusBadRequest
	}
	s.mu.Lock()
	p, ok := s.policies[resource]
	allowed := s.permissions[call.Permission]
	var out *Policy
	if ok {
		out = clonePolicy(p)
	}
	s.mu.Unlock()
	if !ok || !allowed {
		return denied(w, call.Permission, resource)
	}
	if call.RequestedVersion < 3 && hasConditions(out) {
		// A version-1 reader cannot see conditions: Google renames the roles of conditional
		// bindings, so such a reader can neither miss nor (writing back) remove them unnoticed.
		for i := range out.Bindings {
			if out.Bindings[i].Condition != nil {
				out.Bindings[i].Role += "_withcond_" + shortHash(out.Bindings[i].Condition.Expression)
				out.Bindings[i].Condition = nil
			}
		}
		out.Version = 1
	} else if hasConditions(out) {
		out.Version = 3
	} else {
		out.Version = 1
	}
	writeJSON(w, http.StatusOK, out)
	return http.StatusOK
}

func (s *Server) setIamPolicy(w http.ResponseWriter, resource string, body []byte, call *Call) int {
	var req struct {
		Policy     *Policy `json:"policy"`
		UpdateMask string  `json:"updateMask"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return http.StatusBadRequest
	}
	if req.Policy == nil {
		writeError(w, http.StatusBadRequest, "Request contains an invalid argument: policy is required.")
		return http.StatusBadRequest
	}
	call.Sent = clonePolicy(req.Policy)

	s.mu.Lock()
	hook := s.beforeSet
	s.mu.Unlock()
	if hook != nil {
		hook(resource)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.policies[resource]
	if !ok || !s.permissions[call.Permission] {
		return denied(w, call.Permission, resource)
	}
	p := req.Policy
	if p.Etag != "" && p.Etag != cur.Etag {
		writeError(w, http.StatusConflict, fmt.Sprintf("There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff. The request's ETag '%s' did not match the current policy's ETag '%s'.", p.Etag, cur.Etag))
		return http.StatusConflict
	}
	if msg := s.validate(p, cur); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return http.StatusBadRequest
	}
	stored := clonePolicy(p)
	if req.UpdateMask == "" || !strings.Contains(req.UpdateMask, "auditConfigs") {
		// The default mask is bindings and etag: audit configs stay as they are.
		stored.AuditConfigs = cur.AuditConfigs
	}
	stored.Version = 1
	if hasConditions(stored) {
		stored.Version = 3
	}
	stored.Etag = newEtag()
	s.policies[resource] = stored
	writeJSON(w, http.StatusOK, stored)
	return http.StatusOK
}

// validate returns Google's message for what is wrong with a policy to be written over cur, or
// "".
func (s *Server) validate(p, cur *Policy) string {
	switch p.Version {
	case 0, 1, 3:
	default:
		return fmt.Sprintf("Invalid policy version %d: valid values are 0, 1 and 3.", p.Version)
	}
	if p.Version < 3 && (hasConditions(p) || hasConditions(cur)) {
		return "Request contains an invalid argument: a policy with conditional role bindings must be written as version 3 (set policy.version to 3)."
	}
	members := 0
	perRoleMember := map[string]int{}
	for _, b := range p.Bindings {
		if !s.roles[b.Role] {
			return fmt.Sprintf("Role %s is not supported for this resource.", b.Role)
		}
		if len(b.Members) == 0 {
			return fmt.Sprintf("Request contains an invalid argument: binding of %s has no members.", b.Role)
		}
		for _, m := range b.Members {
			if msg := s.checkMember(m); msg != "" {
				return msg
			}
			members++
			if b.Condition != nil {
				perRoleMember[b.Role+" "+m]++
				if perRoleMember[b.Role+" "+m] > MaxConditionalPerRoleMember {
					return fmt.Sprintf("The policy has more than %d conditional role bindings of %s for %s.", MaxConditionalPerRoleMember, b.Role, m)
				}
			}
		}
		if c := b.Condition; c != nil {
			if msg := checkCondition(c); msg != "" {
				return msg
			}
		}
	}
	if members > MaxMembers {
		return fmt.Sprintf("The number of members in the policy (%d) is larger than the maximum allowed size %d.", members, MaxMembers)
	}
	return ""
}

// emailRE is a member's email.
var emailRE = regexp.MustCompile(`^[^@\s:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)

func (s *Server) checkMember(m string) string {
	kind, id, ok := strings.Cut(m, ":")
	if !ok {
		return fmt.Sprintf("Invalid member '%s': a member is type:id, such as user:alice@example.com.", m)
	}
	switch kind {
	case "user", "group", "serviceAccount":
		if !emailRE.MatchString(id) {
			return fmt.Sprintf("Invalid member '%s': '%s' is not an email address.", m, id)
		}
		if !s.principals[m] {
			noun := map[string]string{"user": "User", "group": "Group", "serviceAccount": "Service account"}[kind]
			return fmt.Sprintf("%s %s does not exist.", noun, id)
		}
	case "domain":
		if id == "" {
			return fmt.Sprintf("Invalid member '%s'.", m)
		}
	case "deleted":
		// A deleted principal stays in a policy until someone removes it.
	default:
		return fmt.Sprintf("Invalid member '%s': unknown member type '%s'.", m, kind)
	}
	return ""
}

func checkCondition(c *Expr) string {
	switch {
	case strings.TrimSpace(c.Title) == "":
		return "Request contains an invalid argument: a condition needs a title."
	case len(c.Title) > maxTitle:
		return fmt.Sprintf("Request contains an invalid argument: a condition title is at most %d characters.", maxTitle)
	case len(c.Description) > maxDescription:
		return fmt.Sprintf("Request contains an invalid argument: a condition description is at most %d characters.", maxDescription)
	}
	if _, err := evaluate(c.Expression, time.Now()); err != nil {
		return fmt.Sprintf("Condition expression %q is not valid: %v.", c.Expression, err)
	}
	return ""
}

// clauseRE is the one comparison the fake understands: request.time against a timestamp.
var clauseRE = regexp.MustCompile(`^request\.time\s*(<|<=|>|>=)\s*timestamp\("([^"]*)"\)$`)

// evaluate reads an expression made of request.time comparisons joined by && and says whether
// it holds at t. Anything else is an error: the fake does not guess at CEL it cannot evaluate.
func evaluate(expr string, t time.Time) (bool, error) {
	clauses := strings.Split(expr, "&&")
	if len(clauses)-1 > maxLogicOperators {
		return false, fmt.Errorf("more than %d logic operators", maxLogicOperators)
	}
	holds := true
	for _, c := range clauses {
		m := clauseRE.FindStringSubmatch(strings.TrimSpace(c))
		if m == nil {
			return false, fmt.Errorf("cannot parse %q (the fake understands request.time < timestamp(\"RFC 3339\"))", strings.TrimSpace(c))
		}
		at, err := time.Parse(time.RFC3339, m[2])
		if err != nil {
			return false, fmt.Errorf("timestamp(%q) is not an RFC 3339 time", m[2])
		}
		var ok bool
		switch m[1] {
		case "<":
			ok = t.Before(at)
		case "<=":
			ok = !t.After(at)
		case ">":
			ok = t.After(at)
		case ">=":
			ok = !t.Before(at)
		}
		holds = holds && ok
	}
	return holds, nil
}

func (s *Server) testIamPermissions(w http.ResponseWriter, resource string, body []byte, call *Call) int {
	var req struct {
		Permissions []string `json:"permissions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return http.StatusBadRequest
	}
	call.Tested = req.Permissions
	s.mu.Lock()
	_, exists := s.policies[resource]
	var held []string
	for _, p := range req.Permissions {
		if exists && s.permissions[p] {
			held = append(held, p)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Permissions []string `json:"permissions,omitempty"`
	}{held})
	return http.StatusOK
}

func hasConditions(p *Policy) bool {
	for _, b := range p.Bindings {
		if b.Condition != nil {
			return true
		}
	}
	return false
}

func clonePolicy(p *Policy) *Policy {
	c := *p
	c.Bindings = make([]Binding, len(p.Bindings))
	for i, b := range p.Bindings {
		c.Bindings[i] = Binding{Role: b.Role, Members: slices.Clone(b.Members)}
		if b.Condition != nil {
			cond := *b.Condition
			c.Bindings[i].Condition = &cond
		}
	}
	c.AuditConfigs = slices.Clone(p.AuditConfigs)
	return &c
}

// newEtag is an etag as Google makes them: opaque base64 bytes, new on every write.
func newEtag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func shortHash(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h)
	return strings.ToLower(base64.RawURLEncoding.EncodeToString(b[:]))
}
