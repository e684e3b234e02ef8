package ops_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ops"
	"github.com/accessbot/accessbot/storage"
)

var t0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// newDB returns a migrated SQLite store in a temporary directory.
func newDB(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), storage.Options{Driver: storage.SQLite, DSN: filepath.Join(t.TempDir(), "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func appendN(t *testing.T, db *storage.DB, n int) {
	t.Helper()
	for i := range n {
		if _, err := db.AppendAudit(context.Background(), audit.Event{At: t0, Type: audit.RequestCreated,
			Actor: "alice@example.com", RequestID: fmt.Sprintf("r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// switchSink accepts batches until down is set.
type switchSink struct{ down bool }

func (s *switchSink) Send(context.Context, []audit.Event) error {
	if s.down {
		return errors.New("connection refused")
	}
	return nil
}
func (s *switchSink) Close() error   { return nil }
func (s *switchSink) String() string { return "switch" }

// gather scrapes the registry into "name{label}" → value for the families named.
func gather(t *testing.T, m *ops.Metrics, names ...string) map[string]float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	for _, f := range fams {
		if !want[f.GetName()] {
			continue
		}
		for _, mt := range f.GetMetric() {
			label := ""
			if len(mt.GetLabel()) > 0 {
				label = mt.GetLabel()[0].GetValue()
			}
			key := f.GetName() + "{" + label + "}"
			switch {
			case mt.Gauge != nil:
				out[key] = mt.GetGauge().GetValue()
			case mt.Counter != nil:
				out[key] = mt.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestSinkGaugesCountUnacknowledgedEventsFailuresAndTheLastSuccess(t *testing.T) {
	db := newDB(t)
	fc := clock.NewFake(t0)
	s := &switchSink{}
	f, err := sink.New(sink.Options{Name: "siem", Sink: s, Store: db, Clock: fc, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	m := ops.NewMetrics(nil)
	m.AddSinks([]ops.SinkReport{f})
	names := []string{"accessbot_audit_sink_lag_events", "accessbot_sink_failures_total", "accessbot_sink_last_success_timestamp_seconds"}

	appendN(t, db, 4)
	if _, err := f.ForwardOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := gather(t, m, names...)
	if got["accessbot_audit_sink_lag_events{siem}"] != 0 || got["accessbot_sink_failures_total{siem}"] != 0 ||
		got["accessbot_sink_last_success_timestamp_seconds{siem}"] != float64(t0.Unix()) {
		t.Fatalf("after a delivered pass: %v", got)
	}

	// The sink goes down; events are appended and no pass has run yet: the lag already shows them.
	s.down = true
	appendN(t, db, 3)
	if got := gather(t, m, names...); got["accessbot_audit_sink_lag_events{siem}"] != 3 {
		t.Errorf("right after 3 events were appended: lag %v, want 3 (read from the database)", got["accessbot_audit_sink_lag_events{siem}"])
	}
	for range 2 {
		fc.Advance(time.Minute)
		if _, err := f.ForwardOnce(context.Background()); err == nil {
			t.Fatal("a refused batch was not reported")
		}
	}
	appendN(t, db, 2)
	got = gather(t, m, names...)
	want := map[string]float64{
		"accessbot_audit_sink_lag_events{siem}":               5,
		"accessbot_sink_failures_total{siem}":                 2,
		"accessbot_sink_last_success_timestamp_seconds{siem}": float64(t0.Unix()),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("while the sink is down: %s = %v, want %v", k, got[k], v)
		}
	}
}

func TestOutboxGaugesCountPendingDeliveriesAndTheOldestAgePerPlatform(t *testing.T) {
	db := newDB(t)
	d := func(platform, key string, created time.Time) bot.Delivery {
		return bot.Delivery{Platform: platform, Key: key, Kind: bot.DeliverDM, Person: "alice@example.com", CreatedAt: created}
	}
	if err := db.Enqueue(context.Background(), []bot.Delivery{
		d("slack", "1", t0), d("slack", "2", t0.Add(3*time.Minute)), d("discord", "3", t0.Add(9*time.Minute)),
		d("slack", "0", t0.Add(-time.Hour)),
	}, nil); err != nil {
		t.Fatal(err)
	}
	// The hour-old slack delivery was sent: it no longer counts.
	claimed, err := db.ClaimDeliveries(context.Background(), "slack", t0, t0.Add(time.Minute), 1)
	if err != nil || len(claimed) != 1 || claimed[0].Key != "0" {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := db.MarkSent(context.Background(), claimed[0], nil, false, t0); err != nil {
		t.Fatal(err)
	}

	fc := clock.NewFake(t0.Add(10 * time.Minute))
	m := ops.NewMetrics(nil)
	m.AddOutbox(outboxStats{db}, []string{"slack", "discord", "web"}, fc)
	got := gather(t, m, "accessbot_outbox_pending", "accessbot_outbox_oldest_pending_seconds")
	want := map[string]float64{
		"accessbot_outbox_pending{slack}":                  2,
		"accessbot_outbox_oldest_pending_seconds{slack}":   600,
		"accessbot_outbox_pending{discord}":                1,
		"accessbot_outbox_oldest_pending_seconds{discord}": 60,
		"accessbot_outbox_pending{web}":                    0,
		"accessbot_outbox_oldest_pending_seconds{web}":     0,
	}
	if len(got) != len(want) {
		t.Errorf("scraped %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// outboxStats adapts storage.DB as internal/app does.
type outboxStats struct{ db *storage.DB }

func (o outboxStats) OutboxPending(ctx context.Context) ([]ops.OutboxPending, error) {
	ps, err := o.db.OutboxPending(ctx)
	out := make([]ops.OutboxPending, len(ps))
	for i, p := range ps {
		out[i] = ops.OutboxPending(p)
	}
	return out, err
}
