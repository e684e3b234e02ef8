package storage

import (
	"context"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// BenchmarkPolicyChangesOfAWindow reads the config.changed events of a 7-day window of a log
// of ACCESSBOT_BENCH_EVENTS events (default 1,000,000, one a second: 11.6 days) by type, as the
// digest's "policy changes" section does, and logs how long reading the whole window would
// take for comparison.
func BenchmarkPolicyChangesOfAWindow(b *testing.B) {
	n := benchEvents(b, 1_000_000)
	db := benchDB(b)
	ctx := context.Background()
	if _, err := insertSealed(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	since := base.Add(24 * time.Hour)
	until := since.Add(7 * 24 * time.Hour)
	for i := range 5 {
		e := audit.Event{At: since.Add(time.Duration(i) * 24 * time.Hour), Actor: "accessbot"}.With(audit.ConfigChangedData{SnapshotSHA256: "s"})
		if _, err := db.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	f := audit.Filter{Since: since, Until: until}
	start, window := time.Now(), 0
	if err := db.ScanAudit(ctx, f, func(audit.Event) error { window++; return nil }); err != nil {
		b.Fatal(err)
	}
	b.Logf("reading the whole window (%d events) takes %s", window, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for b.Loop() {
		found := 0
		if err := db.ScanAuditOfType(ctx, audit.ConfigChanged, f, func(audit.Event) error { found++; return nil }); err != nil || found != 5 {
			b.Fatal(found, err)
		}
	}
}
