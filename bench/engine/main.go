// Command engine benchmarks accessbot's core engine and prints every number beside the
// baseline it was measured against in the same run:
//
//   - revocation lateness of grants expiring while the scheduler runs, against a once-a-period
//     cron job (Scheduler.RunDue every -cron-period of wall time);
//   - recovery: how long `accessbot serve` takes to revoke grants that were already overdue when
//     it started, against the floor of one UPDATE + audit append transaction per grant;
//   - audit: events appended per second against plain INSERTs of the same rows, and `accessbot
//     audit verify` against a plain scan of the same rows;
//   - memory: resident memory of `accessbot serve`, idle and with many active grants, against a
//     trivial Go HTTP server.
//
// Run it from the repository root:
//
//	go run ./bench/engine           # the full run, about 4 minutes on 2 cores
//	go run ./bench/engine -quick    # smaller sizes and a 10 s cron period, about a minute
//
// Everything runs on real SQLite files in a temporary directory (removed at the end unless
// -keep), with the wall clock; the programs it measures are built into that directory and
// started and stopped by it. It talks to nothing but 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/accessbot/accessbot/bench/internal/table"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick       bool
	only        map[string]bool
	cronPeriod  time.Duration
	grants      int
	window      time.Duration
	recovery    int
	appendN     int
	verifyN     int
	memGrants   int
	keep        bool
	markdown    bool
	cpuProfile  string
	tmpParent   string
	benchmarks  string
	explicitSet map[string]bool
}

var allBenchmarks = []string{"lateness", "cron", "recovery", "audit", "memory"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "engine:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "smaller sizes and a 10s cron period (about a minute)")
	fs.StringVar(&o.benchmarks, "only", strings.Join(allBenchmarks, ","), "benchmarks to run, comma-separated: "+strings.Join(allBenchmarks, ", "))
	fs.DurationVar(&o.cronPeriod, "cron-period", time.Minute, "period of the cron baseline of revocation lateness (-quick: 10s)")
	fs.IntVar(&o.grants, "grants", 10_000, "grants expiring during the lateness window (-quick: 1,000)")
	fs.DurationVar(&o.window, "window", 10*time.Second, "window over which those grants expire (-quick: 5s)")
	fs.IntVar(&o.recovery, "recovery-grants", 10_000, "grants overdue when serve starts (-quick: 1,000)")
	fs.IntVar(&o.appendN, "append-events", 10_000, "events appended one per transaction (-quick: 2,000)")
	fs.IntVar(&o.verifyN, "verify-events", 1_000_000, "events appended in batches and then verified (-quick: 100,000)")
	fs.IntVar(&o.memGrants, "memory-grants", 100_000, "active grants in the database for the memory benchmark (-quick: 10,000)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (databases, logs) and print its path")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the lateness run's window (Scheduler.Run) to this file")
	fs.StringVar(&o.tmpParent, "tmp", "", "parent of the temporary directory (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.explicitSet = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.explicitSet[f.Name] = true })
	if o.quick {
		quick := map[string]func(){
			"cron-period":     func() { o.cronPeriod = 10 * time.Second },
			"grants":          func() { o.grants = 1_000 },
			"window":          func() { o.window = 5 * time.Second },
			"recovery-grants": func() { o.recovery = 1_000 },
			"append-events":   func() { o.appendN = 2_000 },
			"verify-events":   func() { o.verifyN = 100_000 },
			"memory-grants":   func() { o.memGrants = 10_000 },
		}
		for name, set := range quick {
			if !o.explicitSet[name] {
				set()
			}
		}
	}
	o.only = map[string]bool{}
	for _, b := range strings.Split(o.benchmarks, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		known := false
		for _, k := range allBenchmarks {
			known = known || k == b
		}
		if !known {
			return o, fmt.Errorf("-only: unknown benchmark %q (known: %s)", b, strings.Join(allBenchmarks, ", "))
		}
		o.only[b] = true
	}
	for name, v := range map[string]int{"grants": o.grants, "recovery-grants": o.recovery, "append-events": o.appendN, "verify-events": o.verifyN, "memory-grants": o.memGrants} {
		if v < 1 {
			return o, fmt.Errorf("-%s must be at least 1", name)
		}
	}
	if o.cronPeriod <= 0 || o.window <= 0 {
		return o, fmt.Errorf("-cron-period and -window must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.tmpParent, "accessbot-bench-")
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

	var bin, httpBin string
	if o.only["recovery"] || o.only["audit"] || o.only["memory"] {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		progress("building accessbot and the baseline HTTP server into %s", tmp)
		if bin, err = build(ctx, root, "./cmd/accessbot", tmp); err != nil {
			return err
		}
		if httpBin, err = build(ctx, root, "./bench/httpserver", tmp); err != nil {
			return err
		}
	}

	rep := report{opts: o, started: time.Now()}
	if o.only["lateness"] || o.only["cron"] {
		perGrant, err := calibrate(ctx, filepath.Join(tmp, "calibrate"))
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
		progress("calibration: %s to make and activate one grant", perGrant.Round(time.Microsecond))
		if o.only["lateness"] {
			progress("lateness: %d grants expiring over %s while Scheduler.Run runs", o.grants, o.window)
			r, err := runLateness(ctx, filepath.Join(tmp, "lateness"), o.grants, o.window, perGrant, 0, o.cpuProfile)
			if err != nil {
				return fmt.Errorf("lateness: %w", err)
			}
			rep.run = &r
		}
		if o.only["cron"] {
			progress("lateness baseline: the same with RunDue every %s (this takes about %s)", o.cronPeriod, (o.cronPeriod + o.window).Round(time.Second))
			r, err := runLateness(ctx, filepath.Join(tmp, "cron"), o.grants, o.window, perGrant, o.cronPeriod, "")
			if err != nil {
				return fmt.Errorf("lateness baseline: %w", err)
			}
			rep.cron = &r
		}
	}
	if o.only["recovery"] {
		progress("recovery: %d grants overdue when serve starts", o.recovery)
		r, err := runRecovery(ctx, filepath.Join(tmp, "recovery"), bin, o.recovery)
		if err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
		rep.recovery = &r
	}
	if o.only["audit"] {
		progress("audit: %d single appends, %d batched appends, then verify", o.appendN, o.verifyN)
		r, err := runAudit(ctx, filepath.Join(tmp, "audit"), bin, o.appendN, o.verifyN)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		rep.audit = &r
	}
	if o.only["memory"] {
		progress("memory: serve idle and with %d active grants, and a trivial HTTP server", o.memGrants)
		r, err := runMemory(ctx, filepath.Join(tmp, "memory"), bin, httpBin, o.memGrants)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		rep.memory = &r
	}
	rep.finished = time.Now()
	rep.print(stdout)
	return nil
}

// report gathers the results and prints them.
type report struct {
	opts              options
	started, finished time.Time
	run, cron         *latenessResult
	recovery          *recoveryResult
	audit             *auditResult
	memory            *memoryResult
}

// row is one line of the table.
type row = table.Row

func secs(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s < 0.001:
		return fmt.Sprintf("%.3f ms", s*1000)
	case s < 10:
		return fmt.Sprintf("%.3f s", s)
	default:
		return fmt.Sprintf("%.1f s", s)
	}
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func (r *report) rows() []row {
	var rows []row
	if r.run != nil || r.cron != nil {
		n, w := r.opts.grants, r.opts.window
		name := fmt.Sprintf("revocation lateness, %s grants expiring over %s", table.Thousands(int64(n)), w)
		for _, q := range []struct {
			measure string
			pick    func(dist) time.Duration
			goal    time.Duration
		}{
			{"p50", func(d dist) time.Duration { return d.P50 }, 0},
			{"p99", func(d dist) time.Duration { return d.P99 }, time.Second},
			{"max", func(d dist) time.Duration { return d.Max }, 0},
		} {
			x := row{Bench: name, Measure: q.measure}
			if r.run != nil {
				x.Value = secs(q.pick(r.run.DB))
			}
			if r.cron != nil {
				x.Baseline = fmt.Sprintf("%s (RunDue every %s)", secs(q.pick(r.cron.DB)), r.cron.CronPeriod)
			}
			if r.run != nil && r.cron != nil {
				x.Ratio = table.Ratio(q.pick(r.run.DB).Seconds(), q.pick(r.cron.DB).Seconds())
			}
			if q.goal > 0 && r.run != nil {
				x.Goal = "<= " + secs(q.goal)
				x.Met = table.YesNo(q.pick(r.run.DB) <= q.goal)
			}
			rows = append(rows, x)
			name = ""
		}
	}
	if rc := r.recovery; rc != nil {
		rows = append(rows,
			row{Bench: fmt.Sprintf("recovery, %s grants overdue at start", table.Thousands(int64(rc.N))), Measure: "serve start to all revoked",
				Value: secs(rc.Recovered), Baseline: fmt.Sprintf("%s (1 UPDATE + append per tx, sequential)", secs(rc.Floor)),
				Ratio: table.Ratio(rc.Recovered.Seconds(), rc.Floor.Seconds())},
			row{Measure: "serve start to /readyz 200", Value: secs(rc.Ready)},
		)
	}
	if a := r.audit; a != nil {
		rows = append(rows,
			row{Bench: "audit append through storage.Update", Measure: "1 event per tx",
				Value: table.PerSec(a.Single), Baseline: table.PerSec(a.SinglePlain) + " (plain INSERT, same row)", Ratio: table.Ratio(a.Single, a.SinglePlain)},
			row{Measure: fmt.Sprintf("%d events per tx", auditBatch),
				Value: table.PerSec(a.Batched), Baseline: table.PerSec(a.BatchedPlain) + " (plain INSERT, same rows)", Ratio: table.Ratio(a.Batched, a.BatchedPlain)},
			row{Bench: fmt.Sprintf("audit verify, %s events", table.Thousands(int64(a.VerifyN))), Measure: "`accessbot audit verify` (process)",
				Value: secs(a.VerifyCLI), Baseline: secs(a.ScanRaw) + " (plain SELECT of the rows, no hashing)",
				Ratio: table.Ratio(a.VerifyCLI.Seconds(), a.ScanRaw.Seconds()), Goal: "<= 3 s", Met: table.YesNo(a.VerifyCLI <= 3*time.Second)},
			row{Measure: "audit.Verify (in process)", Value: secs(a.VerifyInProc), Baseline: secs(a.ScanRaw),
				Ratio: table.Ratio(a.VerifyInProc.Seconds(), a.ScanRaw.Seconds())},
			row{Measure: "storage.ScanAudit (no hashing)", Value: secs(a.ScanStorage), Baseline: secs(a.ScanRaw),
				Ratio: table.Ratio(a.ScanStorage.Seconds(), a.ScanRaw.Seconds())},
		)
	}
	if m := r.memory; m != nil {
		base := mb(m.Baseline.RSS) + " (trivial Go HTTP server)"
		rows = append(rows,
			row{Bench: "memory of serve (VmRSS)", Measure: "idle", Value: mb(m.Idle.RSS), Baseline: base,
				Ratio: table.Ratio(float64(m.Idle.RSS), float64(m.Baseline.RSS)), Goal: "<= 40 MB", Met: table.YesNo(m.Idle.RSS <= 40*1024)},
			row{Measure: fmt.Sprintf("%s active grants", table.Thousands(int64(m.Grants))), Value: mb(m.Loaded.RSS), Baseline: base,
				Ratio: table.Ratio(float64(m.Loaded.RSS), float64(m.Baseline.RSS)), Goal: "<= 200 MB", Met: table.YesNo(m.Loaded.RSS <= 200*1024)},
		)
	}
	return rows
}

func (r *report) notes() []string {
	var notes []string
	for _, l := range []*latenessResult{r.run, r.cron} {
		if l == nil {
			continue
		}
		what := "Scheduler.Run"
		if l.Mode == "cron" {
			what = fmt.Sprintf("RunDue every %s", l.CronPeriod)
		}
		notes = append(notes, fmt.Sprintf("lateness (%s): %s grants made through the Service in %s (%s/s), activated by the scheduler in %s, first expiry %s later; min %s; Metrics.RevokeLateness heard %d (p99 %s); %d revoke failures",
			what, table.Thousands(int64(l.N)), secs(l.Create), table.Thousands(int64(float64(l.N)/l.Create.Seconds())), secs(l.Activate), secs(l.Lead),
			secs(l.DB.Min), l.Hook.N, secs(l.Hook.P99), l.Failures))
	}
	if rc := r.recovery; rc != nil {
		notes = append(notes, fmt.Sprintf("recovery: %s overdue grants seeded (Service with a clock 2 h back, 1 h grants, RunDue) in %s; revocations/s including process start: %s, floor: %s",
			table.Thousands(int64(rc.N)), secs(rc.Seed), table.Thousands(int64(float64(rc.N)/rc.Recovered.Seconds())), table.Thousands(int64(float64(rc.N)/rc.Floor.Seconds()))))
	}
	if a := r.audit; a != nil {
		notes = append(notes, fmt.Sprintf("audit: the verified log is the %s events appended %d per transaction; times are the median of 3 runs", table.Thousands(int64(a.VerifyN)), auditBatch))
	}
	if m := r.memory; m != nil {
		notes = append(notes, fmt.Sprintf("memory: peak (VmHWM) trivial server %s, serve idle %s, serve with %s grants %s; the grants were inserted in %s",
			mb(m.Baseline.HWM), mb(m.Idle.HWM), table.Thousands(int64(m.Grants)), mb(m.Loaded.HWM), secs(m.Seed)))
		notes = append(notes, fmt.Sprintf("memory: of VmRSS, anonymous (heap, stacks) + file (the binary's mapped pages): trivial server %s + %s, serve idle %s + %s, serve with %s grants %s + %s",
			mb(m.Baseline.Anon), mb(m.Baseline.File), mb(m.Idle.Anon), mb(m.Idle.File), table.Thousands(int64(m.Grants)), mb(m.Loaded.Anon), mb(m.Loaded.File)))
	}
	return notes
}

func (r *report) print(w io.Writer) {
	mode := "full"
	if r.opts.quick {
		mode = "quick"
	}
	title := fmt.Sprintf("accessbot engine benchmarks (%s run, %s)", mode, r.finished.Sub(r.started).Round(time.Second))
	table.Print(w, title, r.started, r.rows(), r.notes(), r.opts.markdown)
}
