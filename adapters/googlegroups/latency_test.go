package googlegroups

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bench/adapters/latency"
)

// BenchmarkGrantRevoke is one Grant and one Revoke after another against the in-process fake:
// a grant is memberships:lookup and memberships.create, a revoke memberships:lookup,
// memberships.get and memberships.delete, through the adapter's REST client over loopback
// HTTP, so it measures the adapter and JSON, not Google.
func BenchmarkGrantRevoke(b *testing.B) {
	f := fake(b)
	a, _ := newAdapter(b, f, nil)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		req := grantReq(fmt.Sprintf("g-bench-%d", n), alice, time.Now().Add(time.Hour))
		lease, err := a.Grant(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against the
// fake, beside a noop baseline in the same run. Run it with -benchtime=200x (go run
// ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	f := fake(b)
	a, _ := newAdapter(b, f, nil)
	latency.Bench(b, a, latency.Options{AdapterType: "google-groups", Account: alice})
}
