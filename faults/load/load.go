package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/faults/internal/fixture"
	"github.com/accessbot/accessbot/internal/pgtest"
)

type options struct {
	People             int
	MinGrant, MaxGrant time.Duration
	Postgres           bool
	Seed               uint64
	Bin, Dir           string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

const (
	signingSecret = "load-signing-secret-0123456789abcdef"
	resource      = "load"
	// onTime is how late a revocation may come.
	onTime = time.Second
)

// answer is one HTTP exchange as a client saw it.
type answer struct {
	Status  int // 0: no answer (transport error)
	Err     string
	Latency time.Duration
}

type result struct {
	Requests, Approvals []answer
	// RequestIDs are the IDs the requesters were given, by person.
	RequestIDs []string
	// RequestPhase and ApprovalPhase are from the first send to the last answer.
	RequestPhase, ApprovalPhase time.Duration
	// Stored counts what accessbot's database holds at the end.
	StoredRequests map[string]int
	StoredGrants   map[string]int
	// Lateness is revoked_at - expires_at of every revoked grant, sorted.
	Lateness []time.Duration
	// ApprovalMessages counts the approval messages posted to Slack by the end.
	ApprovalMessages int
	// NotApproved counts the clicks whose request is not approved at the end, by what the
	// approver was told (the reply at the click's response_url).
	NotApproved map[string]int
	Elapsed     time.Duration
	Problems    []string
}

func logf(o options, format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

func requesterID(i int) string { return fmt.Sprintf("UR%05d", i) }
func approverID(i int) string  { return fmt.Sprintf("UV%05d", i) }

var requestIDRE = regexp.MustCompile(`Request (r-[a-z2-7]+)`)

// run starts accessbot and puts the people through it. t is a test or a fixture.ProgTB (for
// PostgreSQL).
func run(ctx context.Context, t testing.TB, o options) (*result, error) {
	start := time.Now()
	fake := slacktest.NewServer()
	defer fake.Close()
	var approvers []string
	for i := range o.People {
		fake.AddUser(slacktest.User{ID: requesterID(i), Name: fmt.Sprintf("r%d", i), RealName: fmt.Sprintf("Requester %d", i),
			Email: fmt.Sprintf("r%05d@load.example.com", i)})
		fake.AddUser(slacktest.User{ID: approverID(i), Name: fmt.Sprintf("v%d", i), RealName: fmt.Sprintf("Approver %d", i),
			Email: fmt.Sprintf("v%05d@load.example.com", i)})
		approvers = append(approvers, fmt.Sprintf("%q", fmt.Sprintf("v%05d@load.example.com", i)))
	}
	driver, dsn := "sqlite", "accessbot.db"
	if o.Postgres {
		driver, dsn = "postgres", pgtest.Start(t).NewDatabase(t)
	}
	addr, err := fixture.FreeAddr()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`server:
  listen: %q
storage:
  driver: %s
  dsn: %q
log:
  level: warn
  format: json
groups:
  approvers: [%s]
slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: %q
  approver_channel: "CAPPROVALS"
  security_channel: "CSECURITY"
scan:
  schedule: "off"
# A burst of many people asking for one resource at once: the per-resource limit on waiting
# requests (made for floods) would refuse most of it.
limits:
  pending_per_resource: 0
resources:
  - name: %s
    adapter:
      type: noop
    policy:
      approvers: [approvers]
      approvals: 1
      default_duration: "15s"
      max_duration: "1m"
      reason_required: false
`, addr, driver, dsn, strings.Join(approvers, ", "), fake.APIURL(), resource)
	if err := os.WriteFile(filepath.Join(o.Dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	serve := &fixture.Serve{Bin: o.Bin, Dir: o.Dir, Addr: addr, Env: []string{
		"SLACK_SIGNING_SECRET=" + signingSecret, "SLACK_BOT_TOKEN=" + slacktest.BotToken,
	}}
	defer serve.Kill()
	if err := serve.Start(60 * time.Second); err != nil {
		return nil, err
	}
	var db *sql.DB
	if o.Postgres {
		db, err = sql.Open("pgx", dsn)
	} else {
		db, err = sql.Open("sqlite", filepath.Join(o.Dir, "accessbot.db")+"?_pragma=busy_timeout(5000)")
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2 * o.People, MaxIdleConnsPerHost: 2 * o.People, IdleConnTimeout: time.Minute,
	}}
	send := &slacktest.Sender{BaseURL: "http://" + addr, Secret: signingSecret, Client: client}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed+1))
	durations := make([]time.Duration, o.People)
	for i := range durations {
		span := int64((o.MaxGrant - o.MinGrant) / time.Second)
		durations[i] = o.MinGrant + time.Duration(rng.Int64N(span+1))*time.Second
	}

	res := &result{Requests: make([]answer, o.People), Approvals: make([]answer, o.People), RequestIDs: make([]string, o.People)}

	// 1. Every requester asks at once.
	logf(o, "%d requesters send /access request", o.People)
	res.RequestPhase = together(o.People, func(i int) {
		t0 := time.Now()
		resp, err := send.Command(ctx, slacktest.Command{
			Text: fmt.Sprintf("request %s %ds load test %d", resource, int(durations[i].Seconds()), i), UserID: requesterID(i),
			UserName: fmt.Sprintf("r%d", i), ChannelID: "CLOAD", ResponseURL: fake.ResponseURL(fmt.Sprintf("req-%d", i)),
		})
		res.Requests[i] = toAnswer(resp, err, time.Since(t0))
		if err == nil {
			if m := requestIDRE.FindSubmatch(resp.Body); m != nil {
				res.RequestIDs[i] = string(m[1])
			}
		}
	})
	// An answer that came after Slack's three seconds went to the response_url.
	missing := 0
	for i, id := range res.RequestIDs {
		if id == "" && res.Requests[i].Status == http.StatusOK {
			missing++
		}
	}
	if missing > 0 {
		logf(o, "%d answers were late; reading their IDs from the response_urls", missing)
		deadline := time.Now().Add(30 * time.Second)
		for missing > 0 && time.Now().Before(deadline) {
			missing = 0
			byPath := map[string]string{}
			for _, c := range fake.Calls("response_url") {
				if m := requestIDRE.FindStringSubmatch(c.Arg("text") + fmt.Sprint(c.JSON["blocks"])); m != nil {
					byPath[c.Path] = m[1]
				}
			}
			for i, id := range res.RequestIDs {
				if id == "" && res.Requests[i].Status == http.StatusOK {
					if res.RequestIDs[i] = byPath[fmt.Sprintf("/response/req-%d", i)]; res.RequestIDs[i] == "" {
						missing++
					}
				}
			}
			if missing > 0 {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}

	// 2. Every approver approves one request at once.
	logf(o, "%d approvers click Approve", o.People)
	res.ApprovalPhase = together(o.People, func(i int) {
		if res.RequestIDs[i] == "" {
			return
		}
		t0 := time.Now()
		resp, err := send.Interaction(ctx, slacktest.BlockAction{
			UserID: approverID(i), UserName: fmt.Sprintf("v%d", i), ActionID: "approve", Value: res.RequestIDs[i],
			ChannelID: "CAPPROVALS", MessageTS: "1700000000.000001", ResponseURL: fake.ResponseURL(fmt.Sprintf("approve-%d", i)),
		}.Payload())
		res.Approvals[i] = toAnswer(resp, err, time.Since(t0))
	})

	// 3. Wait past every expiry until every grant is revoked.
	var lastExpiry int64
	deadline := time.Now().Add(o.MaxGrant + time.Minute)
	for {
		var open int
		if err := db.QueryRowContext(ctx, `SELECT count(*), COALESCE(max(expires_at), 0) FROM grants WHERE state <> 'revoked'`).Scan(&open, &lastExpiry); err != nil {
			return res, err
		}
		var total int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM grants`).Scan(&total); err != nil {
			return res, err
		}
		if (open == 0 && total >= o.People) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		logf(o, "%d grant(s) of %d not revoked yet", open, total)
		time.Sleep(2 * time.Second)
	}

	// 4. What the database holds.
	res.StoredRequests, err = countBy(ctx, db, `SELECT state, count(*) FROM requests GROUP BY state`)
	if err != nil {
		return res, err
	}
	res.StoredGrants, err = countBy(ctx, db, `SELECT state, count(*) FROM grants GROUP BY state`)
	if err != nil {
		return res, err
	}
	rows, err := db.QueryContext(ctx, `SELECT expires_at, revoked_at FROM grants WHERE state = 'revoked'`)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var exp, rev int64
		if err := rows.Scan(&exp, &rev); err != nil {
			rows.Close()
			return res, err
		}
		res.Lateness = append(res.Lateness, max(time.Duration(rev-exp)*time.Microsecond, 0))
	}
	rows.Close()
	sort.Slice(res.Lateness, func(i, j int) bool { return res.Lateness[i] < res.Lateness[j] })
	res.ApprovalMessages = len(fake.Messages("CAPPROVALS"))
	states := map[string]string{}
	rows, err = db.QueryContext(ctx, `SELECT id, state FROM requests`)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			rows.Close()
			return res, err
		}
		states[id] = st
	}
	rows.Close()
	replies := map[string]string{}
	for _, c := range fake.Calls("response_url") {
		if c.Error == "" {
			replies[c.Path] = c.Arg("text")
		}
	}
	res.NotApproved = map[string]int{}
	for i, id := range res.RequestIDs {
		if id == "" || states[id] == "approved" {
			continue
		}
		told, ok := replies[fmt.Sprintf("/response/approve-%d", i)]
		switch {
		case !ok:
			told = "no reply"
		case len(told) > 70:
			told = told[:70] + "…"
		}
		res.NotApproved[told]++
	}
	res.Elapsed = time.Since(start)

	// 5. The checks.
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }
	for _, set := range []struct {
		name string
		as   []answer
	}{{"request", res.Requests}, {"approval", res.Approvals}} {
		by := statuses(set.as)
		for s, n := range by {
			if s != "200" {
				problem("%d %s(s) answered %s", n, set.name, s)
			}
		}
	}
	ids := 0
	for _, id := range res.RequestIDs {
		if id != "" {
			ids++
		}
	}
	if ids != o.People {
		problem("%d of %d requesters were told their request's ID", ids, o.People)
	}
	if n := sum(res.StoredRequests); n != o.People || res.StoredRequests["approved"] != o.People {
		problem("the database holds %d requests (%v), want %d, all approved", n, res.StoredRequests, o.People)
	}
	if n := sum(res.StoredGrants); n != o.People || res.StoredGrants["revoked"] != o.People {
		problem("the database holds %d grants (%v), want %d, all revoked", n, res.StoredGrants, o.People)
	}
	late := 0
	for _, l := range res.Lateness {
		if l > onTime {
			late++
		}
	}
	if late > 0 {
		problem("%d revocation(s) came more than %s after expiry (max %s)", late, onTime, res.Lateness[len(res.Lateness)-1])
	}
	if err := serve.Stop(); err != nil {
		problem("%v", err)
	}
	return res, nil
}

// together runs fn(0..n-1) on n goroutines released at the same moment and returns the time
// from the release to the last return.
func together(n int, fn func(i int)) time.Duration {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			fn(i)
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(gate)
	done.Wait()
	return time.Since(t0)
}

func toAnswer(resp *slacktest.Response, err error, d time.Duration) answer {
	if err != nil {
		return answer{Err: err.Error(), Latency: d}
	}
	return answer{Status: resp.Status, Latency: d}
}

func statuses(as []answer) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		switch {
		case a.Status == 0 && a.Err == "":
			m["not sent"]++
		case a.Status == 0:
			m["no answer"]++
		default:
			m[fmt.Sprint(a.Status)]++
		}
	}
	return m
}

func countBy(ctx context.Context, db *sql.DB, q string) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		m[k] = n
	}
	return m, rows.Err()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func latencies(as []answer) []time.Duration {
	var out []time.Duration
	for _, a := range as {
		if a.Status != 0 {
			out = append(out, a.Latency)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i]
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func (r *result) print(w io.Writer, o options) {
	store := "SQLite"
	if o.Postgres {
		store = "PostgreSQL"
	}
	fmt.Fprintf(w, "load: %d requesters and %d approvers through signed Slack requests, grants %s-%s, storage %s, %s\n\n",
		o.People, o.People, o.MinGrant, o.MaxGrant, store, r.Elapsed.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tanswers\tp50\tp99\tmax\twall time\t")
	for _, row := range []struct {
		name  string
		as    []answer
		phase time.Duration
	}{{"/access request", r.Requests, r.RequestPhase}, {"Approve click", r.Approvals, r.ApprovalPhase}} {
		l := latencies(row.as)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name, counts(statuses(row.as)), ms(pct(l, 50)), ms(pct(l, 99)), ms(pct(l, 100)), ms(row.phase))
	}
	fmt.Fprintf(tw, "revoked after expiry\t%d revoked\t%s\t%s\t%s\t\t\n", len(r.Lateness), ms(pct(r.Lateness, 50)), ms(pct(r.Lateness, 99)), ms(pct(r.Lateness, 100)))
	tw.Flush()
	fmt.Fprintf(w, "\nstored: requests %s; grants %s; approval messages posted to Slack by the end: %d\n",
		counts(r.StoredRequests), counts(r.StoredGrants), r.ApprovalMessages)
	for told, n := range r.NotApproved {
		fmt.Fprintf(w, "not approved after a 200 to the click: %d, the approver was told: %q\n", n, told)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintf(w, "checks: no 5xx, every request stored and approved, every grant revoked within %s of expiry\n", onTime)
		return
	}
	fmt.Fprintln(w, "PROBLEMS:")
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  "+p)
	}
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
