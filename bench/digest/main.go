// Command digest benchmarks the access digest over a large audit log, beside a baseline
// measured in the same run:
//
//   - accessbot: digest.Build over storage, as `accessbot serve` builds the weekly digest and
//     `accessbot digest preview` prints it: aggregated in the database over the index of
//     migration 0018 (counts by type, the few columns of the frequent events, the rare ones
//     whole);
//   - before: the same digest.Build over the same database seen as a plain audit.Source, which
//     reads the window event by event (storage.ScanAudit, every event decoded and counted), as
//     Build did before it aggregated in the database; the two digests must be equal;
//   - baseline: a plain SELECT of the same rows (the query ScanAudit sends, on a database/sql
//     connection of its own), scanned into variables and nothing else.
//
// Run it from the repository root:
//
//	go run ./bench/digest                   # 1,000,000 events over 30 days: about a minute
//	go run ./bench/digest -events 100000 -runs 1
//
// The log is appended through storage (Update and Append, 1,000 events per transaction) into a
// SQLite database in a temporary directory, removed at the end unless -keep; -db reuses a
// database kept by an earlier run. Two windows are measured: the last week (what the weekly
// digest reads) and the whole log.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/storage"
)

type options struct {
	events     int
	days       int
	runs       int
	keep       bool
	db         string
	markdown   bool
	cpuProfile string
	tmpParent  string
	// logEvents is how many events the log holds (the goal is for a log of a million).
	logEvents int64
}

// start is when the generated log begins: a Monday, 09:00 UTC.
var start = time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC)

// goal is the issue's: a digest over 1,000,000 events in at most a second.
const goal = time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "digest bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("digest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.events, "events", 1_000_000, "audit events in the log")
	fs.IntVar(&o.days, "days", 30, "days the log spans")
	fs.IntVar(&o.runs, "runs", 3, "runs of each measurement (the median is shown), baseline and accessbot alternating")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (the database) and print its path")
	fs.StringVar(&o.db, "db", "", "use this database (kept by an earlier -keep run) instead of seeding one")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the digest builds to this file")
	fs.StringVar(&o.tmpParent, "tmp", "", "parent of the temporary directory (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.events < 1000 || o.days < 8 || o.runs < 1 {
		return o, errors.New("-events must be at least 1000, -days at least 8, -runs at least 1")
	}
	return o, nil
}

// row is one line of the results.
type row struct {
	window           string
	events           int
	accessbot        time.Duration
	before           time.Duration
	scanOnly         time.Duration
	byTime           time.Duration
	baseline         time.Duration
	digestLines      int
	applyGoal        bool
	requests, grants int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	path := o.db
	if path == "" {
		dir, err := os.MkdirTemp(o.tmpParent, "accessbot-digest-bench-")
		if err != nil {
			return err
		}
		if o.keep {
			defer fmt.Fprintf(stderr, "kept %s\n", dir)
		} else {
			defer os.RemoveAll(dir)
		}
		path = filepath.Join(dir, "accessbot.db")
	}
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: path})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	head, err := db.AuditHead(ctx)
	if err != nil {
		return err
	}
	if head.Seq == 0 {
		fmt.Fprintf(stderr, "seeding %d events over %d days through storage (%d per transaction)...\n", o.events, o.days, seedBatch)
		st, err := seed(ctx, db, o.events, start, o.days)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "seeded %d events (%d requests) in %s, %.0f events/s\n", st.Events, st.Requests,
			st.Elapsed.Round(time.Millisecond), st.EventsPerSecond)
		if head, err = db.AuditHead(ctx); err != nil {
			return err
		}
	}
	raw, err := sql.Open("sqlite", path+"?_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	var first, last int64
	if err := raw.QueryRowContext(ctx, `SELECT MIN(at), MAX(at) FROM audit_events`).Scan(&first, &last); err != nil {
		return err
	}
	// The weekly digest of the log's last full week: Monday 09:00 to Monday 09:00.
	end := time.UnixMicro(last).UTC()
	weekEnd := time.Date(end.Year(), end.Month(), end.Day(), 9, 0, 0, 0, time.UTC)
	for weekEnd.Weekday() != time.Monday || weekEnd.After(end) {
		weekEnd = weekEnd.AddDate(0, 0, -1)
	}
	windows := []struct {
		name         string
		since, until time.Time
		goal         bool
	}{
		{"last week (the weekly digest)", weekEnd.AddDate(0, 0, -7), weekEnd, true},
		{"the whole log", time.UnixMicro(first).UTC(), time.UnixMicro(last + 1).UTC(), true},
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	o.logEvents = head.Seq
	var rows []row
	for _, w := range windows {
		r := row{window: w.name, applyGoal: w.goal}
		// The sequence numbers the digest narrows the window to (digest.OutOfOrder either side).
		var after, last int64
		if err := raw.QueryRowContext(ctx, `SELECT COALESCE(MIN(seq), 1) - 1 FROM audit_events WHERE at >= ?`,
			w.since.Add(-digest.OutOfOrder).UnixMicro()).Scan(&after); err != nil {
			return err
		}
		if err := raw.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE at < ?`,
			w.until.Add(digest.OutOfOrder).UnixMicro()).Scan(&last); err != nil {
			return err
		}
		var base, acc, scan, byTime, before []time.Duration
		for i := 0; i < o.runs; i++ {
			runtime.GC()
			t0 := time.Now()
			n, err := plainSelect(ctx, raw, scanQuery, after, last, w.since, w.until)
			if err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
			base = append(base, time.Since(t0))
			r.events = n

			runtime.GC()
			t0 = time.Now()
			if _, err := plainSelect(ctx, raw, timeQuery, w.since, w.until); err != nil {
				return fmt.Errorf("select by time: %w", err)
			}
			byTime = append(byTime, time.Since(t0))

			runtime.GC()
			t0 = time.Now()
			d, err := digest.Build(ctx, db, w.since, w.until, digest.Options{})
			if err != nil {
				return fmt.Errorf("digest: %w", err)
			}
			acc = append(acc, time.Since(t0))
			if int(d.Events) != n {
				return fmt.Errorf("the digest read %d events, the plain SELECT %d", d.Events, n)
			}
			r.requests, r.grants = d.Requests.Total(), d.Grants.Activated
			r.digestLines = len(d.Sections())

			// Before: the same digest by the event-by-event scan (what Build did before it
			// aggregated in the database), which must give the same digest.
			runtime.GC()
			t0 = time.Now()
			ref, err := digest.Build(ctx, scanSource{db}, w.since, w.until, digest.Options{})
			if err != nil {
				return fmt.Errorf("digest by scan: %w", err)
			}
			before = append(before, time.Since(t0))
			if !reflect.DeepEqual(d, ref) {
				return fmt.Errorf("window %s: the aggregated digest differs from the scanned one", w.name)
			}

			runtime.GC()
			t0 = time.Now()
			if err := db.ScanAudit(ctx, audit.Filter{Since: w.since, Until: w.until, AfterSeq: after, MaxSeq: last},
				func(audit.Event) error { return nil }); err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			scan = append(scan, time.Since(t0))
		}
		r.baseline, r.accessbot, r.scanOnly, r.byTime = median(base), median(acc), median(scan), median(byTime)
		r.before = median(before)
		rows = append(rows, r)
	}
	plan, err := queryPlan(ctx, raw, scanQuery, 0, head.Seq, windows[0].since, windows[0].until)
	if err != nil {
		return err
	}
	timePlan, err := queryPlan(ctx, raw, timeQuery, windows[0].since, windows[0].until)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit log: %d events over %s\nplan of the event-by-event scan's query: %s\nplan of a SELECT by time alone: %s\n\n", head.Seq,
		time.UnixMicro(last).Sub(time.UnixMicro(first)).Round(time.Hour), plan, timePlan)
	printTable(stdout, rows, o)
	return nil
}

// scanSource hides the aggregated reads of storage.DB, so that digest.Build counts by the
// event-by-event scan: the digest as it was built before it aggregated in SQL. The sections
// read by type (policy changes, signals, grants never used), the same in both, pass through.
type scanSource struct{ db *storage.DB }

func (s scanSource) ScanAuditOfType(ctx context.Context, typ string, f audit.Filter, fn func(audit.Event) error) error {
	return s.db.ScanAuditOfType(ctx, typ, f, fn)
}

func (s scanSource) UnusedGrants(ctx context.Context, q audit.UnusedQuery) ([]audit.UnusedGrant, int, error) {
	return s.db.UnusedGrants(ctx, q)
}

func (s scanSource) SignalEvents(ctx context.Context, since, until time.Time, fn func(audit.Event) error) error {
	return s.db.SignalEvents(ctx, since, until, fn)
}

func (s scanSource) RequestVolumes(ctx context.Context, since, until time.Time) (byPerson, byResource map[string]int, err error) {
	return s.db.RequestVolumes(ctx, since, until)
}

func (s scanSource) ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	return s.db.ScanAudit(ctx, f, fn)
}

func (s scanSource) AuditHead(ctx context.Context) (audit.Head, error) { return s.db.AuditHead(ctx) }

// scanQuery is the query storage.ScanAudit sends for the digest's filter (storage/audit.go):
// the window's sequence numbers and its times.
const scanQuery = `SELECT seq, at, type, actor, resource, subject, request_id, grant_id, data,
		prev_hash, hash FROM audit_events WHERE seq > ? AND seq <= ? AND at >= ? AND at < ? ORDER BY seq`

// timeQuery selects the same rows by time alone: SQLite takes the index on at and sorts.
const timeQuery = `SELECT seq, at, type, actor, resource, subject, request_id, grant_id, data,
		prev_hash, hash FROM audit_events WHERE at >= ? AND at < ? ORDER BY seq`

// plainSelect reads the rows a query selects into variables, and nothing else: the floor of
// any digest built from the log. Times in args are sent as UnixMicro, as storage stores them.
func plainSelect(ctx context.Context, db *sql.DB, query string, args ...any) (int, error) {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = t.UnixMicro()
		}
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		seq, at                                                    int64
		typ, actor, resource, subject, reqID, grantID, data, ph, h string
		n                                                          int
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &at, &typ, &actor, &resource, &subject, &reqID, &grantID, &data, &ph, &h); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// queryPlan is SQLite's plan for the window query, on one line.
func queryPlan(ctx context.Context, db *sql.DB, query string, args ...any) (string, error) {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = t.UnixMicro()
		}
	}
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "; "), rows.Err()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func printTable(w io.Writer, rows []row, o options) {
	header := []string{"window", "events read", "accessbot (digest.Build)", "before: event-by-event scan", "after/before", "of which ScanAudit alone", "baseline: plain SELECT, same rows", "ratio", "goal", "met", "plain SELECT by time alone"}
	var lines [][]string
	for _, r := range rows {
		g, met := "", ""
		if r.applyGoal && o.logEvents >= 1_000_000 {
			g = "<= " + secs(goal)
			met = "no"
			if r.accessbot <= goal {
				met = "yes"
			}
		}
		lines = append(lines, []string{
			r.window, fmt.Sprintf("%d", r.events), secs(r.accessbot), secs(r.before),
			fmt.Sprintf("%.2f", r.accessbot.Seconds()/r.before.Seconds()), secs(r.scanOnly), secs(r.baseline),
			fmt.Sprintf("%.2f", r.accessbot.Seconds()/r.baseline.Seconds()), g, met, secs(r.byTime),
		})
	}
	if o.markdown {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		for _, l := range lines {
			fmt.Fprintf(w, "| %s |\n", strings.Join(l, " | "))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	tw.Flush()
}
