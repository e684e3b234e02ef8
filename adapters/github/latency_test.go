package github

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/github/githubtest"
	"github.com/accessbot/accessbot/bench/adapters/latency"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// benchAdapter is the team adapter as a GitHub App against a fake where alice is in the
// organization, with real time (the fake sets no rate limit, so nothing waits). The
// installation token is fetched once and cached, as in production.
func benchAdapter(b *testing.B) *Adapter {
	srv := githubtest.New(b, githubtest.Options{AppID: appID, InstallationID: installationID, PublicKey: &appKey().PublicKey})
	srv.AddOrgMember("alice")
	c := NewConfig()
	c.APIURL, c.Mode, c.Org, c.Team = srv.URL, ModeTeam, githubtest.Org, githubtest.Team
	c.AppID, c.InstallationID, c.PrivateKey = appID, installationID, keyPEM(appKey())
	a, err := New(*c, zerolog.Nop(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkGrantRevoke is one Grant and one Revoke after another against the fake: the
// membership read and added, then deleted.
func BenchmarkGrantRevoke(b *testing.B) {
	a := benchAdapter(b)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		now := time.Now()
		req := adapters.GrantRequest{
			GrantID: fmt.Sprintf("g-bench-%d", n), Resource: "github-admins",
			Subject: adapters.Subject{ID: gt.Alice.ID, Email: gt.Alice.Email, Account: "alice"},
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
	latency.Bench(b, benchAdapter(b), latency.Options{AdapterType: "github", Account: "alice"})
}
