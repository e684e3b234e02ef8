package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
)

// Known secrets: each reaches accessbot by one path (an environment variable, a file, an
// adapter's answer, lease data) and must never appear in a log line.
const (
	hmacKey      = "hmac-key-7f3a9c1e5b2d"
	execToken    = "exec-token-4e8b0a6d2c"
	fileSecret   = "file-secret-9a1c7e3b5f"
	userPassword = "pw-for-alice-0d2f6b8e4a"
	leaseToken   = "lease-value-3c5e7a9b1d"
)

// target is the webhook receiver: it checks every signature and records what exists.
type target struct {
	mu     sync.Mutex
	access map[string]bool
	calls  []string
	bad    int
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify([]byte(hmacKey), r.Header.Get(webhook.HeaderTimestamp), body,
		r.Header.Get(webhook.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		tg.mu.Lock()
		tg.bad++
		tg.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var req struct {
		Action  string            `json:"action"`
		GrantID string            `json:"grant_id"`
		Lease   map[string]string `json:"lease"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.calls = append(tg.calls, req.Action)
	switch req.Action {
	case "grant":
		tg.access[req.GrantID] = true
		_ = json.NewEncoder(w).Encode(map[string]any{
			"lease":  map[string]string{"token": leaseToken},
			"secret": map[string]string{"kind": "password", "label": "database password", "value": userPassword},
		})
	case "revoke":
		if req.Lease["token"] != leaseToken {
			http.Error(w, "revoke without the lease", http.StatusBadRequest)
			return
		}
		delete(tg.access, req.GrantID)
	}
}

func (tg *target) has(grantID string) bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.access[grantID]
}

func TestFullLifecycleKeepsSecretsOutOfLogs(t *testing.T) {
	tg := &target{access: map[string]bool{}}
	hook := httptest.NewServer(tg)
	defer hook.Close()

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
log: {level: debug, format: json}
admins: {users: ["ops@example.com"]}
groups:
  leads: ["bob@example.com"]
audit_sinks:
  - {name: siem-file, type: file, path: "` + filepath.Join(dir, "siem.jsonl") + `"}
resources:
  - name: prod-db
    adapter:
      type: webhook
      url: "` + hook.URL + `/hook"
      secret: "${HOOK_SECRET}"
      headers: {X-Gateway-Token: "${file:` + secretFile + `}"}
    policy:
      approvers: [leads]
      max_duration: 2h
      reason_required: true
      warn_before: 10m
  - name: scratch
    adapter:
      type: exec
      command: /bin/true
      env: {TOKEN: "${EXEC_TOKEN}"}
    policy:
      approvers: [leads]
`
	env := map[string]string{"HOOK_SECRET": hmacKey, "EXEC_TOKEN": execToken}
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	// No redaction here: the test proves the code never logs a secret, not that the redactor
	// hides it.
	log, err := app.NewLogger(lockedWriter{&logs, &logMu}, "debug", "json", nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, log, app.Options{Clock: clk, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice", Platform: "web", PlatformID: "alice"}
	bob := grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Name: "Bob", Platform: "web", PlatformID: "bob"}

	out, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-42 database is slow"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Approve(ctx, alice, out.Request.ID); err == nil {
		t.Fatal("alice approved her own request")
	}
	approved, err := a.Service.Approve(ctx, bob, out.Request.ID)
	if err != nil {
		t.Fatal(err)
	}
	if approved.Grant == nil {
		t.Fatal("approval made no grant")
	}
	grantID := approved.Grant.ID
	waitFor(t, "grant active at the target", func() bool {
		g, err := a.Service.GetGrant(ctx, grantID)
		return err == nil && g.State == grants.GrantActive && tg.has(grantID)
	})

	// Past expiry: the scheduler's timer (on the fake clock) revokes it.
	clk.Advance(time.Hour + time.Second)
	waitFor(t, "grant revoked at the target", func() bool {
		g, err := a.Service.GetGrant(ctx, grantID)
		return err == nil && g.State == grants.GrantRevoked && !tg.has(grantID)
	})

	// The operator surfaces answer over HTTP.
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  `"ready":true`,
		"/metrics": `accessbot_grants{state="revoked"} 1`,
	} {

		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s lacks %q:\n%s", path, want, body)
		}
	}

	// The SIEM file sink receives the story, and /metrics says how far behind it is.
	waitFor(t, "the SIEM file sink to hold the revocation", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "siem.jsonl"))
		return strings.Contains(string(b), `"grant.revoked"`) && strings.Contains(string(b), grantID)
	})
	if resp, err := http.Get("http://" + ln.Addr().String() + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `accessbot_audit_sink_lag_events{sink="siem-file"}`) {
			t.Errorf("/metrics has no lag gauge for the sink:\n%s", body)
		}
	}

	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("run: %v", err)
	}
	rep, err := audit.Verify(context.Background(), a.DB, nil)
	if err != nil || rep.FirstBad != 0 {
		t.Fatalf("audit verify: %+v, %v", rep, err)
	}
	if tg.bad != 0 {
		t.Errorf("%d webhook calls had a bad signature", tg.bad)
	}

	logMu.Lock()
	text := logs.String()
	logMu.Unlock()
	if !strings.Contains(text, grantID) {
		t.Fatalf("the log never mentions the grant; is logging wired? log:\n%s", text)
	}
	for _, secret := range []string{hmacKey, execToken, fileSecret, userPassword, leaseToken} {
		if strings.Contains(text, secret) {
			t.Errorf("log output contains the secret %q", secret)
		}
	}
	// Nor does the audit log hold them.
	var events bytes.Buffer
	if _, err := audit.Export(context.Background(), a.DB, audit.Filter{}, "jsonl", &events); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{hmacKey, execToken, fileSecret, userPassword, leaseToken} {
		if strings.Contains(events.String(), secret) {
			t.Errorf("audit log contains the secret %q", secret)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
