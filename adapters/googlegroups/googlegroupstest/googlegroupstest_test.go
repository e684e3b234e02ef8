package googlegroupstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// do sends one request with token and returns the status and the decoded body.
func do(t *testing.T, s *Server, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.URL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// errorStatus is the google.rpc.Code name of an error answer.
func errorStatus(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["status"].(string)
	return s
}

func TestTheFakeAnswersAsTheAPIDocuments(t *testing.T) {
	s := New(t)
	group := s.AddGroup("g@example.com")
	s.AddUser("a@example.com")
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	create := `{"preferredMemberKey":{"id":"a@example.com"},"roles":[{"name":"MEMBER","expiryDetail":{"expireTime":"2026-12-04T13:00:00Z"}}]}`
	cases := []struct {
		name, token, method, path, body string
		status                          int
		rpc                             string
	}{
		{"no bearer token is unauthenticated", "", "GET", "/v1/groups:lookup?groupKey.id=g@example.com", "", 401, "UNAUTHENTICATED"},
		{"an unknown token is unauthenticated", "nope", "GET", "/v1/groups:lookup?groupKey.id=g@example.com", "", 401, "UNAUTHENTICATED"},
		{"a known group is found", Token, "GET", "/v1/groups:lookup?groupKey.id=g@example.com", "", 200, ""},
		{"an unknown member is not found", Token, "POST", "/v1/" + group + "/memberships", strings.ReplaceAll(create, "a@", "b@"), 404, "NOT_FOUND"},
		{"a member is added", Token, "POST", "/v1/" + group + "/memberships", create, 200, ""},
		{"a second membership already exists", Token, "POST", "/v1/" + group + "/memberships", create, 409, "ALREADY_EXISTS"},
		{"an expiry on OWNER is refused", Token, "POST", "/v1/" + group + "/memberships", `{"preferredMemberKey":{"id":"a@example.com"},"roles":[{"name":"OWNER","expiryDetail":{"expireTime":"2026-12-04T13:00:00Z"}}]}`, 400, "INVALID_ARGUMENT"},
		{"a path the API lacks is not found", Token, "GET", "/v1/groups/x/nothing", "", 404, "NOT_FOUND"},
	}
	for _, tc := range cases {
		status, body := do(t, s, tc.token, tc.method, tc.path, tc.body)
		if status != tc.status || errorStatus(body) != tc.rpc {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.rpc)
		}
	}
	if _, ok := s.Member("g@example.com", "a@example.com"); !ok {
		t.Fatal("a is not a member after the create")
	}
	now = now.Add(time.Hour)
	if _, ok := s.Member("g@example.com", "a@example.com"); ok {
		t.Error("a is still a member at the membership's expiry")
	}
	s.Fail("memberships.list", http.StatusTooManyRequests, 1)
	req, _ := http.NewRequest("GET", strings.TrimSuffix(s.URL, "/")+"/v1/"+group+"/memberships", nil)
	req.Header.Set("Authorization", "Bearer "+Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a throttled list answered %d with Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(s.Calls()); n != len(cases)+1 {
		t.Errorf("%d calls recorded, want %d", n, len(cases)+1)
	}
}
