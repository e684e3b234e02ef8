package mysql_test

import (
	"testing"

	"github.com/accessbot/accessbot/bench/adapters/latency"
)

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against this
// package's MariaDB and a least-privilege bot account, beside a noop baseline in the same run.
// Run it with -benchtime=200x (go run ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	e := newEnv(b)
	a := e.adapter(b, e.bot(b, botGrants{}), e.withGrants)
	latency.Bench(b, a, latency.Options{AdapterType: "mysql", Account: "bench"})
}
