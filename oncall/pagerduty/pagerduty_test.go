package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/oncall"
	"github.com/accessbot/accessbot/oncall/pagerduty"
	pdt "github.com/accessbot/accessbot/oncall/pagerduty/pagerdutytest"
)

var (
	alice = pdt.User{ID: "PALICE1", Name: "Alice", Email: "Alice@Example.com"}
	bob   = pdt.User{ID: "PBOB001", Name: "Bob", Email: "bob@example.com"}
	carol = pdt.User{ID: "PCAROL1", Name: "Carol", Email: "carol@example.com"}
)

// client returns a client of the fake whose waits are recorded, not slept.
func client(t *testing.T, fake *pdt.Server, token string) (*pagerduty.Client, *[]time.Duration) {
	t.Helper()
	var waits []time.Duration
	c, err := pagerduty.New(pagerduty.Options{APIURL: fake.URL, Token: oncall.Token(token),
		Wait: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, &waits
}

func emails(shifts []oncall.Shift) []string {
	var out []string
	for _, sh := range shifts {
		out = append(out, fmt.Sprintf("%s@%d", sh.Email, sh.Level))
	}
	return out
}

func TestWhoIsOnCallForAScheduleReadsEveryPageWithEmails(t *testing.T) {
	fake := pdt.New(t)
	fake.PageSize = 2
	fake.Schedule("PSCHED1", alice, bob, carol)
	c, _ := client(t, fake, pdt.Token)
	got, err := c.OnCall(t.Context(), oncall.Target{Provider: oncall.PagerDuty, Kind: oncall.KindSchedule, ID: "PSCHED1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice@example.com@0", "bob@example.com@0", "carol@example.com@0"}; !slices.Equal(emails(got), want) {
		t.Fatalf("on call = %v, want %v (emails case-folded, schedules have no level)", emails(got), want)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	for i, r := range reqs {
		if r.Authorization != "Token token="+pdt.Token || r.Accept != "application/vnd.pagerduty+json;version=2" {
			t.Errorf("request %d headers: %+v", i, r)
		}
		if !strings.Contains(r.Query, "schedule_ids%5B%5D=PSCHED1") || !strings.Contains(r.Query, "include%5B%5D=users") {
			t.Errorf("request %d query %q lacks the schedule filter or include[]=users", i, r.Query)
		}
	}
	if !strings.Contains(reqs[1].Query, "offset=2") {
		t.Errorf("second page query %q, want offset=2", reqs[1].Query)
	}
}

func TestAnEscalationPolicyAnswersEveryLevel(t *testing.T) {
	fake := pdt.New(t)
	fake.Policy("PESCAL1", []pdt.User{alice}, []pdt.User{bob, carol})
	c, _ := client(t, fake, pdt.Token)
	got, err := c.OnCall(t.Context(), oncall.Target{Provider: oncall.PagerDuty, Kind: oncall.KindEscalation, ID: "PESCAL1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice@example.com@1", "bob@example.com@2", "carol@example.com@2"}; !slices.Equal(emails(got), want) {
		t.Fatalf("on call = %v, want %v", emails(got), want)
	}
	if q := fake.Requests()[0].Query; !strings.Contains(q, "escalation_policy_ids%5B%5D=PESCAL1") {
		t.Fatalf("query %q lacks escalation_policy_ids[]", q)
	}
}

func TestErrorsSayWhatWentWrong(t *testing.T) {
	sched := oncall.Target{Provider: oncall.PagerDuty, Kind: oncall.KindSchedule, ID: "PSCHED1"}
	tests := []struct {
		name     string
		token    string
		fail     []pdt.Failure
		target   oncall.Target
		wantIs   error
		wantText string
		waits    []time.Duration
	}{
		{name: "a refused token", token: "wrong", target: sched, wantIs: oncall.ErrUnauthorized, wantText: "the PagerDuty token was refused"},
		{name: "a schedule that does not exist", token: pdt.Token, target: oncall.Target{Provider: oncall.PagerDuty, Kind: oncall.KindSchedule, ID: "PNOPE00"},
			wantIs: oncall.ErrNotFound, wantText: "PagerDuty has no such schedule or escalation policy"},
		{name: "a 429 waited out as Retry-After asks", token: pdt.Token, target: sched,
			fail:  []pdt.Failure{{Status: http.StatusTooManyRequests, Headers: map[string]string{"Retry-After": "1", "ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "30"}}},
			waits: []time.Duration{time.Second}},
		{name: "a 429 with ratelimit-reset only", token: pdt.Token, target: sched,
			fail:  []pdt.Failure{{Status: http.StatusTooManyRequests, Headers: map[string]string{"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "1"}}},
			waits: []time.Duration{time.Second}},
		{name: "a 5xx retried with a growing wait", token: pdt.Token, target: sched,
			fail:  []pdt.Failure{{Status: http.StatusInternalServerError}, {Status: http.StatusBadGateway}},
			waits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{name: "a lasting 5xx given up after four tries", token: pdt.Token, target: sched,
			fail:     []pdt.Failure{{Status: 503}, {Status: 503}, {Status: 503}, {Status: 503}},
			wantText: "PagerDuty answered 503", waits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := pdt.New(t)
			fake.Schedule("PSCHED1", alice)
			fake.Fail(tt.fail...)
			c, waits := client(t, fake, tt.token)
			got, err := c.OnCall(t.Context(), tt.target)
			if tt.wantText == "" {
				if err != nil || len(got) != 1 {
					t.Fatalf("OnCall = %v, %v; want alice after the retries", got, err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantText) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantText)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Fatalf("error %v is not %v", err, tt.wantIs)
				}
			}
			if !slices.Equal(*waits, tt.waits) {
				t.Fatalf("waits = %v, want %v", *waits, tt.waits)
			}
		})
	}
}

func TestARateLimitLongerThanTheDeadlineFailsAtOnce(t *testing.T) {
	fake := pdt.New(t)
	fake.Schedule("PSCHED1", alice)
	fake.Fail(pdt.Failure{Status: http.StatusTooManyRequests, Headers: map[string]string{"Retry-After": "30"}})
	c, waits := client(t, fake, pdt.Token)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := c.OnCall(ctx, oncall.Target{Provider: oncall.PagerDuty, Kind: oncall.KindSchedule, ID: "PSCHED1"})
	if err == nil || !strings.Contains(err.Error(), "rate limited") || len(*waits) != 0 {
		t.Fatalf("error %v after waits %v, want the rate limit at once", err, *waits)
	}
}

func TestTheTokenNeverPrints(t *testing.T) {
	o := pagerduty.Options{Token: "s3cret"}
	if s := fmt.Sprintf("%v %+v %#v", o, o, o); strings.Contains(s, "s3cret") {
		t.Fatalf("options print the token: %s", s)
	}
}
