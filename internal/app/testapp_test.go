package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
	gt "github.com/accessbot/accessbot/grants/grantstest"
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

// runApp parses yaml as dir's accessbot.yaml, builds the app on a loopback listener with a fake
// clock, runs it until the test ends (a Run error fails the test), and returns its address.
func runApp(t *testing.T, dir, yaml string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, zerolog.Nop(), app.Options{Clock: clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)), Listener: ln})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("run: %v", err)
		}
		a.Close()
	})
	return ln.Addr().String()
}

// readyz polls /readyz at addr until its body mentions want (the checks run in the background
// once the server is up) and returns the status and body.
func readyz(t *testing.T, addr, want string) (int, string) {
	t.Helper()
	var status int
	var body string
	gt.Eventually(t, 30*time.Second, "/readyz to mention "+want, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return strings.Contains(body, want)
	})
	return status, body
}
