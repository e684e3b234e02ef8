package ops_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ops"
)

// countingChecker counts the checks of its target and fails with err when it is set.
type countingChecker struct {
	calls atomic.Int64
	mu    sync.Mutex
	err   error
}

func (c *countingChecker) Check(context.Context) error {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *countingChecker) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// errLeaky is what a target's driver says: an internal address and a user name.
var errLeaky = errors.New(`dial tcp 10.20.30.40:5432: password authentication failed for user "accessbot_admin"`)

// serve sends one request to the handler as if from remoteAddr, with the given headers.
func serve(h http.Handler, remoteAddr, path string, headers map[string]string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = remoteAddr
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func newReadyMux(t *testing.T, clk clock.Clock, db *fakeStore, c adapters.Checker, log zerolog.Logger) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	ops.Mount(mux, &ops.Health{
		DB: db, Checkers: map[string]adapters.Checker{"prod-db": c},
		Interval: 5 * time.Second, Clock: clk, Log: log,
	}, ops.NewMetrics(nil))
	return mux
}

// Finding 6 of issue 13: 1,000 unauthenticated calls made 1,000 calls to each target. Now the
// target is checked once per interval however many ask, and however many ask at once.
func TestReadyzChecksTargetsOncePerIntervalHoweverManyAsk(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	target := &countingChecker{}
	mux := newReadyMux(t, clk, &fakeStore{}, target, zerolog.Nop())

	var wg sync.WaitGroup
	var notOK atomic.Int64
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := "203.0.113.7:40000"
			if i%2 == 0 {
				addr = "127.0.0.1:40000"
			}
			if code, _ := serve(mux, addr, "/readyz", nil); code != http.StatusOK {
				notOK.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := notOK.Load(); n != 0 {
		t.Errorf("%d of 1000 calls were not 200", n)
	}
	if n := target.calls.Load(); n != 1 {
		t.Fatalf("1000 calls checked the target %d times, want once", n)
	}

	clk.Advance(4 * time.Second)
	for range 100 {
		serve(mux, "203.0.113.7:40000", "/readyz", nil)
	}
	if n := target.calls.Load(); n != 1 {
		t.Fatalf("calls within the interval checked the target again (%d checks)", n)
	}
	clk.Advance(time.Second)
	for range 100 {
		serve(mux, "203.0.113.7:40000", "/readyz", nil)
	}
	if n := target.calls.Load(); n != 2 {
		t.Fatalf("after the interval the target was checked %d times, want 2", n)
	}
	for range 10 {
		serve(mux, "127.0.0.1:40000", "/metrics", nil)
	}
	if n := target.calls.Load(); n != 2 {
		t.Fatalf("scrapes checked the target again (%d checks); they read the cached run", n)
	}
}

// blockingChecker holds every check until released, to keep a run in flight.
type blockingChecker struct {
	calls   atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (b *blockingChecker) Check(ctx context.Context) error {
	if b.calls.Add(1) == 1 {
		close(b.started)
	}
	<-b.release
	return nil
}

func TestReadyzCallersDuringARunShareIt(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	target := &blockingChecker{started: make(chan struct{}), release: make(chan struct{})}
	mux := newReadyMux(t, clk, &fakeStore{}, target, zerolog.Nop())

	var wg sync.WaitGroup
	codes := make(chan int, 50)
	wg.Add(1)
	go func() {
		defer wg.Done()
		code, _ := serve(mux, "127.0.0.1:1", "/readyz", nil)
		codes <- code
	}()
	<-target.started
	for range 49 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := serve(mux, "203.0.113.9:1", "/readyz", nil)
			codes <- code
		}()
	}
	// However the callers interleave with the release, they share the one run or its answer.
	close(target.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a caller got %d, want 200", code)
		}
	}
	if n := target.calls.Load(); n != 1 {
		t.Fatalf("50 concurrent callers made %d checks, want 1", n)
	}
}

// Finding 6 of issue 13: /readyz errors showed internal addresses and user names to anyone.
// Now only callers on this machine, not forwarded by a proxy, see the checks.
func TestReadyzShowsChecksOnlyToLocalCallers(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		headers    map[string]string
		wantDetail bool
	}{
		{"a caller on another host gets the status only", "203.0.113.7:51234", nil, false},
		{"a caller on a private network gets the status only", "10.0.0.8:51234", nil, false},
		{"an IPv6 caller on another host gets the status only", "[2001:db8::1]:51234", nil, false},
		{"a proxy on this machine forwarding a caller gets the status only", "127.0.0.1:51234", map[string]string{"X-Forwarded-For": "203.0.113.7"}, false},
		{"a caller forwarded with Forwarded gets the status only", "127.0.0.1:51234", map[string]string{"Forwarded": "for=203.0.113.7"}, false},
		{"a caller forwarded with X-Real-IP gets the status only", "[::1]:51234", map[string]string{"X-Real-IP": "203.0.113.7"}, false},
		{"an empty forwarding header still means a proxy", "127.0.0.1:51234", map[string]string{"X-Forwarded-For": ""}, false},
		{"a peer that is not an address gets the status only", "@", nil, false},
		{"a caller on 127.0.0.1 sees the checks", "127.0.0.1:51234", nil, true},
		{"a caller anywhere in 127.0.0.0/8 sees the checks", "127.9.8.7:51234", nil, true},
		{"a caller on ::1 sees the checks", "[::1]:51234", nil, true},
		{"a caller on IPv4 loopback mapped into IPv6 sees the checks", "[::ffff:127.0.0.1]:51234", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &countingChecker{}
			target.fail(errLeaky)
			mux := newReadyMux(t, clock.NewFake(time.Unix(0, 0)), &fakeStore{}, target, zerolog.Nop())
			code, body := serve(mux, tt.remoteAddr, "/readyz", tt.headers)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("GET /readyz = %d, want 503 (%s)", code, body)
			}
			if !tt.wantDetail {
				if body != "not ready\n" {
					t.Fatalf("body %q, want only %q", body, "not ready\n")
				}
				return
			}
			for _, want := range []string{`"ready":false`, `"name":"adapter:prod-db"`, "10.20.30.40:5432", "accessbot_admin"} {
				if !strings.Contains(body, want) {
					t.Errorf("local caller's answer lacks %q: %s", want, body)
				}
			}
		})
	}
	t.Run("a ready answer to a caller elsewhere is the word ready", func(t *testing.T) {
		mux := newReadyMux(t, clock.NewFake(time.Unix(0, 0)), &fakeStore{}, &countingChecker{}, zerolog.Nop())
		if code, body := serve(mux, "198.51.100.3:443", "/readyz", nil); code != 200 || body != "ready\n" {
			t.Fatalf("GET /readyz = %d %q, want 200 %q", code, body, "ready\n")
		}
	})
}

// What callers elsewhere no longer see goes to /metrics (a gauge per check) and to the log, once
// per change of state.
func TestReadinessChangesGoToMetricsAndToTheLogOncePerChange(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	target := &countingChecker{}
	target.fail(errLeaky)
	var logs bytes.Buffer
	mux := newReadyMux(t, clk, &fakeStore{}, target, zerolog.New(&logs))

	for range 3 {
		for range 10 {
			serve(mux, "203.0.113.7:1", "/readyz", nil)
		}
		clk.Advance(5 * time.Second)
	}
	_, metrics := serve(mux, "127.0.0.1:1", "/metrics", nil)
	for _, want := range []string{
		`accessbot_ready 0`,
		`accessbot_ready_check{check="adapter:prod-db"} 0`,
		`accessbot_ready_check{check="database"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if n := strings.Count(logs.String(), "readiness check failing"); n != 1 {
		t.Fatalf("%d log lines about the failing check over 4 runs, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "accessbot_admin") || !strings.Contains(logs.String(), `"check":"adapter:prod-db"`) {
		t.Errorf("the log line lacks the check and its error:\n%s", logs.String())
	}

	target.fail(nil)
	clk.Advance(5 * time.Second)
	for range 10 {
		serve(mux, "203.0.113.7:1", "/readyz", nil)
	}
	clk.Advance(5 * time.Second)
	serve(mux, "203.0.113.7:1", "/readyz", nil)
	if n := strings.Count(logs.String(), "readiness check recovered"); n != 1 {
		t.Fatalf("%d log lines about the recovery, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "readiness check failing"); n != 1 {
		t.Fatalf("recovery logged another failure:\n%s", logs.String())
	}
	_, metrics = serve(mux, "127.0.0.1:1", "/metrics", nil)
	if !strings.Contains(metrics, `accessbot_ready_check{check="adapter:prod-db"} 1`) || !strings.Contains(metrics, "accessbot_ready 1") {
		t.Errorf("metrics after recovery:\n%s", metrics)
	}
}
