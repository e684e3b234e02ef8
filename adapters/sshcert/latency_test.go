package sshcert

import (
	"testing"

	"github.com/accessbot/accessbot/bench/adapters/latency"
	"github.com/accessbot/accessbot/grants/grantstest"
)

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler: finding the requester's key and
// signing the certificate (revocations rewrite the KRL), beside a noop baseline in the same run.
// Run it with -benchtime=200x (go run ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	f := newFixture(b, nil)
	f.a.Now = nil // the wall clock, which the grants carry
	f.keys.key(b, grantstest.Alice.ID)
	latency.Bench(b, f.a, latency.Options{AdapterType: "sshcert"})
}
