package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/faults/internal/fixture"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/storage"
)

// outageEnv is accessbot serve on SQLite with the fake Slack and one resource, "target", whose
// adapter block the test gives. Retries are short: 200 ms doubling to 500 ms, revoke_failed
// after 3 failures, then every second.
type outageEnv struct {
	t     *testing.T
	slack *slacktest.Server
	serve *fixture.Serve
	send  *slacktest.Sender
	db    *storage.DB
}

const (
	alice = "UALICE"
	bob   = "UBOB"
)

func newOutageEnv(t *testing.T, bin, adapterYAML string) *outageEnv {
	t.Helper()
	dir := t.TempDir()
	o := &outageEnv{t: t, slack: slacktest.New(t)}
	o.slack.AddUser(slacktest.User{ID: alice, Name: "alice", RealName: "Alice", Email: "alice@example.com"})
	o.slack.AddUser(slacktest.User{ID: bob, Name: "bob", RealName: "Bob", Email: "bob@example.com"})
	addr, err := fixture.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server:
  listen: %q
storage:
  driver: sqlite
  dsn: "accessbot.db"
log:
  level: info
  format: json
groups:
  sre: ["alice@example.com"]
  approvers: ["bob@example.com"]
slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: %q
  approver_channel: %q
  security_channel: %q
scheduler:
  sweep: "1s"
  retry:
    initial: "200ms"
    max: "500ms"
    attempts: 3
    slow: "1s"
scan:
  schedule: "off"
resources:
  - name: target
    adapter:
%s
    policy:
      requesters: {groups: [sre]}
      approvers: [approvers]
      max_duration: "1h"
      reason_required: false
`, addr, o.slack.APIURL(), approverChan, securityChan, indent(adapterYAML, "      "))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	o.serve = &fixture.Serve{Bin: bin, Dir: dir, Addr: addr, Env: []string{
		"SLACK_SIGNING_SECRET=" + signingSecret, "SLACK_BOT_TOKEN=" + slacktest.BotToken, "WEBHOOK_SECRET=" + webhookSecret,
	}}
	t.Cleanup(func() {
		if err := o.serve.Stop(); err != nil {
			t.Errorf("%v\n%s", err, o.serve.Tail(30))
		}
	})
	if err := o.serve.Start(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	o.send = &slacktest.Sender{BaseURL: "http://" + addr, Secret: signingSecret}
	o.db, err = storage.Open(context.Background(), storage.Options{Driver: storage.SQLite, DSN: filepath.Join(dir, "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.db.Close() })
	return o
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// request has Alice ask for the target for d and returns the request's ID.
func (o *outageEnv) request(d string) string {
	o.t.Helper()
	resp, err := o.send.Command(context.Background(), slacktest.Command{
		Text: "request target " + d + " outage test", UserID: alice, UserName: "alice", ChannelID: "CGENERAL",
		ResponseURL: o.slack.ResponseURL("cmd"),
	})
	if err != nil || resp.Status != http.StatusOK {
		o.t.Fatalf("request: %v %+v", err, resp)
	}
	m := requestIDRE.FindSubmatch(resp.Body)
	if m == nil {
		o.t.Fatalf("no request ID in the answer: %s", resp.Body)
	}
	return string(m[1])
}

// approve has Bob click Approve.
func (o *outageEnv) approve(requestID string) {
	o.t.Helper()
	resp, err := o.send.Interaction(context.Background(), slacktest.BlockAction{
		UserID: bob, UserName: "bob", ActionID: "approve", Value: requestID, ChannelID: approverChan,
		MessageTS: "1700000000.000001", ResponseURL: o.slack.ResponseURL("approve"),
	}.Payload())
	if err != nil || resp.Status != http.StatusOK {
		o.t.Fatalf("approve: %v %+v", err, resp)
	}
}

// grantOf returns the grant a request made, waiting for it.
func (o *outageEnv) grantOf(requestID string) grants.Grant {
	o.t.Helper()
	var g grants.Grant
	o.eventually(10*time.Second, "the grant of "+requestID, func() bool {
		err := o.db.View(context.Background(), func(tx grants.ReadTx) error {
			var err error
			g, err = tx.GrantByRequest(context.Background(), requestID)
			return err
		})
		return err == nil
	})
	return g
}

func (o *outageEnv) grant(id string) grants.Grant {
	o.t.Helper()
	var g grants.Grant
	err := o.db.View(context.Background(), func(tx grants.ReadTx) error {
		var err error
		g, err = tx.Grant(context.Background(), id)
		return err
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return g
}

// waitState waits until the grant is in state.
func (o *outageEnv) waitState(id string, state grants.GrantState, within time.Duration) grants.Grant {
	o.t.Helper()
	var g grants.Grant
	o.eventually(within, "grant "+id+" "+string(state), func() bool {
		g = o.grant(id)
		return g.State == state
	})
	return g
}

func (o *outageEnv) eventually(within time.Duration, what string, cond func() bool) {
	o.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			o.t.Fatalf("waited %s for %s\nserve log:\n%s", within, what, o.serve.Tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// events returns the audit events about a grant (or, with "", all of them).
func (o *outageEnv) events(grantID string) []audit.Event {
	o.t.Helper()
	var out []audit.Event
	err := o.db.ScanAudit(context.Background(), audit.Filter{}, func(e audit.Event) error {
		if grantID == "" || e.GrantID == grantID {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

func types(es []audit.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// checkRevocationOutage checks what an outage of the target during a revocation must leave: the
// retries, revoke_failed with its alert in the audit log, the alert in the security channel, the
// revocation after the target returned, the digest listing the failed revocation, and a chain
// that verifies.
func (o *outageEnv) checkRevocationOutage(g grants.Grant, start, back time.Time) {
	o.t.Helper()
	evs := o.events(g.ID)
	var failedAt time.Time
	attempts := 0
	for _, e := range evs {
		switch e.Type {
		case audit.GrantRevokeFailed:
			failedAt = e.At
		case audit.GrantRetry:
			attempts++
		}
	}
	o.t.Logf("after expiry: revoke_failed at +%s (3 attempts), target back at +%s, revoked at +%s (%d failed attempts in all)",
		failedAt.Sub(g.ExpiresAt).Round(time.Millisecond), back.Sub(g.ExpiresAt).Round(time.Millisecond),
		g.RevokedAt.Sub(g.ExpiresAt).Round(time.Millisecond), attempts+1)
	var seq []string
	retries, slowRetries, alerts := 0, 0, 0
	state := ""
	for _, e := range evs {
		switch e.Type {
		case audit.GrantRetry:
			if state == audit.GrantRevokeFailed {
				slowRetries++
			} else {
				retries++
			}
		case audit.AlertRaised:
			if e.Data["alert"] == "revoke_failed" {
				alerts++
			}
		default:
			seq = append(seq, e.Type)
			state = e.Type
		}
	}
	want := []string{audit.GrantActivating, audit.GrantActive, audit.GrantRevoking, audit.GrantRevokeFailed, audit.GrantRevoked}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		o.t.Errorf("grant events = %v, want %v (with retries between); all: %v", seq, want, types(evs))
	}
	if retries != 2 {
		o.t.Errorf("%d retries before revoke_failed, want 2 (3 attempts)", retries)
	}
	if slowRetries < 1 {
		o.t.Errorf("no slow retry failed while the target was down: %v", types(evs))
	}
	if alerts != 1 {
		o.t.Errorf("%d revoke_failed alerts in the audit log, want 1", alerts)
	}

	// The alert reached the security channel, once.
	var posted []slacktest.Call
	for _, c := range o.slack.Calls("chat.postMessage") {
		if c.Error == "" && c.Arg("channel") == securityChan && strings.Contains(c.Arg("text")+c.Arg("blocks"), g.ID) {
			posted = append(posted, c)
		}
	}
	if len(posted) != 1 {
		o.t.Errorf("%d messages about %s in the security channel, want the one alert", len(posted), g.ID)
	}

	// The digest lists the failed revocation.
	d, err := digest.Build(context.Background(), o.db, start.Add(-time.Hour), time.Now().Add(time.Second), digest.Options{})
	if err != nil {
		o.t.Fatal(err)
	}
	listed := false
	for _, r := range d.Revocations {
		if r.GrantID == g.ID && r.Kind == digest.RevocationFailed {
			listed = true
		}
	}
	if !listed || d.RevocationCount.Failed < 1 {
		o.t.Errorf("the digest does not list the failed revocation of %s: %+v %+v", g.ID, d.Revocations, d.RevocationCount)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.serve.Verify(ctx); err != nil {
		o.t.Error(err)
	}
}

const webhookSecret = "faults-webhook-hmac-key"

// flakyWebhook is a webhook receiver that can be stopped (its port closed: connection refused)
// and started again on the same address.
type flakyWebhook struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
	// calls are the verified calls: action and Idempotency-Key.
	calls []string
}

func newFlakyWebhook(t *testing.T) *flakyWebhook {
	addr, err := fixture.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	w := &flakyWebhook{addr: addr}
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	return w
}

func (w *flakyWebhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify([]byte(webhookSecret), r.Header.Get("X-Accessbot-Timestamp"), body,
		r.Header.Get("X-Accessbot-Signature"), time.Now(), 5*time.Minute); err != nil {
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	w.mu.Lock()
	w.calls = append(w.calls, fmt.Sprint(m["action"])+" "+r.Header.Get("Idempotency-Key"))
	w.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write([]byte(`{}`))
}

func (w *flakyWebhook) start() error {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after a stop
		if ln, err = net.Listen("tcp", w.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second}
	w.mu.Lock()
	w.srv = srv
	w.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return nil
}

func (w *flakyWebhook) stop() {
	w.mu.Lock()
	srv := w.srv
	w.srv = nil
	w.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (w *flakyWebhook) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// TestWebhookTargetOutageDuringRevocation: the webhook receiver goes away while a grant is
// active; at expiry the revocation fails, is retried, becomes revoke_failed and raises an alert
// in the security channel; when the receiver is back the slow loop revokes it; the digest lists
// the failed revocation and the audit chain verifies.
func TestWebhookTargetOutageDuringRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds accessbot and runs it")
	}
	t.Parallel()
	start := time.Now()
	bin := buildBinary(t)
	hook := newFlakyWebhook(t)
	o := newOutageEnv(t, bin, fmt.Sprintf(`type: webhook
url: "http://%s/hook"
secret: "${WEBHOOK_SECRET}"
timeout: "1s"
retries: 1`, hook.addr))

	id := o.request("3s")
	o.approve(id)
	g := o.grantOf(id)
	o.waitState(g.ID, grants.GrantActive, 10*time.Second)
	hook.stop()

	g = o.waitState(g.ID, grants.GrantRevokeFailed, 15*time.Second)
	o.eventually(10*time.Second, "the alert in the security channel", func() bool {
		for _, c := range o.slack.Calls("chat.postMessage") {
			if c.Error == "" && c.Arg("channel") == securityChan && strings.Contains(c.Arg("text")+c.Arg("blocks"), g.ID) {
				return true
			}
		}
		return false
	})
	// Down a little longer: the slow loop fails too.
	time.Sleep(1500 * time.Millisecond)
	if err := hook.start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	g = o.waitState(g.ID, grants.GrantRevoked, 10*time.Second)
	if late := g.RevokedAt.Sub(g.ExpiresAt); late > 8*time.Second {
		t.Errorf("revoked %s after expiry; the receiver was back within about 4 s", late)
	}
	got := hook.received()
	if len(got) != 2 || got[0] != "grant "+g.ID+":grant" || got[1] != "revoke "+g.ID+":revoke" {
		t.Errorf("the receiver got %v, want the grant and one revoke of %s", got, g.ID)
	}
	o.checkRevocationOutage(g, start, back)
}

// TestPostgresTargetOutageDuringRevocation: the same with the PostgreSQL server of an ephemeral
// grant stopped (pgtest's server shut down, its port closed) and started again.
func TestPostgresTargetOutageDuringRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds accessbot and runs it with PostgreSQL")
	}
	t.Parallel()
	start := time.Now()
	pg := pgtest.Start(t)
	target := pg.NewDatabase(t)
	ctx := context.Background()
	admin, err := openPG(target)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, s := range []string{
		`CREATE ROLE ` + readerRole + ` NOLOGIN`,
		`CREATE ROLE ` + botEph + ` LOGIN NOSUPERUSER CREATEROLE PASSWORD 'bot-eph'`,
	} {
		if _, err := admin.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildBinary(t)
	o := newOutageEnv(t, bin, fmt.Sprintf(`type: postgres
dsn: %q
mode: ephemeral
roles: [%s]
role_prefix: %q
on_revoke_owned: drop
connect_timeout: "1s"
statement_timeout: "1s"
timeout: "2s"`, dsnAs(target, botEph, "bot-eph"), readerRole, rolePrefix))

	id := o.request("3s")
	o.approve(id)
	g := o.grantOf(id)
	g = o.waitState(g.ID, grants.GrantActive, 10*time.Second)
	role := g.LeaseData["role"]
	if !roleExists(t, admin, role) {
		t.Fatalf("the grant is active and role %q does not exist", role)
	}
	pg.Stop()

	g = o.waitState(g.ID, grants.GrantRevokeFailed, 20*time.Second)
	o.eventually(10*time.Second, "the alert in the security channel", func() bool {
		for _, c := range o.slack.Calls("chat.postMessage") {
			if c.Error == "" && c.Arg("channel") == securityChan && strings.Contains(c.Arg("text")+c.Arg("blocks"), g.ID) {
				return true
			}
		}
		return false
	})
	time.Sleep(1500 * time.Millisecond)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	g = o.waitState(g.ID, grants.GrantRevoked, 15*time.Second)
	admin.Close()
	if admin, err = openPG(target); err != nil {
		t.Fatal(err)
	}
	if roleExists(t, admin, role) {
		t.Errorf("grant %s is revoked and its role %s still exists", g.ID, role)
	}
	o.checkRevocationOutage(g, start, back)
}

// TestChatOutage: Slack's Web API answers 503 to everything for a while, during which an
// approval message is due, a grant is made and another expires and is revoked. Once it
// recovers, every post and update arrives, none twice, and the outbox is empty.
func TestChatOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds accessbot and runs it")
	}
	t.Parallel()
	bin := buildBinary(t)
	hook := newFlakyWebhook(t)
	o := newOutageEnv(t, bin, fmt.Sprintf(`type: webhook
url: "http://%s/hook"
secret: "${WEBHOOK_SECRET}"
timeout: "1s"`, hook.addr))

	// Before the outage: a grant that will expire during it (its approval message is posted).
	first := o.request("3s")
	o.approve(first)
	g1 := o.grantOf(first)
	o.waitState(g1.ID, grants.GrantActive, 10*time.Second)
	o.eventually(10*time.Second, "the first approval message", func() bool { return len(o.slack.Messages(approverChan)) == 1 })

	o.slack.SetDown(true)
	downAt := time.Now()
	// During it: a request (its approval message is due now), approved at once (profiles are
	// cached), so a grant is made; and the first grant expires and is revoked.
	second := o.request("4s")
	o.approve(second)
	g2 := o.grantOf(second)
	o.waitState(g1.ID, grants.GrantRevoked, 10*time.Second)
	o.waitState(g2.ID, grants.GrantActive, 10*time.Second)
	time.Sleep(time.Until(downAt.Add(6 * time.Second)))
	refused := 0
	for _, c := range o.slack.Calls() {
		if c.Error == "service_unavailable" {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("nothing reached the fake Slack while it was down")
	}
	o.slack.SetDown(false)
	upAt := time.Now()

	// Everything arrives: the second grant expires and is revoked after the recovery too.
	o.waitState(g2.ID, grants.GrantRevoked, 15*time.Second)
	o.eventually(60*time.Second, "an empty outbox", func() bool {
		ds, err := o.db.Deliveries(context.Background(), "slack")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.State != bot.DeliverySent {
				return false
			}
		}
		return len(ds) > 0
	})
	recovered := time.Since(upAt)
	ds, _ := o.db.Deliveries(context.Background(), "slack")

	// None twice: no two successful posts carry the same message. An update may repeat the one
	// before it (a delivery claimed before the next event was rendered after it, showing that
	// event already); the message then does not change. An update never brings back an older
	// content.
	seen := map[string]int{}
	posts, updates, repeated := 0, 0, 0
	history := map[string][]string{} // channel/ts -> contents of its successful updates, in order
	for _, c := range o.slack.Calls("chat.postMessage", "chat.update") {
		if c.Error != "" || c.RateLimited {
			continue
		}
		content := c.Arg("text") + "|" + c.Arg("blocks")
		if c.Method == "chat.postMessage" {
			posts++
			key := c.Arg("channel") + "|" + content
			if seen[key]++; seen[key] == 2 {
				t.Errorf("posted twice to %s: %.120s", c.Arg("channel"), c.Arg("text"))
			}
			continue
		}
		updates++
		msg := c.Arg("channel") + "/" + c.Arg("ts")
		h := history[msg]
		switch {
		case len(h) > 0 && h[len(h)-1] == content:
			repeated++
		case contains(h, content):
			t.Errorf("update of %s went back to an earlier content: %.120s", msg, c.Arg("text"))
		}
		history[msg] = append(h, content)
	}
	// Every post arrives: one approval message per request, each ending as its grant did.
	msgs := o.slack.Messages(approverChan)
	if len(msgs) != 2 {
		t.Errorf("%d messages in the approver channel, want 2", len(msgs))
	}
	for _, m := range msgs {
		text := strings.ToLower(m.Text + m.Blocks)
		if !strings.Contains(text, "revoked") && !strings.Contains(text, "ended") && !strings.Contains(text, "expired") {
			t.Errorf("approval message %s does not say the access ended: %.200s", m.TS, m.Text)
		}
	}
	// Alice heard of each grant starting and ending.
	dms := 0
	for _, c := range o.slack.Calls("chat.postMessage") {
		if c.Error == "" && (strings.HasPrefix(c.Arg("channel"), "D") || strings.HasPrefix(c.Arg("channel"), "U")) {
			dms++
		}
	}
	if dms < 4 {
		t.Errorf("Alice got %d DMs, want at least 4 (two grants made, two ended)", dms)
	}
	t.Logf("Slack down %s (%d calls refused); after it came back, %d deliveries done in %s: %d posts (none twice), %d updates (%d repeating the one before)",
		upAt.Sub(downAt).Round(time.Millisecond), refused, len(ds), recovered.Round(time.Millisecond), posts, updates, repeated)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.serve.Verify(ctx); err != nil {
		t.Error(err)
	}
}

func openPG(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }

func roleExists(t *testing.T, db *sql.DB, role string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
