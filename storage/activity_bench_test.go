package storage

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// BenchmarkUnusedGrants measures the digest's never-used query over a week of a log of
// ACCESSBOT_BENCH_EVENTS events (default 1,000,000; one event a second, a grant every four
// events, none used: the worst case, every revoked grant of the window is counted) on SQLite.
func BenchmarkUnusedGrants(b *testing.B) {
	n := benchEvents(b, 1_000_000)
	db := benchDB(b)
	ctx := context.Background()
	start := time.Now()
	if _, err := insertSealed(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d events in %s", n, time.Since(start).Round(time.Millisecond))
	resources := make([]string, 20)
	for i := range resources {
		resources[i] = "resource-" + strconv.Itoa(i)
	}
	until := base.Add(time.Duration(n) * time.Second)
	q := audit.UnusedQuery{Since: until.Add(-7 * 24 * time.Hour), Until: until, Resources: resources, Limit: 500}
	var total int
	for b.Loop() {
		var err error
		if _, total, err = db.UnusedGrants(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total), "unused")
}
