// Command load puts many people through the built accessbot at once, over signed Slack
// requests: N requesters each send one `/access request` (a resource that needs one approval)
// at the same moment, then N approvers each click Approve on one of those requests at the same
// moment. Grants last 10–20 s. It then waits past every expiry and checks, from accessbot's
// database, that every request was stored and approved, every grant made and revoked, and how
// late each revocation came (revoked_at - expires_at). It reports the answers by status (any 5xx
// fails the run) and the p50/p99/max latency of requests, approvals and revocations.
//
//	go run ./faults/load                  # 1,000 requesters and 1,000 approvers, SQLite
//	go run ./faults/load -postgres        # the same on PostgreSQL (internal/pgtest)
//	go run ./faults/load -people 50       # a quick look
//
// accessbot runs as `accessbot serve` (built once), with its Slack Web API on the in-process
// fake (bot/slack/slacktest) and the noop adapter, on 127.0.0.1. The clients run in this process
// on the same machine. The exit status is 1 when a check failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/accessbot/accessbot/faults/internal/fixture"
)

func main() {
	var o options
	flag.IntVar(&o.People, "people", 1000, "requesters, and as many approvers")
	flag.DurationVar(&o.MinGrant, "min", 10*time.Second, "shortest grant")
	flag.DurationVar(&o.MaxGrant, "max", 20*time.Second, "longest grant")
	flag.BoolVar(&o.Postgres, "postgres", false, "store in PostgreSQL (a throwaway server from internal/pgtest) instead of SQLite")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the grant durations")
	keep := flag.Bool("keep", false, "keep the working directory (config, database, serve.log)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tb := fixture.NewTB("load", func(s string) { fmt.Fprintln(os.Stderr, s) })
	failed := false
	err := fixture.Run(func() error {
		dir, err := os.MkdirTemp("", "faults-load-")
		if err != nil {
			return err
		}
		if *keep {
			fmt.Fprintln(os.Stderr, "working directory:", dir)
		} else {
			tb.Cleanup(func() { os.RemoveAll(dir) })
		}
		fmt.Fprintln(os.Stderr, "building accessbot...")
		if o.Bin, err = fixture.BuildBinary(ctx, dir); err != nil {
			return err
		}
		o.Dir, o.Log = dir, os.Stderr
		res, err := run(ctx, tb, o)
		if res != nil {
			res.print(os.Stdout, o)
			failed = len(res.Problems) > 0
		}
		return err
	})
	tb.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
