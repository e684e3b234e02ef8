package redis

import (
	"testing"

	"github.com/accessbot/accessbot/bench/adapters/latency"
	"github.com/accessbot/accessbot/internal/redistest"
)

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against this
// package's Redis and a least-privilege bot user, beside a noop baseline in the same run. Run
// it with -benchtime=200x (go run ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	a := newAdapter(b, redistest.Shared(b), nil)
	latency.Bench(b, a, latency.Options{AdapterType: "redis", Account: "bench"})
}
