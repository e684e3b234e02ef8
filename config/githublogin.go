package config

import (
	"net/url"
	"strings"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ident"
)

// AccountFromGitHubLogin is the one value of a resource's `account_from:` today: the account is
// the person's GitHub login, verified by GitHub with `/access github-login` (the section
// `github_login:` configures how).
const AccountFromGitHubLogin = "github-login"

// Defaults of the `github_login:` section: GitHub.com. GitHub Enterprise Server serves the
// device flow from its web host and the API under /api/v3.
const (
	DefaultGitHubOAuthURL = "https://github.com"
	DefaultGitHubAPIURL   = "https://api.github.com"
)

// GitHubLogin is the `github_login:` section: the GitHub App (or OAuth App) through which
// people prove their GitHub login with GitHub's OAuth device flow (`/access github-login`).
// The device flow needs no client secret; the App must have "Enable Device Flow" ticked.
type GitHubLogin struct {
	// ClientID is the App's client ID (not its numeric App ID); not a secret.
	ClientID string `yaml:"client_id"`
	// OAuthURL is where the device flow is served: /login/device/code and
	// /login/oauth/access_token. Default https://github.com.
	OAuthURL string `yaml:"oauth_url"`
	// APIURL is the REST API that says whose the token is (GET /user). Default
	// https://api.github.com.
	APIURL string `yaml:"api_url"`
}

// Enabled reports whether the section is set.
func (g GitHubLogin) Enabled() bool { return g.ClientID != "" }

// githubClientID is a GitHub App client ID ("Iv23li...") or an OAuth App's ("Ov23li...", or 20
// hex digits for older ones).
var githubClientID = ident.New(`^[A-Za-z0-9._-]{8,64}$`, `^[A-Za-z0-9._-]+$`, 8, 64)

// githubLogin checks the github_login section and the resources' account_from that need it,
// and fills the defaults.
func (v *validator) githubLogin() {
	need := ""
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		path := joinIndex("resources", i)
		r.AccountFrom = strings.TrimSpace(r.AccountFrom)
		switch r.AccountFrom {
		case "":
			continue
		case AccountFromGitHubLogin:
			if need == "" {
				need = path + ".account_from"
			}
		default:
			v.add(path+".account_from", "%s is not an account source (the one there is: github-login)", v.quote(path+".account_from", r.AccountFrom))
			continue
		}
		if r.Account != "" {
			v.add(path+".account", "a resource with account_from takes its accounts from there: remove account (accounts: entries still win)")
		}
	}
	g := &v.c.GitHubLogin
	g.ClientID = strings.TrimSpace(g.ClientID)
	if !g.Enabled() {
		if g.OAuthURL != "" || g.APIURL != "" {
			v.add("github_login.client_id", "required: the GitHub App's client ID (with device flow enabled), since github_login is set")
		} else if need != "" {
			v.add(need, "account_from: github-login needs the github_login: section (client_id of a GitHub App with device flow enabled), through which people link their login")
		}
		return
	}
	if !githubClientID.MatchString(g.ClientID) {
		v.add("github_login.client_id", "%s is not a GitHub App client ID (e.g. Iv23liAbCdEf12345678; the App's settings page shows it)", v.quote("github_login.client_id", g.ClientID))
	}
	for _, u := range []struct {
		key string
		val *string
		def string
	}{{"oauth_url", &g.OAuthURL, DefaultGitHubOAuthURL}, {"api_url", &g.APIURL, DefaultGitHubAPIURL}} {
		path := "github_login." + u.key
		*u.val = strings.TrimRight(strings.TrimSpace(*u.val), "/")
		if *u.val == "" {
			*u.val = u.def
			continue
		}
		p, err := url.Parse(*u.val)
		if err != nil || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || (p.Scheme != "https" && !(p.Scheme == "http" && loopbackHost(p.Hostname()))) {
			v.add(path, "%s is not an https URL without query (plain http is allowed only on loopback, for tests)", v.quote(path, *u.val))
		}
	}
}

// accountSource is the grants.AccountSource of a validated account_from, nil for none.
func accountSource(from string) *grants.AccountSource {
	if from != AccountFromGitHubLogin {
		return nil
	}
	return &grants.AccountSource{Name: AccountFromGitHubLogin, Label: "GitHub account"}
}
