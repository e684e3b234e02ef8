package stepup_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/stepup"
)

// BenchmarkStepUpCallback measures accessbot's side of a step-up login against Dex: the
// callback (the state's one use, the code exchange with PKCE at Dex's token endpoint, the ID
// token's signature and claims, the approval through grants.Service with its audit events).
// The person's part (a new request, opening the link, Dex's login form with its bcrypt check)
// runs with the timer stopped; "logins/s" is callbacks per second of callback time, and
// "full_logins/s" the rate of the whole flow, which Dex's bcrypt bounds.
//
//	go test ./internal/stepup -run '^$' -bench StepUpCallback -benchtime 200x
func BenchmarkStepUpCallback(b *testing.B) {
	w := newWorld(b)
	var callback time.Duration
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Dex stamps tokens with the real time; accessbot's clock follows it.
		w.h.Clock.Set(time.Now().UTC())
		id := w.request()
		br := w.browser()
		cb := w.login(br, w.link(id), "bob@example.com")
		b.StartTimer()
		t0 := time.Now()
		resp, err := br.Get(cb)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		callback += time.Since(t0)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("callback answered %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/callback.Seconds(), "logins/s")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "full_logins/s")
}

// lateLinker forwards to a step-up Service built after the bot harness that holds it (the
// Service needs the harness's store).
type lateLinker struct{ su *stepup.Service }

func (l *lateLinker) Link(ctx context.Context, a grants.Actor, requestID string, d grants.Decision) (string, time.Time, error) {
	return l.su.Link(ctx, a, requestID, d)
}

// BenchmarkApproveClick measures one Approve click through Bot.Act over SQLite, three ways in
// one run: as today (no oidc: section, so no step-up), with step-up configured but the
// resource without it (one more read of the request), and on a step-up resource (the click's
// checks and a one-time link stored, instead of the approval). Each iteration decides a new
// request, made with the timer stopped. No identity provider is involved in a click.
//
//	go test ./internal/stepup -run '^$' -bench ApproveClick -benchtime 300x
func BenchmarkApproveClick(b *testing.B) {
	cases := []struct {
		name       string
		configured bool
		stepUp     bool
		want       string
	}{
		{"today_no_stepup_configured", false, false, "You approved"},
		{"stepup_configured_resource_off", true, false, "You approved"},
		{"stepup_on_link_issued", true, true, "Log in to confirm your approval"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			res := grantstest.DefaultResource()
			res.StepUp = grants.StepUp{Approve: c.stepUp}
			o := bottest.Options{Resources: []*grants.Resource{res}}
			late := &lateLinker{}
			if c.configured {
				o.StepUp = late
			}
			h := bottest.New(b, o)
			su, err := stepup.New(stepup.Options{Issuer: "https://idp.example.com", ClientID: "accessbot",
				RedirectURL: "https://accessbot.example.com/stepup/callback", Clock: h.Clock}, h.DB, h.Service)
			if err != nil {
				b.Fatal(err)
			}
			late.su = su
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				// A new requester each time: one person has one pending request per resource.
				email := fmt.Sprintf("dev%d@example.com", i)
				requester := grants.Actor{ID: email, Email: email, Name: "dev", Platform: "slack", PlatformID: fmt.Sprintf("UDEV%d", i)}
				h.Command(requester, "request prod-db 1h INC-42")
				b.StartTimer()
				r := h.Click(grantstest.Bob, bot.ActionApprove, fmt.Sprintf("r-%d", i+1))
				b.StopTimer()
				if r.View == nil || !strings.Contains(r.View.Title, c.want) {
					b.Fatalf("click %d answered %+v, want %q", i, r.View, c.want)
				}
				b.StartTimer()
			}
		})
	}
}
