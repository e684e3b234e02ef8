package okta

import (
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

// validConfig is a config that passes Validate with an API token.
func validConfig() *Config {
	c := NewConfig()
	c.OrgURL = "https://example.okta.com"
	c.GroupID = "00g1emaKYZTWRYYRRTSK"
	c.APIToken = "00abcdefghijklmnop"
	return c
}

func rsaPEM(t *testing.T, bits int) Secret {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return Secret(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

func TestValidate(t *testing.T) {
	strong := rsaPEM(t, 2048)
	weak := rsaPEM(t, 1024)
	oauth := func(c *Config) { c.Auth, c.APIToken, c.ClientID, c.PrivateKey = AuthPrivateKey, "", "0oa1", strong }
	tests := []struct {
		name   string
		mutate func(*Config)
		err    string
	}{
		{name: "an API token config is valid", mutate: func(*Config) {}},
		{name: "a private key config is valid", mutate: oauth},
		{name: "the org URL is required", mutate: func(c *Config) { c.OrgURL = "" }, err: "set org_url"},
		{name: "an org URL with a path is refused", mutate: func(c *Config) { c.OrgURL = "https://example.okta.com/api/v1" }, err: "without a path"},
		{name: "an org URL with credentials is refused", mutate: func(c *Config) { c.OrgURL = "https://u:p@example.okta.com" }, err: "without a path"},
		{name: "a group ID that is not Okta's is refused", mutate: func(c *Config) { c.GroupID = "admins" }, err: "not an Okta group ID"},
		{name: "a user ID is not a group ID", mutate: func(c *Config) { c.GroupID = "00u1emaKYZTWRYYRRTSK" }, err: "not an Okta group ID"},
		{name: "an API token is required for api_token", mutate: func(c *Config) { c.APIToken = "" }, err: "set api_token"},
		{name: "a private key beside an API token is refused", mutate: func(c *Config) { c.PrivateKey = strong }, err: "for auth private_key"},
		{name: "a client ID is required for private_key", mutate: func(c *Config) { oauth(c); c.ClientID = "" }, err: "set client_id"},
		{name: "a private key is required for private_key", mutate: func(c *Config) { oauth(c); c.PrivateKey = "" }, err: "set private_key"},
		{name: "a private key that is not PEM is refused", mutate: func(c *Config) { oauth(c); c.PrivateKey = "secret-bytes" }, err: "not PEM"},
		{name: "a short RSA key is refused", mutate: func(c *Config) { oauth(c); c.PrivateKey = weak }, err: "at least 2048 bits"},
		{name: "an unknown auth is refused", mutate: func(c *Config) { c.Auth = "password" }, err: `auth "password"`},
		{name: "an unknown lookup is refused", mutate: func(c *Config) { c.UserLookup = "id" }, err: `user_lookup "id"`},
		{name: "a page size over Okta's limit is refused", mutate: func(c *Config) { c.PageSize = 1001 }, err: "page_size"},
		{name: "max_attempts of zero is refused", mutate: func(c *Config) { c.MaxAttempts = 0 }, err: "max_attempts"},
		{name: "a zero timeout is refused", mutate: func(c *Config) { c.Timeout = 0 }, err: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tt.err)
			}
			if strings.Contains(err.Error(), string(c.APIToken)) && c.APIToken != "" || (c.PrivateKey != "" && strings.Contains(err.Error(), string(c.PrivateKey))) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestTheDefaultsAreDocumented(t *testing.T) {
	c := NewConfig()
	if c.Auth != AuthAPIToken || c.UserLookup != LookupLogin || c.Timeout != 30*time.Second || c.MaxAttempts != 4 || c.MaxRateWait != time.Minute || c.PageSize != 200 {
		t.Fatalf("defaults = %+v", c)
	}
}

// The secrets print redacted with every verb and in JSON.
func TestSecretsPrintRedacted(t *testing.T) {
	c := validConfig()
	for _, auth := range []string{AuthAPIToken, AuthPrivateKey} {
		if auth == AuthPrivateKey {
			c.Auth, c.APIToken, c.ClientID, c.PrivateKey = AuthPrivateKey, "", "0oa1", rsaPEM(t, 2048)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []string{fmt.Sprint(c.APIToken, c.PrivateKey), fmt.Sprintf("%v %s %+v %#v %#v", c, c, *c, *c, c), c.String()} {
			if strings.Contains(s, "00abcdefghijklmnop") || strings.Contains(s, "BEGIN") || strings.Contains(s, "Primes") {
				t.Errorf("a secret is printed: %s", s)
			}
		}
	}
	c.APIToken = "00abcdefghijklmnop" // both secrets set for JSON
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "00abcdefghijklmnop") || strings.Contains(string(data), "BEGIN") {
		t.Errorf("a secret is in JSON: %s", data)
	}
}

// Only a next page in the same org is followed, so the credential goes nowhere else.
func TestNextLink(t *testing.T) {
	c := &client{base: "https://example.okta.com"}
	tests := []struct {
		name, link, want, err string
	}{
		{name: "no link is the last page", link: "", want: ""},
		{name: "a self link alone is the last page", link: `<https://example.okta.com/api/v1/groups/g/users?limit=2>; rel="self"`, want: ""},
		{name: "the next link is followed",
			link: `<https://example.okta.com/api/v1/groups/g/users?limit=2>; rel="self", <https://example.okta.com/api/v1/groups/g/users?after=00u1&limit=2>; rel="next"`,
			want: "/api/v1/groups/g/users?after=00u1&limit=2"},
		{name: "a next link to another host is refused", link: `<https://evil.example.com/api/v1/groups/g/users?after=x>; rel="next"`, err: "leaves the org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.link != "" {
				h.Set("Link", tt.link)
			}
			got, err := c.nextLink(h)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("nextLink = %q, %v; want an error saying %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("nextLink = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
