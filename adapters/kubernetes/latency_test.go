package kubernetes

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bench/adapters/latency"
	"github.com/accessbot/accessbot/internal/kubetest"
)

// benchModes are the modes measured, each bound in one namespace.
var benchModes = []string{ModeBinding, ModeToken}

// benchAdapter is the adapter in mode, bound in one namespace. Its client-side rate limit is
// lifted: at the default (qps 50) a cycle of binding mode's two requests would be paced at 25/s
// and the benchmark would measure the limiter, not the API server.
func benchAdapter(b *testing.B, mode string) adapters.Adapter {
	srv := server(b)
	return newAdapter(b, srv, kubetest.Bot, namespaces(b, srv, 1), func(c *Config) {
		c.Mode = mode
		c.QPS, c.Burst = 1e6, 1e6
	})
}

// BenchmarkGrantRevoke is one Grant and one Revoke after another against the local API server:
// binding mode applies and deletes one RoleBinding; token mode applies a ServiceAccount and a
// RoleBinding, requests a token and deletes both.
func BenchmarkGrantRevoke(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			a := benchAdapter(b, mode)
			ctx := context.Background()
			n := 0
			for b.Loop() {
				n++
				now := time.Now()
				req := adapters.GrantRequest{
					GrantID: fmt.Sprintf("g-bench-%d", n), Resource: "k8s-prod",
					Subject: adapters.Subject{ID: kubetest.Alice, Account: kubetest.Alice},
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
		})
	}
}

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against the
// local API server, beside a noop baseline in the same run. Run it with -benchtime=200x (go run
// ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			latency.Bench(b, benchAdapter(b, mode), latency.Options{AdapterType: "kubernetes", Account: kubetest.Alice})
		})
	}
}
