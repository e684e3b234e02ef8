package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/teams/teamstest"
)

// teamsCard is a message the connector received, as far as the test reads it.
type teamsCard struct {
	Attachments []struct {
		Content struct {
			Body []struct {
				Text string `json:"text"`
			} `json:"body"`
			Actions []struct {
				Verb string `json:"verb"`
				Data struct {
					Value string `json:"value"`
				} `json:"data"`
			} `json:"actions"`
		} `json:"content"`
	} `json:"attachments"`
}

func readTeamsCard(t *testing.T, body []byte) teamsCard {
	t.Helper()
	var c teamsCard
	if err := json.Unmarshal(body, &c); err != nil || len(c.Attachments) != 1 {
		t.Fatalf("not a card message: %s", body)
	}
	return c
}

// TestTeamsEndToEnd drives the built binary as the Bot Framework does: a forged token refused,
// a signed message with the request, the approval card in the approvers' channel, a signed
// self-approval refused and Bob's Approve (Action.Execute invokes), the webhook adapter
// granting and revoking at expiry, the card updated in place, the requester's personal chat,
// and an audit log that verifies.
func TestTeamsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	fake := teamstest.New(t)
	alice := teamstest.Member{ID: "29:alice", Name: "Alice", AADObjectID: "00000000-0000-0000-0000-0000000a11ce", Email: "alice@example.com"}
	bob := teamstest.Member{ID: "29:bob", Name: "Bob", AADObjectID: "00000000-0000-0000-0000-000000000b0b", Email: "bob@example.com"}
	fake.SetMember(alice)
	fake.SetMember(bob)
	const approvers = "19:approvers@thread.tacv2"
	target, targetSrv := newWebhookTarget(t, "e2e-webhook-hmac-key")

	addr := freePort(t)
	cfg := fmt.Sprintf(`server:
  listen: %q
storage:
  driver: sqlite
  dsn: "accessbot.db"
groups:
  sre: ["alice@example.com"]
  approvers: ["bob@example.com"]
teams:
  app_id: %q
  app_password: "${TEAMS_APP_PASSWORD}"
  tenant_id: %q
  openid_metadata_url: %q
  token_url: %q
  service_url: %q
  approver_channel: %q
resources:
  - name: prod-db
    description: "Production database"
    adapter:
      type: webhook
      url: %q
      secret: "${WEBHOOK_SECRET}"
      timeout: "5s"
    policy:
      requesters: {groups: [sre]}
      approvers: [approvers]
      default_duration: "1h"
      max_duration: "4h"
      reason_pattern: "INC-[0-9]+"
`, addr, teamstest.AppID, teamstest.TenantID, fake.MetadataURL(), fake.TokenURL(), fake.ServiceURL(), approvers, targetSrv.URL+"/prod-db")
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, work, addr, "TEAMS_APP_PASSWORD="+teamstest.AppPassword, "WEBHOOK_SECRET=e2e-webhook-hmac-key")
	send := &teamstest.Sender{Fake: fake, URL: "http://" + addr + "/teams/messages"}

	if status, _ := send.SendWith(fake.Message(alice, "a:personal-alice", teamstest.Personal, "list"), teamstest.Token{Forge: true}); status != http.StatusUnauthorized {
		t.Fatalf("a forged token answered %d, want 401", status)
	}
	if status, body := send.Send(fake.Message(alice, "a:personal-alice", teamstest.Personal, "request prod-db 6s fixing INC-4711")); status != http.StatusOK {
		t.Fatalf("the request answered %d: %s", status, body)
	}
	waitFor(t, 10*time.Second, func() bool { return len(fake.Messages(approvers)) == 1 }, func() string { return fake.String() + p.logs.String() })
	card := readTeamsCard(t, fake.Messages(approvers)[0].Body)
	requestID := ""
	for _, a := range card.Attachments[0].Content.Actions {
		if a.Verb == "approve" {
			requestID = a.Data.Value
		}
	}
	if requestID == "" {
		t.Fatalf("the approval card has no Approve: %s", fake.Messages(approvers)[0].Body)
	}
	data := map[string]any{"action": "approve", "value": requestID}
	if _, body := send.Send(fake.Invoke(alice, approvers, teamstest.Channel, "approve", data)); !strings.Contains(string(body), "your own request") {
		t.Errorf("the self-approval was not refused: %s", body)
	}
	if status, body := send.Send(fake.Invoke(bob, approvers, teamstest.Channel, "approve", data)); status != http.StatusOK ||
		!strings.Contains(string(body), "application/vnd.microsoft.card.adaptive") {
		t.Fatalf("bob's approval answered %d: %s", status, body)
	}
	target.waitAction(t, "grant", 1, 10*time.Second)
	target.waitAction(t, "revoke", 1, 20*time.Second)
	waitFor(t, 10*time.Second, func() bool {
		m := fake.Messages(approvers)[0]
		text := strings.ToLower(string(m.Body))
		return m.Updates > 0 && (strings.Contains(text, "revoked") || strings.Contains(text, "expired") || strings.Contains(text, "ended"))
	}, func() string { return fake.String() })
	if conv := fake.PersonalConversation(alice.ID); conv == "" || len(fake.Messages(conv)) < 2 {
		t.Errorf("alice was not told in her personal chat:\n%s", fake)
	}
	p.stop(t)

	verify := exec.Command(bin, "audit", "verify", "--config", "config.yaml")
	verify.Dir = work
	verify.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + work, "TEAMS_APP_PASSWORD=x", "WEBHOOK_SECRET=x"}
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "audit log intact") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	export := exec.Command(bin, "audit", "export", "--format", "jsonl", "--config", "config.yaml")
	export.Dir = work
	export.Env = verify.Env
	out, err = export.CombinedOutput()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	for _, want := range []string{"request.created", "review.refused", "request.approved", "grant.active", "grant.revoked", "auth.failed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the audit log has no %s event", want)
		}
	}
	if strings.Contains(p.logs.String(), teamstest.AppPassword) || strings.Contains(string(out), teamstest.AppPassword) {
		t.Errorf("the app password reached the log or the audit trail")
	}
}

// waitFor polls cond every 20 ms until it holds, or fails after d with what describe says.
func waitFor(t *testing.T, d time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out:\n%s", describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
