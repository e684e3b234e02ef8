package ops

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessbot/accessbot/internal/clock"
)

// SinkReport is what the metrics read of one SIEM sink's forwarder (sink.Forwarder).
type SinkReport interface {
	// Name names the sink (the sink label).
	Name() string
	// StoredLag is the log's head minus the sink's stored cursor, read from the database.
	StoredLag(ctx context.Context) (int64, error)
	// Reported returns the failed passes so far and when a pass last succeeded (zero: never).
	Reported() (failures int64, lastSuccess time.Time)
}

// OutboxPending is the chat outbox's pending deliveries on one platform.
type OutboxPending struct {
	Platform string
	Count    int
	// Oldest is when the oldest pending delivery was enqueued.
	Oldest time.Time
}

// OutboxStats reads the chat outbox's pending deliveries per platform (storage.DB, adapted).
type OutboxStats interface {
	OutboxPending(ctx context.Context) ([]OutboxPending, error)
}

var (
	sinkLagDesc = prometheus.NewDesc("accessbot_audit_sink_lag_events",
		"Audit events not yet acknowledged by the SIEM sink (log head minus the sink's stored cursor).", []string{"sink"}, nil)
	sinkFailuresDesc = prometheus.NewDesc("accessbot_sink_failures_total",
		"Failed forwarding passes of the SIEM sink since this process started.", []string{"sink"}, nil)
	sinkSuccessDesc = prometheus.NewDesc("accessbot_sink_last_success_timestamp_seconds",
		"When a forwarding pass of the SIEM sink last succeeded (Unix seconds; 0: not since start).", []string{"sink"}, nil)
	outboxPendingDesc = prometheus.NewDesc("accessbot_outbox_pending",
		"Chat deliveries waiting to be sent, by platform.", []string{"platform"}, nil)
	outboxOldestDesc = prometheus.NewDesc("accessbot_outbox_oldest_pending_seconds",
		"Age of the oldest chat delivery waiting to be sent, by platform (0 when none waits).", []string{"platform"}, nil)
)

// scrapeTimeout bounds the database reads of one scrape.
const scrapeTimeout = 2 * time.Second

// AddSinks exports the lag (read from the database at scrape time), failures and last success
// of each SIEM sink.
func (m *Metrics) AddSinks(sinks []SinkReport) {
	if len(sinks) > 0 {
		m.reg.MustRegister(&sinkCollector{sinks: sinks})
	}
}

// AddOutbox exports the chat outbox's pending deliveries and the age of the oldest, per
// platform, read from the database at scrape time. Every platform listed reports, 0 when
// nothing waits; clk measures the age.
func (m *Metrics) AddOutbox(stats OutboxStats, platforms []string, clk clock.Clock) {
	if clk == nil {
		clk = clock.Real{}
	}
	m.reg.MustRegister(&outboxCollector{stats: stats, platforms: platforms, clock: clk})
}

type sinkCollector struct{ sinks []SinkReport }

func (c *sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sinkLagDesc
	ch <- sinkFailuresDesc
	ch <- sinkSuccessDesc
}

func (c *sinkCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, s := range c.sinks {
		// A lag that cannot be read is an error on the scrape, never a reassuring 0.
		if lag, err := s.StoredLag(ctx); err != nil {
			ch <- prometheus.NewInvalidMetric(sinkLagDesc, err)
		} else {
			ch <- prometheus.MustNewConstMetric(sinkLagDesc, prometheus.GaugeValue, float64(lag), s.Name())
		}
		failures, last := s.Reported()
		ch <- prometheus.MustNewConstMetric(sinkFailuresDesc, prometheus.CounterValue, float64(failures), s.Name())
		ts := 0.0
		if !last.IsZero() {
			ts = float64(last.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(sinkSuccessDesc, prometheus.GaugeValue, ts, s.Name())
	}
}

type outboxCollector struct {
	stats     OutboxStats
	platforms []string
	clock     clock.Clock
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxPendingDesc
	ch <- outboxOldestDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	pending, err := c.stats.OutboxPending(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxPendingDesc, err)
		return
	}
	now := c.clock.Now()
	byPlatform := make(map[string]OutboxPending, len(pending))
	for _, p := range pending {
		byPlatform[p.Platform] = p
	}
	// The configured platforms report 0 when idle; a platform no longer configured whose
	// deliveries still wait reports too, since those are what an operator must see.
	names := append([]string(nil), c.platforms...)
	for _, p := range pending {
		if !slices.Contains(c.platforms, p.Platform) {
			names = append(names, p.Platform)
		}
	}
	for _, name := range names {
		p := byPlatform[name]
		age := 0.0
		if p.Count > 0 && !p.Oldest.IsZero() {
			age = max(0, now.Sub(p.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(p.Count), name)
		ch <- prometheus.MustNewConstMetric(outboxOldestDesc, prometheus.GaugeValue, age, name)
	}
}
