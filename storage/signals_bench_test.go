package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accessbot/accessbot/grants"
)

// BenchmarkSignals measures reading a request's signal facts (what grants.Service reads when a
// request is made) on SQLite, with a log of ACCESSBOT_BENCH_EVENTS events (default 1,000,000;
// 10,000 with -short) and the requests and grants such a log records: one request and one grant
// per four events, from 50 people on 20 resources over the last 90 days, so a person has some
// 1,700 requests in the 30 days the volume median reads. It reports the p50 and p99 of one
// read (the target is a few milliseconds at p99):
//
//	go test ./storage -run '^$' -bench BenchmarkSignals -benchtime 2000x
func BenchmarkSignals(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	if s := os.Getenv("ACCESSBOT_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("ACCESSBOT_BENCH_EVENTS=%q: %v", s, err)
		}
	}
	ctx := context.Background()
	db := benchDB(b)
	start := time.Now()
	if _, err := insertSealed(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	now := base.Add(90 * 24 * time.Hour)
	if err := insertRequestsAndGrants(ctx, db, n/4, now); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d events, %d requests and %d grants in %s", n, n/4, n/4, time.Since(start).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, 2))
	// The wall time of a read is what a requester waits; its CPU time (this thread's: SQLite is
	// pure Go here and runs on the calling goroutine, kept on one thread) tells the read's own
	// cost from waiting for a core on a busy machine.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadCPU := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}
	var took, cpu []time.Duration
	b.ResetTimer()
	for b.Loop() {
		q := grants.SignalQuery{
			Person:   fmt.Sprintf("user%d@example.com", rng.IntN(50)),
			Resource: fmt.Sprintf("resource-%d", rng.IntN(20)),
			Now:      now,
		}
		t0, c0 := time.Now(), threadCPU()
		err := db.View(ctx, func(tx grants.ReadTx) error {
			_, err := tx.SignalFacts(ctx, q)
			return err
		})
		took, cpu = append(took, time.Since(t0)), append(cpu, threadCPU()-c0)
		if err != nil {
			b.Fatal(err)
		}
	}
	// What one read found, to show it read real rows: the busiest figures of the benchmark.
	var f grants.SignalFacts
	if err := db.View(ctx, func(tx grants.ReadTx) error {
		var err error
		f, err = tx.SignalFacts(ctx, grants.SignalQuery{Person: "user0@example.com", Resource: "resource-0", Now: now})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, n := range f.Daily {
		total += n
	}
	b.Logf("user0 on resource-0: last grant %s, %d requests in 24h, %d in 30 days, %d durations, denied recently %v",
		f.LastGrant.Format(time.RFC3339), f.Requests24h, total, len(f.Durations), f.DeniedRecently)
	slices.Sort(took)
	slices.Sort(cpu)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu[len(cpu)*99/100].Microseconds())/1000, "cpu-p99-ms")
}

// insertRequestsAndGrants adds n requests, each approved with its grant, spread evenly over the
// 90 days before now: people user0..user49, resources resource-0..resource-19, every tenth
// request denied.
func insertRequestsAndGrants(ctx context.Context, db *DB, n int, now time.Time) error {
	const perStmt = 400
	tx, err := db.write.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	reqCols := strings.Count(requestCols, ",") + 1
	reqRow := "(" + strings.TrimSuffix(strings.Repeat("?, ", reqCols), ", ") + ")"
	reqStmt, err := tx.PreparexContext(ctx, tx.Rebind(`INSERT INTO requests (`+requestCols+`) VALUES `+
		strings.TrimSuffix(strings.Repeat(reqRow+", ", perStmt), ", ")))
	if err != nil {
		return err
	}
	defer reqStmt.Close()
	nGrantCols := strings.Count(grantCols, ",") + 1
	grantRow := "(" + strings.TrimSuffix(strings.Repeat("?, ", nGrantCols), ", ") + ")"
	grantStmt, err := tx.PreparexContext(ctx, tx.Rebind(`INSERT INTO grants (`+grantCols+`) VALUES `+
		strings.TrimSuffix(strings.Repeat(grantRow+", ", perStmt), ", ")))
	if err != nil {
		return err
	}
	defer grantStmt.Close()
	span := 90 * 24 * time.Hour
	var rargs, gargs []any
	for i := range n / perStmt * perStmt {
		at := now.Add(-span + time.Duration(i)*(span/time.Duration(n)))
		r := grants.Request{
			ID: fmt.Sprintf("req-%08d", i), Kind: grants.KindAccess,
			Resource: fmt.Sprintf("resource-%d", i%20), Requester: fmt.Sprintf("user%d@example.com", i%50),
			RequesterName: "user", Duration: time.Duration(1+i%4) * time.Hour, Reason: "INC-" + strconv.Itoa(i),
			State: grants.RequestApproved, ApprovalsNeeded: 1, GrantID: fmt.Sprintf("grant-%08d", i),
			CreatedAt: at, PendingUntil: at.Add(time.Hour), DecidedAt: at.Add(time.Minute), DecidedBy: "approver@example.com",
			Version: 1,
		}
		if i%10 == 7 {
			r.State = grants.RequestDenied // its grant row stays: the counts, not the story, matter here
		}
		rargs = append(append(rargs, r.ID), requestArgs(r)...)
		rargs = append(rargs, r.Version)
		g := grants.Grant{ID: r.GrantID, RequestID: r.ID, Resource: r.Resource, Subject: r.Requester,
			Account: "user", State: grants.GrantRevoked, Reason: r.Reason, StartsAt: r.DecidedAt,
			ExpiresAt: r.DecidedAt.Add(r.Duration), CreatedAt: r.DecidedAt, UpdatedAt: r.DecidedAt, Version: 1}
		ga, err := grantArgs(g)
		if err != nil {
			return err
		}
		gargs = append(append(append(gargs, g.ID), ga...), g.Version)
		if len(rargs) == perStmt*reqCols {
			if _, err := reqStmt.ExecContext(ctx, rargs...); err != nil {
				return fmt.Errorf("insert requests: %w", err)
			}
			if _, err := grantStmt.ExecContext(ctx, gargs...); err != nil {
				return fmt.Errorf("insert grants: %w", err)
			}
			rargs, gargs = rargs[:0], gargs[:0]
		}
	}
	if _, err := tx.ExecContext(ctx, "ANALYZE"); err != nil {
		return err
	}
	return tx.Commit()
}
