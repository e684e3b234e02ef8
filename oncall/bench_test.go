package oncall_test

import (
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/oncall"
	"github.com/accessbot/accessbot/oncall/pagerduty"
	pdt "github.com/accessbot/accessbot/oncall/pagerduty/pagerdutytest"
)

// BenchmarkRequestWithOnCallCheck times Service.Request (the request's transaction and its
// outside checks: what stands between a click and the approval card) for a resource whose
// approvers include a PagerDuty rota, with PagerDuty's fake answering in 50 ms: every request
// asking it (cold: the cache kept nothing), the minute's cache answering (warm), and the same
// resource without the rota (none). It reports p50 and p99.
//
//	go test -run '^$' -bench RequestWithOnCallCheck -benchtime 200x ./oncall/
func BenchmarkRequestWithOnCallCheck(b *testing.B) {
	for _, mode := range []string{"none", "warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			pd := pdt.New(b)
			pd.Delay = 50 * time.Millisecond
			pd.Schedule("PSCHED1", pdt.User{ID: "PCAROL1", Name: "Carol", Email: "carol@example.com"})
			r := gt.DefaultResource()
			var lookups []grants.Lookup
			// The rotas' own clock: cold moves it past the minute's cache before every request.
			rotaClock := clock.NewFake(time.Now())
			if mode != "none" {
				client, err := pagerduty.New(pagerduty.Options{APIURL: pd.URL, Token: pdt.Token})
				if err != nil {
					b.Fatal(err)
				}
				rota := mustRota("pagerduty:schedule/PSCHED1")
				r.Policy.ApproverGroups = append(r.Policy.ApproverGroups, rota.String())
				rs := oncall.New(oncall.Options{Providers: map[string]oncall.Provider{oncall.PagerDuty: client},
					Rotas: []oncall.Rota{rota}, Clock: rotaClock, Log: zerolog.Nop()})
				lookups = []grants.Lookup{oncall.NewLookup(rs)}
			}
			h := gt.New(b, gt.Options{Resources: []*grants.Resource{r}, Lookups: lookups})
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				who := gt.Person("p" + string(rune('a'+i%26)) + "@example.com")
				start := time.Now()
				if _, err := h.Service.Request(h.Ctx, who, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-1"}); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
				h.Clock.Advance(time.Minute)
				if mode == "cold" {
					rotaClock.Advance(2 * time.Minute)
				}
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
