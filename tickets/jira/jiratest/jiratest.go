// Package jiratest is an in-process fake of the Jira REST API (Cloud v3 and Data Center v2) for
// tests: the issues it holds, GET /rest/api/{2,3}/issue/{key} and POST .../comment answered as
// Jira documents (errorMessages bodies, 401 without valid credentials, 404 for an unknown issue,
// 429 with Retry-After, 5xx), every call recorded.
package jiratest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/accessbot/accessbot/internal/apifake"
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
type Call = apifake.Call

// Failure is an answer the fake gives instead of the real one.
type Failure = apifake.Failure

// Server is the fake.
type Server struct {
	*httptest.Server
	// Recorder records the calls and holds the injected faults (FailNext, SetDown, SetDelay).
	apifake.Recorder
	// Email and Token are the Cloud credentials it accepts (basic auth); PAT the Data Center
	// bearer token.
	Email, Token, PAT string

	mu     sync.Mutex
	issues map[string]*Issue
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, answered := s.Begin(w, r, func(status int) string {
		return `{"errorMessages":["` + http.StatusText(status) + `"],"errors":{}}`
	})
	if answered {
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
		text, ok := commentText(string(body), version)
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
	apifake.WriteRaw(w, status, string(b))
}
