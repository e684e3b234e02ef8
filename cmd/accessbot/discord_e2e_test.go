package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/discord/discordtest"
)

// discordAnswer is an interaction response as the binary sends it.
type discordAnswer struct {
	Type int `json:"type"`
	Data struct {
		Flags  int               `json:"flags"`
		Embeds []json.RawMessage `json:"embeds"`
	} `json:"data"`
}

func sendDiscord(t *testing.T, s *discordtest.Sender, i *discordtest.Interaction) (discordAnswer, string) {
	t.Helper()
	resp, err := s.Send(context.Background(), i)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("interaction answered %d: %s", resp.Status, resp.Body)
	}
	var a discordAnswer
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		t.Fatalf("answer %s: %v", resp.Body, err)
	}
	return a, string(resp.Body)
}

// discordButton finds the custom_id of the button with the action in a message's components.
func discordButton(t *testing.T, body []byte, action string) string {
	t.Helper()
	var m struct {
		Components []struct {
			Components []struct {
				CustomID string `json:"custom_id"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, row := range m.Components {
		for _, b := range row.Components {
			if strings.HasPrefix(b.CustomID, action+":") {
				return b.CustomID
			}
		}
	}
	t.Fatalf("no %q button in %s", action, body)
	return ""
}

// TestDiscordEndToEnd drives the built binary as Discord does: a signed slash command, the
// approval message in the approver channel, a signed Approve click, the webhook adapter
// granting, the grant expiring on its own, the revocation at the target, the approval message
// edited in place, DMs, an unlinked person told how to link, and an audit log that verifies.
func TestDiscordEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()

	fake := discordtest.New(t)
	const approvals, security = "300000000000000010", "300000000000000011"
	const aliceID, bobID, eveID = "600000000000000001", "600000000000000002", "600000000000000009"
	alice := discordtest.User{ID: aliceID, Username: "alice", GlobalName: "Alice"}
	bob := discordtest.User{ID: bobID, Username: "bob", GlobalName: "Bob"}
	eve := discordtest.User{ID: eveID, Username: "eve"}
	target, targetSrv := newWebhookTarget(t, "e2e-webhook-hmac-key")

	addr := freePort(t)
	cfg := fmt.Sprintf(`server:
  listen: %q
storage:
  driver: sqlite
  dsn: "accessbot.db"
groups:
  sre: ["alice@example.com", "eve@example.com"]
  approvers: ["bob@example.com"]
discord:
  application_id: %q
  public_key: %q
  bot_token: "${DISCORD_BOT_TOKEN}"
  api_url: %q
  guild_id: %q
  approver_channel: %q
  security_channel: %q
  users:
    %q: alice@example.com
    %q: bob@example.com
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
`, addr, discordtest.ApplicationID, discordtest.PublicKeyHex(), fake.APIURL(), discordtest.GuildID, approvals, security,
		aliceID, bobID, targetSrv.URL+"/prod-db")
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, work, addr, "DISCORD_BOT_TOKEN="+discordtest.BotToken, "WEBHOOK_SECRET=e2e-webhook-hmac-key")

	send := &discordtest.Sender{BaseURL: "http://" + addr}

	// Discord checks the endpoint with a PING, and with bad signatures that must be refused.
	if a, body := sendDiscord(t, send, discordtest.Ping()); a.Type != 1 {
		t.Fatalf("PING answered %s", body)
	}
	forged := &discordtest.Sender{BaseURL: "http://" + addr, Key: otherKey()}
	if resp, err := forged.Send(context.Background(), discordtest.Command(alice, "list")); err != nil || resp.Status != http.StatusUnauthorized {
		t.Fatalf("forged interaction: %v %+v", err, resp)
	}

	// 1. The slash command.
	a, body := sendDiscord(t, send, discordtest.Command(alice, "request",
		discordtest.Opt{Name: "resource", Value: "prod-db"}, discordtest.Opt{Name: "duration", Value: "6s"},
		discordtest.Opt{Name: "reason", Value: "fixing INC-4711"}))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(body, "prod-db") {
		t.Fatalf("the requester's answer: %s", body)
	}

	// 2. The approval message in the approver channel.
	deadline := time.Now().Add(10 * time.Second)
	for len(fake.Messages(approvals)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no approval message in the approver channel:\n%s\n%s", fake, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	approval := fake.Messages(approvals)[0]
	approve := discordButton(t, approval.Body, "approve")

	// The requester cannot approve their own request.
	if _, body := sendDiscord(t, send, discordtest.Click(alice, approvals, approval.ID, approve)); !strings.Contains(body, "your own request") {
		t.Errorf("the self-approval was not refused: %s", body)
	}
	if got := target.actions(); len(got) != 0 {
		t.Fatalf("a self-approval reached the target: %v", got)
	}

	// 3. Bob approves; 4. the webhook grants, then 5. revokes when the six seconds are up.
	if a, body := sendDiscord(t, send, discordtest.Click(bob, approvals, approval.ID, approve)); a.Type != 4 || a.Data.Flags != 64 {
		t.Fatalf("approve click: %s", body)
	}
	target.waitAction(t, "grant", 1, 10*time.Second)
	target.waitAction(t, "revoke", 1, 20*time.Second)
	if got := target.actions(); len(got) != 2 || got[0] != "grant" || got[1] != "revoke" {
		t.Errorf("webhook calls = %v, want [grant revoke]", got)
	}

	// 6. The approval message is edited in place until it says the access ended.
	deadline = time.Now().Add(10 * time.Second)
	for {
		m, _ := fake.Message(approvals, approval.ID)
		text := strings.ToLower(string(m.Body))
		if m.Edits > 0 && (strings.Contains(text, "revoked") || strings.Contains(text, "expired") || strings.Contains(text, "ended")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approval message was never edited to say the access ended: %s", m.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(fake.Messages(approvals)) != 1 {
		t.Errorf("the approver channel holds %d messages, want the one, edited", len(fake.Messages(approvals)))
	}
	// Alice heard about it by DM.
	if dm := fake.DMChannel(aliceID); dm == "" || len(fake.Messages(dm)) == 0 {
		t.Errorf("the requester got no DM")
	}

	// 7. Eve is not in discord.users: she is told how to link, and can ask for a link.
	if _, body := sendDiscord(t, send, discordtest.Command(eve, "list")); !strings.Contains(body, "/access link") {
		t.Errorf("an unlinked person was not told how to link: %s", body)
	}
	if _, body := sendDiscord(t, send, discordtest.Command(eve, "link", discordtest.Opt{Name: "email", Value: "eve@example.com"})); !strings.Contains(body, "Code") {
		t.Errorf("the link request: %s", body)
	}

	p.stop(t)

	// 8. The audit log verifies and holds the story.
	verify := exec.Command(bin, "audit", "verify", "--config", "config.yaml")
	verify.Dir = work
	verify.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + work, "DISCORD_BOT_TOKEN=x", "WEBHOOK_SECRET=x"}
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
	for _, want := range []string{"request.created", "review.refused", "request.approved", "grant.active", "grant.revoked", "auth.failed", "identity.link_requested"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the audit log has no %s event:\n%s", want, out)
		}
	}
	for _, secret := range []string{discordtest.BotToken, "e2e-webhook-hmac-key"} {
		if strings.Contains(p.logs.String(), secret) || strings.Contains(string(out), secret) {
			t.Errorf("a secret reached the log or the audit trail")
		}
	}
}

// otherKey is a key that is not the application's: what a forger signs with.
func otherKey() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}
