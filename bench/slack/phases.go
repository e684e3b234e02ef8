package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/bench/internal/loadserver"
	"github.com/accessbot/accessbot/bench/internal/table"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// runBaseline measures the ceiling: the same HTTP server and clients, but a handler that only
// reads the body, verifies its signature with slack.Verifier (the replay cache included) and
// answers 200 with no body.
func runBaseline(ctx context.Context, o options) (phaseResult, error) {
	verifier := slack.NewVerifier(signingSecret, clock.Real{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+slack.PathCommands, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read request", http.StatusBadRequest)
			return
		}
		if err := verifier.Verify(r.Context(), r.Header, body); err != nil {
			http.Error(w, "invalid request signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	base, stop, err := loadserver.Serve(mux)
	if err != nil {
		return phaseResult{}, err
	}
	bodies := newCommandBodies(o.users, "https://hooks.slack.com/commands/T0FAKE/1/bench")
	l := newLoad(base+slack.PathCommands, o.clients, o.users, bodies.body, func(_ int64, status int, body []byte) string {
		switch {
		case status != http.StatusOK:
			return fmt.Sprintf("answers %d", status)
		case len(body) != 0:
			return "answers with a body"
		}
		return ""
	})
	defer l.close()
	if o.warmup > 0 {
		l.run(ctx, o.warmup, 0)
	}
	res := l.run(ctx, o.duration, 0)
	if err := stop(); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// accessbotResult is the accessbot phase: what the clients saw, and what the database holds.
type accessbotResult struct {
	phaseResult
	// WarmOK counts the expected answers of the warm-up, and Warm200 its 200 answers by
	// resource: they are committed too.
	WarmOK  int
	Warm200 map[string]int
	// Requests and Grants are the rows in the database at the end.
	Requests, Grants int
	// UsersInfo is how many users.info calls reached the fake Slack API, UsersInfoWarm how many
	// of them before the measured phase.
	UsersInfo, UsersInfoWarm int
	// With -workers: grants the scheduler activated, and messages the delivery posted.
	Activated, Posts int
}

// Committed says whether every request answered 200 was committed: one request row each, and a
// grant for each auto-approved one, and nothing else.
func (a *accessbotResult) Committed() bool {
	want := a.Status200[autoResource] + a.Status200[approvalResource] + a.Warm200[autoResource] + a.Warm200[approvalResource]
	return a.Requests == want && a.Grants == a.Status200[autoResource]+a.Warm200[autoResource]
}

func (a *accessbotResult) commitText() string {
	answered := a.Status200[autoResource] + a.Status200[approvalResource] + a.Warm200[autoResource] + a.Warm200[approvalResource]
	auto := a.Status200[autoResource] + a.Warm200[autoResource]
	verdict := "every one committed"
	if !a.Committed() {
		verdict = "MISMATCH"
	}
	return fmt.Sprintf("%s requests answered 200 (%s auto-approved), %s requests and %s grants in the database: %s",
		table.Thousands(int64(answered)), table.Thousands(int64(auto)), table.Thousands(int64(a.Requests)), table.Thousands(int64(a.Grants)), verdict)
}

// answer is the part of the command's answer the check reads.
type answer struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// runAccessbot measures the real handler: slack.Server over bot.Bot over grants.Service over a
// SQLite database, wired as serve wires them, with the Slack Web API faked on 127.0.0.1.
func runAccessbot(ctx context.Context, tmp string, o options) (accessbotResult, error) {
	var res accessbotResult
	dir := filepath.Join(tmp, "accessbot")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(dir, "accessbot.db")})
	if err != nil {
		return res, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return res, err
	}
	// serve logs at info level, as JSON: so does this, to a file.
	logFile, err := os.Create(filepath.Join(dir, "accessbot.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	log := zerolog.New(logFile).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	fake := slacktest.NewServer()
	defer fake.Close()
	for i := range o.users {
		fake.AddUser(slacktest.User{ID: userID(i), Name: fmt.Sprintf("user%d", i),
			RealName: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("user%d@example.com", i)})
	}
	client, err := slack.NewClient(slack.ClientOptions{BotToken: slacktest.BotToken, APIURL: fake.APIURL(), Log: log})
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
	// Wired as internal/app wires serve: the Relay lets the Service tell the Bot about changes.
	relay := &bot.Relay{}
	svc, err := grants.NewService(grants.Options{
		Store: db, Resources: resources, Directory: client.Directory(nil), Groups: []string{"sre"},
		Notifier: relay, Secrets: relay, Log: log,
	})
	if err != nil {
		return res, err
	}
	b, err := bot.New(bot.Options{Service: svc, Store: db, Log: log, Channels: map[string]bot.Channels{
		slack.PlatformName: {Approvals: "C0APPROVALS", Security: "C0SECURITY"},
	}})
	if err != nil {
		return res, err
	}
	relay.Attach(b)
	if err := b.AddPlatform(client); err != nil {
		return res, err
	}
	srv, err := slack.NewServer(client, slack.ServerOptions{SigningSecret: signingSecret, Handler: b, Audit: db, Log: log})
	if err != nil {
		return res, err
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	base, stop, err := loadserver.Serve(mux)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = stop()
			srv.Wait()
		}
	}()

	workersDone := make(chan error, 2)
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	nWorkers := 0
	if o.workers {
		sched := grants.NewScheduler(svc, grants.SchedulerOptions{})
		for _, w := range []func(context.Context) error{sched.Run, b.Run} {
			nWorkers++
			go func() { workersDone <- w(wctx) }()
		}
	}

	bodies := newCommandBodies(o.users, fake.ResponseURL("bench"))
	l := newLoad(base+slack.PathCommands, o.clients, o.users, bodies.body, checkAnswer(o.users))
	defer l.close()
	if o.warmup > 0 {
		// Until every user has asked once: their profiles are cached and they are remembered,
		// as for people who use the bot. A first command costs a users.info call and a write.
		w := l.run(ctx, o.warmup, int64(o.users))
		res.WarmOK, res.Warm200 = w.OK, w.Status200
	}
	res.UsersInfoWarm = fake.Count("users.info")
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
	}
	res.phaseResult = l.run(ctx, o.duration, 0)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	// Work that outlived an acknowledgement finishes before the rows are counted.
	stopped = true
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
		if err != nil {
			return err
		}
		for _, n := range reqs {
			res.Requests += n
		}
		for _, n := range gs {
			res.Grants += n
		}
		res.Activated = gs[grants.GrantActive]
		return nil
	})
	if err != nil {
		return res, err
	}
	res.UsersInfo = fake.Count("users.info")
	res.Posts = fake.Count("chat.postMessage")
	stopWorkers()
	for range nWorkers {
		if err := <-workersDone; err != nil && !errors.Is(err, context.Canceled) {
			return res, fmt.Errorf("background worker: %w", err)
		}
	}
	return res, nil
}

// checkAnswer accepts the ephemeral reply to the request: "Approved automatically" for the
// auto-approved resource, "Request sent" for the other.
func checkAnswer(users int) verdict {
	return func(n int64, status int, body []byte) string {
		if status != http.StatusOK {
			return fmt.Sprintf("answers %d", status)
		}
		var a answer
		if err := json.Unmarshal(body, &a); err != nil {
			return "answers that are not JSON"
		}
		want := "Approved automatically: " + autoResource
		if resourceOf(n, users) == approvalResource {
			want = "Request sent: " + approvalResource
		}
		switch {
		case strings.Contains(a.Text, "Working on it"):
			return "late answers (acknowledged, reply by response_url)"
		case a.ResponseType != "ephemeral" || !strings.Contains(a.Text, want):
			return "unexpected answers"
		}
		return ""
	}
}
