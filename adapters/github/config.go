package github

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Modes: what a grant gives.
const (
	// ModeTeam makes the person a member (or maintainer) of one team of an organization.
	ModeTeam = "team"
	// ModeRepository makes the person a direct collaborator, with one permission, on each
	// configured repository.
	ModeRepository = "repository"
)

// Auth methods: how accessbot proves itself to GitHub.
const (
	// AuthApp is a GitHub App installation: a JWT signed with the app's private key buys an
	// installation access token (one hour), which every call sends.
	AuthApp = "app"
	// AuthToken is a fine-grained personal access token, sent as is.
	AuthToken = "token"
)

// Team roles and repository permissions, lowest first: a holder of a later one holds the earlier.
var (
	teamRoles   = []string{"member", "maintainer"}
	permissions = []string{"pull", "triage", "push", "maintain", "admin"}
)

const (
	defaultAPIURL      = "https://api.github.com"
	defaultTimeout     = 30 * time.Second
	defaultMaxAttempts = 4
	defaultMaxRateWait = time.Minute
	defaultPageSize    = 100
	// maxPageSize is the largest per_page GitHub accepts.
	maxPageSize = 100
	// maxRepositories bounds the repositories one resource names: each costs calls per grant.
	maxRepositories = 20
)

// The identifiers' formats, compiled at first use: every process links this adapter, few
// configure it.
var (
	// loginRe is a GitHub login (users and organizations): letters, digits and single hyphens
	// between them, at most 39 characters.
	loginRe = lazyRegexp(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)
	// slugRe is a team slug: lowercase letters, digits, hyphens and underscores.
	slugRe = lazyRegexp(`^[a-z0-9][a-z0-9_-]{0,99}$`)
	// repoRe is a repository name: letters, digits, '.', '-' and '_' (not "." or "..").
	repoRe = lazyRegexp(`^[A-Za-z0-9._-]{1,100}$`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// validLogin reports whether s can be a GitHub login (39 characters, no double hyphen).
func validLogin(s string) bool {
	return len(s) <= 39 && loginRe().MatchString(s)
}

// Secret is a credential from the config (a token, a private key). It prints as "[redacted]"
// with every fmt verb and in JSON, so a config dumped into a log line keeps it secret.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Config is the github adapter's configuration block: one team, or a set of repositories.
type Config struct {
	// APIURL is GitHub's REST API: https://api.github.com, or https://HOST/api/v3 for GitHub
	// Enterprise Server (a fake's http:// URL in tests).
	APIURL string `yaml:"api_url"`
	// Mode is "team" or "repository".
	Mode string `yaml:"mode"`
	// Org is the organization of the team (mode team).
	Org string `yaml:"org"`
	// Team is the team's slug (mode team).
	Team string `yaml:"team"`
	// Role is the team role a grant gives: "member" (the default) or "maintainer" (mode team).
	Role string `yaml:"role"`
	// Repositories are "owner/repo" names (mode repository).
	Repositories []string `yaml:"repositories"`
	// Permission is the repository permission a grant gives: pull, triage, push (the default),
	// maintain or admin (mode repository).
	Permission string `yaml:"permission"`
	// Auth is "app" (the default) or "token".
	Auth string `yaml:"auth"`
	// AppID and InstallationID name the GitHub App and its installation in the organization
	// (auth app).
	AppID          int64 `yaml:"app_id"`
	InstallationID int64 `yaml:"installation_id"`
	// PrivateKey is the app's private key in PEM (RSA, PKCS#1 as GitHub gives it, or PKCS#8),
	// for auth app: write it as ${GITHUB_APP_KEY} or ${file:github-app.pem}.
	PrivateKey Secret `yaml:"private_key"`
	// Token is a fine-grained personal access token, for auth token: write it as ${GITHUB_TOKEN}.
	Token Secret `yaml:"token"`
	// Timeout bounds each Grant, Revoke, List, Check and Holds, waits for rate limits included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many times one call is tried on a 5xx, a rate limit or a network error.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxRateWait is the longest the adapter waits for a rate limit to reset; a longer wait is
	// a retryable error, left to the scheduler.
	MaxRateWait time.Duration `yaml:"max_rate_wait"`
	// PageSize is per_page of the list calls.
	PageSize int `yaml:"page_size"`

	// key is the parsed private key, set by Validate.
	key *rsa.PrivateKey
	// repos is Repositories split, set by Validate.
	repos []repoName
}

// repoName is one configured repository.
type repoName struct{ owner, name string }

func (r repoName) String() string { return r.owner + "/" + r.name }

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		APIURL:      defaultAPIURL,
		Role:        "member",
		Permission:  "push",
		Auth:        AuthApp,
		Timeout:     defaultTimeout,
		MaxAttempts: defaultMaxAttempts,
		MaxRateWait: defaultMaxRateWait,
		PageSize:    defaultPageSize,
	}
}

// Validate checks the values without contacting GitHub, and parses the private key.
func (c *Config) Validate() error {
	u, err := url.Parse(c.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("api_url %q: want https://api.github.com or https://HOST/api/v3", c.APIURL)
	}
	if err := c.validateMode(); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	switch {
	case c.Timeout <= 0:
		return errors.New("timeout must be positive")
	case c.MaxAttempts < 1:
		return errors.New("max_attempts must be at least 1")
	case c.MaxRateWait < 0:
		return errors.New("max_rate_wait must not be negative")
	case c.PageSize < 1 || c.PageSize > maxPageSize:
		return fmt.Errorf("page_size must be between 1 and %d", maxPageSize)
	}
	return nil
}

// validateMode checks the team or the repositories of the mode, and keeps the parsed
// repository names.
func (c *Config) validateMode() error {
	switch c.Mode {
	case ModeTeam:
		if !validLogin(c.Org) {
			return fmt.Errorf("org %q is not a GitHub organization name", c.Org)
		}
		if !slugRe().MatchString(c.Team) {
			return fmt.Errorf("team %q is not a team slug (lowercase letters, digits, - and _)", c.Team)
		}
		if !slices.Contains(teamRoles, c.Role) {
			return fmt.Errorf("role %q: use member or maintainer", c.Role)
		}
		if len(c.Repositories) > 0 {
			return errors.New("repositories are for mode repository; remove them or set mode: repository")
		}
	case ModeRepository:
		if len(c.Repositories) == 0 {
			return errors.New("set repositories: the owner/repo names a grant gives access to")
		}
		if len(c.Repositories) > maxRepositories {
			return fmt.Errorf("%d repositories: at most %d per resource", len(c.Repositories), maxRepositories)
		}
		if c.Team != "" {
			return errors.New("team is for mode team; remove it or set mode: team")
		}
		if !slices.Contains(permissions, c.Permission) {
			return fmt.Errorf("permission %q: use one of %s", c.Permission, strings.Join(permissions, ", "))
		}
		c.repos = nil
		for _, r := range c.Repositories {
			owner, name, ok := strings.Cut(r, "/")
			if !ok || !validLogin(owner) || !repoRe().MatchString(name) || name == "." || name == ".." {
				return fmt.Errorf("repository %q: want owner/repo", r)
			}
			if slices.Contains(c.repos, repoName{owner, name}) {
				return fmt.Errorf("repository %q is listed twice", r)
			}
			c.repos = append(c.repos, repoName{owner, name})
		}
	default:
		return fmt.Errorf("mode %q: use %q or %q", c.Mode, ModeTeam, ModeRepository)
	}
	return nil
}

// validateAuth checks the App's or the token's settings, and parses the App's private key.
func (c *Config) validateAuth() error {
	var err error
	switch c.Auth {
	case AuthApp:
		if c.AppID <= 0 || c.InstallationID <= 0 {
			return errors.New("set app_id and installation_id: the GitHub App and its installation in the organization")
		}
		if c.Token != "" {
			return errors.New("token is for auth token; remove it or set auth: token")
		}
		if c.key, err = parsePrivateKey(string(c.PrivateKey)); err != nil {
			return err
		}
	case AuthToken:
		if c.Token == "" {
			return errors.New("set token (as ${GITHUB_TOKEN}) for auth token")
		}
		if c.PrivateKey != "" || c.AppID != 0 || c.InstallationID != 0 {
			return errors.New("app_id, installation_id and private_key are for auth app; remove them or set auth: app")
		}
	default:
		return fmt.Errorf("auth %q: use %q or %q", c.Auth, AuthApp, AuthToken)
	}
	return nil
}

// parsePrivateKey reads the app's PEM private key. GitHub Apps sign with RS256 only.
func parsePrivateKey(text string) (*rsa.PrivateKey, error) {
	if text == "" {
		return nil, errors.New("set private_key (as ${GITHUB_APP_KEY} or ${file:github-app.pem}) for auth app")
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("private_key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("private_key is a PEM %q block; want an RSA private key", block.Type)
	}
	if err != nil {
		// The parser's error names no part of the key.
		return nil, fmt.Errorf("private_key: %w", err)
	}
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private_key is a %T; GitHub Apps use RSA keys", key)
	}
	if k.N.BitLen() < 2048 {
		return nil, errors.New("private_key: an RSA key needs at least 2048 bits")
	}
	return k, nil
}

// GoString is String, so that %#v does not print the parsed private key either.
func (c Config) GoString() string { return c.String() }

// String describes the config without its secrets.
func (c Config) String() string {
	if c.Mode == ModeTeam {
		return fmt.Sprintf("github{%s of team %s/%s at %s, auth %s}", c.Role, c.Org, c.Team, c.APIURL, c.Auth)
	}
	return fmt.Sprintf("github{%s on %s at %s, auth %s}", c.Permission, strings.Join(c.Repositories, ","), c.APIURL, c.Auth)
}

// rank is the place of v in order (-1 when absent): a higher rank includes the lower ones.
func rank(order []string, v string) int { return slices.Index(order, v) }

// permissionRank ranks a repository role as GitHub names it in answers (role_name: read,
// write, or a custom role's base) or in requests (pull, push).
func permissionRank(p string) int {
	switch p {
	case "read":
		p = "pull"
	case "write":
		p = "push"
	}
	return rank(permissions, p)
}
