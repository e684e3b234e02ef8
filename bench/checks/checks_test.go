// Package checks holds issue 19's benchmark: a request whose policy checks a ticket and an
// on-call rota, from the command to the approval card posted, with both systems' fakes
// answering in 50 ms, beside the same request without checks, in one run.
//
//	go test ./bench/checks -run '^$' -bench . -benchtime 200x
package checks

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/oncall"
	"github.com/accessbot/accessbot/oncall/pagerduty"
	pdt "github.com/accessbot/accessbot/oncall/pagerduty/pagerdutytest"
	"github.com/accessbot/accessbot/tickets"
	"github.com/accessbot/accessbot/tickets/jira"
	"github.com/accessbot/accessbot/tickets/jira/jiratest"
)

// fakeDelay is how long each fake takes to answer: a SaaS API across the internet.
const fakeDelay = 50 * time.Millisecond

// lookups builds the ticket and on-call checks of prod-db against fakes answering in
// fakeDelay; cold makes the on-call cache miss on every request (rotaClock moves past it).
func lookups(b *testing.B, r *grants.Resource) ([]grants.Lookup, *clock.Fake) {
	b.Helper()
	jf := jiratest.New("bot@example.com", "tok", "")
	b.Cleanup(jf.Close)
	jf.Put(jiratest.Issue{Key: "OPS-42", Summary: "Database down", Status: "In Progress", Category: "indeterminate",
		Priority: "P1", Project: "OPS"})
	jf.SetDelay(fakeDelay)
	jc, err := jira.New(jira.Options{Name: "jira", BaseURL: jf.URL, Email: "bot@example.com", Token: "tok"})
	if err != nil {
		b.Fatal(err)
	}
	tl, err := tickets.NewLookup([]tickets.System{jc}, map[string]tickets.Policy{r.Name: {
		System: "jira", Pattern: regexp.MustCompile(tickets.DefaultPattern(tickets.KindJira)), MustBeOpen: true}})
	if err != nil {
		b.Fatal(err)
	}

	pd := pdt.New(b)
	pd.Delay = fakeDelay
	pd.Schedule("PSCHED1", pdt.User{ID: "PCAROL1", Name: "Carol", Email: "carol@example.com"})
	pc, err := pagerduty.New(pagerduty.Options{APIURL: pd.URL, Token: pdt.Token})
	if err != nil {
		b.Fatal(err)
	}
	rota, err := oncall.ParseRota("pagerduty:schedule/PSCHED1")
	if err != nil {
		b.Fatal(err)
	}
	r.Policy.ApproverGroups = append(r.Policy.ApproverGroups, rota.String())
	rotaClock := clock.NewFake(time.Now())
	rs := oncall.New(oncall.Options{Providers: map[string]oncall.Provider{oncall.PagerDuty: pc},
		Rotas: []oncall.Rota{rota}, Clock: rotaClock, Log: zerolog.Nop()})
	return []grants.Lookup{tl, oncall.NewLookup(rs)}, rotaClock
}

func BenchmarkRequestToCard(b *testing.B) {
	for _, mode := range []string{"no-checks", "ticket+oncall-cold", "ticket+oncall-warm"} {
		b.Run(mode, func(b *testing.B) {
			r := grantstest.DefaultResource()
			var ls []grants.Lookup
			var rotaClock *clock.Fake
			if mode != "no-checks" {
				ls, rotaClock = lookups(b, r)
			}
			h := bottest.New(b, bottest.Options{Resources: []*grants.Resource{r}, Lookups: ls})
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				who := grantstest.Person(fmt.Sprintf("u%d@example.com", i))
				start := time.Now()
				h.Command(who, "request prod-db 1h OPS-42 fixing the index")
				if h.Deliver() == 0 {
					b.Fatalf("request %d: no card was posted", i)
				}
				lat = append(lat, time.Since(start))
				if mode == "ticket+oncall-cold" {
					rotaClock.Advance(2 * time.Minute)
				}
			}
			b.StopTimer()
			if mode != "no-checks" {
				// The benchmark measures checks that were made: the card must show both.
				req := h.Request("r-1")
				if len(req.Checks) != 2 || req.Checks[0].Status != grants.CheckPassed || req.Checks[1].Status != grants.CheckPassed {
					b.Fatalf("request r-1 checks %+v, want a ticket and an on-call check, both passed", req.Checks)
				}
			}
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
