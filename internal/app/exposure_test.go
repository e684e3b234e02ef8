package app_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
)

// The config's limits and readiness settings reach the running engine: the second pending
// request of a person is refused when limits.pending_per_person is 1, and /readyz shows its
// checks only to a caller that is local and not forwarded.
func TestTheConfigLimitsAndReadinessReachTheRunningApp(t *testing.T) {
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
limits: {pending_per_person: 1}
ops: {readiness_interval: 2s}
resources:
  - name: scratch
    adapter: {type: noop}
    policy: {approvers: [leads], reason_required: false}
`
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, zerolog.Nop(), app.Options{Clock: clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)), Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice", Platform: "web", PlatformID: "alice"}
	if _, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "scratch"}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Service.Request(ctx, alice, grants.RequestInput{Resource: "scratch"})
	var ge *grants.Error
	if !errors.As(err, &ge) || ge.Reason != grants.ReasonRateLimited || ge.Details["max"] != "1" {
		t.Fatalf("second pending request: %v, want refused by the limit of 1", err)
	}

	get := func(header string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/readyz", nil)
		if header != "" {
			req.Header.Set("X-Forwarded-For", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /readyz = %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	if body := get(""); !strings.Contains(body, `"name":"database"`) {
		t.Errorf("a local caller's /readyz lacks the checks: %s", body)
	}
	if body := get("203.0.113.7"); body != "ready\n" {
		t.Errorf("a forwarded caller's /readyz = %q, want the status only", body)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
