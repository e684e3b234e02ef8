// Package jiratest is an in-process fake of the Jira REST API (Cloud v3 and Data Center v2) for
// tests: the issues it holds, GET /rest/api/{2,3}/issue/{key} and POST .../comment answered as
// Jira documents (errorMessages bodies, 401 without valid credentials, 404 for an unknown issue,
// 429 with Retry-After, 5xx), every call recorded.
package jiratest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Issue is one issue the fake holds.
type Issue struct {
	Key, Summary, Status string
	// Category is the status category key: "new", "indeterminate" or "done".
	Category                    string
	Priority, Project           string
	AssigneeEmail, AssigneeName string
	Comments                    []string
}

// Call is one request the fake received.
type Call struct {
	Method, Path, Query string
	// Auth is the Authorization header's scheme ("Basic", "Bearer").
	Auth string
	Body string
}

// Failure is an answer the fake gives instead of the real one.
type Failure struct {
	Status int
	// RetryAfter, when set, is sent as Retry-After.
	RetryAfter string
	Body       string
}

// Server is the fake.
type Server struct {
	*httptest.Server
	// Email and Token are the Cloud credentials it accepts (basic auth); PAT the Data Center
	// bearer token.
	Email, Token, PAT string

	mu     sync.Mutex
	issues map[string]*Issue
	calls  []Call
	fail   []Failure
	delay  time.Duration
	down   bool
}

// New starts a fake that accepts email/token on v3 and pat on v2.
func New(email, token, pat string) *Server {
	s := &Server{Email: email, Token: token, PAT: pat, issues: map[string]*Issue{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Put adds or replaces an issue.
func (s *Server) Put(is Issue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := is
	s.issues[is.Key] = &c
}

// SetCategory moves an issue to a status (and its category).
func (s *Server) SetCategory(key, status, category string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is := s.issues[key]; is != nil {
		is.Status, is.Category = status, category
	}
}

// Issue returns a copy of an issue as it stands, comments included.
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[key]
	if !ok {
		return Issue{}, false
	}
	c := *is
	c.Comments = append([]string(nil), is.Comments...)
	return c, true
}

// FailNext makes the next len(f) requests answer with f, in order.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, f...)
}

// SetDown makes every request answer 503 until SetDown(false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDelay makes every answer wait d first (a slow Jira; the benchmark's 50 ms).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var body strings.Builder
	if r.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		body.Write(b)
	}
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: scheme, Body: body.String()})
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
			return
		}
	}
	if f != nil {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		b := f.Body
		if b == "" {
			b = `{"errorMessages":["` + http.StatusText(f.Status) + `"],"errors":{}}`
		}
		writeRaw(w, f.Status, b)
		return
	}
	var version string
	rest, ok := strings.CutPrefix(r.URL.Path, "/rest/api/3/issue/")
	if ok {
		version = "3"
	} else if rest, ok = strings.CutPrefix(r.URL.Path, "/rest/api/2/issue/"); ok {
		version = "2"
	} else {
		writeErr(w, http.StatusNotFound, "No resource found.")
		return
	}
	if !s.authorized(r, version) {
		// Jira answers 401 with this text to a request without valid credentials.
		writeErr(w, http.StatusUnauthorized, "You are not authenticated. Authentication required to perform this operation.")
		return
	}
	key, comment := strings.CutSuffix(rest, "/comment")
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issues[key]
	if is == nil {
		writeErr(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
		return
	}
	switch {
	case comment && r.Method == http.MethodPost:
		text, ok := commentText(body.String(), version)
		if !ok {
			writeErr(w, http.StatusBadRequest, "Comment body can not be empty!")
			return
		}
		is.Comments = append(is.Comments, text)
		writeJSON(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(10000 + len(is.Comments))})
	case !comment && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, issueJSON(is))
	default:
		writeErr(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

func (s *Server) authorized(r *http.Request, version string) bool {
	h := r.Header.Get("Authorization")
	if version == "3" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.Email+":"+s.Token))
		return s.Token != "" && h == want
	}
	return s.PAT != "" && h == "Bearer "+s.PAT
}

// commentText reads a comment body: ADF on v3 (the text of its paragraphs, one a line), a string
// on v2.
func commentText(body, version string) (string, bool) {
	if version == "2" {
		var c struct {
			Body string `json:"body"`
		}
		if json.Unmarshal([]byte(body), &c) != nil || c.Body == "" {
			return "", false
		}
		return c.Body, true
	}
	var c struct {
		Body struct {
			Type    string `json:"type"`
			Version int    `json:"version"`
			Content []struct {
				Type    string `json:"type"`
				Content []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
			} `json:"content"`
		} `json:"body"`
	}
	if json.Unmarshal([]byte(body), &c) != nil || c.Body.Type != "doc" || c.Body.Version != 1 {
		return "", false
	}
	var lines []string
	for _, p := range c.Body.Content {
		var line strings.Builder
		for _, t := range p.Content {
			line.WriteString(t.Text)
		}
		lines = append(lines, line.String())
	}
	text := strings.Join(lines, "\n")
	return text, strings.TrimSpace(text) != ""
}

func issueJSON(is *Issue) map[string]any {
	f := map[string]any{
		"summary": is.Summary,
		"status":  map[string]any{"name": is.Status, "statusCategory": map[string]any{"key": is.Category}},
		"project": map[string]any{"key": is.Project},
	}
	if is.Priority != "" {
		f["priority"] = map[string]any{"name": is.Priority}
	}
	if is.AssigneeEmail != "" || is.AssigneeName != "" {
		f["assignee"] = map[string]any{"emailAddress": is.AssigneeEmail, "displayName": is.AssigneeName}
	} else {
		f["assignee"] = nil
	}
	return map[string]any{"id": "10001", "key": is.Key, "fields": f}
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	writeRaw(w, status, string(b))
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
