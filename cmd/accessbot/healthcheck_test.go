package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeHealthConfig writes a config a container might have: listening on every interface,
// a database that is not there, and Slack secrets that are not in the environment.
func writeHealthConfig(t *testing.T, listen string) string {
	t.Helper()
	unsetEnv(t, "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN")
	dir := t.TempDir()
	path := filepath.Join(dir, "accessbot.yaml")
	yaml := `
server: {listen: "` + listen + `"}
storage: {driver: postgres, dsn: "postgres://accessbot:${DB_PASSWORD}@db.invalid/accessbot"}
slack: {bot_token: "${SLACK_BOT_TOKEN}", signing_secret: "${SLACK_SIGNING_SECRET}"}
groups: {leads: ["bob@example.com"]}
resources:
  - name: scratch
    adapter: {type: noop}
    policy: {approvers: [leads]}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// unsetEnv removes variables from the process environment for the test (config expansion reads
// the real environment).
func unsetEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "") // restores the old value after the test
		os.Unsetenv(n)
	}
}

// readyServer answers /readyz with status, on 127.0.0.1, and returns its port.
func readyServer(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func TestHealthcheckExitsZeroOnlyWhenReady(t *testing.T) {
	ready, notReady := readyServer(t, http.StatusOK), readyServer(t, http.StatusServiceUnavailable)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"a ready server on 0.0.0.0 is asked on 127.0.0.1, with no database or chat secret at hand",
			[]string{"--config", writeHealthConfig(t, "0.0.0.0:"+ready)}, 0, "ready: http://127.0.0.1:" + ready + "/readyz answered 200 OK"},
		{"on :: too", []string{"--config", writeHealthConfig(t, "[::]:"+ready)}, 0, "ready: http://127.0.0.1:" + ready + "/readyz"},
		{"an empty host too", []string{"--config", writeHealthConfig(t, ":"+ready)}, 0, "ready: http://127.0.0.1:" + ready + "/readyz"},
		{"a server that is not ready", []string{"--config", writeHealthConfig(t, "0.0.0.0:"+notReady)}, 1,
			"accessbot: not ready: http://127.0.0.1:" + notReady + "/readyz answered 503 Service Unavailable"},
		{"nothing listening", []string{"--url", "http://" + closedAddr + "/readyz"}, 1, "accessbot: not healthy: http://" + closedAddr + "/readyz: dial tcp"},
		{"--url is asked instead", []string{"--url", "http://127.0.0.1:" + ready + "/readyz", "--config", "/nonexistent.yaml"}, 0, "ready: "},
		{"--url must be http", []string{"--url", "ftp://x/readyz"}, 2, `--url "ftp://x/readyz" is not an http or https URL`},
		{"a missing config is named", []string{"--config", "/nonexistent/accessbot.yaml"}, 1, "config file /nonexistent/accessbot.yaml does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tc.wantCode, tc.want)
			}
			if code == 1 && strings.Count(errOut, "\n") != 1 {
				t.Errorf("want one line, got %q", errOut)
			}
		})
	}
}

// A server that accepts the connection and never answers is unhealthy after the 2 s timeout,
// not a hung health check.
func TestHealthcheckGivesUpAfterTwoSeconds(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stuck)
	start := time.Now()
	code, _, errOut := runCLI(t, nil, "healthcheck", "--url", srv.URL+"/readyz")
	if took := time.Since(start); code != 1 || !strings.Contains(errOut, "did not answer within 2s") || took > 4*time.Second {
		t.Errorf("exit %d after %s: %q", code, took, errOut)
	}
}

// Against a real accessbot serve: not ready before it listens, ready once it runs.
func TestHealthcheckOfARealServer(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cfg := writeConfig(t, dir)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(data, "server: {listen: \"0.0.0.0:"+port+"\"}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, nil, "healthcheck", "--config", cfg); code != 1 {
		t.Fatalf("healthcheck before serve: exit %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--config", cfg}, io.Discard, io.Discard, func(string) string { return "" })
	}()
	defer func() {
		cancel()
		if code := <-served; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runCLI(t, nil, "healthcheck", "--config", cfg)
		if code == 0 {
			if !strings.Contains(out, "ready: http://127.0.0.1:"+port+"/readyz answered 200 OK") {
				t.Errorf("stdout %q", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready: %s", errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
