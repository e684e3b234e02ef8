package googlegroups

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		says string // "" for valid
	}{
		{"a group email is valid", func(c *Config) {}, ""},
		{"an https endpoint is valid", func(c *Config) { c.Endpoint = "https://cloudidentity.example.net/" }, ""},
		{"plain http to loopback is valid", func(c *Config) { c.Endpoint = "http://127.0.0.1:8080/" }, ""},
		{"a missing group is refused", func(c *Config) { c.Group = "" }, "set group"},
		{"a group that is not an email is refused", func(c *Config) { c.Group = "groups/abc" }, "is not an email address"},
		{"a group with a query in it is refused", func(c *Config) { c.Group = "a@example.com&x=1" }, "is not an email address"},
		{"plain http elsewhere is refused", func(c *Config) { c.Endpoint = "http://cloudidentity.example.net/" }, "plain http only to a loopback address"},
		{"an endpoint with credentials is refused", func(c *Config) { c.Endpoint = "https://u:p@example.net/" }, "want a URL"},
		{"a zero timeout is refused", func(c *Config) { c.Timeout = 0 }, "timeout must be positive"},
		{"too many attempts are refused", func(c *Config) { c.MaxAttempts = 21 }, "max_attempts must be between 1 and 20"},
		{"no attempt is refused", func(c *Config) { c.MaxAttempts = 0 }, "max_attempts must be between 1 and 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			c.Group = testGroup
			tc.edit(c)
			err := c.Validate()
			if tc.says == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.says)
			}
		})
	}
}

// The adapter block as a resource writes it: defaults for what is left out, expiry on unless
// it says false.
func TestConfigDecodesWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		yaml    string
		expires bool
	}{
		{"group: prod-admins@example.com\n", true},
		{"group: prod-admins@example.com\nexpiry: true\n", true},
		{"group: prod-admins@example.com\nexpiry: false\ntimeout: 5s\nmax_attempts: 2\n", false},
	} {
		c := NewConfig()
		if err := yaml.Unmarshal([]byte(tc.yaml), c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if c.expires() != tc.expires || c.Timeout <= 0 || c.MaxAttempts < 1 {
			t.Errorf("%q decoded to %+v (expires %v), want expires %v", tc.yaml, c, c.expires(), tc.expires)
		}
	}
	c := NewConfig()
	if c.Timeout != 30*time.Second || c.MaxAttempts != 5 || !c.expires() {
		t.Errorf("defaults = %+v", c)
	}
}

// The type is registered, and building it contacts nothing (no credentials are looked for).
func TestNewContactsNothing(t *testing.T) {
	typ, ok := adapters.Lookup("google-groups")
	if !ok {
		t.Fatal("google-groups is not registered")
	}
	c := typ.NewConfig().(*Config)
	c.Group = testGroup
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err != nil {
		t.Fatalf("New = %v, want no error before first use", err)
	}
}
