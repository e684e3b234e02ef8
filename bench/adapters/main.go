// Command adapters benchmarks each adapter against its real local server and prints, per
// adapter:
//
//   - grant+revoke cycles per second: the adapter's own BenchmarkGrantRevoke, one Grant and one
//     Revoke call after another, no engine;
//   - approved → returned: the time from the commit of an approval (Service.Approve) to the
//     commit of grant.active, which the Scheduler writes once the adapter's Grant has returned,
//     through the real grants.Service and Scheduler.Run on a SQLite store
//     (BenchmarkApprovedToReturned, see bench/adapters/latency), p50 and p99 over -n grants;
//   - beside it, the same path with the noop adapter, measured in the same process, alternating
//     grant by grant with the adapter's, and the ratio of the two.
//
// The servers (PostgreSQL, MariaDB, Redis, slapd, etcd with kube-apiserver) are started by the internal/*test helpers of
// each adapter's tests, which need a testing.TB, so the measurements are Go benchmarks in the
// adapter packages; this program runs them, one package at a time, and makes the table. Run it
// from the repository root:
//
//	go run ./bench/adapters              # 200 grants per adapter, about a minute
//	go run ./bench/adapters -markdown    # the table as Markdown
//
// A server whose binaries are missing makes its benchmarks skip (or fail under CI=true); the
// table says so.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/accessbot/accessbot/internal/kubetest"
)

// packages are the adapters measured, in the table's order.
var packages = []string{"noop", "postgres", "mysql", "redis", "ldap", "sshcert", "kubernetes", "awsidc", "gcpiam", "okta", "googlegroups", "github"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "adapters:", err)
		os.Exit(1)
	}
}

type options struct {
	n        int
	only     []string
	markdown bool
	verbose  bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("adapters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 200, "grants per adapter (and grant+revoke cycles)")
	only := fs.String("only", strings.Join(packages, ","), "adapters to measure, comma-separated")
	fs.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown")
	fs.BoolVar(&o.verbose, "v", false, "show the output of go test as it comes")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.n < 1 {
		return o, errors.New("-n must be at least 1")
	}
	for _, p := range strings.Split(*only, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		known := false
		for _, k := range packages {
			known = known || k == p
		}
		if !known {
			return o, fmt.Errorf("-only: unknown adapter %q (known: %s)", p, strings.Join(packages, ", "))
		}
		o.only = append(o.only, p)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	started := time.Now()
	pkgs := make([]string, len(o.only))
	for i, p := range o.only {
		pkgs[i] = "./adapters/" + p
	}
	// -p 1: one package, so one server, at a time; the numbers are not each other's noise.
	cmdArgs := append([]string{"test", "-p", "1", "-count", "1", "-run", "^$",
		"-bench", "^(BenchmarkGrantRevoke|BenchmarkApprovedToReturned)$", "-benchtime", strconv.Itoa(o.n) + "x"}, pkgs...)
	fmt.Fprintf(stderr, "%s  go %s\n", time.Now().Format("15:04:05"), strings.Join(cmdArgs, " "))
	cmd := exec.CommandContext(ctx, "go", cmdArgs...)
	cmd.Dir = root
	var out bytes.Buffer
	if o.verbose {
		cmd.Stdout = io.MultiWriter(&out, stderr)
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = cmd.Stdout
	runErr := cmd.Run()
	results := parse(&out)
	if runErr != nil && len(results.rows) == 0 {
		return fmt.Errorf("go test: %v\n%s", runErr, tail(out.String(), 40))
	}
	r := report{opts: o, results: results, started: started, finished: time.Now(), versions: serverVersions(ctx)}
	r.print(stdout)
	if runErr != nil {
		return fmt.Errorf("go test: %v (see the problems above; -v shows its output)", runErr)
	}
	return nil
}

// measurement is what the benchmarks of one adapter (or one mode of it) reported.
type measurement struct {
	name string // "postgres", "postgres/membership"
	// cycleNs is BenchmarkGrantRevoke's ns/op.
	cycleNs float64
	// metrics are BenchmarkApprovedToReturned's: p50-ms, p99-ms, noop-p50-ms, noop-p99-ms,
	// call-p50-ms, grants, retries.
	metrics map[string]float64
}

// compileError is a compiler's "file.go:12:3: message" line.
var compileError = regexp.MustCompile(`^\S+\.go:\d+(:\d+)?: `)

type results struct {
	rows []*measurement
	// problems are skipped or failed benchmarks and packages, as go test said them.
	problems []string
}

// parse reads go test -bench output.
func parse(r io.Reader) results {
	var res results
	byName := map[string]*measurement{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
		case strings.HasPrefix(trimmed, "--- SKIP") || strings.HasPrefix(trimmed, "--- FAIL") || strings.HasPrefix(line, "FAIL"),
			strings.HasPrefix(line, "# "), compileError.MatchString(line):
			// Skips, failures, and a build's errors under their "# package" line.
			res.problems = append(res.problems, trimmed)
		case strings.HasPrefix(line, "    ") && len(res.problems) > 0 && strings.HasPrefix(res.problems[len(res.problems)-1], "---"):
			// The message under a SKIP or FAIL line.
			res.problems[len(res.problems)-1] += ": " + trimmed
		case strings.HasPrefix(line, "Benchmark"):
			bench, sub, values, ok := parseBenchLine(line)
			if !ok {
				continue
			}
			name := pkg
			if sub != "" {
				name += "/" + sub
			}
			m := byName[name]
			if m == nil {
				m = &measurement{name: name, metrics: map[string]float64{}}
				byName[name] = m
				res.rows = append(res.rows, m)
			}
			switch bench {
			case "BenchmarkGrantRevoke":
				m.cycleNs = values["ns/op"]
			case "BenchmarkApprovedToReturned":
				for k, v := range values {
					m.metrics[k] = v
				}
			}
		}
	}
	return res
}

// parseBenchLine reads "BenchmarkX/sub-2   200   123 ns/op   4.5 p50-ms ...".
func parseBenchLine(line string) (bench, sub string, values map[string]float64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return "", "", nil, false
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return "", "", nil, false
	}
	name := f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	bench, sub, _ = strings.Cut(name, "/")
	values = map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", "", nil, false
		}
		values[f[i+1]] = v
	}
	return bench, sub, values, true
}

type report struct {
	opts              options
	results           results
	started, finished time.Time
	versions          []string
}

type row struct{ adapter, cycles, p50, p99, call, baseline, ratio string }

func (r *report) rows() []row {
	var rows []row
	for _, m := range r.results.rows {
		x := row{adapter: m.name}
		if m.cycleNs > 0 {
			x.cycles = fmt.Sprintf("%s/s", thousands(1e9/m.cycleNs))
		}
		if _, ok := m.metrics["p50-ms"]; ok {
			met := m.metrics
			x.p50, x.p99, x.call = ms(met["p50-ms"]), ms(met["p99-ms"]), ms(met["call-p50-ms"])
			x.baseline = ms(met["noop-p50-ms"]) + " / " + ms(met["noop-p99-ms"])
			x.ratio = ratio(met["p50-ms"], met["noop-p50-ms"]) + " / " + ratio(met["p99-ms"], met["noop-p99-ms"])
			if n := met["retries"]; n > 0 {
				x.ratio += fmt.Sprintf(" (%.0f retries!)", n)
			}
		}
		rows = append(rows, x)
	}
	return rows
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\naccessbot adapter benchmarks (%d grants per adapter, %s)\n", r.opts.n, r.finished.Sub(r.started).Round(time.Second))
	fmt.Fprintf(w, "machine: %s, %d CPUs (GOMAXPROCS %d), %s, %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, r.started.UTC().Format(time.RFC3339))
	if len(r.versions) > 0 {
		fmt.Fprintf(w, "servers: %s\n", strings.Join(r.versions, "; "))
	}
	fmt.Fprintln(w)
	header := row{"ADAPTER", "GRANT+REVOKE CYCLES", "APPROVED→RETURNED P50", "P99", "ADAPTER GRANT CALL P50", "BASELINE NOOP P50 / P99", "RATIO P50 / P99"}
	rows := r.rows()
	if r.opts.markdown {
		cells := func(x row) string {
			return "| " + strings.Join([]string{x.adapter, x.cycles, x.p50, x.p99, x.call, x.baseline, x.ratio}, " | ") + " |"
		}
		fmt.Fprintln(w, cells(row{"adapter", "grant+revoke cycles/s", "approved→returned p50", "p99", "adapter Grant call p50", "baseline noop p50 / p99", "ratio p50 / p99"}))
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, x := range rows {
			fmt.Fprintln(w, cells(x))
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, x := range append([]row{header}, rows...) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.adapter, x.cycles, x.p50, x.p99, x.call, x.baseline, x.ratio)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "- approved→returned: from the commit of Service.Approve to the commit of grant.active (after the adapter's Grant returned), Scheduler.Run on SQLite, one grant at a time, each revoked before the next")
	fmt.Fprintln(w, "- baseline: the same path on a noop resource in the same process, alternating grant by grant; ratio = adapter / baseline")
	for _, m := range r.results.rows {
		// Adapters whose target works asynchronously (awsidc) report the time they wait for it.
		if v, ok := m.metrics["poll-ms/op"]; ok {
			fmt.Fprintf(w, "- %s: %s of each grant+revoke cycle spent polling the target's asynchronous requests (%.1f status checks)\n", m.name, ms(v), m.metrics["polls/op"])
		}
	}
	for _, p := range r.results.problems {
		fmt.Fprintln(w, "- problem: "+p)
	}
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

func ratio(v, base float64) string {
	if base <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f×", v/base)
}

func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the accessbot module: run from the repository root")
	}
	return filepath.Dir(mod), nil
}

// serverVersions asks the servers' binaries for their versions, as the test helpers find them
// (PostgreSQL: the highest under /usr/lib/postgresql, else the PATH). Best effort.
func serverVersions(ctx context.Context) []string {
	pg := "postgres"
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(dirs) > 0 {
		best, bestV := "", -1
		for _, d := range dirs {
			v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(d))))
			if v > bestV {
				best, bestV = d, v
			}
		}
		pg = best
	}
	var out []string
	for _, c := range [][]string{{pg, "--version"}, {"mariadbd", "--version"}, {"redis-server", "--version"}, {"slapd", "-VV"}, {"etcd", "--version"}} {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, _ := exec.CommandContext(cctx, c[0], c[1:]...).CombinedOutput()
		cancel()
		line := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
		if line == "" {
			continue
		}
		if len(line) > 90 {
			line = line[:90] + "…"
		}
		out = append(out, line)
	}
	out = append(out, "kube-apiserver "+kubetest.Version+" (built by .ci/kube-apiserver)")
	return out
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
