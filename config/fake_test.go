package config_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/config"
)

// fakeConfig is the config of the "fake" adapter type the tests register. Its keys mirror the
// webhook adapter's, plus fail_new to make New fail.
type fakeConfig struct {
	URL     string            `yaml:"url"`
	Secret  string            `yaml:"secret"`
	Timeout time.Duration     `yaml:"timeout"`
	Headers map[string]string `yaml:"headers"`
	FailNew bool              `yaml:"fail_new"`
}

func (c *fakeConfig) Validate() error {
	if c.URL == "" {
		return errors.New("url is required")
	}
	if !strings.HasPrefix(c.URL, "http") {
		// Quotes the value on purpose: the loader must scrub it when it came from ${...}.
		return fmt.Errorf("url %q is not an http(s) URL", c.URL)
	}
	return nil
}

func (c *fakeConfig) New(env adapters.Env) (adapters.Adapter, error) {
	if c.FailNew {
		return nil, errors.New("cannot build")
	}
	a := &fakeAdapter{cfg: *c, resource: env.Resource}
	fakesBuilt.Store(c.URL, a)
	return a, nil
}

// fakesBuilt holds the adapters New made, by URL, so a test can see what happened to them.
var fakesBuilt sync.Map

type fakeAdapter struct {
	cfg      fakeConfig
	resource string
	closed   bool
}

func (a *fakeAdapter) Grant(context.Context, adapters.GrantRequest) (adapters.Lease, error) {
	return adapters.Lease{}, nil
}
func (a *fakeAdapter) Revoke(context.Context, adapters.RevokeRequest) error { return nil }
func (a *fakeAdapter) Close() error                                         { a.closed = true; return nil }

var _ adapters.Closer = (*fakeAdapter)(nil)

func init() {
	adapters.Register(adapters.Type{
		Name:      "fake",
		Doc:       "a test adapter that does nothing",
		NewConfig: func() adapters.Config { return &fakeConfig{Timeout: 5 * time.Second} },
	})
}

const testFile = "accessbot.yaml"

// envOf returns a lookup function over a fixed environment.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// problemsOf returns the formatted problems of an *config.Errors, failing the test for any
// other error.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want *config.Errors", err, err)
	}
	out := make([]string, len(errs.Problems))
	for i, p := range errs.Problems {
		out[i] = p.String()
	}
	return out
}

func mustParse(t *testing.T, src string, env map[string]string) *config.Config {
	t.Helper()
	c, err := config.Parse(testFile, []byte(src), envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}
