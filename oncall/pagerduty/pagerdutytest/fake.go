// Package pagerdutytest is an in-process fake of the part of PagerDuty's REST API v2 the
// on-call client uses: GET /oncalls (schedule_ids[], escalation_policy_ids[], include[]=users,
// offset/limit/more paging), GET /schedules/{id} and GET /escalation_policies/{id}, with
// `Authorization: Token token=…`, PagerDuty's error JSON, 401, 404, and injected 429 (with
// Retry-After and ratelimit-* headers) and 5xx answers. It records every request.
package pagerdutytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token is the REST API key the fake accepts.
const Token = "pd-test-token"

// User is a PagerDuty user.
type User struct {
	ID, Name, Email string
}

// OnCall is one on-call entry: a user at an escalation level, through a schedule or not.
type OnCall struct {
	User       User
	Level      int
	ScheduleID string
	PolicyID   string
}

// Failure is an answer to give instead of the next request's.
type Failure struct {
	Status  int
	Headers map[string]string
	Body    string
}

// Request is one request as the fake received it.
type Request struct {
	Method, Path, Query, Authorization, Accept string
}

// Server is the fake.
type Server struct {
	*httptest.Server
	// PageSize caps the entries of one page below the asked limit, to make paging happen.
	PageSize int
	// Delay is how long each answer takes (set before use): a provider far away, for the
	// benchmark.
	Delay time.Duration

	mu        sync.Mutex
	schedules map[string]bool
	policies  map[string]bool
	oncalls   []OnCall
	failures  []Failure
	requests  []Request
	down      bool
}

// New starts a fake, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{schedules: map[string]bool{}, policies: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Schedule declares a schedule and who is on call for it now (level 1 of policy "PPOLICY0").
func (s *Server) Schedule(id string, users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules[id] = true
	kept := s.oncalls[:0]
	for _, oc := range s.oncalls {
		if oc.ScheduleID != id {
			kept = append(kept, oc)
		}
	}
	s.oncalls = kept
	for _, u := range users {
		s.oncalls = append(s.oncalls, OnCall{User: u, Level: 1, ScheduleID: id, PolicyID: "PPOLICY0"})
	}
}

// Policy declares an escalation policy and who is on call at each level now (levels[0] is
// level 1).
func (s *Server) Policy(id string, levels ...[]User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[id] = true
	kept := s.oncalls[:0]
	for _, oc := range s.oncalls {
		if oc.PolicyID != id {
			kept = append(kept, oc)
		}
	}
	s.oncalls = kept
	for i, us := range levels {
		for _, u := range us {
			s.oncalls = append(s.oncalls, OnCall{User: u, Level: i + 1, PolicyID: id})
		}
	}
}

// Fail queues answers for the next requests, in order.
func (s *Server) Fail(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// SetDown makes every answer a 503 until SetDown(false): PagerDuty having an outage.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests returns what the fake received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.Delay > 0 {
		time.Sleep(s.Delay) // the fake's answer time, not a test waiting
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept")})
	if s.down {
		writeError(w, http.StatusServiceUnavailable, 2000, "Service Unavailable")
		return
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		for k, v := range f.Headers {
			w.Header().Set(k, v)
		}
		if f.Body == "" {
			f.Body = `{"error":{"message":"` + http.StatusText(f.Status) + `","code":` + strconv.Itoa(f.Status) + `}}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	if r.Header.Get("Authorization") != "Token token="+Token {
		// PagerDuty's answer to a missing or wrong key.
		writeError(w, http.StatusUnauthorized, 2006, "Unauthorized")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, 2000, "Method Not Allowed")
		return
	}
	switch {
	case r.URL.Path == "/oncalls":
		s.list(w, r)
	case strings.HasPrefix(r.URL.Path, "/schedules/"):
		s.one(w, s.schedules[strings.TrimPrefix(r.URL.Path, "/schedules/")], "schedule")
	case strings.HasPrefix(r.URL.Path, "/escalation_policies/"):
		s.one(w, s.policies[strings.TrimPrefix(r.URL.Path, "/escalation_policies/")], "escalation_policy")
	default:
		writeError(w, http.StatusNotFound, 2100, "Not Found")
	}
}

func (s *Server) one(w http.ResponseWriter, ok bool, kind string) {
	if !ok {
		writeError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	writeJSON(w, map[string]any{kind: map[string]string{"type": kind}})
}

// list answers GET /oncalls as documented: filters are ORed within a kind, paged by
// offset/limit with `more`.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scheds, pols := q["schedule_ids[]"], q["escalation_policy_ids[]"]
	withUsers := false
	for _, inc := range q["include[]"] {
		withUsers = withUsers || inc == "users"
	}
	limit, offset := 25, 0
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v >= 0 {
		offset = v
	}
	if s.PageSize > 0 {
		limit = min(limit, s.PageSize)
	}
	var match []OnCall
	for _, oc := range s.oncalls {
		if (len(scheds) == 0 || oc.ScheduleID != "" && contains(scheds, oc.ScheduleID)) &&
			(len(pols) == 0 || contains(pols, oc.PolicyID)) {
			match = append(match, oc)
		}
	}
	end := min(offset+limit, len(match))
	page := []map[string]any{}
	for _, oc := range match[min(offset, len(match)):end] {
		user := map[string]any{"id": oc.User.ID, "type": "user_reference", "summary": oc.User.Name}
		if withUsers {
			user = map[string]any{"id": oc.User.ID, "type": "user", "name": oc.User.Name, "email": oc.User.Email, "summary": oc.User.Name}
		}
		var sched any
		if oc.ScheduleID != "" {
			sched = map[string]string{"id": oc.ScheduleID, "type": "schedule_reference"}
		}
		page = append(page, map[string]any{
			"escalation_policy": map[string]string{"id": oc.PolicyID, "type": "escalation_policy_reference"},
			"escalation_level":  oc.Level, "schedule": sched, "user": user,
			"start": nil, "end": nil,
		})
	}
	writeJSON(w, map[string]any{"oncalls": page, "limit": limit, "offset": offset, "more": end < len(match), "total": nil})
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "code": code}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
