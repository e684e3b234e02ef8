package oktatest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// get calls the fake with the test token (or auth) and returns the answer and its body.
func get(t *testing.T, s *Server, method, path, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestTheFakeAnswersAsOktaDocuments(t *testing.T) {
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	s := New(t, Options{Now: func() time.Time { return now }})
	a := s.AddUser("a@example.com", "a@example.com")
	b := s.AddUser("b@example.com", "b@example.com")
	s.AddMember(GroupID, a.ID)
	s.AddMember(GroupID, b.ID)
	ssws := "SSWS " + Token

	t.Run("a call without the token is refused with E0000011", func(t *testing.T) {
		resp, body := get(t, s, "GET", "/api/v1/users/a@example.com", "SSWS wrong")
		var e oktaError
		if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != 401 || e.Code != "E0000011" || e.Summary == "" || e.ID == "" || e.Causes == nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("an unknown user is a 404 E0000007", func(t *testing.T) {
		resp, body := get(t, s, "GET", "/api/v1/users/nobody@example.com", ssws)
		if resp.StatusCode != 404 || !strings.Contains(body, `"errorCode":"E0000007"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("members are paged with a Link to the next page", func(t *testing.T) {
		resp, body := get(t, s, "GET", "/api/v1/groups/"+GroupID+"/users?limit=1", ssws)
		if resp.StatusCode != 200 || !strings.Contains(body, a.ID) || strings.Contains(body, b.ID) {
			t.Fatalf("first page: %d %s", resp.StatusCode, body)
		}
		links := strings.Join(resp.Header.Values("Link"), ", ")
		if !strings.Contains(links, `rel="next"`) || !strings.Contains(links, "after="+a.ID) {
			t.Fatalf("links of the first page: %s", links)
		}
		resp, body = get(t, s, "GET", "/api/v1/groups/"+GroupID+"/users?limit=1&after="+a.ID, ssws)
		if !strings.Contains(body, b.ID) || strings.Contains(strings.Join(resp.Header.Values("Link"), ""), `rel="next"`) {
			t.Fatalf("last page: %s %v", body, resp.Header.Values("Link"))
		}
	})
	t.Run("a spent rate limit is a 429 E0000047 with its reset", func(t *testing.T) {
		s.SetRateLimit(1)
		resp, _ := get(t, s, "GET", "/api/v1/groups/"+GroupID, ssws)
		if resp.StatusCode != 200 || resp.Header.Get("X-Rate-Limit-Remaining") != "0" {
			t.Fatalf("first call: %d, remaining %q", resp.StatusCode, resp.Header.Get("X-Rate-Limit-Remaining"))
		}
		resp, body := get(t, s, "GET", "/api/v1/groups/"+GroupID, ssws)
		reset := now.Add(time.Minute).Unix()
		if resp.StatusCode != 429 || !strings.Contains(body, "E0000047") || resp.Header.Get("X-Rate-Limit-Reset") != strings.TrimSpace(jsonInt(reset)) {
			t.Fatalf("second call: %d %s, reset %q", resp.StatusCode, body, resp.Header.Get("X-Rate-Limit-Reset"))
		}
		s.SetRateLimit(0)
	})
	t.Run("the token endpoint refuses a client it does not know", func(t *testing.T) {
		resp, body := get(t, s, "POST", "/oauth2/v1/token", "")
		if resp.StatusCode != 401 || !strings.Contains(body, "invalid_client") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
