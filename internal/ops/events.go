package ops

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessbot/accessbot/audit"
)

// auditBatch bounds the events one scrape reads: a scrape after a long pause (or of a busy
// log) catches up over several scrapes rather than holding the scrape past its timeout.
const auditBatch = 10000

// countedTypes are the audit event types reported from the start, at 0, so that a rate or an
// alert over them has a series before the first such event: requests and decisions, every
// kind of refusal, revocation trouble and scans. Other types are reported once seen.
var countedTypes = []string{
	audit.RequestCreated, audit.RequestApproved, audit.RequestDenied, audit.RequestCancelled,
	audit.RequestExpired, audit.RequestRefused, audit.ReviewRefused, audit.StepUpRefused,
	audit.IdentityRefused, audit.AuthFailed, audit.GrantRetry, audit.GrantRevokeFailed,
	audit.BreakGlassUsed, audit.AlertRaised, audit.ScanCompleted, audit.GitHubLinkRefused,
}

var (
	auditEventsDesc = prometheus.NewDesc("accessbot_audit_events_total",
		"Audit events appended to the shared log since this process started, by type. Every replica "+
			"reads the same log, so aggregate replicas with max, not sum.", []string{"type"}, nil)
	scanFindingsDesc = prometheus.NewDesc("accessbot_scan_findings",
		"Holders the latest standing-privilege scan found that no active grant explains (the latest "+
			"scan.completed in the log; 0 before any).", nil, nil)
	scanLastDesc = prometheus.NewDesc("accessbot_scan_last_completed_timestamp_seconds",
		"When the latest standing-privilege scan completed (Unix seconds; 0: none yet).", nil, nil)
)

// AuditLog is the audit log the event counts read (storage.DB).
type AuditLog interface {
	audit.Source
	// LatestAudit returns the log's last event of type typ; ok is false when it has none.
	LatestAudit(ctx context.Context, typ string) (e audit.Event, ok bool, err error)
}

// AddAuditCounts exports counts of the audit events appended to the log from now on, by type
// (requests, decisions, refusals of every kind, revocation failures), and the findings of the
// latest standing-privilege scan. They are read from the log itself at scrape time, so they
// include what every writer appended: this replica, the others, the chat servers' refusals of
// bad signatures and one-off commands such as `accessbot scan`. The latest scan is read from
// the log now, so that a restart does not report "no findings" until the next scan.
func (m *Metrics) AddAuditCounts(ctx context.Context, log AuditLog) error {
	head, err := log.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("read the audit log's head for the metrics: %w", err)
	}
	c := &auditCollector{src: log, cursor: head.Seq, counts: map[string]float64{}}
	for _, t := range countedTypes {
		c.counts[t] = 0
	}
	// A scan appended between the two reads is read again by the first scrape: harmless, the
	// gauge takes the latest either way.
	last, ok, err := log.LatestAudit(ctx, audit.ScanCompleted)
	if err != nil {
		return fmt.Errorf("read the latest standing-privilege scan for the metrics: %w", err)
	}
	if ok {
		if err := c.noteScan(last); err != nil {
			return fmt.Errorf("read the latest standing-privilege scan for the metrics: %w", err)
		}
	}
	m.reg.MustRegister(c)
	return nil
}

// auditCollector follows the audit log from a cursor, one bounded batch per scrape.
type auditCollector struct {
	src audit.Source

	// mu is held for a whole scrape: two scrapers at once must not count an event twice.
	mu       sync.Mutex
	cursor   int64
	counts   map[string]float64
	findings float64
	scanAt   time.Time
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- auditEventsDesc
	ch <- scanFindingsDesc
	ch <- scanLastDesc
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	// The cursor moves event by event, so what was counted before an error stays counted and
	// is not counted again; an event that cannot be read fails one scrape, not every one after.
	err := c.src.ScanAudit(ctx, audit.Filter{AfterSeq: c.cursor, MaxSeq: c.cursor + auditBatch}, func(e audit.Event) error {
		c.counts[e.Type]++
		c.cursor = e.Seq
		if e.Type == audit.ScanCompleted {
			return c.noteScan(e)
		}
		return nil
	})
	if err != nil {
		// Counts that stopped moving would look like a quiet log: the scrape fails instead.
		ch <- prometheus.NewInvalidMetric(auditEventsDesc, fmt.Errorf("read the audit log after event %d: %w", c.cursor, err))
		return
	}
	for t, n := range c.counts {
		ch <- prometheus.MustNewConstMetric(auditEventsDesc, prometheus.CounterValue, n, t)
	}
	ch <- prometheus.MustNewConstMetric(scanFindingsDesc, prometheus.GaugeValue, c.findings)
	ts := 0.0
	if !c.scanAt.IsZero() {
		ts = float64(c.scanAt.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(scanLastDesc, prometheus.GaugeValue, ts)
}

// noteScan takes the findings and time of a scan.completed event.
func (c *auditCollector) noteScan(e audit.Event) error {
	p, err := audit.Decode[audit.ScanCompletedData](e)
	if err != nil {
		return err
	}
	c.findings, c.scanAt = float64(p.Findings), e.At
	return nil
}
