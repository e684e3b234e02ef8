// Command slack benchmarks accessbot's Slack endpoint: signed slash commands per second through
// the real handler, over loopback, with many concurrent clients, each request committed, and
// their p50 and p99 latency, beside a handler that only verifies the signature (the ceiling),
// measured in the same run:
//
//   - accessbot: slack.Server (signature, users.info through the Slack client and its cache,
//     bot.Bot, grants.Service, SQLite) mounted on a net/http server on 127.0.0.1, answering
//     `/access request <resource> 1h <reason>` with the ephemeral reply;
//   - Baseline: the same net/http server and the same clients, but the handler only reads the
//     body, checks the signature with slack.Verifier and answers 200 with no body.
//
// Run it from the repository root:
//
//	go run ./bench/slack            # 64 clients, 10 s per phase (about 25 s)
//	go run ./bench/slack -quick     # 3 s per phase
//
// Everything runs in this process: a real SQLite database in a temporary directory (removed at
// the end unless -keep), the Slack Web API faked by bot/slack/slacktest on 127.0.0.1. Nothing
// leaves 127.0.0.1. The clients run in the same process, on the same cores, as the server.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/accessbot/accessbot/bench/internal/table"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	quick      bool
	clients    int
	duration   time.Duration
	warmup     time.Duration
	users      int
	workers    bool
	keep       bool
	markdown   bool
	cpuProfile string
	tmpParent  string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "slack bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("slack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "3s per phase and a 0.5s warm-up")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients, each with its own keep-alive connection")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase (-quick: 3s)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each phase, and in accessbot's until every user has sent a command (-quick: 0.5s)")
	fs.IntVar(&o.users, "users", 1000, "distinct Slack users the commands come from")
	fs.BoolVar(&o.workers, "workers", false, "also run what serve runs beside the handler: the scheduler (activates the auto-approved grants) and the Slack delivery (approval messages, DMs)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, log) and print its path")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of accessbot's measured phase to this file")
	fs.StringVar(&o.tmpParent, "tmp", "", "parent of the temporary directory (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["duration"] {
			o.duration = 3 * time.Second
		}
		if !set["warmup"] {
			o.warmup = 500 * time.Millisecond
		}
	}
	if o.clients < 1 || o.users < 1 {
		return o, fmt.Errorf("-clients and -users must be at least 1")
	}
	if o.duration <= 0 || o.warmup < 0 {
		return o, fmt.Errorf("-duration must be positive and -warmup not negative")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.tmpParent, "accessbot-bench-slack-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(stderr, "kept", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}

	rep := report{opts: o, started: time.Now()}
	progress("baseline: %d clients, signature check only, %s (+%s warm-up)", o.clients, o.duration, o.warmup)
	base, err := runBaseline(ctx, o)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	rep.base = &base
	progress("accessbot: %d clients, /access request through the real handler, %s (+%s warm-up)", o.clients, o.duration, o.warmup)
	ab, err := runAccessbot(ctx, tmp, o)
	if err != nil {
		return fmt.Errorf("accessbot: %w", err)
	}
	rep.accessbot = &ab
	rep.finished = time.Now()
	rep.print(stdout)
	if !ab.Committed() {
		return fmt.Errorf("not every answered request was committed: %s", ab.commitText())
	}
	return nil
}

// report gathers the results and prints them.
type report struct {
	opts              options
	started, finished time.Time
	base              *phaseResult
	accessbot         *accessbotResult
}

// row is one line of the table.
type row = table.Row

// Goals of the spec, on 2 cores.
const (
	goalRate = 1000.0
	goalP99  = 100 * time.Millisecond
)

func (r *report) rows() []row {
	a, b := &r.accessbot.phaseResult, r.base
	name := fmt.Sprintf("signed slash commands, %d clients, %s", r.opts.clients, r.opts.duration)
	baseNote := " (signature check only)"
	return []row{
		{Bench: name, Measure: "requests/s (200, committed)", Value: table.PerSec(a.Rate()), Baseline: table.PerSec(b.Rate()) + baseNote,
			Ratio: table.Ratio(a.Rate(), b.Rate()), Goal: ">= " + table.PerSec(goalRate), Met: table.YesNo(a.Rate() >= goalRate)},
		{Measure: "p50 latency", Value: table.Millis(a.Latency.P50), Baseline: table.Millis(b.Latency.P50), Ratio: table.Ratio(a.Latency.P50.Seconds(), b.Latency.P50.Seconds())},
		{Measure: "p99 latency", Value: table.Millis(a.Latency.P99), Baseline: table.Millis(b.Latency.P99), Ratio: table.Ratio(a.Latency.P99.Seconds(), b.Latency.P99.Seconds()),
			Goal: "<= " + table.Millis(goalP99), Met: table.YesNo(a.Latency.P99 <= goalP99)},
		{Measure: "max latency", Value: table.Millis(a.Latency.Max), Baseline: table.Millis(b.Latency.Max), Ratio: table.Ratio(a.Latency.Max.Seconds(), b.Latency.Max.Seconds())},
	}
}

func (r *report) notes() []string {
	a, b := r.accessbot, r.base
	workers := "the scheduler and the Slack delivery were not running (-workers runs them)"
	if r.opts.workers {
		workers = fmt.Sprintf("the scheduler and the Slack delivery ran beside the handler: %d grants activated, %d chat.postMessage calls by the end", a.Activated, a.Posts)
	}
	return []string{
		fmt.Sprintf("accessbot: %s answered in %s (+%s warm-up, %s requests); %s; failures: %s",
			table.Thousands(int64(a.OK)), secs(a.Elapsed), r.opts.warmup, table.Thousands(int64(a.WarmOK)), a.commitText(), a.failureText()),
		fmt.Sprintf("accessbot: %d distinct Slack users; users.info calls to the fake Slack API: %d in the warm-up, %d measured (the client caches profiles for 10 min); %s",
			r.opts.users, a.UsersInfoWarm, a.UsersInfo-a.UsersInfoWarm, workers),
		fmt.Sprintf("baseline: %s answered in %s (+%s warm-up); failures: %s", table.Thousands(int64(b.OK)), secs(b.Elapsed), r.opts.warmup, b.failureText()),
		"latency is measured by the client, from sending the signed request to reading the whole answer; the clients sign and send from the same process, on the same cores",
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func (r *report) print(w io.Writer) {
	mode := "full"
	if r.opts.quick {
		mode = "quick"
	}
	title := fmt.Sprintf("accessbot Slack benchmark (%s run, %s)", mode, r.finished.Sub(r.started).Round(time.Second))
	table.Print(w, title, r.started, r.rows(), r.notes(), r.opts.markdown)
}
