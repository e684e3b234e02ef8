package googlegroups

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sync"
	"time"
)

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxAttempts = 5
	maxMaxAttempts     = 20
	// maxAccount bounds an email address (RFC 5321).
	maxAccount = 254
)

// emailRE is what the adapter accepts as a group's or a person's email: it goes into a query
// string and a JSON body, never into a path. Compiled at first use, not at every start of
// every process that links the adapter.
var emailRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
})

// Config is the google-groups adapter's configuration block: one Google group, whose
// membership is the access (the apps and cloud roles granted to the group follow it).
type Config struct {
	// Group is the group's email address ("prod-admins@example.com"); the adapter looks up its
	// resource name (groups/<id>) on first use.
	Group string `yaml:"group"`
	// Expiry says to set the membership's expiry to the grant's (the default), so Google
	// removes the person by itself. Set it to false only where the edition has no membership
	// expiry: accessbot is then the only lock.
	Expiry *bool `yaml:"expiry"`
	// Endpoint replaces https://cloudidentity.googleapis.com/ (a fake in tests). It is a base
	// URL: "v1/..." is appended to it. Plain http is allowed only to a loopback address, so
	// the bearer token never crosses a network in the clear.
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds each Grant, Revoke, Extend, List, Holds and Check as a whole, retries
	// included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries of one call answered 429 or 5xx.
	MaxAttempts int `yaml:"max_attempts"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{Timeout: defaultTimeout, MaxAttempts: defaultMaxAttempts}
}

// expires says whether memberships get the grant's expiry.
func (c *Config) expires() bool { return c.Expiry == nil || *c.Expiry }

// Validate checks the values without contacting Google.
func (c *Config) Validate() error {
	if c.Group == "" {
		return errors.New("set group: the Google group's email address")
	}
	if len(c.Group) > maxAccount || !emailRE().MatchString(c.Group) {
		return fmt.Errorf("group %q is not an email address", c.Group)
	}
	if c.Endpoint != "" {
		if err := validEndpoint(c.Endpoint); err != nil {
			return err
		}
	}
	if c.Timeout <= 0 {
		return errors.New("timeout must be positive")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > maxMaxAttempts {
		return fmt.Errorf("max_attempts must be between 1 and %d", maxMaxAttempts)
	}
	return nil
}

// validEndpoint allows https anywhere and http only to a loopback host.
func validEndpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("endpoint %q: want a URL such as https://cloudidentity.googleapis.com/", e)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return fmt.Errorf("endpoint %q: plain http only to a loopback address (it carries accessbot's bearer token)", e)
	}
	return fmt.Errorf("endpoint %q: want an https:// URL", e)
}

// String describes the config.
func (c Config) String() string {
	return fmt.Sprintf("google-groups{%s}", c.Group)
}
