// Package apifake is the scaffolding the in-process fakes of ticket systems' REST APIs
// (tickets/jira/jiratest, tickets/servicenow/servicenowtest) share: every call recorded, answers
// slowed by a delay, and failures injected in place of the real answer. A fake embeds a Recorder
// and starts its handler with Recorder.Begin; what it answers otherwise is its own.
package apifake

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Call is one request a fake received.
type Call struct {
	Method, Path, Query string
	// Auth is the Authorization header's scheme ("Basic", "Bearer").
	Auth string
	Body string
}

// Failure is an answer a fake gives instead of the real one.
type Failure struct {
	Status int
	// RetryAfter, when set, is sent as Retry-After.
	RetryAfter string
	// Body is the answer; "" is the fake's own error body for Status.
	Body string
}

// Recorder records a fake's calls and holds its injected faults. The zero value is ready.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
	fail  []Failure
	delay time.Duration
	down  bool
}

// FailNext makes the next len(f) requests answer with f, in order.
func (s *Recorder) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, f...)
}

// SetDown makes every request answer 503 until SetDown(false).
func (s *Recorder) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDelay makes every answer wait d first (a slow system; the benchmark's 50 ms).
func (s *Recorder) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Calls returns the requests received so far.
func (s *Recorder) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Begin records r, waits the delay, and answers a due failure (503 while down), with
// errBody(status) as the body of a Failure without one. It returns the request's body, and
// whether the request is answered already (a failure, or the caller gone during the delay).
func (s *Recorder) Begin(w http.ResponseWriter, r *http.Request, errBody func(status int) string) (body []byte, answered bool) {
	body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: scheme, Body: string(body)})
	delay := s.delay
	var f *Failure
	if s.down {
		f = &Failure{Status: http.StatusServiceUnavailable}
	} else if len(s.fail) > 0 {
		f = &s.fail[0]
		s.fail = s.fail[1:]
	}
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return body, true
		}
	}
	if f == nil {
		return body, false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	b := f.Body
	if b == "" {
		b = errBody(f.Status)
	}
	WriteRaw(w, f.Status, b)
	return body, true
}

// WriteRaw answers status with a JSON body.
func WriteRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
