package okta

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/okta/oktatest"
	"github.com/accessbot/accessbot/bench/adapters/latency"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// benchAdapter is the adapter against a fake with alice, an API token and real time (the fake
// sets no rate limit, so nothing waits).
func benchAdapter(b *testing.B) *Adapter {
	srv := oktatest.New(b, oktatest.Options{})
	srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	c := NewConfig()
	c.OrgURL, c.GroupID, c.APIToken = srv.URL, oktatest.GroupID, oktatest.Token
	a, err := New(*c, zerolog.Nop(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkGrantRevoke is one Grant and one Revoke after another against the fake: the user
// read by login and the member added, then removed (the lease names the user, so a revoke looks
// nobody up).
func BenchmarkGrantRevoke(b *testing.B) {
	a := benchAdapter(b)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		now := time.Now()
		req := adapters.GrantRequest{
			GrantID: fmt.Sprintf("g-bench-%d", n), Resource: "okta-admins",
			Subject: adapters.Subject{ID: gt.Alice.ID, Email: gt.Alice.Email, Account: gt.Alice.Email},
			Start:   now, Expires: now.Add(time.Hour),
		}
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
	latency.Bench(b, benchAdapter(b), latency.Options{AdapterType: "okta", Account: gt.Alice.Email})
}
