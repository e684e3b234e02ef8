package tickets_test

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/tickets"
)

// BenchmarkRequestToCard measures `/access request` → the approval card posted (the request's
// checks, its transaction, the dispatcher and the outbox through the chat core's fake platform,
// SQLite), per request: without checks, and with the resource's ticket checked against the Jira
// fake answering in 50 ms. Both run in the same process, one after the other.
func BenchmarkRequestToCard(b *testing.B) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		check bool
	}{
		{"no-checks", 0, false},
		{"ticket-50ms", 50 * time.Millisecond, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fake, sys := jiraSystem(b)
			fake.SetDelay(tc.delay)
			var lookups []grants.Lookup
			if tc.check {
				l, err := tickets.NewLookup([]tickets.System{sys}, map[string]tickets.Policy{"prod-db": {
					System: "jira", Pattern: regexp.MustCompile(tickets.DefaultPattern(tickets.KindJira)), MustBeOpen: true}})
				if err != nil {
					b.Fatal(err)
				}
				lookups = []grants.Lookup{l}
			}
			h := bottest.New(b, bottest.Options{Lookups: lookups})
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
			}
			b.StopTimer()
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
