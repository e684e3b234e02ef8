package awsidc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/awsidc/awsidctest"
	"github.com/accessbot/accessbot/bench/adapters/latency"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// benchPollInterval is the benchmark's poll_interval: the first status check comes after a
// quarter of it (1ms), and the fake finishes every request at its first check, so each request
// costs one wait and one DescribeAccountAssignment*Status. Against AWS the polling time is AWS's
// own time to apply the assignment (seconds), seen at most one poll_interval late.
const benchPollInterval = 4 * time.Millisecond

// benchAdapter is the adapter against a fake with alice, one account, real waits.
func benchAdapter(b *testing.B) *Adapter {
	srv := awsidctest.New(b, accounts[0])
	srv.SetInProgress(0)
	srv.AddUser("alice", gt.Alice.Email)
	c := testConfig(srv)
	c.AccountIDs = accounts[:1]
	c.PollInterval = benchPollInterval
	a, err := New(context.Background(), *c, zerolog.Nop(), Options{
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return awsidctest.Credentials(), nil }),
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// reportPolling adds the time spent waiting for assignment requests, per grant+revoke cycle.
func reportPolling(b *testing.B, a *Adapter, cycles int) {
	polls, waited := a.PollStats()
	if cycles > 0 {
		b.ReportMetric(float64(waited.Microseconds())/1000/float64(cycles), "poll-ms/op")
		b.ReportMetric(float64(polls)/float64(cycles), "polls/op")
	}
}

// BenchmarkGrantRevoke is one Grant and one Revoke after another against the fake, in one
// account: GetUserId, CreateAccountAssignment and its status check, then DeleteAccountAssignment
// and its status check (the lease names the user, so a revoke looks nobody up).
func BenchmarkGrantRevoke(b *testing.B) {
	a := benchAdapter(b)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		now := time.Now()
		req := adapters.GrantRequest{
			GrantID: fmt.Sprintf("g-bench-%d", n), Resource: "aws-prod",
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
	reportPolling(b, a, n)
}

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against the
// fake, beside a noop baseline in the same run. Run it with -benchtime=200x (go run
// ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	a := benchAdapter(b)
	latency.Bench(b, a, latency.Options{AdapterType: "aws-identity-center", Account: gt.Alice.Email})
	// The polling of every grant and revoke, warm-up included, per grant.
	reportPolling(b, a, b.N)
}
