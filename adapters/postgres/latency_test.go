package postgres_test

import (
	"testing"

	"github.com/accessbot/accessbot/adapters/postgres"
	"github.com/accessbot/accessbot/bench/adapters/latency"
)

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against this
// package's PostgreSQL and a least-privilege bot role, beside a noop baseline in the same run.
// Run it with -benchtime=200x (go run ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	for _, mode := range []string{"membership", "ephemeral"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			account := "bench_" + e.sfx
			var a *postgres.Postgres
			if mode == "membership" {
				a = e.adapter(b, e.bot(b, "", e.reader, e.writer), membership)
				e.person(b, account)
			} else {
				a = e.adapter(b, e.bot(b, "CREATEROLE"), ephemeral(true, ""))
			}
			latency.Bench(b, a, latency.Options{AdapterType: "postgres", Account: account})
		})
	}
}
