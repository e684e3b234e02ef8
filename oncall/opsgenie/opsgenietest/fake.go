// Package opsgenietest is an in-process fake of Opsgenie's Who is On Call API as the on-call
// client uses it: GET /v2/schedules/{identifier}/on-calls with scheduleIdentifierType=name
// and flat=true, `Authorization: GenieKey …`, Opsgenie's error JSON (message, took,
// requestId), 401, 404 for an unknown schedule, and injected 429 (X-RateLimit-State:
// THROTTLED) and 5xx answers. It records every request.
package opsgenietest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Key is the API key the fake accepts.
const Key = "og-test-key"

// Failure is an answer to give instead of the next request's.
type Failure struct {
	Status  int
	Headers map[string]string
}

// Request is one request as the fake received it.
type Request struct {
	Path, Query, Authorization string
}

// Server is the fake.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	schedules map[string][]string
	failures  []Failure
	requests  []Request
}

// New starts a fake, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{schedules: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Schedule declares a schedule by name and the usernames (emails) on call now.
func (s *Server) Schedule(name string, usernames ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules[name] = append([]string{}, usernames...)
}

// Fail queues answers for the next requests, in order.
func (s *Server) Fail(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

// Requests returns what the fake received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Query: r.URL.RawQuery, Authorization: r.Header.Get("Authorization")})
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		for k, v := range f.Headers {
			w.Header().Set(k, v)
		}
		msg := http.StatusText(f.Status)
		if f.Status == http.StatusTooManyRequests {
			w.Header().Set("X-RateLimit-State", "THROTTLED")
			msg = "You are making too many requests! To avoid errors, we recommend you limit requests."
		}
		writeError(w, f.Status, msg)
		return
	}
	if r.Header.Get("Authorization") != "GenieKey "+Key {
		writeError(w, http.StatusUnauthorized, "Could not authenticate")
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/v2/schedules/")
	name, ok2 := strings.CutSuffix(name, "/on-calls")
	if r.Method != http.MethodGet || !ok || !ok2 {
		writeError(w, http.StatusNotFound, "Requested resource does not exist")
		return
	}
	q := r.URL.Query()
	if q.Get("scheduleIdentifierType") != "name" {
		// By ID: the fake knows none.
		writeError(w, http.StatusNotFound, "No schedule exists with id ["+name+"]")
		return
	}
	users, known := s.schedules[name]
	if !known {
		writeError(w, http.StatusNotFound, "No schedule exists with name ["+name+"]")
		return
	}
	data := map[string]any{"_parent": map[string]any{"id": "sched-" + name, "name": name, "enabled": true}}
	if q.Get("flat") == "true" {
		data["onCallRecipients"] = users
	} else {
		parts := []map[string]string{}
		for _, u := range users {
			parts = append(parts, map[string]string{"name": u, "type": "user"})
		}
		data["onCallParticipants"] = parts
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "took": 0.012, "requestId": "req-1"})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"message": msg, "took": 0.002, "requestId": "req-err"})
}
