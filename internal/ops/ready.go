package ops

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/clock"
)

// Defaults of Health's tuning fields.
const (
	defaultReadyTimeout  = 5 * time.Second
	defaultReadyInterval = 5 * time.Second
)

// Pinger is the database check of /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Health answers /healthz and /readyz. /readyz is open to anyone who reaches the port, so it
// never does work per caller: one run of the checks is shared by every caller until it is
// Interval old, and only one run is in flight at a time. A Health must not be copied after first
// use; its zero tuning fields take the defaults.
type Health struct {
	DB Pinger
	// Checkers are the adapters that can check their target, by resource name.
	Checkers map[string]adapters.Checker
	// Timeout bounds one run of the checks; default 5s.
	Timeout time.Duration
	// Interval is how long a run's answer is reused; default 5s.
	Interval time.Duration
	// Clock defaults to the wall clock.
	Clock clock.Clock
	// Log hears when a check starts failing (with its error) or recovers: once per change, not
	// once per caller.
	Log zerolog.Logger

	mu sync.Mutex
	// last is the latest run's answer, finished at lastAt; nil before the first run.
	last   *readiness
	lastAt time.Time
	// running is closed when the run in flight ends; nil when none is.
	running chan struct{}
	// states is each check's last known state, to log changes only.
	states map[string]bool
}

// Check is one line of the readiness answer. Its error names targets (addresses, users), so it
// is shown only to callers on this machine; others get the overall status.
type Check struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readiness is the answer of one run of the checks.
type readiness struct {
	ok     bool
	checks []Check
}

func (h *Health) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return defaultReadyTimeout
}

func (h *Health) interval() time.Duration {
	if h.Interval > 0 {
		return h.Interval
	}
	return defaultReadyInterval
}

func (h *Health) now() time.Time {
	if h.Clock == nil {
		return time.Now()
	}
	return h.Clock.Now()
}

// Ready answers whether accessbot is ready, with each check: from the latest run while it is
// younger than Interval, otherwise from a new run that callers arriving meanwhile wait for and
// share. When ctx ends before an answer is there, it is "not ready" without checks.
func (h *Health) Ready(ctx context.Context) (bool, []Check) {
	h.mu.Lock()
	if h.last != nil && h.now().Sub(h.lastAt) < h.interval() {
		r := *h.last
		h.mu.Unlock()
		return r.ok, r.checks
	}
	if wait := h.running; wait != nil {
		h.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, nil
		}
		h.mu.Lock()
		r := *h.last
		h.mu.Unlock()
		return r.ok, r.checks
	}
	done := make(chan struct{})
	h.running = done
	h.mu.Unlock()

	// The run is shared: the caller that started it leaving must not cut it short for the others.
	r := h.run(context.WithoutCancel(ctx))

	h.mu.Lock()
	h.noteChanges(r)
	h.last, h.lastAt, h.running = &r, h.now(), nil
	h.mu.Unlock()
	close(done)
	return r.ok, r.checks
}

// run does every check concurrently, within Timeout, and reports each.
func (h *Health) run(ctx context.Context) readiness {
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		checks []Check
	)
	check := func(name string, f func(context.Context) error) {
		defer wg.Done()
		err := f(ctx)
		c := Check{Name: name, OK: err == nil}
		if err != nil {
			c.Error = err.Error()
		}
		mu.Lock()
		checks = append(checks, c)
		mu.Unlock()
	}
	wg.Add(1)
	go check("database", h.DB.Ping)
	for name, ch := range h.Checkers {
		wg.Add(1)
		go check("adapter:"+name, ch.Check)
	}
	wg.Wait()
	sort.Slice(checks, func(i, j int) bool { return checks[i].Name < checks[j].Name })
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	return readiness{ok: ok, checks: checks}
}

// noteChanges logs each check that started failing (with its error: the log is for operators)
// or recovered since the previous run. h.mu is held.
func (h *Health) noteChanges(r readiness) {
	if h.states == nil {
		h.states = map[string]bool{}
	}
	for _, c := range r.checks {
		was, seen := h.states[c.Name]
		h.states[c.Name] = c.OK
		switch {
		case !c.OK && (!seen || was):
			h.Log.Warn().Str("check", c.Name).Str("error", c.Error).Msg("readiness check failing")
		case c.OK && seen && !was:
			h.Log.Info().Str("check", c.Name).Msg("readiness check recovered")
		}
	}
}

// Mount adds /healthz, /readyz and /metrics to mux, and the readiness checks to m as gauges
// (accessbot_ready and accessbot_ready_check{check}), read from the same cached run.
func Mount(mux *http.ServeMux, h *Health, m *Metrics) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, checks := h.Ready(r.Context())
		w.Header().Set("Cache-Control", "no-store")
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		if !isLocal(r) {
			// The status is all an orchestrator or load balancer needs; the checks' errors name
			// internal addresses and users.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			if ok {
				_, _ = w.Write([]byte("ready\n"))
			} else {
				_, _ = w.Write([]byte("not ready\n"))
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Ready  bool    `json:"ready"`
			Checks []Check `json:"checks"`
		}{ok, checks})
	})
	mux.Handle("GET /metrics", m.Handler())
	m.reg.MustRegister(&readyCollector{h: h})
}

// forwardingHeaders are the headers a proxy adds for the client it forwards; any of them means
// the peer is not the one asking.
var forwardingHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"}

// isLocal reports whether r comes straight from this machine: its peer is a loopback address
// (127.0.0.0/8, ::1) and it carries no forwarding header, which a proxy on this machine would
// add for a caller elsewhere.
func isLocal(r *http.Request) bool {
	for _, name := range forwardingHeaders {
		if len(r.Header.Values(name)) > 0 {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

var (
	readyDesc      = prometheus.NewDesc("accessbot_ready", "Whether every readiness check passed (1) or not (0).", nil, nil)
	readyCheckDesc = prometheus.NewDesc("accessbot_ready_check", "Whether a readiness check passed (1) or not (0).", []string{"check"}, nil)
)

// readyCollector exports the readiness checks on each scrape, from the cached run, so that a
// scrape costs the targets no more than a /readyz call.
type readyCollector struct{ h *Health }

func (c *readyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- readyDesc
	ch <- readyCheckDesc
}

func (c *readyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.h.timeout()+time.Second)
	defer cancel()
	ok, checks := c.h.Ready(ctx)
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, gauge(ok))
	for _, chk := range checks {
		ch <- prometheus.MustNewConstMetric(readyCheckDesc, prometheus.GaugeValue, gauge(chk.OK), chk.Name)
	}
}

func gauge(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}
