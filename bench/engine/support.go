package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// resourceName is the one resource every benchmark grants: a noop adapter whose auto-approve
// rule is always true, so that a Request becomes a grant without a reviewer.
const resourceName = "bench"

// sqliteParams are storage.openSQLite's defaults, for the baselines that talk to SQLite
// without the storage package: the same file settings, so that only accessbot's own work differs.
const sqliteParams = "_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1"

// openStore opens (creating if needed) and migrates the SQLite database at path.
func openStore(ctx context.Context, path string) (*storage.DB, error) {
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: path})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return db, nil
}

// newService builds the grants Service over db with the one benchmark resource.
func newService(db *storage.DB, clk clock.Clock, log zerolog.Logger, m grants.Metrics) (*grants.Service, error) {
	rule, err := grants.CompileRule("true")
	if err != nil {
		return nil, err
	}
	res := &grants.Resource{
		Name:        resourceName,
		Description: "noop target of the benchmarks",
		AdapterType: "noop",
		Adapter:     noop.New(),
		Policy:      grants.Policy{Approvals: 1, AutoApprove: rule, PendingTTL: 24 * time.Hour},
	}
	return grants.NewService(grants.Options{
		Store:     db,
		Resources: []*grants.Resource{res},
		Clock:     clk,
		Log:       log,
		Metrics:   m,
	})
}

// actor is the i-th of 100 people who ask for access.
func actor(i int) grants.Actor {
	email := fmt.Sprintf("user%02d@example.com", i%100)
	return grants.Actor{ID: email, Email: email, Name: fmt.Sprintf("User %02d", i%100), Platform: "web", PlatformID: fmt.Sprintf("W%02d", i%100)}
}

// requestGrants makes n grants through the Service, the way chat does: a request that the
// auto-approve rule approves at once, leaving a grant in state activating. The i-th grant
// expires at expiry(i), measured on clk.
func requestGrants(ctx context.Context, svc *grants.Service, clk clock.Clock, n int, expiry func(i int) time.Time) error {
	for i := range n {
		d := expiry(i).Sub(clk.Now())
		if d <= 0 {
			return fmt.Errorf("grant %d would expire before it is made: setup is slower than planned", i)
		}
		out, err := svc.Request(ctx, actor(i), grants.RequestInput{Resource: resourceName, Duration: d, Reason: "benchmark INC-" + strconv.Itoa(i)})
		if err != nil {
			return fmt.Errorf("request grant %d: %w", i, err)
		}
		if out.Grant == nil {
			return fmt.Errorf("request %d was not auto-approved (state %s)", i, out.Request.State)
		}
	}
	return nil
}

// countGrants returns the number of grants by state.
func countGrants(ctx context.Context, db *storage.DB) (map[grants.GrantState]int, error) {
	var counts map[grants.GrantState]int
	err := db.View(ctx, func(tx grants.ReadTx) error {
		var err error
		counts, err = tx.CountGrants(ctx)
		return err
	})
	return counts, err
}

// unfinished counts grants whose access may still exist or is not yet confirmed.
func unfinished(c map[grants.GrantState]int) int {
	return c[grants.GrantActivating] + c[grants.GrantActive] + c[grants.GrantRevoking] + c[grants.GrantRevokeFailed]
}

// recorder is the Service's Metrics: it collects revocation lateness and signals when n
// activations and n revocations have been confirmed, so that waiting needs no polling of the
// database (which would compete for the same two cores).
type recorder struct {
	n         int
	granted   atomic.Int64
	activated chan struct{}
	revoked   chan struct{}

	mu       sync.Mutex
	lateness []time.Duration
	failures int
}

func newRecorder(n int) *recorder {
	return &recorder{n: n, activated: make(chan struct{}), revoked: make(chan struct{})}
}

func (r *recorder) RevokeLateness(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lateness = append(r.lateness, d)
	if len(r.lateness) == r.n {
		close(r.revoked)
	}
}

func (r *recorder) RevokeFailure(string) {
	r.mu.Lock()
	r.failures++
	r.mu.Unlock()
}

func (r *recorder) AdapterCall(_, op string, _ time.Duration, err error) {
	if op == "grant" && err == nil && r.granted.Add(1) == int64(r.n) {
		close(r.activated)
	}
}

func (r *recorder) latenesses() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.lateness...)
}

// dist summarises durations.
type dist struct {
	N                  int
	P50, P99, Max, Min time.Duration
}

// distribution returns the nearest-rank percentiles of ds.
func distribution(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return dist{N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1], Min: s[0]}
}

// percentile is the nearest-rank p-th percentile of sorted s: the smallest value with at least
// p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int((p/100)*float64(len(sorted)) + 0.999999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// moduleRoot is the directory of the accessbot module, where go build runs.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmarks inside the accessbot module (go run ./bench/engine)")
	}
	return filepath.Dir(gomod), nil
}

// build compiles the package pkg of the module into dir and returns the binary's path. It builds
// as the Dockerfile builds the image's binary (static, without cgo, stripped), so the memory
// measured is that of the binary people run; a cgo build maps the C library too and a larger
// file, which adds about 2 MB of resident pages.
func build(ctx context.Context, root, pkg, dir string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// httpClient speaks only to the processes the benchmarks start, on 127.0.0.1: never a proxy.
var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// get fetches http://addr+path and returns the status and body.
func get(ctx context.Context, addr, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(body), err
}

// process is a program the benchmarks started.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// start runs bin with args in dir, its output in logFile, with an environment that holds only
// PATH and HOME.
func start(name, bin string, args []string, dir, logFile string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir}
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down (SIGTERM), and kills it if it has not within 15 s.
func (p *process) stop() error {
	if p.exited() {
		return p.exitErr()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 15s of SIGTERM and was killed", p.name)
	}
}

func (p *process) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w (log: %s)\n%s", p.name, p.err, p.log, tail(p.log, 20))
	}
	return nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls GET addr/readyz until it answers 200, the process exits, or timeout passes.
func waitReady(ctx context.Context, p *process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if status, _, err := get(ctx, addr, "/readyz"); err == nil && status == http.StatusOK {
			return nil
		}
		if p.exited() {
			if err := p.exitErr(); err != nil {
				return err
			}
			return fmt.Errorf("%s exited before it was ready (log: %s)", p.name, p.log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on %s within %s (log: %s)", p.name, addr, timeout, p.log)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// procStatus reads fields of /proc/PID/status, in kB.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads the "Name:   123 kB" lines of a /proc/PID/status file.
func parseStatus(r io.Reader) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		out[key] = v
	}
	return out, sc.Err()
}

// metricValue finds the value of one sample in Prometheus text output, e.g.
// metricValue(body, `accessbot_grants{state="active"}`).
func metricValue(body, sample string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		rest, ok := strings.CutPrefix(line, sample)
		if !ok || !strings.HasPrefix(rest, " ") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// copyFile copies src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// copyDB copies a closed SQLite database, with its WAL if one was left.
func copyDB(src, dst string) error {
	if err := copyFile(src, dst); err != nil {
		return err
	}
	if _, err := os.Stat(src + "-wal"); err == nil {
		return copyFile(src+"-wal", dst+"-wal")
	}
	return nil
}

// writeConfig writes an accessbot config that serves on addr from the SQLite file dbPath with
// the noop benchmark resource, and returns its path.
func writeConfig(dir, addr, dbPath string) (string, error) {
	cfg := fmt.Sprintf(`# Written by bench/engine.
server:
  listen: %q
storage:
  driver: sqlite
  dsn: %q
log:
  level: info
  format: json
scheduler:
  sweep: "15s"
resources:
  - name: %s
    description: "noop target of the benchmarks"
    adapter:
      type: noop
    policy:
      auto_approve: 'true'
      reason_required: false
      max_duration: "8h"
      warn_before: "0s"
`, addr, dbPath, resourceName)
	path := filepath.Join(dir, "accessbot.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// fileLogger logs warnings and errors of in-process engines to a file.
func fileLogger(path string) (zerolog.Logger, func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return zerolog.Nop(), func() {}, err
	}
	return zerolog.New(f).Level(zerolog.WarnLevel).With().Timestamp().Logger(), func() { _ = f.Close() }, nil
}
