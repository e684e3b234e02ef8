package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
)

// webhookTarget is the endpoint the webhook adapter calls: it checks each signature as a real
// receiver would and records the actions.
type webhookTarget struct {
	secret []byte
	mu     sync.Mutex
	calls  []map[string]any
	bad    int
	hit    chan struct{}
}

func newWebhookTarget(t *testing.T, secret string) (*webhookTarget, *httptest.Server) {
	w := &webhookTarget{secret: []byte(secret), hit: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := webhook.Verify(w.secret, r.Header.Get("X-Accessbot-Timestamp"), body,
			r.Header.Get("X-Accessbot-Signature"), time.Now(), 5*time.Minute)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.bad++
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		w.calls = append(w.calls, m)
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{}`))
		select {
		case w.hit <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	return w, srv
}

func (w *webhookTarget) actions() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.calls {
		out = append(out, fmt.Sprint(c["action"]))
	}
	return out
}

// waitAction waits until the target has received the action n times.
func (w *webhookTarget) waitAction(t *testing.T, action string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		got := 0
		for _, a := range w.actions() {
			if a == action {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-w.hit:
		case <-deadline:
			t.Fatalf("waited %s for %d %q call(s) at the webhook; got %v", timeout, n, action, w.actions())
		}
	}
}

// serveProcess is a running `accessbot serve`.
type serveProcess struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan error
}

// startServe starts the binary on the config in dir and waits until /readyz answers 200.
func startServe(t *testing.T, bin, dir, addr string, env ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{addr: addr, logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve", "--config", "config.yaml")
	p.cmd.Dir = dir
	p.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + dir}, env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("serve exited early: %v\n%s", err, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends Ctrl-C and waits for a clean exit.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve did not exit cleanly on Ctrl-C: %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop within 15s of Ctrl-C\n%s", p.logs.String())
	}
}

// buttonValue finds the value of the button with the action ID in a message's blocks.
func buttonValue(t *testing.T, c slacktest.Call, actionID string) string {
	t.Helper()
	var blocks []map[string]any
	if err := c.Decode("blocks", &blocks); err != nil {
		t.Fatalf("blocks of %s: %v", c.Method, err)
	}
	for _, b := range blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			m, _ := e.(map[string]any)
			if m["action_id"] == actionID {
				return fmt.Sprint(m["value"])
			}
		}
	}
	t.Fatalf("no %q button in %s", actionID, c.Arg("blocks"))
	return ""
}

const e2eSigningSecret = "e2e-signing-secret-0123456789abcdef"

// TestSlackEndToEnd drives the built binary as Slack does: a signed slash command, the approval
// message in the approver channel, a signed approve click, the webhook adapter granting, the
// grant expiring on its own, the revocation at the target, the approval message updated in
// place, and an audit log that verifies.
func TestSlackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()

	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: "UALICE", Name: "alice", RealName: "Alice", Email: "alice@example.com"})
	fake.AddUser(slacktest.User{ID: "UBOB", Name: "bob", RealName: "Bob", Email: "bob@example.com"})
	fake.AddUser(slacktest.User{ID: "UEVE", Name: "eve", RealName: "Eve", Email: "eve@example.com"})
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
slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: %q
  approver_channel: "CAPPROVALS"
  security_channel: "CSECURITY"
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
`, addr, fake.APIURL(), targetSrv.URL+"/prod-db")
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, work, addr,
		"SLACK_SIGNING_SECRET="+e2eSigningSecret, "SLACK_BOT_TOKEN="+slacktest.BotToken,
		"WEBHOOK_SECRET=e2e-webhook-hmac-key")

	ctx := context.Background()
	send := &slacktest.Sender{BaseURL: "http://" + addr, Secret: e2eSigningSecret}

	// An unsigned request is refused before anything else.
	forged := &slacktest.Sender{BaseURL: "http://" + addr, Secret: "not-the-secret"}
	if resp, err := forged.Command(ctx, slacktest.Command{Command: "/access", Text: "request prod-db 5s INC-1", UserID: "UEVE"}); err != nil || resp.Status != http.StatusUnauthorized {
		t.Fatalf("forged command: %v %+v", err, resp)
	}

	// 1. The slash command.
	resp, err := send.Command(ctx, slacktest.Command{
		Command: "/access", Text: "request prod-db 6s fixing INC-4711", UserID: "UALICE", UserName: "alice",
		ChannelID: "CGENERAL", ResponseURL: fake.ResponseURL("cmd"),
	})
	if err != nil || resp.Status != 200 {
		t.Fatalf("slash command: %v %+v", err, resp)
	}
	if !strings.Contains(string(resp.Body), "prod-db") {
		t.Errorf("the requester's answer does not name the resource: %s", resp.Body)
	}

	// 2. The approval message in the approver channel.
	posts := fake.WaitFor(t, "chat.postMessage", 1, 10*time.Second)
	var approval slacktest.Call
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Arg("channel") == "CAPPROVALS" {
			approval = c
		}
	}
	if approval.Method == "" {
		t.Fatalf("no approval message in CAPPROVALS; posts: %+v", posts)
	}
	requestID := buttonValue(t, approval, "approve")
	held := fake.Messages("CAPPROVALS")
	if len(held) != 1 {
		t.Fatalf("CAPPROVALS holds %d messages, want the one approval message", len(held))
	}
	ts := held[0].TS

	// The requester cannot approve their own request: refused, nothing granted.
	resp, err = send.Interaction(ctx, slacktest.BlockAction{
		UserID: "UALICE", ActionID: "approve", Value: requestID, ChannelID: "CAPPROVALS", MessageTS: ts,
		ResponseURL: fake.ResponseURL("self"),
	}.Payload())
	if err != nil || resp.Status != 200 {
		t.Fatalf("self-approval click: %v %+v", err, resp)
	}
	if got := target.actions(); len(got) != 0 {
		t.Fatalf("a self-approval reached the target: %v", got)
	}
	refusal := fake.WaitFor(t, "response_url", 1, 5*time.Second)[0]
	if refusal.Path != "/response/self" || refusal.Arg("response_type") != "ephemeral" ||
		!strings.Contains(refusal.Arg("text")+fmt.Sprint(refusal.JSON["blocks"]), "your own request") {
		t.Errorf("the self-approval was not refused privately: %+v", refusal)
	}

	// 3. Bob approves.
	resp, err = send.Interaction(ctx, slacktest.BlockAction{
		UserID: "UBOB", ActionID: "approve", Value: requestID, ChannelID: "CAPPROVALS", MessageTS: ts,
		ResponseURL: fake.ResponseURL("approve"),
	}.Payload())
	if err != nil || resp.Status != 200 {
		t.Fatalf("approve click: %v %+v", err, resp)
	}

	// 4. The webhook grants, then 5. revokes when the six seconds are up.
	target.waitAction(t, "grant", 1, 10*time.Second)
	target.waitAction(t, "revoke", 1, 20*time.Second)
	if got := target.actions(); len(got) != 2 || got[0] != "grant" || got[1] != "revoke" {
		t.Errorf("webhook calls = %v, want [grant revoke]", got)
	}
	target.mu.Lock()
	bad := target.bad
	target.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d webhook calls had a bad signature", bad)
	}

	// 6. The approval message is updated in place until it says the access ended.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var last string
		for _, c := range fake.Calls("chat.update") {
			if c.Arg("channel") == "CAPPROVALS" {
				last = strings.ToLower(c.Arg("text") + c.Arg("blocks"))
			}
		}
		if strings.Contains(last, "revoked") || strings.Contains(last, "expired") || strings.Contains(last, "ended") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the approval message was never updated to say the access ended; updates: %+v", fake.Calls("chat.update"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Alice heard about it by DM.
	if fake.Count("conversations.open")+countDMs(fake) == 0 {
		t.Errorf("the requester got no DM")
	}

	p.stop(t)

	// 7. The audit log verifies and holds the story.
	verify := exec.Command(bin, "audit", "verify", "--config", "config.yaml")
	verify.Dir = work
	verify.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + work, "SLACK_SIGNING_SECRET=x", "SLACK_BOT_TOKEN=xoxb-x", "WEBHOOK_SECRET=x"}
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
			t.Errorf("the audit log has no %s event:\n%s", want, out)
		}
	}
	for _, secret := range []string{e2eSigningSecret, slacktest.BotToken, "e2e-webhook-hmac-key"} {
		if strings.Contains(p.logs.String(), secret) || strings.Contains(string(out), secret) {
			t.Errorf("a secret reached the log or the audit trail")
		}
	}
}

func countDMs(fake *slacktest.Server) int {
	n := 0
	for _, c := range fake.Calls("chat.postMessage") {
		if ch := c.Arg("channel"); strings.HasPrefix(ch, "D") || strings.HasPrefix(ch, "U") {
			n++
		}
	}
	return n
}
