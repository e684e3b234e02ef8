package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// Several replicas: three `serve` processes on one PostgreSQL database, one fake Slack, one
// webhook target, one SIEM receiver. Requests go to the replicas in turn; one replica is killed
// with SIGKILL while grants are active and their revocations, warnings and messages are still to
// come. In the end every grant was made and revoked once at the target, every approval message
// was posted once and every DM sent once, the audit log holds each step once and verifies, and
// the SIEM received every event. docs/reliability.md describes what is shared and how.

// targetCall is one call at the webhook target, with the replica that made it.
type targetCall struct {
	action, grant, replica string
	at                     time.Time
}

// replicaTarget is the e2e webhook target (newWebhookTarget) behind a handler that also notes
// which replica called (the X-Replica header each replica's config sets from its environment).
type replicaTarget struct {
	*webhookTarget
	mu    sync.Mutex
	calls []targetCall
}

func newReplicaTarget(t *testing.T, secret string) (*replicaTarget, *httptest.Server) {
	inner, innerSrv := newWebhookTarget(t, secret)
	rt := &replicaTarget{webhookTarget: inner}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			Action  string `json:"action"`
			GrantID string `json:"grant_id"`
		}
		_ = json.Unmarshal(body, &m)
		rt.mu.Lock()
		rt.calls = append(rt.calls, targetCall{m.Action, m.GrantID, r.Header.Get("X-Replica"), time.Now()})
		rt.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		innerSrv.Config.Handler.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return rt, srv
}

func (rt *replicaTarget) recorded() []targetCall {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]targetCall(nil), rt.calls...)
}

// siemReceiver is the SIEM end of the webhook audit sink: it verifies each batch's signature and
// counts how often each sequence number arrived.
type siemReceiver struct {
	secret []byte
	mu     sync.Mutex
	seen   map[int64]int
	bad    int
}

func newSIEMReceiver(t *testing.T, secret string) (*siemReceiver, *httptest.Server) {
	s := &siemReceiver{secret: []byte(secret), seen: map[int64]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := webhook.Verify(s.secret, r.Header.Get(webhook.HeaderTimestamp), body,
			r.Header.Get(webhook.HeaderSignature), time.Now(), 5*time.Minute)
		first, last, perr := parseSIEMBatch(r.Header.Get(sink.HeaderBatch))
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil || perr != nil {
			s.bad++
			http.Error(rw, "bad batch", http.StatusUnauthorized)
			return
		}
		for seq := first; seq <= last; seq++ {
			s.seen[seq]++
		}
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

func parseSIEMBatch(h string) (first, last int64, err error) {
	a, b, ok := strings.Cut(h, "-")
	if !ok {
		return 0, 0, fmt.Errorf("batch header %q", h)
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, err
	}
	last, err = strconv.ParseInt(b, 10, 64)
	return first, last, err
}

// upTo reports whether every event 1..head arrived, and how many arrived more than once.
func (s *siemReceiver) upTo(head int64) (complete bool, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	complete = true
	for seq := int64(1); seq <= head; seq++ {
		n := s.seen[seq]
		if n == 0 {
			complete = false
		}
		if n > 1 {
			dups += n - 1
		}
	}
	return complete, dups
}

// launchReplica starts `accessbot serve` without waiting for it to be ready (see startServe).
func launchReplica(t *testing.T, bin, dir, addr string, env ...string) *serveProcess {
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
		if t.Failed() {
			t.Logf("log of the replica on %s:\n%s", p.addr, replicaLogTail(p.logs.String(), 40))
		}
	})
	return p
}

func waitReplicaReady(t *testing.T, p *serveProcess, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("serve on %s exited early: %v\n%s", p.addr, err, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve on %s never became ready\n%s", p.addr, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func replicaLogTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// replicaWait polls cond until it holds or the timeout passes.
func replicaWait(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", timeout, what, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	replicaRequestIDRe = regexp.MustCompile(`\br-[a-z2-7]{10}\b`)
	replicaGrantIDRe   = regexp.MustCompile(`\bg-[a-z2-7]{10}\b`)
)

const replicaSecret = "replicas-signing-secret-0123456789"

func TestReplicasShareTheWorkAndAKilledOneLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs PostgreSQL and three servers")
	}
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	bin := buildBinary(t)
	began := time.Now()
	work := t.TempDir()

	fake := slacktest.New(t)
	requesters := []string{"UANA", "UBEN", "UCLEO", "UDAN"}
	for _, id := range requesters {
		name := strings.ToLower(id[1:])
		fake.AddUser(slacktest.User{ID: id, Name: name, RealName: name, Email: name + "@example.com"})
	}
	fake.AddUser(slacktest.User{ID: "ULEAD", Name: "lead", RealName: "Lead", Email: "lead@example.com"})
	target, targetSrv := newReplicaTarget(t, "replicas-webhook-key")
	siem, siemSrv := newSIEMReceiver(t, "replicas-siem-key")

	// prod-db: approved by policy, short grants with an expiry warning. staging-db: waits for an
	// approver nobody is, and expires.
	cfg := fmt.Sprintf(`server:
  listen: "${LISTEN}"
storage:
  driver: postgres
  dsn: %q
groups:
  leads: ["lead@example.com"]
slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: %q
  approver_channel: "CAPPROVALS"
  security_channel: "CSECURITY"
  # The fake does not limit: Slack's limits (44 approval messages in one channel at 1/s) would
  # make this test wait for pacing, not for the replicas.
  rate_limit_scale: 100
audit_sinks:
  - name: siem
    type: webhook
    url: %q
    secret: "${SIEM_SECRET}"
    batch: 50
resources:
  - name: prod-db
    adapter:
      type: webhook
      url: %q
      secret: "${WEBHOOK_SECRET}"
      timeout: "5s"
      headers:
        X-Replica: "${REPLICA}"
    policy:
      auto_approve: 'true'
      default_duration: "1m"
      max_duration: "1h"
      warn_before: "3s"
  - name: staging-db
    adapter:
      type: webhook
      url: %q
      secret: "${WEBHOOK_SECRET}"
      headers:
        X-Replica: "${REPLICA}"
    policy:
      approvers: [leads]
      default_duration: "1m"
      max_duration: "1h"
      pending_ttl: "4s"
`, dsn, fake.APIURL(), siemSrv.URL+"/siem", targetSrv.URL+"/prod-db", targetSrv.URL+"/staging-db")
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(replica, listen string) []string {
		return []string{"REPLICA=" + replica, "LISTEN=" + listen, "SLACK_SIGNING_SECRET=" + replicaSecret,
			"SLACK_BOT_TOKEN=" + slacktest.BotToken, "WEBHOOK_SECRET=replicas-webhook-key", "SIEM_SECRET=replicas-siem-key"}
	}

	// Three replicas start at once on the empty database (they migrate it together).
	names := []string{"r1", "r2", "r3"}
	var procs []*serveProcess
	for _, name := range names {
		addr := freePort(t)
		procs = append(procs, launchReplica(t, bin, work, addr, env(name, addr)...))
	}
	for _, p := range procs {
		waitReplicaReady(t, p, 30*time.Second)
	}
	victim := procs[1]

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	// 40 grants in two waves (6s and 16s) and 4 requests left pending, sent to the replicas in
	// turn, four at a time.
	type ask struct {
		user, text string
	}
	var asks []ask
	for i := range 40 {
		d := "6s"
		if i%2 == 1 {
			d = "16s"
		}
		asks = append(asks, ask{requesters[i%4], fmt.Sprintf("request prod-db %s replicas INC-%d", d, i)})
	}
	for i := range 4 {
		asks = append(asks, ask{requesters[i], fmt.Sprintf("request staging-db 10m replicas INC-%d", 100+i)})
	}
	errs := make(chan error, len(asks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, a := range asks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p := procs[i%len(procs)]
			send := &slacktest.Sender{BaseURL: "http://" + p.addr, Secret: replicaSecret}
			resp, err := send.Command(ctx, slacktest.Command{Command: "/access", Text: a.text, UserID: a.user,
				UserName: strings.ToLower(a.user[1:]), ChannelID: "CGENERAL", ResponseURL: fake.ResponseURL(fmt.Sprintf("cmd%d", i))})
			if err != nil || resp.Status != 200 {
				errs <- fmt.Errorf("command %d to %s: %v %+v", i, p.addr, err, resp)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM requests`); n != 44 {
		t.Fatalf("%d requests stored, want 44", n)
	}

	// The first wave ends and is revoked; then the victim dies while the second wave is
	// active, its warnings and revocations still to come.
	const waveA = `expires_at - starts_at < 10000000`
	replicaWait(t, 30*time.Second, "the first wave revoked", func() (bool, string) {
		n := count(`SELECT count(*) FROM grants WHERE state = 'revoked' AND ` + waveA)
		return n == 20, fmt.Sprintf("%d of 20 revoked", n)
	})
	if n := count(`SELECT count(*) FROM grants WHERE state = 'active' AND NOT (`+waveA+`) AND expires_at > $1`,
		time.Now().Add(2*time.Second).UnixMicro()); n != 20 {
		t.Fatalf("%d grants of the second wave active with more than 2s to go at the kill, want 20 (the machine is too slow for this timing)", n)
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killedAt := time.Now()
	t.Logf("killed the replica on %s (%s) %.1fs after the start", victim.addr, names[1], killedAt.Sub(began).Seconds())

	// Everything ends: nothing active or in between, every revocation done.
	replicaWait(t, 40*time.Second, "every grant revoked", func() (bool, string) {
		n := count(`SELECT count(*) FROM grants WHERE state <> 'revoked'`)
		total := count(`SELECT count(*) FROM grants`)
		return n == 0 && total == 40, fmt.Sprintf("%d of %d grants not revoked", n, total)
	})
	if n := count(`SELECT count(*) FROM requests WHERE state = 'expired' AND resource = 'staging-db'`); n != 4 {
		t.Errorf("%d pending requests expired, want 4", n)
	}

	// The target: each grant made once and revoked once, by whichever replica came first.
	calls := target.recorded()
	made, revoked := map[string]int{}, map[string]int{}
	byReplica := map[string]int{}
	for _, c := range calls {
		switch c.action {
		case "grant":
			made[c.grant]++
		case "revoke":
			revoked[c.grant]++
		default:
			t.Errorf("unexpected %q call at the target", c.action)
		}
		byReplica[c.replica]++
		if c.replica == names[1] && c.at.After(killedAt) {
			t.Errorf("a call from the killed replica after its death: %+v", c)
		}
	}
	if len(made) != 40 || len(revoked) != 40 {
		t.Errorf("the target saw %d grants made and %d revoked, want 40 each", len(made), len(revoked))
	}
	for g, n := range made {
		if n != 1 || revoked[g] != 1 {
			t.Errorf("grant %s: made %d times, revoked %d times at the target; want once each", g, n, revoked[g])
		}
	}
	target.webhookTarget.mu.Lock()
	if target.bad != 0 {
		t.Errorf("%d calls at the target had a bad signature", target.bad)
	}
	target.webhookTarget.mu.Unlock()

	// The audit log: each step once.
	rows, err := db.QueryContext(ctx, `SELECT type, coalesce(nullif(grant_id, ''), request_id), count(*) FROM audit_events
		WHERE type IN ('request.created', 'request.approved', 'request.expired', 'grant.activating', 'grant.active',
			'grant.expiry_warning', 'grant.revoking', 'grant.revoked') GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	perType := map[string]int{}
	for rows.Next() {
		var typ, id string
		var n int
		if err := rows.Scan(&typ, &id, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d %s events, want 1", id, n, typ)
		}
		perType[typ]++
	}
	rows.Close()
	want := map[string]int{"request.created": 44, "request.approved": 40, "request.expired": 4, "grant.activating": 40,
		"grant.active": 40, "grant.expiry_warning": 40, "grant.revoking": 40, "grant.revoked": 40}
	for typ, n := range want {
		if perType[typ] != n {
			t.Errorf("%d subjects with a %s event, want %d", perType[typ], typ, n)
		}
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE type = 'config.loaded'`); n != 3 {
		t.Errorf("%d config.loaded events, want one per replica start (3)", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE type IN ('alert.raised', 'grant.retry', 'grant.failed', 'grant.revoke_failed')`); n != 0 {
		t.Errorf("%d alerts, retries or failures in the audit log, want none", n)
	}

	// Chat: every approval message posted once and every DM sent once, after the survivors
	// have sent what they owe (DMs of the end of the second wave).
	type dmKey struct{ subject, kind string }
	classify := func() (approvals map[string]int, dms map[dmKey]int, other []string) {
		approvals, dms = map[string]int{}, map[dmKey]int{}
		for _, c := range fake.Calls("chat.postMessage") {
			ch, text := c.Arg("channel"), c.Arg("text")+" "+c.Arg("blocks")
			rid, gid := replicaRequestIDRe.FindString(text), replicaGrantIDRe.FindString(text)
			switch {
			case ch == "CAPPROVALS" && rid != "":
				approvals[rid]++
			case strings.HasPrefix(ch, "D"):
				kind := ""
				switch {
				case strings.Contains(text, "has ended"):
					kind = "ended"
				case strings.Contains(text, "is active"):
					kind = "active"
				case strings.Contains(text, "was approved"):
					kind = "approved"
				case strings.Contains(text, "expired"):
					kind = "expired"
				case strings.Contains(text, " ends "):
					kind = "warned"
				}
				subject := rid
				if kind == "warned" {
					subject = gid
				}
				if kind == "" || subject == "" {
					other = append(other, ch+": "+c.Arg("text"))
					continue
				}
				dms[dmKey{subject, kind}]++
			default:
				other = append(other, ch+": "+c.Arg("text"))
			}
		}
		return approvals, dms, other
	}
	replicaWait(t, 30*time.Second, "every DM", func() (bool, string) {
		_, dms, _ := classify()
		kinds := map[string]int{}
		for k := range dms {
			kinds[k.kind]++
		}
		return kinds["ended"] == 40 && kinds["expired"] == 4 && kinds["active"] == 40 && kinds["approved"] == 40,
			fmt.Sprintf("DMs so far by kind: %v", kinds)
	})
	// A last look a little later, for late duplicates (an outbox claim of the dead replica
	// lapses after 20s; none should be outstanding).
	time.Sleep(time.Second)
	approvals, dms, other := classify()
	if len(approvals) != 44 {
		t.Errorf("%d requests have an approval message, want 44", len(approvals))
	}
	for rid, n := range approvals {
		if n != 1 {
			t.Errorf("request %s: its approval message was posted %d times, want once", rid, n)
		}
	}
	kinds := map[string]int{}
	for k, n := range dms {
		kinds[k.kind]++
		if n != 1 {
			t.Errorf("%s: the %q DM was sent %d times, want once", k.subject, k.kind, n)
		}
	}
	// A warning whose grant ended before the outbox sent it is dropped, not sent late.
	if kinds["warned"] > 40 {
		t.Errorf("%d grants warned by DM, want at most 40", kinds["warned"])
	}
	if len(other) != 0 {
		t.Errorf("unexpected posts: %v", other)
	}
	for _, m := range fake.Messages("CAPPROVALS") {
		if !strings.Contains(strings.ToLower(m.Text+m.Blocks), "ended") && !strings.Contains(strings.ToLower(m.Text+m.Blocks), "expired") {
			t.Errorf("an approval message does not show the end: %s", m.Text)
		}
	}

	// The SIEM has every event (a batch the dead replica sent but did not record comes again).
	head := count(`SELECT seq FROM audit_head WHERE id = 1`)
	replicaWait(t, 20*time.Second, "the SIEM up to the head", func() (bool, string) {
		complete, _ := siem.upTo(int64(head))
		return complete, fmt.Sprintf("not every event of 1..%d arrived", head)
	})
	_, dups := siem.upTo(int64(head))

	for i, p := range procs {
		if p != victim {
			p.stop(t)
			if strings.Contains(p.logs.String(), `"level":"error"`) {
				t.Errorf("replica %s logged errors:\n%s", names[i], replicaLogTail(p.logs.String(), 20))
			}
		}
	}
	verify := exec.Command(bin, "audit", "verify", "--config", "config.yaml")
	verify.Dir = work
	verify.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + work}, env("verify", "127.0.0.1:1")...)
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "audit log intact") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}

	pglog, _ := os.ReadFile(filepath.Join(srv.Dir, "postgres.log"))
	deadlocks := strings.Count(string(pglog), "deadlock detected")
	replicas := make([]string, 0, len(byReplica))
	for r, n := range byReplica {
		replicas = append(replicas, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(replicas)
	t.Logf("target calls by replica: %s; %d audit events, %d sent to the SIEM twice; %d deadlocks resolved by PostgreSQL; %.1fs after the build",
		strings.Join(replicas, " "), head, dups, deadlocks, time.Since(began).Seconds())
}
