package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func call(t *testing.T, s *Server, method, path, auth, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp, m
}

// The fake answers as GitHub documents: 401 without credentials, 404 with its message and
// documentation_url, pending membership for a person outside the organization, a 201
// invitation for a repository, Link paging, and a 403 with x-ratelimit-remaining 0.
func TestTheFakeAnswersAsGitHubDocuments(t *testing.T) {
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	s := New(t, Options{Now: func() time.Time { return now }})
	s.AddUser("outsider")
	for _, l := range []string{"a", "b", "c"} {
		s.AddOrgMember(l)
		s.SetTeamMember(l, "member")
	}

	if resp, m := call(t, s, "GET", "/orgs/acme/teams/platform-admins", "", ""); resp.StatusCode != 401 || m["message"] != "Requires authentication" {
		t.Errorf("without credentials: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, s, "GET", "/orgs/acme/teams/nope", Token, ""); resp.StatusCode != 404 || m["message"] != "Not Found" || m["documentation_url"] == nil {
		t.Errorf("unknown team: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, s, "PUT", "/orgs/acme/teams/platform-admins/memberships/outsider", Token, `{"role":"member"}`); resp.StatusCode != 200 || m["state"] != "pending" {
		t.Errorf("outsider's membership: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, s, "PUT", "/repos/acme/api/collaborators/outsider", Token, `{"permission":"push"}`); resp.StatusCode != 201 || m["id"] == nil || m["permissions"] != "write" {
		t.Errorf("outsider as collaborator: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, s, "PUT", "/repos/acme/api/collaborators/a", Token, `{"permission":"root"}`); resp.StatusCode != 422 || m["errors"] == nil {
		t.Errorf("invalid permission: %d %v", resp.StatusCode, m)
	}
	resp, _ := call(t, s, "GET", "/orgs/acme/teams/platform-admins/members?per_page=2", Token, "")
	if link := resp.Header.Get("Link"); !strings.Contains(link, `page=2`) || !strings.Contains(link, `rel="next"`) {
		t.Errorf("first page's Link = %q", link)
	}

	s.SetRateLimit(1)
	call(t, s, "GET", "/orgs/acme/teams/platform-admins", Token, "")
	resp, m := call(t, s, "GET", "/orgs/acme/teams/platform-admins", Token, "")
	if resp.StatusCode != 403 || resp.Header.Get("X-Ratelimit-Remaining") != "0" || resp.Header.Get("X-Ratelimit-Reset") == "" || !strings.Contains(m["message"].(string), "rate limit") {
		t.Errorf("over the limit: %d %v %v", resp.StatusCode, resp.Header, m)
	}
}

// The token endpoint accepts only the App's JWT within ten minutes, and its tokens expire.
func TestTheTokenEndpointChecksTheAppsJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := New(t, Options{AppID: 9, InstallationID: 5, PublicKey: &key.PublicKey, Now: clock})
	sign := func(claims map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(claims)
		jws, err := signer.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	good := sign(map[string]any{"iss": "9", "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix()})
	tests := []struct {
		name, jwt, path string
		status          int
	}{
		{name: "the App's JWT gets a token", jwt: good, path: "/app/installations/5/access_tokens", status: 201},
		{name: "another installation is not found", jwt: good, path: "/app/installations/6/access_tokens", status: 404},
		{name: "another app is refused", jwt: sign(map[string]any{"iss": "8", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}), path: "/app/installations/5/access_tokens", status: 401},
		{name: "a JWT longer than ten minutes is refused", jwt: sign(map[string]any{"iss": "9", "iat": now.Unix(), "exp": now.Add(11 * time.Minute).Unix()}), path: "/app/installations/5/access_tokens", status: 401},
		{name: "an expired JWT is refused", jwt: sign(map[string]any{"iss": "9", "iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(-11 * time.Minute).Unix()}), path: "/app/installations/5/access_tokens", status: 401},
	}
	var token string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := call(t, s, "POST", tt.path, tt.jwt, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, m, tt.status)
			}
			if tt.status == 201 {
				token, _ = m["token"].(string)
			}
		})
	}
	if resp, _ := call(t, s, "GET", "/orgs/acme/teams/platform-admins", token, ""); resp.StatusCode != 200 {
		t.Fatalf("with the installation token: %d", resp.StatusCode)
	}
	if resp, _ := call(t, s, "GET", "/orgs/acme/teams/platform-admins", good, ""); resp.StatusCode != 401 {
		t.Fatalf("the JWT itself used as a token: %d, want 401", resp.StatusCode)
	}
	now = now.Add(61 * time.Minute)
	if resp, m := call(t, s, "GET", "/orgs/acme/teams/platform-admins", token, ""); resp.StatusCode != 401 || m["message"] != "Bad credentials" {
		t.Fatalf("with an expired installation token: %d %v", resp.StatusCode, m)
	}
}
