package okta

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Auth methods: how accessbot proves itself to Okta.
const (
	// AuthAPIToken sends an API token as `Authorization: SSWS <token>`. The token acts with the
	// admin roles of the Okta user who made it.
	AuthAPIToken = "api_token"
	// AuthPrivateKey is OAuth 2.0 for a service app: a client credentials grant at
	// /oauth2/v1/token with a JWT client assertion signed by the app's private key, and the
	// access token it returns as a Bearer token.
	AuthPrivateKey = "private_key"
)

// User lookups: which attribute of the Okta user the person's account name is.
const (
	// LookupLogin reads the user by login: GET /api/v1/users/{login}.
	LookupLogin = "login"
	// LookupEmail searches the users whose profile.email is the account name.
	LookupEmail = "email"
)

// Scopes are the OAuth scopes the adapter asks for, the least its calls need.
var Scopes = []string{"okta.groups.manage", "okta.users.read"}

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxAttempts = 4
	defaultMaxRateWait = time.Minute
	defaultPageSize    = 200
	// maxPageSize is the largest limit Okta accepts on a group's members.
	maxPageSize = 1000
	// maxAccountLength bounds an account name: Okta's login is at most 100 characters.
	maxAccountLength = 100
)

// The identifiers' formats: Okta's object IDs are 20 characters, starting with a type prefix
// (00g a group, 00u a user). They are compiled at first use: every process links this adapter,
// few configure it.
var (
	groupIDRe = lazyRegexp(`^00g[0-9A-Za-z]{17}$`)
	userIDRe  = lazyRegexp(`^00u[0-9A-Za-z]{17}$`)
	// emailRe is what the adapter puts between quotes in a search filter: no quote, backslash,
	// space or control character can end the string early.
	emailRe = lazyRegexp(`^[^"\\\s@]+@[^"\\\s@]+$`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// Secret is a credential from the config (an API token, a private key). It prints as
// "[redacted]" with every fmt verb and in JSON, so a config dumped into a log line keeps it secret.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Config is the okta adapter's configuration block: one Okta org, one group.
type Config struct {
	// OrgURL is the Okta org, https://example.okta.com (a fake's http:// URL in tests).
	OrgURL string `yaml:"org_url"`
	// GroupID is the group a grant adds the person to (00g...).
	GroupID string `yaml:"group_id"`
	// Auth is "api_token" (the default) or "private_key".
	Auth string `yaml:"auth"`
	// APIToken is the SSWS token, for auth api_token: write it as ${OKTA_API_TOKEN}.
	APIToken Secret `yaml:"api_token"`
	// ClientID is the service app's client ID, for auth private_key.
	ClientID string `yaml:"client_id"`
	// PrivateKey is the service app's private key in PEM (RSA or EC, PKCS#1, PKCS#8 or SEC 1), for
	// auth private_key: write it as ${OKTA_PRIVATE_KEY} or ${file:okta.pem}.
	PrivateKey Secret `yaml:"private_key"`
	// KeyID is the key's kid in the app's JWKS, sent in the assertion's header when set.
	KeyID string `yaml:"key_id"`
	// UserLookup is "login" (the default) or "email": which attribute the account name is.
	UserLookup string `yaml:"user_lookup"`
	// Timeout bounds each Grant, Revoke, List, Check and Holds, waits for rate limits included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many times one call is tried on a 5xx, a 429 or a network error.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxRateWait is the longest the adapter waits for a rate limit to reset; a longer wait is
	// a retryable error, left to the scheduler.
	MaxRateWait time.Duration `yaml:"max_rate_wait"`
	// PageSize is how many group members one list call asks for (Okta's limit parameter).
	PageSize int `yaml:"page_size"`

	// signer is the parsed private key, set by Validate.
	signer crypto.Signer
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		Auth:        AuthAPIToken,
		UserLookup:  LookupLogin,
		Timeout:     defaultTimeout,
		MaxAttempts: defaultMaxAttempts,
		MaxRateWait: defaultMaxRateWait,
		PageSize:    defaultPageSize,
	}
}

// Validate checks the values without contacting Okta, and parses the private key.
func (c *Config) Validate() error {
	u, err := url.Parse(c.OrgURL)
	if c.OrgURL == "" {
		return errors.New("set org_url: the Okta org, like https://example.okta.com")
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("org_url %q: want https://<org>.okta.com, without a path", c.OrgURL)
	}
	if !groupIDRe().MatchString(c.GroupID) {
		return fmt.Errorf("group_id %q is not an Okta group ID (00g and 17 letters or digits)", c.GroupID)
	}
	switch c.Auth {
	case AuthAPIToken:
		if c.APIToken == "" {
			return errors.New("set api_token (as ${OKTA_API_TOKEN}) for auth api_token")
		}
		if c.ClientID != "" || c.PrivateKey != "" {
			return errors.New("client_id and private_key are for auth private_key; remove them or set auth: private_key")
		}
	case AuthPrivateKey:
		if c.ClientID == "" {
			return errors.New("set client_id: the Okta service app's client ID")
		}
		if c.APIToken != "" {
			return errors.New("api_token is for auth api_token; remove it or set auth: api_token")
		}
		if c.signer, err = parsePrivateKey(string(c.PrivateKey)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("auth %q: use %q or %q", c.Auth, AuthAPIToken, AuthPrivateKey)
	}
	switch c.UserLookup {
	case LookupLogin, LookupEmail:
	default:
		return fmt.Errorf("user_lookup %q: use %q or %q", c.UserLookup, LookupLogin, LookupEmail)
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

// parsePrivateKey reads a PEM private key the assertion can be signed with.
func parsePrivateKey(text string) (crypto.Signer, error) {
	if text == "" {
		return nil, errors.New("set private_key (as ${OKTA_PRIVATE_KEY} or ${file:key.pem}) for auth private_key")
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
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("private_key is a PEM %q block; want a private key", block.Type)
	}
	if err != nil {
		// The parser's error names no part of the key.
		return nil, fmt.Errorf("private_key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("private_key: an RSA key needs at least 2048 bits")
		}
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("private_key is a %T; want an RSA or EC key", key)
}

// GoString is String, so that %#v does not print the parsed private key either.
func (c Config) GoString() string { return c.String() }

// String describes the config without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("okta{group %s at %s, auth %s, lookup by %s}", c.GroupID, c.OrgURL, c.Auth, c.UserLookup)
}
