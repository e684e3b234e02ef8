// Command teams benchmarks accessbot's Teams endpoint: signed activities (`/access request`
// messages) per second through the real handler, over loopback, with many concurrent clients,
// each request committed and answered through the connector, with p50 and p99 latency, beside a
// handler that only verifies the Bot Framework token (the ceiling), in the same run:
//
//   - accessbot: teams.Server (JWT verified against the fake's JWKS, the member API through the
//     Teams client and its cache, bot.Bot, grants.Service, SQLite, the reply posted to the fake
//     connector) mounted on a net/http server on 127.0.0.1;
//   - baseline: the same server and clients, but the handler only reads the body, verifies the
//     token with teams.Verifier and answers 200.
//
// Run it from the repository root:
//
//	go run ./bench/teams            # 64 clients, 10 s per phase
//	go run ./bench/teams -quick     # 3 s per phase
//
// The Bot Framework (OpenID metadata, JWKS, token endpoint, connector) is faked by
// bot/teams/teamstest on 127.0.0.1. As the Bot Framework does, every request carries the same
// token, valid for an hour: the token does not cover the body.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/bench/internal/loadserver"
	"github.com/accessbot/accessbot/bench/internal/table"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/teams"
	"github.com/accessbot/accessbot/bot/teams/teamstest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/storage"
)

// Resources of the accessbot phase: each user asks for both, in turn.
const (
	autoResource     = "bench-auto"     // auto-approved (rule `true`): a request and a grant
	approvalResource = "bench-approval" // waits for an approver: a request
)

type options struct {
	quick            bool
	clients, users   int
	duration, warmup time.Duration
	markdown, keep   bool
	tmpParent        string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "teams bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("teams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "3s per phase and a 0.5s warm-up")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients, each with its own keep-alive connection")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase (-quick: 3s)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each phase, and in accessbot's until every user has sent a message (-quick: 0.5s)")
	fs.IntVar(&o.users, "users", 1000, "distinct Teams users the messages come from")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, log) and print its path")
	fs.StringVar(&o.tmpParent, "tmp", "", "parent of the temporary directory (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick && !set["duration"] {
		o.duration = 3 * time.Second
	}
	if o.quick && !set["warmup"] {
		o.warmup = 500 * time.Millisecond
	}
	if o.clients < 1 || o.users < 1 || o.duration <= 0 || o.warmup < 0 {
		return o, fmt.Errorf("-clients and -users must be at least 1, -duration positive, -warmup not negative")
	}
	return o, nil
}

// benchTB is the teamstest.TB of a program: a failure ends it, cleanups run at the end.
type benchTB struct {
	mu       sync.Mutex
	cleanups []func()
}

func (b *benchTB) Helper()           {}
func (b *benchTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (b *benchTB) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}
func (b *benchTB) done() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.tmpParent, "accessbot-bench-teams-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(stderr, "kept", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	tb := &benchTB{}
	defer tb.done()
	fake := teamstest.New(tb)
	for i := range o.users {
		fake.SetMember(member(i))
	}
	started := time.Now()
	fmt.Fprintf(stderr, "baseline: %d clients, token check only, %s (+%s warm-up)\n", o.clients, o.duration, o.warmup)
	base, err := runBaseline(ctx, fake, o)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	fmt.Fprintf(stderr, "accessbot: %d clients, /access request through the real handler, %s (+%s warm-up)\n", o.clients, o.duration, o.warmup)
	ab, err := runAccessbot(ctx, fake, tmp, o)
	if err != nil {
		return fmt.Errorf("accessbot: %w", err)
	}
	printReport(stdout, o, started, base, ab)
	if !ab.committed() {
		return fmt.Errorf("not every answered request was committed and answered: %s", ab.commitText())
	}
	return nil
}

// member is the i-th Teams user.
func member(i int) teamstest.Member {
	return teamstest.Member{ID: fmt.Sprintf("29:user%06d", i), Name: fmt.Sprintf("User %d", i),
		AADObjectID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Email: fmt.Sprintf("user%d@example.com", i)}
}

// resourceOf is the resource of the n-th request.
func resourceOf(n int64, users int) string {
	if (n/int64(users))%2 == 0 {
		return autoResource
	}
	return approvalResource
}

// activities makes the n-th request: a personal message `request <resource> 1h INC-<n> …`,
// with every field Teams sends.
type activities struct {
	fake  *teamstest.Server
	users int
	base  []map[string]any
}

func newActivities(fake *teamstest.Server, users int) *activities {
	a := &activities{fake: fake, users: users}
	for i := range users {
		a.base = append(a.base, fake.Message(member(i), fmt.Sprintf("a:personal-user%06d", i), teamstest.Personal, ""))
	}
	return a
}

func (a *activities) body(n int64) []byte {
	u := int(n % int64(a.users))
	act := make(map[string]any, len(a.base[u])+1)
	for k, v := range a.base[u] {
		act[k] = v
	}
	act["id"] = fmt.Sprintf("1700000000%d", n)
	act["text"] = fmt.Sprintf("request %s 1h INC-%d benchmark load", resourceOf(n, a.users), n)
	b, err := json.Marshal(act)
	if err != nil {
		panic(err)
	}
	return b
}

// phase is what the clients saw in one measured phase.
type phase struct {
	ok, warmOK int
	failures   map[string]int
	elapsed    time.Duration
	p50, p99   time.Duration
	max        time.Duration
}

func (p phase) rate() float64 { return float64(p.ok) / p.elapsed.Seconds() }

// load sends requests from every client for d, and at least until the first minN have been
// sent; an answer counts when it is 200.
func load(ctx context.Context, url, token string, o options, acts *activities, d time.Duration, minN int64, next *int64, mu *sync.Mutex) phase {
	var wg sync.WaitGroup
	var all []time.Duration
	res := phase{failures: map[string]int{}}
	stopAt := time.Now().Add(d)
	start := time.Now()
	for range o.clients {
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, MaxIdleConnsPerHost: 1}}
		wg.Go(func() {
			defer c.CloseIdleConnections()
			var lats []time.Duration
			ok := 0
			fails := map[string]int{}
			for ctx.Err() == nil {
				mu.Lock()
				n := *next
				if n >= minN && !time.Now().Before(stopAt) {
					mu.Unlock()
					break
				}
				*next++
				mu.Unlock()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(acts.body(n)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", token)
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					fails["transport errors"]++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					fails[fmt.Sprintf("answers %d", resp.StatusCode)]++
					continue
				}
				ok++
				lats = append(lats, lat)
			}
			mu.Lock()
			res.ok += ok
			all = append(all, lats...)
			for k, v := range fails {
				res.failures[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		res.p50, res.p99, res.max = all[(len(all)-1)*50/100], all[(len(all)-1)*99/100], all[len(all)-1]
	}
	return res
}

// signed returns the token every request carries.
func signed(fake *teamstest.Server, acts *activities) string {
	return fake.Sign(acts.body(0), teamstest.Token{Life: 2 * time.Hour})
}

// runBaseline measures the ceiling: the handler reads the body, verifies the token and
// answers 200.
func runBaseline(ctx context.Context, fake *teamstest.Server, o options) (phase, error) {
	v := &teams.Verifier{AppID: teamstest.AppID, Keys: &teams.KeySet{MetadataURL: fake.MetadataURL()}, Tenants: []string{teamstest.TenantID}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+teams.PathMessages, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read request", http.StatusBadRequest)
			return
		}
		if err := v.Verify(r.Context(), r.Header, body); err != nil {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	url, stop, err := loadserver.Serve(mux)
	if err != nil {
		return phase{}, err
	}
	defer func() { _ = stop() }()
	acts := newActivities(fake, o.users)
	token := signed(fake, acts)
	var next int64
	var mu sync.Mutex
	if o.warmup > 0 {
		load(ctx, url+teams.PathMessages, token, o, acts, o.warmup, 0, &next, &mu)
	}
	return load(ctx, url+teams.PathMessages, token, o, acts, o.duration, 0, &next, &mu), ctx.Err()
}

// accessbotPhase adds what the database and the connector hold at the end.
type accessbotPhase struct {
	phase
	requests, grants, replies int
}

func (a accessbotPhase) committed() bool {
	return a.requests == a.ok+a.warmOK && a.replies >= a.ok+a.warmOK
}

func (a accessbotPhase) commitText() string {
	verdict := "every one committed and answered"
	if !a.committed() {
		verdict = "MISMATCH"
	}
	return fmt.Sprintf("%d requests answered 200, %d requests and %d grants in the database, %d replies posted to the connector: %s",
		a.ok+a.warmOK, a.requests, a.grants, a.replies, verdict)
}

// runAccessbot measures the real handler, wired as serve wires it.
func runAccessbot(ctx context.Context, fake *teamstest.Server, tmp string, o options) (accessbotPhase, error) {
	var res accessbotPhase
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(tmp, "accessbot.db")})
	if err != nil {
		return res, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return res, err
	}
	logFile, err := os.Create(filepath.Join(tmp, "accessbot.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	log := zerolog.New(logFile).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	client, err := teams.NewClient(teams.ClientOptions{AppID: teamstest.AppID, AppPassword: teamstest.AppPassword,
		TenantID: teamstest.TenantID, TokenURL: fake.TokenURL(), ServiceURL: fake.ServiceURL(),
		Identity: teams.IdentityPolicy{Tenants: []string{teamstest.TenantID}}, Log: log})
	if err != nil {
		return res, err
	}
	auto, err := grants.CompileRule("true")
	if err != nil {
		return res, err
	}
	resources := []*grants.Resource{
		{Name: autoResource, Description: "auto-approved noop target", AdapterType: "noop", Adapter: noop.New(),
			Policy: grants.Policy{ApproverGroups: []string{"sre"}, Approvals: 1, MaxDuration: 8 * time.Hour,
				ReasonRequired: true, AutoApprove: auto, PendingTTL: 24 * time.Hour}},
		{Name: approvalResource, Description: "noop target that needs an approver", AdapterType: "noop", Adapter: noop.New(),
			Policy: grants.Policy{ApproverGroups: []string{"sre"}, Approvals: 1, MaxDuration: 8 * time.Hour,
				ReasonRequired: true, PendingTTL: 24 * time.Hour}},
	}
	relay := &bot.Relay{}
	svc, err := grants.NewService(grants.Options{Store: db, Resources: resources, Groups: []string{"sre"},
		Notifier: relay, Secrets: relay, Log: log})
	if err != nil {
		return res, err
	}
	client.UseReviewers(svc.MayReview)
	b, err := bot.New(bot.Options{Service: svc, Store: db, Log: log, Channels: map[string]bot.Channels{
		teams.PlatformName: {Approvals: "19:approvers@thread.tacv2"}}})
	if err != nil {
		return res, err
	}
	relay.Attach(b)
	if err := b.AddPlatform(client); err != nil {
		return res, err
	}
	srv, err := teams.NewServer(client, teams.ServerOptions{AppID: teamstest.AppID, OpenIDMetadataURL: fake.MetadataURL(),
		Tenants: []string{teamstest.TenantID}, Handler: b, Approvals: b, Audit: db, Log: log})
	if err != nil {
		return res, err
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	url, stop, err := loadserver.Serve(mux)
	if err != nil {
		return res, err
	}
	acts := newActivities(fake, o.users)
	token := signed(fake, acts)
	var next int64
	var mu sync.Mutex
	warm := 0
	if o.warmup > 0 {
		// Until every user has sent a message: the member API has been asked about each.
		warm = load(ctx, url+teams.PathMessages, token, o, acts, o.warmup, int64(o.users), &next, &mu).ok
	}
	res.phase = load(ctx, url+teams.PathMessages, token, o, acts, o.duration, 0, &next, &mu)
	res.warmOK = warm
	if err := stop(); err != nil {
		return res, err
	}
	srv.Wait()
	err = db.View(ctx, func(tx grants.ReadTx) error {
		reqs, err := tx.CountRequests(ctx)
		if err != nil {
			return err
		}
		gs, err := tx.CountGrants(ctx)
		for _, n := range reqs {
			res.requests += n
		}
		for _, n := range gs {
			res.grants += n
		}
		return err
	})
	for _, c := range fake.Calls() {
		if c.Method == http.MethodPost && len(c.Path) > len("v3/conversations/a:personal-") && c.Path[len(c.Path)-len("/activities"):] == "/activities" {
			res.replies++
		}
	}
	return res, err
}

// Goals, on 2 cores: as the Slack endpoint's.
const (
	goalRate = 1000.0
	goalP99  = 100 * time.Millisecond
)

func printReport(w io.Writer, o options, started time.Time, base phase, ab accessbotPhase) {
	a := ab.phase
	name := fmt.Sprintf("signed Teams activities, %d clients, %s", o.clients, o.duration)
	note := " (token check only)"
	rows := []table.Row{
		{Bench: name, Measure: "requests/s (200, committed, replied)", Value: table.PerSec(a.rate()), Baseline: table.PerSec(base.rate()) + note,
			Ratio: table.Ratio(a.rate(), base.rate()), Goal: ">= " + table.PerSec(goalRate), Met: table.YesNo(a.rate() >= goalRate)},
		{Measure: "p50 latency", Value: table.Millis(a.p50), Baseline: table.Millis(base.p50), Ratio: table.Ratio(a.p50.Seconds(), base.p50.Seconds())},
		{Measure: "p99 latency", Value: table.Millis(a.p99), Baseline: table.Millis(base.p99), Ratio: table.Ratio(a.p99.Seconds(), base.p99.Seconds()),
			Goal: "<= " + table.Millis(goalP99), Met: table.YesNo(a.p99 <= goalP99)},
		{Measure: "max latency", Value: table.Millis(a.max), Baseline: table.Millis(base.max), Ratio: table.Ratio(a.max.Seconds(), base.max.Seconds())},
	}
	notes := []string{
		fmt.Sprintf("accessbot: %s; failures: %s", ab.commitText(), failures(a.failures)),
		fmt.Sprintf("baseline: %d answered; failures: %s", base.ok, failures(base.failures)),
		"every request carries the same Bot Framework token (RS256, 2048-bit key), as Teams sends them; latency is the client's, from sending to the end of the answer (the reply is posted to the fake connector before it)",
	}
	mode := "full"
	if o.quick {
		mode = "quick"
	}
	table.Print(w, fmt.Sprintf("accessbot Teams benchmark (%s run, %s)", mode, time.Since(started).Round(time.Second)), started, rows, notes, o.markdown)
}

func failures(f map[string]int) string {
	if len(f) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d %s", f[k], k)
	}
	return out
}
