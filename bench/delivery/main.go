// Command delivery benchmarks the chat outbox against Slack's published rate limits: a burst of
// requests, each approved at once, across approval channels, and the time until every approval
// message, update and DM is delivered, beside the floor those limits allow for the calls made.
//
//   - The Slack Web API is bot/slack/slacktest on 127.0.0.1, enforcing the limits as Slack
//     documents them (chat.postMessage per channel, chat.update and conversations.open per
//     workspace), answering 429 with Retry-After over them.
//   - accessbot is wired as serve wires it: grants.Service and its scheduler (a noop adapter)
//     over SQLite, bot.Bot with its Dispatcher and Outbox, the Slack client as the platform.
//
// Slack's limits are minutes long for a burst of 1,000 (chat.update is 50 a minute), so both
// the client and the fake run them -scale times faster, on the wall clock: -scale 10 makes a
// minute six seconds. The ratio to the floor does not depend on the scale as long as accessbot's
// own work (SQLite, rendering) keeps up with the scaled rate.
//
// Run it from the repository root:
//
//	go run ./bench/delivery              # 1,000 requests, 20 channels, limits ×10 (about 35 s)
//	go run ./bench/delivery -markdown    # the table for BENCHMARKS.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/bench/internal/table"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/ratelimit"
	"github.com/accessbot/accessbot/storage"
)

type options struct {
	requests  int
	channels  int
	people    int
	scale     float64
	tolerance time.Duration
	clients   int
	parallel  int
	paceWait  time.Duration
	timeout   time.Duration
	markdown  bool
	tmp       string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "delivery:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("delivery", flag.ContinueOnError)
	fs.IntVar(&o.requests, "requests", 1000, "requests in the burst, each approved at once")
	fs.IntVar(&o.channels, "channels", 20, "approval channels (one resource each)")
	fs.IntVar(&o.people, "people", 250, "requesters (each gets a DM when approved and when granted)")
	fs.Float64Var(&o.scale, "scale", 10, "how many times faster than Slack's published limits the fake and the client run")
	fs.DurationVar(&o.tolerance, "tolerance", 5*time.Millisecond, "how early the fake lets a call come (jitter between sending and arriving)")
	fs.IntVar(&o.parallel, "parallel", 0, "destinations the outbox sends to at once (0: its default)")
	fs.DurationVar(&o.paceWait, "pace-wait", 0, "the longest the outbox waits in place for a slot (0: its default of 500ms divided by -scale, negative: never)")
	fs.IntVar(&o.clients, "clients", 8, "goroutines making the requests and approvals")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.StringVar(&o.tmp, "tmp", "", "directory for the database (a new temporary one when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.requests < 1 || o.channels < 1 || o.people < 1 || o.scale <= 0 {
		return errors.New("-requests, -channels, -people and -scale must be positive")
	}
	if o.requests/o.people > o.channels {
		return errors.New("each requester asks for each resource at most once: -requests must be at most -people × -channels")
	}
	if o.paceWait == 0 {
		// The outbox's wait in place is scaled like the limits it waits for.
		o.paceWait = time.Duration(float64(500*time.Millisecond) / o.scale)
	}
	if o.tmp == "" {
		dir, err := os.MkdirTemp("", "accessbot-delivery-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.tmp = dir
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	started := time.Now()
	res, err := measure(ctx, o)
	if err != nil {
		return err
	}
	report(out, o, started, res)
	return nil
}

// result is what one run measured.
type result struct {
	elapsed  time.Duration // from the first request to the last call Slack accepted
	floor    time.Duration // what the limits allow for the calls made
	floorBy  string        // the bucket that sets the floor
	accepted map[string]int
	limited  map[string]int
	// approvalRows are the approval deliveries the dispatcher queued; approvalCalls the posts
	// and updates of approval messages made.
	approvalRows, approvalCalls int
	dms                         int
	counts                      bot.OutboxCounts
	final                       int             // approval messages showing the grant at the end
	limitedAt                   []time.Duration // when, after the first request, calls were answered 429
}

func channelID(i int) string    { return fmt.Sprintf("C0RES%02d", i) }
func resourceName(i int) string { return fmt.Sprintf("res-%02d", i) }

func measure(ctx context.Context, o options) (result, error) {
	var res result
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(o.tmp, "accessbot.db")})
	if err != nil {
		return res, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return res, err
	}
	logFile, err := os.Create(filepath.Join(o.tmp, "accessbot.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	log := zerolog.New(logFile).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	rates := slack.DefaultRates().Scaled(o.scale)
	fake := slacktest.NewServer()
	defer fake.Close()
	fake.EnforceLimits(slacktest.Limits{
		PostEvery: rates.Post.Every, PostBurst: rates.Post.Burst,
		UpdateEvery: rates.Update.Every, UpdateBurst: rates.Update.Burst,
		OpenEvery: rates.Open.Every, OpenBurst: rates.Open.Burst,
		Tolerance: o.tolerance,
	})
	people := make([]grants.Actor, o.people)
	for i := range people {
		people[i] = grantstest.Person(fmt.Sprintf("dev%04d@example.com", i))
		fake.AddUser(slacktest.User{ID: people[i].PlatformID, Name: people[i].Name, Email: people[i].Email})
		if err := db.RememberPerson(ctx, bot.Person{ID: people[i].ID, Name: people[i].Name, Platform: slack.PlatformName,
			PlatformID: people[i].PlatformID, SeenAt: time.Now()}); err != nil {
			return res, err
		}
	}
	client, err := slack.NewClient(slack.ClientOptions{BotToken: slacktest.BotToken, APIURL: fake.APIURL(), Log: log, Rates: rates})
	if err != nil {
		return res, err
	}

	channels := bot.Channels{Security: "C0SECURITY", Resources: map[string]string{}}
	var resources []*grants.Resource
	for i := range o.channels {
		resources = append(resources, &grants.Resource{Name: resourceName(i), Description: "noop target",
			AdapterType: "noop", Adapter: noop.New(), Policy: grants.Policy{ApproverGroups: []string{"sre"},
				Approvals: 1, MaxDuration: 8 * time.Hour, PendingTTL: 24 * time.Hour}})
		channels.Resources[resourceName(i)] = channelID(i)
	}
	approver := grantstest.Bob
	relay := &bot.Relay{}
	svc, err := grants.NewService(grants.Options{
		Store: db, Resources: resources, Directory: grantstest.NewDirectory(map[string][]string{"sre": {approver.ID}}),
		Groups: []string{"sre"}, Notifier: relay, Secrets: relay, Log: log,
	})
	if err != nil {
		return res, err
	}
	b, err := bot.New(bot.Options{Service: svc, Store: db, Log: log, Channels: map[string]bot.Channels{slack.PlatformName: channels},
		Delivery: bot.DeliveryOptions{Parallel: o.parallel, PaceWait: o.paceWait}})
	if err != nil {
		return res, err
	}
	relay.Attach(b)
	if err := b.AddPlatform(client); err != nil {
		return res, err
	}
	dispatcher, outbox := b.Workers(slack.PlatformName)
	if _, err := dispatcher.DispatchOnce(ctx); err != nil { // the cursor starts here
		return res, err
	}

	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var workers sync.WaitGroup
	sched := grants.NewScheduler(svc, grants.SchedulerOptions{})
	for _, w := range []func(context.Context) error{sched.Run, b.Run} {
		workers.Go(func() { _ = w(wctx) })
	}
	defer workers.Wait()

	t0 := time.Now()
	if err := burst(ctx, o, svc, people, approver); err != nil {
		return res, err
	}

	// Done when every grant is active, the dispatcher has passed every event, and nothing waits.
	for {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("not delivered in time: %w", err)
		}
		done, err := delivered(ctx, db, dispatcher, o.requests)
		if err != nil {
			return res, err
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopWorkers()
	workers.Wait()

	res.counts = outbox.Counts()
	res.accepted, res.limited = map[string]int{}, map[string]int{}
	buckets := map[string]int{}
	var last time.Time
	isApprovalChannel := map[string]bool{}
	for i := range o.channels {
		isApprovalChannel[channelID(i)] = true
	}
	for _, c := range fake.Calls("chat.postMessage", "chat.update", "conversations.open") {
		if c.RateLimited {
			res.limited[c.Method]++
			res.limitedAt = append(res.limitedAt, c.At.Sub(t0).Round(time.Millisecond))
			continue
		}
		res.accepted[c.Method]++
		if c.At.After(last) {
			last = c.At
		}
		switch c.Method {
		case "chat.postMessage":
			buckets["chat.postMessage "+c.Arg("channel")]++
			if isApprovalChannel[c.Arg("channel")] {
				res.approvalCalls++
			} else if strings.HasPrefix(c.Arg("channel"), "D") {
				res.dms++
			}
		case "chat.update":
			buckets[c.Method]++
			res.approvalCalls++
		default:
			buckets[c.Method]++
		}
	}
	res.elapsed = last.Sub(t0)
	res.floor, res.floorBy = floor(buckets, rates)

	ds, err := db.Deliveries(ctx, slack.PlatformName)
	if err != nil {
		return res, err
	}
	for _, d := range ds {
		if d.Kind == bot.DeliverApproval {
			res.approvalRows++
		}
	}
	for i := range o.channels {
		for _, m := range fake.Messages(channelID(i)) {
			if strings.Contains(m.Text+m.Blocks, "Granted until") {
				res.final++
			}
		}
	}
	return res, nil
}

// delivered reports whether every grant is active, the dispatcher has passed the whole log, and
// no delivery waits.
func delivered(ctx context.Context, db *storage.DB, d *bot.Dispatcher, requests int) (bool, error) {
	active := 0
	if err := db.View(ctx, func(tx grants.ReadTx) error {
		gs, err := tx.CountGrants(ctx)
		active = gs[grants.GrantActive]
		return err
	}); err != nil {
		return false, err
	}
	if active < requests {
		return false, nil
	}
	if n, err := d.DispatchOnce(ctx); err != nil || n > 0 {
		return false, err
	}
	ps, err := db.OutboxPending(ctx)
	if err != nil {
		return false, err
	}
	return len(ps) == 0, nil
}

// floor returns the shortest time the limits allow for the calls made, and the bucket that
// sets it: each bucket's calls beyond its burst, one per interval.
func floor(buckets map[string]int, r slack.Rates) (time.Duration, string) {
	var best time.Duration
	by := ""
	keys := make([]string, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var rate ratelimit.Rate
		switch {
		case strings.HasPrefix(k, "chat.postMessage "):
			rate = r.Post
		case k == "chat.update":
			rate = r.Update
		case k == "conversations.open":
			rate = r.Open
		}
		n := buckets[k] - max(rate.Burst, 1)
		if d := time.Duration(max(n, 0)) * rate.Every; d > best {
			best, by = d, fmt.Sprintf("%s, %d calls", k, buckets[k])
		}
	}
	return best, by
}

func report(w io.Writer, o options, started time.Time, r result) {
	ratio := float64(r.elapsed) / float64(max(r.floor, 1))
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	real := func(d time.Duration) string {
		return (time.Duration(float64(d) * o.scale)).Round(time.Second).String()
	}
	saved := r.approvalRows - r.approvalCalls
	limited := r.limited["chat.postMessage"] + r.limited["chat.update"] + r.limited["conversations.open"]
	rows := []table.Row{
		{Bench: fmt.Sprintf("burst of %s requests, each approved, %d channels", table.Thousands(int64(o.requests)), o.channels),
			Measure: "time until every approval message, update and DM was delivered", Value: secs(r.elapsed),
			Baseline: fmt.Sprintf("%s (floor of the limits: %s)", secs(r.floor), r.floorBy),
			Ratio:    fmt.Sprintf("%.2f×", ratio), Goal: "≤ 1.2× the floor", Met: table.YesNo(ratio <= 1.2)},
		{Bench: "", Measure: fmt.Sprintf("the same at Slack's real limits (×%g)", o.scale), Value: real(r.elapsed),
			Baseline: real(r.floor), Ratio: "", Goal: "", Met: ""},
		{Bench: "", Measure: "calls Slack accepted: chat.postMessage / chat.update / conversations.open",
			Value: fmt.Sprintf("%s / %s / %s", table.Thousands(int64(r.accepted["chat.postMessage"])),
				table.Thousands(int64(r.accepted["chat.update"])), table.Thousands(int64(r.accepted["conversations.open"]))),
			Baseline: fmt.Sprintf("%s DMs, %d approval messages showing the grant", table.Thousands(int64(r.dms)), r.final)},
		{Bench: "", Measure: "calls answered 429 (over a limit): chat.postMessage / chat.update / conversations.open", Value: fmt.Sprintf("%d / %d / %d",
			r.limited["chat.postMessage"], r.limited["chat.update"], r.limited["conversations.open"]),
			Baseline: "0", Goal: "0", Met: table.YesNo(limited == 0)},
		{Bench: "", Measure: "approval-message calls saved by coalescing", Value: table.Thousands(int64(saved)),
			Baseline: fmt.Sprintf("of %s approval deliveries queued (%s calls made)", table.Thousands(int64(r.approvalRows)), table.Thousands(int64(r.approvalCalls)))},
		{Bench: "", Measure: "outbox: sent / coalesced / put back until their slot / 429s", Value: fmt.Sprintf("%s / %s / %s / %s",
			table.Thousands(r.counts.Sent), table.Thousands(r.counts.Coalesced), table.Thousands(r.counts.Deferred), table.Thousands(r.counts.RateLimited))},
	}
	notes := []string{
		fmt.Sprintf("Slack's published limits, run ×%g on the wall clock by both the fake and the client: chat.postMessage 1/s per channel after a burst of 3, chat.update and conversations.open 50/min after a burst of 5 (one DM conversation per person, kept). The fake lets a call come %s early; the outbox waits in place for a slot up to %s (its 500ms, scaled).", o.scale, o.tolerance, o.paceWait),
		fmt.Sprintf("%d requesters, each asking for %d resources; each approval is made at once by an approver; the scheduler grants through a noop adapter. The floor is, over every bucket, its calls beyond the burst times its interval; the time runs from the first request to the last call Slack accepted.", o.people, (o.requests+o.people-1)/o.people),
		"Coalescing: several changes of one approval message (approved, granting, granted) waiting together are sent as one post or update showing the latest state.",
	}
	if len(r.limitedAt) > 0 {
		notes = append(notes, fmt.Sprintf("The 429s came at %v after the first request.", r.limitedAt))
	}
	table.Print(w, "accessbot chat delivery under Slack's rate limits", started, rows, notes, o.markdown)
}

// burst makes o.requests requests, each approved at once, from o.clients goroutines: person p
// asks for a resource that moves across the channels so that every channel gets its share.
func burst(ctx context.Context, o options, svc *grants.Service, people []grants.Actor, approver grants.Actor) error {
	jobs := make(chan int)
	errc := make(chan error, o.clients)
	var clients sync.WaitGroup
	for range o.clients {
		clients.Go(func() {
			for i := range jobs {
				p := i % o.people
				r := (p + (i/o.people)*(o.people+1)) % o.channels
				oc, err := svc.Request(ctx, people[p], grants.RequestInput{Resource: resourceName(r), Duration: time.Hour, Reason: "INC-1 delivery bench"})
				if err == nil {
					_, err = svc.Approve(ctx, approver, oc.Request.ID)
				}
				if err != nil {
					errc <- fmt.Errorf("request %d: %w", i, err)
					return
				}
			}
		})
	}
	go func() {
		defer close(jobs)
		for i := range o.requests {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	clients.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}
