package app_test

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
)

// newApp parses yaml (read as dir/accessbot.yaml, with env for its ${...} references) and
// builds its App on the clock clk, listening on a free loopback port. The App is closed and its
// context cancelled when the test ends; a test that runs it cancels ctx itself to stop it.
func newApp(t *testing.T, dir, yaml string, env func(string) (string, bool), clk clock.Clock) (*app.App, context.Context, context.CancelFunc) {
	t.Helper()
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), env)
	if err != nil {
		t.Fatal(err)
	}
	log, err := app.NewLogger(io.Discard, "info", "json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := app.New(ctx, cfg, log, app.Options{Clock: clk, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, ctx, cancel
}
