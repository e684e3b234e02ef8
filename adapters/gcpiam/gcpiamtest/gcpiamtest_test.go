package gcpiamtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const project = "projects/fake-project"

// post sends a raw request, as a client would, and decodes the answer.
func post(t *testing.T, s *Server, token, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(s.URL, "/")+path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func get(t *testing.T, s *Server, version int) (int, map[string]any) {
	return post(t, s, Token, "/v3/"+project+":getIamPolicy", map[string]any{"options": map[string]any{"requestedPolicyVersion": version}})
}

func set(t *testing.T, s *Server, p Policy) (int, map[string]any) {
	return post(t, s, Token, "/v3/"+project+":setIamPolicy", map[string]any{"policy": p})
}

func newServer(t *testing.T) *Server {
	s := New(t)
	s.AddResource(project)
	s.AddPrincipal("user:alice@example.com")
	return s
}

// errorOf checks Google's error shape and returns its status and message.
func errorOf(t *testing.T, code int, body map[string]any) (string, string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("answer %d has no error object: %v", code, body)
	}
	if int(e["code"].(float64)) != code {
		t.Errorf("error.code %v, HTTP status %d", e["code"], code)
	}
	return e["status"].(string), e["message"].(string)
}

func conditional(expr string) Binding {
	return Binding{Role: "roles/viewer", Members: []string{"user:alice@example.com"}, Condition: &Expr{Title: "t", Expression: expr}}
}

func TestTheFakeRefusesWhatGoogleRefuses(t *testing.T) {
	future := `request.time < timestamp("2099-01-01T00:00:00Z")`
	cases := []struct {
		name   string
		policy func(etag string) Policy
		code   int
		status string
		says   string
	}{
		{"a stale etag", func(string) Policy {
			return Policy{Version: 3, Etag: "BwAAAAAAAAA=", Bindings: []Binding{conditional(future)}}
		}, 409, "ABORTED", "concurrent policy changes"},
		{"a conditional binding in a version-1 policy", func(e string) Policy {
			return Policy{Version: 1, Etag: e, Bindings: []Binding{conditional(future)}}
		}, 400, "INVALID_ARGUMENT", "version 3"},
		{"a malformed condition", func(e string) Policy {
			return Policy{Version: 3, Etag: e, Bindings: []Binding{conditional(`request.time < timestamp("tomorrow")`)}}
		}, 400, "INVALID_ARGUMENT", "is not valid"},
		{"a condition the fake cannot evaluate", func(e string) Policy {
			return Policy{Version: 3, Etag: e, Bindings: []Binding{conditional(`resource.name.startsWith("x")`)}}
		}, 400, "INVALID_ARGUMENT", "is not valid"},
		{"a condition without a title", func(e string) Policy {
			b := conditional(future)
			b.Condition.Title = ""
			return Policy{Version: 3, Etag: e, Bindings: []Binding{b}}
		}, 400, "INVALID_ARGUMENT", "needs a title"},
		{"an unknown user", func(e string) Policy {
			return Policy{Etag: e, Bindings: []Binding{{Role: "roles/viewer", Members: []string{"user:bob@example.com"}}}}
		}, 400, "INVALID_ARGUMENT", "User bob@example.com does not exist."},
		{"a malformed member", func(e string) Policy {
			return Policy{Etag: e, Bindings: []Binding{{Role: "roles/viewer", Members: []string{"alice@example.com"}}}}
		}, 400, "INVALID_ARGUMENT", "Invalid member"},
		{"an unknown role", func(e string) Policy {
			return Policy{Etag: e, Bindings: []Binding{{Role: "roles/nope", Members: []string{"user:alice@example.com"}}}}
		}, 400, "INVALID_ARGUMENT", "not supported"},
		{"more than 1,500 members", func(e string) Policy {
			var bs []Binding
			for range MaxMembers + 1 {
				bs = append(bs, Binding{Role: "roles/viewer", Members: []string{"user:alice@example.com"}})
			}
			return Policy{Etag: e, Bindings: bs}
		}, 400, "INVALID_ARGUMENT", "(1501) is larger than the maximum allowed size 1500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			before := s.Policy(project)
			code, body := set(t, s, tc.policy(before.Etag))
			if code != tc.code {
				t.Fatalf("answered %d %v, want %d", code, body, tc.code)
			}
			status, msg := errorOf(t, code, body)
			if status != tc.status || !strings.Contains(msg, tc.says) {
				t.Errorf("error %s %q, want %s saying %q", status, msg, tc.status, tc.says)
			}
			if after := s.Policy(project); after.Etag != before.Etag {
				t.Error("a refused write changed the policy")
			}
		})
	}
}

func TestTheFakeChecksTheBearerToken(t *testing.T) {
	s := newServer(t)
	for _, token := range []string{"", "ya29.someone-else"} {
		code, body := post(t, s, token, "/v3/"+project+":getIamPolicy", map[string]any{})
		if code != http.StatusUnauthorized {
			t.Fatalf("token %q: %d, want 401", token, code)
		}
		if status, _ := errorOf(t, code, body); status != "UNAUTHENTICATED" {
			t.Errorf("status %s, want UNAUTHENTICATED", status)
		}
	}
	if calls := s.Calls(); len(calls) != 2 || calls[0].Status != 401 {
		t.Errorf("calls = %+v, want both recorded as 401", calls)
	}
}

// Every write gets a new etag, so the etag read before it is stale after it; a version-1 read
// of a conditional policy hides the conditions as Google does.
func TestEtagsAndPolicyVersions(t *testing.T) {
	s := newServer(t)
	e0 := s.Policy(project).Etag
	code, body := set(t, s, Policy{Version: 3, Etag: e0, Bindings: []Binding{conditional(`request.time < timestamp("2099-01-01T00:00:00Z")`)}})
	if code != 200 {
		t.Fatalf("write: %d %v", code, body)
	}
	e1 := body["etag"].(string)
	if e1 == "" || e1 == e0 {
		t.Fatalf("etag after a write %q, before %q: want a new one", e1, e0)
	}
	if code, _ := set(t, s, Policy{Version: 3, Etag: e0}); code != http.StatusConflict {
		t.Fatalf("a write with the etag of before the last write: %d, want 409", code)
	}
	_, v3 := get(t, s, 3)
	if v3["version"].(float64) != 3 || !strings.Contains(fmt.Sprint(v3["bindings"]), "condition") {
		t.Errorf("version-3 read = %v", v3)
	}
	_, v1 := get(t, s, 1)
	bs := fmt.Sprint(v1["bindings"])
	if v1["version"].(float64) != 1 || strings.Contains(bs, "condition") || !strings.Contains(bs, "roles/viewer_withcond_") {
		t.Errorf("version-1 read = %v, want the conditional binding renamed _withcond_ and no condition", v1)
	}
	if code, _ := get(t, s, 2); code != http.StatusBadRequest {
		t.Errorf("requested version 2: %d, want 400", code)
	}
}

func TestConditionsAreEvaluatedAtTheTimeAsked(t *testing.T) {
	s := newServer(t)
	end := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Modify(project, func(p *Policy) {
		p.Bindings = []Binding{conditional(`request.time >= timestamp("2029-01-01T00:00:00Z") && request.time < timestamp("2030-01-01T00:00:00Z")`)}
	})
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{end.AddDate(-2, 0, 0), false},
		{end.AddDate(-1, 0, 0), true},
		{end.Add(-time.Second), true},
		{end, false},
	} {
		if got := s.HasAt(project, "user:alice@example.com", "roles/viewer", c.at); got != c.want {
			t.Errorf("at %s: %v, want %v", c.at, got, c.want)
		}
	}
	s.SetClock(func() time.Time { return end.Add(-time.Minute) })
	if !s.Has(project, "user:alice@example.com", "roles/viewer") {
		t.Error("Has does not use the fake's clock")
	}
}

// Injected faults come back in Google's shape, then the fake answers normally.
func TestInjectedFaults(t *testing.T) {
	s := newServer(t)
	s.Fail("getIamPolicy", http.StatusTooManyRequests, 1)
	s.Fail("", http.StatusServiceUnavailable, 1)
	for _, want := range []struct {
		code   int
		status string
	}{{429, "RESOURCE_EXHAUSTED"}, {503, "UNAVAILABLE"}} {
		code, body := get(t, s, 3)
		if code != want.code {
			t.Fatalf("%d, want %d", code, want.code)
		}
		if status, _ := errorOf(t, code, body); status != want.status {
			t.Errorf("status %s, want %s", status, want.status)
		}
	}
	if code, _ := get(t, s, 3); code != 200 {
		t.Fatalf("after the faults: %d, want 200", code)
	}
}
