package app_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/tickets/jira/jiratest"
)

// A resource's ticket: policy reaches the running engine: a request is checked against Jira,
// and the system's webhook route is mounted and refuses a forged delivery with an auth.failed
// event.
func TestTicketPoliciesAndTheWebhookReachTheRunningApp(t *testing.T) {
	fake := jiratest.New("bot@example.com", "jira-token", "")
	defer fake.Close()
	fake.Put(jiratest.Issue{Key: "OPS-42", Summary: "Database down", Status: "In Progress", Category: "indeterminate", Priority: "P1", Project: "OPS"})
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: noop}
    policy: {approvers: [leads]}
    ticket: {system: jira, end_with_ticket: true}
tickets:
  systems:
    - name: jira
      type: jira
      url: "` + fake.URL + `"
      email: bot@example.com
      token: "${JIRA_TOKEN}"
      webhook_secret: "${JIRA_HOOK}"
`
	env := map[string]string{"JIRA_TOKEN": "jira-token", "JIRA_HOOK": "hook-secret"}
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, zerolog.Nop(), app.Options{Clock: clock.NewFake(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)), Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice", Platform: "web", PlatformID: "alice"}
	out, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "scratch", Reason: "OPS-42 fix"})
	if err != nil {
		t.Fatal(err)
	}
	if cs := out.Request.Checks; len(cs) != 1 || cs[0].Status != grants.CheckPassed || cs[0].Summary != "In Progress · P1 · Database down" {
		t.Fatalf("checks %+v", cs)
	}
	if _, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "scratch", Reason: "no ticket"}); err == nil ||
		!strings.Contains(err.Error(), "needs a Jira ticket in the reason") {
		t.Fatalf("a reason without a ticket: %v", err)
	}

	url := "http://" + ln.Addr().String() + "/tickets/jira/webhook"
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err = http.Post(url, "application/json", bytes.NewReader([]byte(`{"issue":{"key":"OPS-42"}}`)))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the server is starting; real time, not the clock's
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unsigned webhook answered %d", resp.StatusCode)
	}
	found := false
	err = a.DB.ScanAudit(ctx, audit.Filter{}, func(e audit.Event) error {
		if e.Type == audit.AuthFailed && e.Data[audit.KeyPlatform] == "tickets:jira" {
			found = true
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("no auth.failed event for the webhook (err %v)", err)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
