package config_test

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
)

const githubLoginResource = `groups:
  sre: [alice@example.com, bob@example.com]
resources:
  - name: org-admin
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    account_from: github-login
    accounts:
      carol@example.com: carol-gh
    policy:
      approvers: [sre]
`

const githubLoginSection = `github_login:
  client_id: Iv23liAbCdEf12345678
`

func TestAResourceWithAccountFromGitHubLoginIsBuiltWithItsSourceAndTheSectionsDefaults(t *testing.T) {
	c := mustParse(t, githubLoginResource+githubLoginSection, nil)
	g := c.GitHubLogin
	if g.ClientID != "Iv23liAbCdEf12345678" || g.OAuthURL != config.DefaultGitHubOAuthURL || g.APIURL != config.DefaultGitHubAPIURL {
		t.Errorf("github_login %+v, want the client ID and GitHub.com's hosts", g)
	}
	rs, err := c.BuildResources(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	src := rs[0].AccountFrom
	if src == nil || src.Name != "github-login" || src.Label != "GitHub account" || rs[0].Accounts["carol@example.com"] != "carol-gh" {
		t.Errorf("resource account_from %+v, accounts %v", src, rs[0].Accounts)
	}
}

func TestGitHubLoginURLsMayPointAtAFakeOnLoopback(t *testing.T) {
	c := mustParse(t, githubLoginResource+githubLoginSection+"  oauth_url: http://127.0.0.1:8080/\n  api_url: https://ghe.example.com/api/v3\n", nil)
	if c.GitHubLogin.OAuthURL != "http://127.0.0.1:8080" || c.GitHubLogin.APIURL != "https://ghe.example.com/api/v3" {
		t.Errorf("urls %+v", c.GitHubLogin)
	}
}

func TestGitHubLoginMistakesAreConfigErrorsWithTheirPlace(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"account_from without the github_login section", githubLoginResource,
			"resources[0].account_from: account_from: github-login needs the github_login: section"},
		{"an unknown account source", strings.Replace(githubLoginResource, "account_from: github-login", "account_from: gitlab-login", 1) + githubLoginSection,
			`resources[0].account_from: "gitlab-login" is not an account source`},
		{"account_from with an account template", strings.Replace(githubLoginResource, "    account_from:", "    account: \"{{.Local}}\"\n    account_from:", 1) + githubLoginSection,
			"resources[0].account: a resource with account_from"},
		{"urls without a client ID", githubLoginResource + "github_login:\n  oauth_url: https://github.com\n",
			"github_login.client_id: required"},
		{"a client ID with spaces", githubLoginResource + "github_login:\n  client_id: not an id\n",
			"github_login.client_id:"},
		{"an API URL over plain http elsewhere than loopback", githubLoginResource + githubLoginSection + "  api_url: http://api.github.com\n",
			"github_login.api_url:"},
		{"an unknown key", githubLoginResource + githubLoginSection + "  client_secret: x\n",
			"client_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErr(t, tt.src, nil)
			if !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one with %q", got, tt.want)
			}
		})
	}
}
