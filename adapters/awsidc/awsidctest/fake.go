// Package awsidctest is an in-process AWS IAM Identity Center for tests: one httptest server that
// speaks the AWS JSON 1.1 protocol of both services the awsidc adapter calls, SSO admin
// (X-Amz-Target: SWBExternalService.<Operation>, signed for "sso") and the identity store
// (AWSIdentityStore.<Operation>, signed for "identitystore"), as the official SDK sends them.
//
// Like AWS, it verifies the SigV4 signature of every request (it signs the request again with
// the SDK's own signer and the test credentials and compares), answers with the documented
// shapes and error shapes ({"__type": ..., "Message": ...}), keeps assignment requests
// IN_PROGRESS for a number of status checks before they SUCCEED or FAIL with a FailureReason,
// and refuses what AWS refuses: an unknown permission set or principal, a malformed account or
// principal ID, a change of an assignment while another request on it is in progress. Faults
// (throttling, errors, failed requests) can be injected per operation, and every call is
// recorded with its input.
package awsidctest

import (
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Identifiers of the fake's instance, in AWS's formats.
const (
	Region          = "eu-west-1"
	InstanceARN     = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
	IdentityStoreID = "d-0123456789"
	// PermissionSetARN is the permission set every fake has, named PermissionSetName.
	PermissionSetARN  = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef"
	PermissionSetName = "ProdReadOnly"
	// AccessKeyID and SecretAccessKey are the test credentials the fake accepts.
	AccessKeyID     = "AKIAACCESSBOTTEST000"
	SecretAccessKey = "accessbot/fake/secret/key/for/tests/only"
)

// Target prefixes of the two services' operations, and the names their requests are signed for.
const (
	ssoAdminPrefix      = "SWBExternalService."
	identityStorePrefix = "AWSIdentityStore."
)

var (
	accountIDRe   = regexp.MustCompile(`^[0-9]{12}$`)
	principalIDRe = regexp.MustCompile(`^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$`)
	authRe        = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/([0-9]{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]+)$`)
)

// User is a user of the identity store.
type User struct {
	ID       string
	UserName string
	Email    string
}

// Group is a group of the identity store.
type Group struct {
	ID          string
	DisplayName string
}

// Assignment is one account assignment: a permission set, in an account, to a principal.
type Assignment struct {
	Account          string
	PermissionSetARN string
	// PrincipalType is "USER" or "GROUP".
	PrincipalType string
	PrincipalID   string
}

// Call is one request the fake answered (or refused), after its signature was checked.
type Call struct {
	// Op is the operation, without its service prefix ("CreateAccountAssignment").
	Op string
	// Action is the IAM action the call needs ("sso:CreateAccountAssignment").
	Action string
	// Input is the request's JSON body.
	Input map[string]any
}

// Fault answers calls of an operation with an AWS error instead of the fake's own answer.
type Fault struct {
	// Op is the operation ("CreateAccountAssignment"); empty matches every operation.
	Op string
	// Times is how many calls it answers; negative for all of them.
	Times int
	// Code is the error's __type ("ThrottlingException").
	Code string
	// Status is the HTTP status; 400 when zero.
	Status int
	// Message is the error's message.
	Message string
}

// request is an asynchronous assignment request.
type request struct {
	id       string
	create   bool
	key      Assignment
	created  time.Time
	polls    int // status checks left IN_PROGRESS
	status   string
	reason   string
	finished bool
	// failWith, when set, is the FailureReason the request ends with.
	failWith string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint of both services (the adapter's `endpoint:`).
	URL string

	ts  *httptest.Server
	now func() time.Time

	mu             sync.Mutex
	permissionSets map[string]string
	accounts       map[string]bool
	users          map[string]User
	groups         map[string]Group
	assignments    map[Assignment]bool
	requests       map[string]*request
	calls          []Call
	faults         []*Fault
	failCreate     []string
	failDelete     []string
	inProgress     int
	pageSize       int
	seq            int
	refused        []string
}

// New starts a fake with one permission set (PermissionSetARN) and the given accounts, and stops
// it when the test ends. Assignment requests stay IN_PROGRESS for one status check by default.
func New(t testing.TB, accounts ...string) *Server {
	t.Helper()
	s := &Server{
		now:            time.Now,
		permissionSets: map[string]string{PermissionSetARN: PermissionSetName},
		accounts:       map[string]bool{},
		users:          map[string]User{},
		groups:         map[string]Group{},
		assignments:    map[Assignment]bool{},
		requests:       map[string]*request{},
		inProgress:     1,
		pageSize:       100,
	}
	for _, a := range accounts {
		s.accounts[a] = true
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(s.ts.Close)
	return s
}

// Credentials are the credentials the fake verifies signatures with.
func Credentials() aws.Credentials {
	return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Source: "awsidctest"}
}

// AddUser adds a user with a fresh ID (the identity store's format) and returns it.
func (s *Server) AddUser(userName, email string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := User{ID: s.newID(), UserName: userName, Email: email}
	s.users[u.ID] = u
	return u
}

// AddGroup adds a group with a fresh ID and returns it.
func (s *Server) AddGroup(displayName string) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := Group{ID: s.newID(), DisplayName: displayName}
	s.groups[g.ID] = g
	return g
}

// AddPermissionSet adds another permission set of the instance.
func (s *Server) AddPermissionSet(arn, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.permissionSets[arn] = name
}

// Assign makes an assignment at once, as someone would by hand in the console.
func (s *Server) Assign(a Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignments[a] = true
}

// Has says whether the assignment exists.
func (s *Server) Has(a Assignment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assignments[a]
}

// Assignments returns every assignment, sorted.
func (s *Server) Assignments() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Assignment
	for a := range s.assignments {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// SetInProgress sets how many status checks a new assignment request answers IN_PROGRESS before
// it finishes.
func (s *Server) SetInProgress(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inProgress = n
}

// SetPageSize sets the most assignments one ListAccountAssignments page holds.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// FailCreations makes the next creation requests end FAILED with the reasons, one each.
func (s *Server) FailCreations(reasons ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCreate = append(s.failCreate, reasons...)
}

// FailDeletions makes the next deletion requests end FAILED with the reasons, one each.
func (s *Server) FailDeletions(reasons ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failDelete = append(s.failDelete, reasons...)
}

// Inject adds a fault; faults are tried in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Settle finishes every request still in progress, as AWS does in the background whether or not
// anyone asks for its status.
func (s *Server) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if !r.finished {
			s.finish(r)
		}
	}
}

// Calls returns the calls the fake received with a valid signature, in order.
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

// Actions returns the IAM actions the calls needed, sorted, each once.
func (s *Server) Actions() []string {
	seen := map[string]bool{}
	for _, c := range s.Calls() {
		seen[c.Action] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Refused returns why requests were refused before reaching an operation (a bad signature).
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refused)
}

func (s *Server) newID() string {
	s.seq++
	// The identity store's IDs: ten hex digits, '-', a UUID.
	return fmt.Sprintf("90676%05x-%08x-0000-4000-8000-%012x", s.seq, s.seq, s.seq)
}

// apiError is an AWS JSON error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errValidation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException", fmt.Sprintf(format, args...)}
}

func errConflict(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ConflictException", fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "Message": e.message})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "unreadable body"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	var service, op, prefix string
	switch {
	case strings.HasPrefix(target, ssoAdminPrefix):
		service, op, prefix = "sso", strings.TrimPrefix(target, ssoAdminPrefix), "sso:"
	case strings.HasPrefix(target, identityStorePrefix):
		service, op, prefix = "identitystore", strings.TrimPrefix(target, identityStorePrefix), "identitystore:"
	default:
		writeError(w, &apiError{http.StatusBadRequest, "UnknownOperationException", "unknown X-Amz-Target " + target})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "want POST / with Content-Type application/x-amz-json-1.1"})
		return
	}
	if e := s.verify(r, body, service); e != nil {
		s.mu.Lock()
		s.refused = append(s.refused, op+": "+e.message)
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "the body is not a JSON object"})
		return
	}

	s.mu.Lock()
	s.calls = append(s.calls, Call{Op: op, Action: prefix + op, Input: in})
	if f := s.fault(op); f != nil {
		s.mu.Unlock()
		status := f.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		writeError(w, &apiError{status, f.Code, f.Message})
		return
	}
	out, e := s.handle(op, in)
	s.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// fault returns the first fault that answers op, counting it.
func (s *Server) fault(op string) *Fault {
	for _, f := range s.faults {
		if (f.Op == "" || f.Op == op) && f.Times != 0 {
			if f.Times > 0 {
				f.Times--
			}
			return f
		}
	}
	return nil
}

// verify checks the request's SigV4 signature as AWS does: the credential scope names the test
// key, the region and the service; the time is within five minutes; and the signature is the
// one the SDK's signer computes for the signed headers and the body with the test secret.
func (s *Server) verify(r *http.Request, body []byte, service string) *apiError {
	denied := func(format string, args ...any) *apiError {
		return &apiError{http.StatusBadRequest, "InvalidSignatureException", fmt.Sprintf(format, args...)}
	}
	m := parseAuthorization(r.Header.Get("Authorization"))
	if m == nil {
		return &apiError{http.StatusBadRequest, "MissingAuthenticationTokenException", "the request has no valid SigV4 Authorization header"}
	}
	keyID, day, region, svc, signed := m[1], m[2], m[3], m[4], m[5]
	if keyID != AccessKeyID {
		return &apiError{http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if region != Region || svc != service {
		return denied("credential scope %s/%s, want %s/%s", region, svc, Region, service)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || when.Format("20060102") != day {
		return denied("X-Amz-Date %q does not match the credential scope", r.Header.Get("X-Amz-Date"))
	}
	if d := s.now().Sub(when); d > 5*time.Minute || d < -5*time.Minute {
		return denied("Signature expired: %s is more than five minutes from the server's time", when.Format(time.RFC3339))
	}
	clone, err := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return denied("rebuild the request: %v", err)
	}
	clone.Host = r.Host
	for _, h := range strings.Split(signed, ";") {
		if h == "host" {
			continue
		}
		if h == "content-length" {
			clone.ContentLength = int64(len(body))
			continue
		}
		for _, v := range r.Header.Values(h) {
			clone.Header.Add(h, v)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), Credentials(), clone, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		return denied("sign again: %v", err)
	}
	if clone.Header.Get("Authorization") != r.Header.Get("Authorization") {
		return denied("The request signature we calculated does not match the signature you provided.")
	}
	return nil
}

// handle answers one operation; s.mu is held.
func (s *Server) handle(op string, in map[string]any) (any, *apiError) {
	switch op {
	case "CreateAccountAssignment":
		return s.change(in, true)
	case "DeleteAccountAssignment":
		return s.change(in, false)
	case "DescribeAccountAssignmentCreationStatus":
		return s.describe(in, true)
	case "DescribeAccountAssignmentDeletionStatus":
		return s.describe(in, false)
	case "ListAccountAssignments":
		return s.list(in)
	case "ListAccountAssignmentCreationStatus":
		return s.listCreations(in)
	case "DescribePermissionSet":
		if e := s.instance(in); e != nil {
			return nil, e
		}
		arn := str(in, "PermissionSetArn")
		name, ok := s.permissionSets[arn]
		if !ok {
			return nil, errNotFound("Could not find PermissionSet with arn %s", arn)
		}
		return map[string]any{"PermissionSet": map[string]any{
			"Name": name, "PermissionSetArn": arn, "SessionDuration": "PT1H", "CreatedDate": 1.7e9,
		}}, nil
	case "GetUserId", "GetGroupId":
		return s.getID(op, in)
	case "DescribeUser":
		if e := s.store(in); e != nil {
			return nil, e
		}
		u, ok := s.users[str(in, "UserId")]
		if !ok {
			return nil, errNotFound("USER not found")
		}
		return map[string]any{
			"IdentityStoreId": IdentityStoreID, "UserId": u.ID, "UserName": u.UserName,
			"Emails": []map[string]any{{"Value": u.Email, "Type": "work", "Primary": true}},
		}, nil
	case "DescribeGroup":
		if e := s.store(in); e != nil {
			return nil, e
		}
		g, ok := s.groups[str(in, "GroupId")]
		if !ok {
			return nil, errNotFound("GROUP not found")
		}
		return map[string]any{"IdentityStoreId": IdentityStoreID, "GroupId": g.ID, "DisplayName": g.DisplayName}, nil
	}
	return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", "the fake does not implement " + op}
}

func str(in map[string]any, key string) string {
	v, _ := in[key].(string)
	return v
}

func (s *Server) instance(in map[string]any) *apiError {
	if arn := str(in, "InstanceArn"); arn != InstanceARN {
		return errNotFound("Could not find Instance with arn %q", arn)
	}
	return nil
}

func (s *Server) store(in map[string]any) *apiError {
	if id := str(in, "IdentityStoreId"); id != IdentityStoreID {
		return errNotFound("Identity store %q not found", id)
	}
	return nil
}

// key reads and checks an assignment's fields as AWS does.
func (s *Server) key(in map[string]any) (Assignment, *apiError) {
	if e := s.instance(in); e != nil {
		return Assignment{}, e
	}
	k := Assignment{Account: str(in, "TargetId"), PermissionSetARN: str(in, "PermissionSetArn"), PrincipalType: str(in, "PrincipalType"), PrincipalID: str(in, "PrincipalId")}
	if str(in, "TargetType") != "AWS_ACCOUNT" {
		return k, errValidation("1 validation error detected: Value at 'targetType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_ACCOUNT]")
	}
	if !accountIDRe.MatchString(k.Account) {
		return k, errValidation("1 validation error detected: Value '%s' at 'targetId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\d{12}", k.Account)
	}
	if !principalIDRe.MatchString(k.PrincipalID) {
		return k, errValidation("1 validation error detected: Value '%s' at 'principalId' failed to satisfy constraint: Member must satisfy regular expression pattern", k.PrincipalID)
	}
	if _, ok := s.permissionSets[k.PermissionSetARN]; !ok {
		return k, errNotFound("Could not find PermissionSet with arn %s", k.PermissionSetARN)
	}
	switch k.PrincipalType {
	case "USER":
		if _, ok := s.users[k.PrincipalID]; !ok {
			return k, errNotFound("Principal %s of type USER does not exist in the identity store", k.PrincipalID)
		}
	case "GROUP":
		if _, ok := s.groups[k.PrincipalID]; !ok {
			return k, errNotFound("Principal %s of type GROUP does not exist in the identity store", k.PrincipalID)
		}
	default:
		return k, errValidation("1 validation error detected: Value at 'principalType' failed to satisfy constraint: Member must satisfy enum value set: [USER, GROUP]")
	}
	return k, nil
}

// change starts a creation or deletion request.
func (s *Server) change(in map[string]any, create bool) (any, *apiError) {
	k, e := s.key(in)
	if e != nil {
		return nil, e
	}
	// An assignment not made yet is not there to delete, whatever is in progress.
	if !create && !s.assignments[k] {
		return nil, errNotFound("Could not find the account assignment to delete")
	}
	for _, r := range s.requests {
		if !r.finished && r.key == k {
			return nil, errConflict("An operation on this account assignment is already in progress (request %s). Try again later.", r.id)
		}
	}
	s.seq++
	r := &request{id: fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq), create: create, key: k, created: s.now(), polls: s.inProgress, status: "IN_PROGRESS"}
	failures := &s.failDelete
	if create {
		failures = &s.failCreate
		if !s.accounts[k.Account] {
			r.failWith = fmt.Sprintf("The account %s is not a member of the organization of this instance.", k.Account)
		}
	}
	if len(*failures) > 0 {
		r.failWith, *failures = (*failures)[0], (*failures)[1:]
	}
	s.requests[r.id] = r
	name := "AccountAssignmentDeletionStatus"
	if create {
		name = "AccountAssignmentCreationStatus"
	}
	return map[string]any{name: r.answer()}, nil
}

// finish ends a request: it applies the change, or fails with its reason.
func (s *Server) finish(r *request) {
	r.finished = true
	if r.failWith != "" {
		r.status, r.reason = "FAILED", r.failWith
		return
	}
	r.status = "SUCCEEDED"
	if r.create {
		s.assignments[r.key] = true
	} else {
		delete(s.assignments, r.key)
	}
}

func (r *request) answer() map[string]any {
	m := map[string]any{
		"RequestId": r.id, "Status": r.status, "TargetId": r.key.Account, "TargetType": "AWS_ACCOUNT",
		"PermissionSetArn": r.key.PermissionSetARN, "PrincipalType": r.key.PrincipalType, "PrincipalId": r.key.PrincipalID,
		"CreatedDate": float64(r.created.UnixMilli()) / 1000,
	}
	if r.reason != "" {
		m["FailureReason"] = r.reason
	}
	return m
}

func (s *Server) describe(in map[string]any, create bool) (any, *apiError) {
	if e := s.instance(in); e != nil {
		return nil, e
	}
	field, name := "AccountAssignmentDeletionRequestId", "AccountAssignmentDeletionStatus"
	if create {
		field, name = "AccountAssignmentCreationRequestId", "AccountAssignmentCreationStatus"
	}
	r, ok := s.requests[str(in, field)]
	if !ok || r.create != create {
		return nil, errNotFound("Could not find request %q", str(in, field))
	}
	if !r.finished {
		if r.polls > 0 {
			r.polls--
		} else {
			s.finish(r)
		}
	}
	return map[string]any{name: r.answer()}, nil
}

func (s *Server) list(in map[string]any) (any, *apiError) {
	if e := s.instance(in); e != nil {
		return nil, e
	}
	account, ps := str(in, "AccountId"), str(in, "PermissionSetArn")
	if !accountIDRe.MatchString(account) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'accountId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\d{12}", account)
	}
	if _, ok := s.permissionSets[ps]; !ok {
		return nil, errNotFound("Could not find PermissionSet with arn %s", ps)
	}
	var all []Assignment
	for a := range s.assignments {
		if a.Account == account && a.PermissionSetARN == ps {
			all = append(all, a)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].PrincipalID < all[j].PrincipalID })
	start := 0
	if tok := str(in, "NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(all) {
			return nil, errValidation("invalid NextToken")
		}
		start = n
	}
	size := s.pageSize
	if mr, ok := in["MaxResults"].(float64); ok && int(mr) < size {
		size = int(mr)
	}
	end := min(start+size, len(all))
	page := []map[string]any{}
	for _, a := range all[start:end] {
		page = append(page, map[string]any{"AccountId": a.Account, "PermissionSetArn": a.PermissionSetARN, "PrincipalType": a.PrincipalType, "PrincipalId": a.PrincipalID})
	}
	out := map[string]any{"AccountAssignments": page}
	if end < len(all) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) getID(op string, in map[string]any) (any, *apiError) {
	if e := s.store(in); e != nil {
		return nil, e
	}
	alt, _ := in["AlternateIdentifier"].(map[string]any)
	ua, _ := alt["UniqueAttribute"].(map[string]any)
	if ua == nil {
		return nil, errValidation("AlternateIdentifier: the fake answers UniqueAttribute only")
	}
	path, value := str(ua, "AttributePath"), str(ua, "AttributeValue")
	if value == "" {
		return nil, errValidation("AttributeValue must be a non-empty string")
	}
	if op == "GetGroupId" {
		if path != "displayName" {
			return nil, errValidation("AttributePath %q is not a unique attribute of a group", path)
		}
		for _, g := range s.groups {
			if g.DisplayName == value {
				return map[string]any{"IdentityStoreId": IdentityStoreID, "GroupId": g.ID}, nil
			}
		}
		return nil, errNotFound("GROUP not found")
	}
	for _, u := range s.users {
		switch {
		case path == "userName" && u.UserName == value, path == "emails.value" && strings.EqualFold(u.Email, value):
			return map[string]any{"IdentityStoreId": IdentityStoreID, "UserId": u.ID}, nil
		case path != "userName" && path != "emails.value":
			return nil, errValidation("AttributePath %q is not a unique attribute of a user", path)
		}
	}
	return nil, errNotFound("USER not found")
}

// listCreations lists the creation requests, optionally of one status, oldest first, paged.
func (s *Server) listCreations(in map[string]any) (any, *apiError) {
	if e := s.instance(in); e != nil {
		return nil, e
	}
	status := ""
	if f, ok := in["Filter"].(map[string]any); ok {
		status = str(f, "Status")
	}
	var all []*request
	for _, r := range s.requests {
		if r.create && (status == "" || r.status == status) {
			all = append(all, r)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	start := 0
	if tok := str(in, "NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(all) {
			return nil, errValidation("invalid NextToken")
		}
		start = n
	}
	end := min(start+s.pageSize, len(all))
	page := []map[string]any{}
	for _, r := range all[start:end] {
		page = append(page, map[string]any{"RequestId": r.id, "Status": r.status, "CreatedDate": float64(r.created.UnixMilli()) / 1000})
	}
	out := map[string]any{"AccountAssignmentsCreationStatus": page}
	if end < len(all) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// parseAuthorization is authRe's submatches of a SigV4 Authorization header whose signature is
// 64 hex digits, or nil. authRe leaves the signature's length to this check: a counted {64}
// costs a state per count (internal/ident says why).
func parseAuthorization(h string) []string {
	m := authRe.FindStringSubmatch(h)
	if m == nil || len(m[6]) != 64 {
		return nil
	}
	return m
}
