// Command export benchmarks `accessbot audit export` over a large audit log, each format
// beside a baseline measured in the same run:
//
//   - jsonl, csv: the built binary (`accessbot audit export --format F --output /dev/null`, the
//     whole process) and audit.Export in process, against a plain SELECT of the same rows
//     written with encoding/json or encoding/csv and nothing else;
//   - html: the auditor's report (audit.WriteReport: the whole chain verified, the requests and
//     grants of the log rebuilt, the page written), against a plain SELECT of the rows written
//     as escaped HTML table rows; `audit verify` is measured beside it, for scale.
//
// Run it from the repository root:
//
//	go run ./bench/export                    # 1,000,000 events, 3 runs each: about 2 minutes
//	go run ./bench/export -events 100000 -runs 1
//
// The log is generated into a temporary directory (removed at the end unless -keep): the lives
// of requests and grants as accessbot records them, sealed into a real hash chain. -db reuses a
// database kept by an earlier run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	events     int
	runs       int
	keep       bool
	db         string
	markdown   bool
	cpuProfile string
	tmpParent  string
	noCLI      bool
	only       map[string]bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.events, "events", 1_000_000, "audit events in the generated log")
	fs.IntVar(&o.runs, "runs", 3, "runs of each measurement; the median is reported")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (the database) and print its path")
	fs.StringVar(&o.db, "db", "", "use this database (kept by -keep) instead of generating one")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of one in-process html report to this file")
	fs.StringVar(&o.tmpParent, "tmp", "", "parent of the temporary directory (default: the system's)")
	fs.BoolVar(&o.noCLI, "no-cli", false, "skip the built binary (in-process measurements only)")
	only := fs.String("only", "jsonl,csv,html,events,verify", "measurements to run, comma-separated: jsonl, csv, html, events (html with every event), verify")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.only = map[string]bool{}
	for _, m := range strings.Split(*only, ",") {
		switch m = strings.TrimSpace(m); m {
		case "jsonl", "csv", "html", "events", "verify":
			o.only[m] = true
		case "":
		default:
			return o, fmt.Errorf("-only: unknown measurement %q", m)
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.events < 1 || o.runs < 1 {
		return o, errors.New("-events and -runs must be at least 1")
	}
	return o, nil
}

// result is one line of the table.
type result struct {
	name, measure string
	got, base     sample
	baseName      string
	goal          time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.tmpParent, "accessbot-bench-export-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(stderr, "kept", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	path := o.db
	gen := genStats{}
	if path == "" {
		path = filepath.Join(tmp, "audit.db")
		logf("generating %d events into %s", o.events, path)
		if gen, err = fill(ctx, path, o.events); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		logf("generated %d events (%d requests, %d grants) in %s", gen.Events, gen.Requests, gen.Grants, gen.Elapsed.Round(time.Millisecond))
	}
	cfg := filepath.Join(tmp, "accessbot.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("storage: {driver: sqlite, dsn: %q}\nlog: {level: warn}\nresources:\n  - name: bench\n    adapter: {type: noop}\n    policy: {approvers: [leads]}\ngroups:\n  leads: [lead@example.com]\n", path)), 0o600); err != nil {
		return err
	}
	var bin string
	if !o.noCLI {
		logf("building accessbot")
		if bin, err = build(ctx, tmp); err != nil {
			return err
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		_, err = inProcess(ctx, path, "html")
		pprof.StopCPUProfile()
		if cerr := f.Close(); err == nil {
			err = cerr // the profile is only whole once the file is closed
		}
		if err != nil {
			return err
		}
		logf("wrote %s", o.cpuProfile)
	}
	goal := time.Duration(float64(5*time.Second) * float64(o.events) / 1e6)
	var results []result
	measure := func(name, measure, baseName string, goal time.Duration, got, base func() (runStats, error)) error {
		logf("%s: %s", name, measure)
		var r result
		var err error
		if r.got, err = median(o.runs, got); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if base != nil {
			if r.base, err = median(o.runs, base); err != nil {
				return fmt.Errorf("%s baseline: %w", name, err)
			}
		}
		r.name, r.measure, r.baseName, r.goal = name, measure, baseName, goal
		results = append(results, r)
		return nil
	}
	for _, format := range []string{"jsonl", "csv", "html"} {
		if !o.only[format] {
			continue
		}
		baseName := map[string]string{
			"jsonl": "plain SELECT, encoding/json per row",
			"csv":   "plain SELECT, encoding/csv per row",
			"html":  "plain SELECT, escaped <tr> per row",
		}[format]
		f := format
		if bin != "" {
			if err := measure(f, "`accessbot audit export` (whole process)", baseName, goal,
				func() (runStats, error) { return cli(ctx, bin, cfg, f) },
				func() (runStats, error) { return baseline(ctx, path, f) }); err != nil {
				return err
			}
		}
		what := "`audit.Export` (in process)"
		if f == "html" {
			what = "`audit.WriteReport` (in process)"
		}
		if err := measure(f, what, baseName, 0,
			func() (runStats, error) { return inProcess(ctx, path, f) },
			func() (runStats, error) { return baseline(ctx, path, f) }); err != nil {
			return err
		}
	}
	if o.only["events"] {
		if err := measure("html --events", "`audit.WriteReport` with the appendix of every event (in process)", "plain SELECT, escaped <tr> per row", 0,
			func() (runStats, error) { return inProcess(ctx, path, "html+events") },
			func() (runStats, error) { return baseline(ctx, path, "html") }); err != nil {
			return err
		}
	}
	if bin != "" && o.only["verify"] {
		if err := measure("verify", "`accessbot audit verify` (whole process), for scale", "", 0,
			func() (runStats, error) { return cli(ctx, bin, cfg, "verify") }, nil); err != nil {
			return err
		}
	}
	printTable(stdout, o, gen, results)
	return nil
}

func build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "accessbot")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/accessbot")
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	cmd.Dir = strings.TrimSpace(string(root))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/accessbot: %w\n%s", err, msg)
	}
	return out, nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func mb(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

func printTable(w io.Writer, o options, gen genStats, results []result) {
	fmt.Fprintf(w, "\nexport of %s events", commas(int64(o.events)))
	if gen.Events > 0 {
		fmt.Fprintf(w, " (%s requests, %s grants)", commas(int64(gen.Requests)), commas(int64(gen.Grants)))
	}
	fmt.Fprintf(w, ", median of %d runs, GOMAXPROCS %d, %s\n\n", o.runs, runtime.GOMAXPROCS(0), runtime.Version())
	head := []string{"format", "measure", "accessbot", "CPU", "baseline (same run)", "baseline CPU", "ratio", "output", "peak RSS", "goal", "met"}
	var lines [][]string
	for _, r := range results {
		base, baseCPU, ratio := "", "", ""
		if r.base.Median > 0 {
			base = secs(r.base.Median) + " (" + r.baseName + ")"
			baseCPU = secs(r.base.CPU)
			ratio = fmt.Sprintf("%.2f", r.got.Median.Seconds()/r.base.Median.Seconds())
		}
		goal, met := "", ""
		if r.goal > 0 {
			goal = "<= " + secs(r.goal)
			met = "yes"
			if r.got.Median > r.goal {
				met = "NO"
			}
		}
		lines = append(lines, []string{r.name, r.measure, secs(r.got.Median), secs(r.got.CPU), base, baseCPU, ratio, mb(r.got.Bytes), mb(r.got.MaxRSS), goal, met})
	}
	if o.markdown {
		fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
		fmt.Fprintln(w, "|---|---|---:|---:|---|---:|---:|---:|---:|---|---|")
		for _, l := range lines {
			fmt.Fprintln(w, "| "+strings.Join(l, " | ")+" |")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	tw.Flush()
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
