package github

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// validTeam is a team config that passes Validate as an App.
func validTeam() *Config {
	c := NewConfig()
	c.Mode, c.Org, c.Team = ModeTeam, "acme", "platform-admins"
	c.AppID, c.InstallationID, c.PrivateKey = 1, 2, keyPEM(appKey())
	return c
}

func TestValidate(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	repos := func(c *Config) {
		c.Mode, c.Team, c.Repositories = ModeRepository, "", []string{"acme/api", "acme/web.site"}
	}
	token := func(c *Config) {
		c.Auth, c.AppID, c.InstallationID, c.PrivateKey, c.Token = AuthToken, 0, 0, "", "github_pat_x"
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		err    string
	}{
		{name: "a team config as an App is valid", mutate: func(*Config) {}},
		{name: "a repository config with a token is valid", mutate: func(c *Config) { repos(c); token(c) }},
		{name: "a GitHub Enterprise API URL with a path is valid", mutate: func(c *Config) { c.APIURL = "https://ghe.example.com/api/v3" }},
		{name: "an API URL with a query is refused", mutate: func(c *Config) { c.APIURL = "https://api.github.com?x=1" }, err: "api_url"},
		{name: "an API URL with credentials is refused", mutate: func(c *Config) { c.APIURL = "https://u:p@api.github.com" }, err: "api_url"},
		{name: "an unknown mode is refused", mutate: func(c *Config) { c.Mode = "org" }, err: `mode "org"`},
		{name: "an org name with a slash is refused", mutate: func(c *Config) { c.Org = "acme/x" }, err: "not a GitHub organization"},
		{name: "an org name with a double hyphen is refused", mutate: func(c *Config) { c.Org = "ac--me" }, err: "not a GitHub organization"},
		{name: "a team name that is not a slug is refused", mutate: func(c *Config) { c.Team = "Platform Admins" }, err: "not a team slug"},
		{name: "a team role other than member or maintainer is refused", mutate: func(c *Config) { c.Role = "owner" }, err: `role "owner"`},
		{name: "repositories in mode team are refused", mutate: func(c *Config) { c.Repositories = []string{"acme/api"} }, err: "for mode repository"},
		{name: "mode repository needs repositories", mutate: func(c *Config) { repos(c); c.Repositories = nil }, err: "set repositories"},
		{name: "a repository without an owner is refused", mutate: func(c *Config) { repos(c); c.Repositories = []string{"api"} }, err: "want owner/repo"},
		{name: "a repository named .. is refused", mutate: func(c *Config) { repos(c); c.Repositories = []string{"acme/.."} }, err: "want owner/repo"},
		{name: "a repository listed twice is refused", mutate: func(c *Config) { repos(c); c.Repositories = []string{"acme/api", "acme/api"} }, err: "listed twice"},
		{name: "an unknown permission is refused", mutate: func(c *Config) { repos(c); c.Permission = "write" }, err: `permission "write"`},
		{name: "a team in mode repository is refused", mutate: func(c *Config) { repos(c); c.Team = "x" }, err: "for mode team"},
		{name: "an App needs its IDs", mutate: func(c *Config) { c.InstallationID = 0 }, err: "set app_id and installation_id"},
		{name: "an App needs its key", mutate: func(c *Config) { c.PrivateKey = "" }, err: "set private_key"},
		{name: "a key that is not PEM is refused", mutate: func(c *Config) { c.PrivateKey = "secret-bytes" }, err: "not PEM"},
		{name: "a short RSA key is refused", mutate: func(c *Config) { c.PrivateKey = keyPEM(weak) }, err: "at least 2048 bits"},
		{name: "an EC key is refused: GitHub Apps sign with RS256", mutate: func(c *Config) {
			c.PrivateKey = Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
		}, err: "GitHub Apps use RSA keys"},
		{name: "a token beside an App is refused", mutate: func(c *Config) { c.Token = "x" }, err: "for auth token"},
		{name: "auth token needs the token", mutate: func(c *Config) { token(c); c.Token = "" }, err: "set token"},
		{name: "an App key beside a token is refused", mutate: func(c *Config) { token(c); c.AppID = 1 }, err: "for auth app"},
		{name: "an unknown auth is refused", mutate: func(c *Config) { c.Auth = "password" }, err: `auth "password"`},
		{name: "a page size over GitHub's 100 is refused", mutate: func(c *Config) { c.PageSize = 101 }, err: "page_size"},
		{name: "max_attempts of zero is refused", mutate: func(c *Config) { c.MaxAttempts = 0 }, err: "max_attempts"},
		{name: "a zero timeout is refused", mutate: func(c *Config) { c.Timeout = 0 }, err: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validTeam()
			tt.mutate(c)
			err := c.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate: %v, want an error saying %q", err, tt.err)
			}
		})
	}
}

// The key and the token never print: not with %v, %+v, %#v, nor in JSON.
func TestTheConfigNeverPrintsItsSecrets(t *testing.T) {
	c := validTeam()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Token = "github_pat_SECRET"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), fmt.Sprint(c.PrivateKey), string(b)} {
		if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "SECRET") || strings.Contains(s, "N:") {
			t.Errorf("a secret is printed: %.200s", s)
		}
	}
}

// Logins are checked before they reach a URL.
func TestLogins(t *testing.T) {
	for login, ok := range map[string]bool{
		"alice": true, "a": true, "octo-cat": true, "A1": true, strings.Repeat("a", 39): true,
		"": false, "-alice": false, "alice-": false, "al--ice": false, "al_ice": false, "../x": false,
		"al ice": false, "alice%2F": false, strings.Repeat("a", 40): false,
	} {
		if got := validLogin(login); got != ok {
			t.Errorf("validLogin(%q) = %v, want %v", login, got, ok)
		}
	}
}

// Only a next link below the API URL is followed, so the token never goes to another host.
func TestTheNextLinkStaysBelowTheAPI(t *testing.T) {
	c := &client{base: "https://ghe.example.com/api/v3"}
	tests := []struct {
		link, want, err string
	}{
		{link: `<https://ghe.example.com/api/v3/orgs/acme/teams/t/members?page=2&per_page=100>; rel="next", <https://ghe.example.com/api/v3/orgs/acme/teams/t/members?page=3>; rel="last"`,
			want: "/orgs/acme/teams/t/members?page=2&per_page=100"},
		{link: `<https://ghe.example.com/api/v3/x?page=1>; rel="prev"`},
		{link: `<https://evil.example.com/api/v3/x?page=2>; rel="next"`, err: "leaves the API"},
		{link: `<https://ghe.example.com/api/v3x/y?page=2>; rel="next"`, err: "leaves the API"},
	}
	for _, tt := range tests {
		h := http.Header{"Link": {tt.link}}
		got, err := c.nextLink(h)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("nextLink(%s) = %q, %v; want %q, %q", tt.link, got, err, tt.want, tt.err)
		}
	}
}

// The defaults are those the README documents.
func TestTheDefaults(t *testing.T) {
	c := NewConfig()
	if c.APIURL != "https://api.github.com" || c.Role != "member" || c.Permission != "push" || c.Auth != AuthApp ||
		c.Timeout != 30*time.Second || c.MaxAttempts != 4 || c.MaxRateWait != time.Minute || c.PageSize != 100 {
		t.Fatalf("defaults = %+v", c)
	}
}
