// Package ops serves what operators and orchestrators ask of a running accessbot: liveness
// (/healthz), readiness (/readyz: the database answers and every adapter that can check its
// target says it is healthy, answered from a cached check) and Prometheus metrics (/metrics).
package ops

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/grants"
)

// Metrics records what the engine does. It implements grants.Metrics and exposes, on each
// scrape, the current number of requests and grants by state read from the database (so every
// replica reports the same truth).
type Metrics struct {
	reg            *prometheus.Registry
	lateness       prometheus.Histogram
	revokeFailures *prometheus.CounterVec
	adapterCalls   *prometheus.CounterVec
	adapterSeconds *prometheus.HistogramVec
}

// NewMetrics registers accessbot's metrics on a new registry. store may be nil (no state gauges).
func NewMetrics(store grants.Store) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "accessbot_revoke_lateness_seconds",
			Help:    "Time from a grant's expiry to its confirmed revocation at the target.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 30, 60, 300, 900},
		}),
		revokeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_revoke_failures_total",
			Help: "Grants whose revocation failed too often and became revoke_failed.",
		}, []string{"resource"}),
		adapterCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_adapter_calls_total",
			Help: "Adapter calls by resource, operation and result.",
		}, []string{"resource", "op", "result"}),
		adapterSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "accessbot_adapter_call_seconds",
			Help:    "Duration of adapter calls.",
			Buckets: prometheus.DefBuckets,
		}, []string{"resource", "op"}),
	}
	m.reg.MustRegister(m.lateness, m.revokeFailures, m.adapterCalls, m.adapterSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.reg.MustRegister(&stateCollector{store: store})
	}
	return m
}

// AddResources reports accessbot_revoke_failures_total at 0 for each resource named, before
// its first failure. A counter series that first appears at 1 shows no increase to Prometheus
// (there is no earlier sample), so an alert on increase() would miss a resource's first
// revocation failure.
func (m *Metrics) AddResources(names []string) {
	for _, name := range names {
		m.revokeFailures.WithLabelValues(name)
	}
}

// RevokeLateness records how late a revocation was.
func (m *Metrics) RevokeLateness(d time.Duration) {
	if d < 0 {
		d = 0
	}
	m.lateness.Observe(d.Seconds())
}

// RevokeFailure counts a grant that became revoke_failed.
func (m *Metrics) RevokeFailure(resource string) { m.revokeFailures.WithLabelValues(resource).Inc() }

// AdapterCall records one adapter call.
func (m *Metrics) AdapterCall(resource, op string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = adapters.KindOf(err).String()
	}
	m.adapterCalls.WithLabelValues(resource, op, result).Inc()
	m.adapterSeconds.WithLabelValues(resource, op).Observe(d.Seconds())
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry exposes the registry, for tests and for other parts that add their own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var (
	requestsDesc = prometheus.NewDesc("accessbot_requests", "Requests by state.", []string{"state"}, nil)
	grantsDesc   = prometheus.NewDesc("accessbot_grants", "Grants by state.", []string{"state"}, nil)
	activeDesc   = prometheus.NewDesc("accessbot_active_grants", "Grants whose access exists at the target now.", nil, nil)
)

var (
	allRequestStates = []grants.RequestState{grants.RequestPending, grants.RequestApproved,
		grants.RequestDenied, grants.RequestCancelled, grants.RequestExpired}
	allGrantStates = []grants.GrantState{grants.GrantActivating, grants.GrantActive, grants.GrantRevoking,
		grants.GrantRevoked, grants.GrantRevokeFailed, grants.GrantFailed}
)

type stateCollector struct{ store grants.Store }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- grantsDesc
	ch <- activeDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var reqs map[grants.RequestState]int
	var grs map[grants.GrantState]int
	err := c.store.View(ctx, func(tx grants.ReadTx) error {
		var err error
		if reqs, err = tx.CountRequests(ctx); err != nil {
			return err
		}
		grs, err = tx.CountGrants(ctx)
		return err
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(grantsDesc, err)
		return
	}
	for _, s := range allRequestStates {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, float64(reqs[s]), string(s))
	}
	for _, s := range allGrantStates {
		ch <- prometheus.MustNewConstMetric(grantsDesc, prometheus.GaugeValue, float64(grs[s]), string(s))
	}
	// Access may exist while activating (the adapter may have acted), revoking and revoke_failed.
	active := grs[grants.GrantActive] + grs[grants.GrantActivating] + grs[grants.GrantRevoking] + grs[grants.GrantRevokeFailed]
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(active))
}
