package noop_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/bench/adapters/latency"
)

// BenchmarkApprovedToReturned is the baseline measured against itself: noop on both resources,
// so its ratio shows the noise of the measurement. Run it with -benchtime=200x.
func BenchmarkApprovedToReturned(b *testing.B) {
	latency.Bench(b, noop.New(), latency.Options{AdapterType: "noop"})
}

// BenchmarkGrantRevoke is a grant and a revoke of the adapter alone, for the table's first
// column: an in-memory map, the floor of any adapter.
func BenchmarkGrantRevoke(b *testing.B) {
	a := noop.New()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		req := adapters.GrantRequest{GrantID: "g-bench-" + strconv.Itoa(i), Resource: "bench",
			Subject: adapters.Subject{ID: "alice@example.com", Account: "alice"}}
		lease, err := a.Grant(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}); err != nil {
			b.Fatal(err)
		}
	}
}
