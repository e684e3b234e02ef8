package opsgenie_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/oncall"
	"github.com/accessbot/accessbot/oncall/opsgenie"
	ogt "github.com/accessbot/accessbot/oncall/opsgenie/opsgenietest"
)

var dbTeam = oncall.Target{Provider: oncall.Opsgenie, Kind: oncall.KindSchedule, ID: "db team"}

func client(t *testing.T, fake *ogt.Server, key string) (*opsgenie.Client, *[]time.Duration) {
	t.Helper()
	var waits []time.Duration
	c, err := opsgenie.New(opsgenie.Options{APIURL: fake.URL, Token: oncall.Token(key),
		Wait: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, &waits
}

func TestWhoIsOnCallForAScheduleByName(t *testing.T) {
	fake := ogt.New(t)
	fake.Schedule("db team", "Alice@Example.com", "bob@example.com")
	c, _ := client(t, fake, ogt.Key)
	got, err := c.OnCall(t.Context(), dbTeam)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, sh := range got {
		emails = append(emails, sh.Email)
	}
	if want := []string{"alice@example.com", "bob@example.com"}; !slices.Equal(emails, want) {
		t.Fatalf("on call = %v, want %v", emails, want)
	}
	r := fake.Requests()[0]
	if r.Path != "/v2/schedules/db team/on-calls" || r.Query != "flat=true&scheduleIdentifierType=name" || r.Authorization != "GenieKey "+ogt.Key {
		t.Fatalf("request = %+v", r)
	}
}

func TestOpsgenieErrorsSayWhatWentWrong(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		target   oncall.Target
		fail     []ogt.Failure
		wantIs   error
		wantText string
		waits    []time.Duration
	}{
		{name: "a refused key", key: "wrong", target: dbTeam, wantIs: oncall.ErrUnauthorized, wantText: "the Opsgenie API key was refused"},
		{name: "a schedule that does not exist", key: ogt.Key, target: oncall.Target{Provider: oncall.Opsgenie, Kind: oncall.KindSchedule, ID: "nope"},
			wantIs: oncall.ErrNotFound, wantText: "No schedule exists with name [nope]"},
		{name: "a 429 waited out", key: ogt.Key, target: dbTeam,
			fail: []ogt.Failure{{Status: http.StatusTooManyRequests, Headers: map[string]string{"Retry-After": "1"}}}, waits: []time.Duration{time.Second}},
		{name: "a 5xx retried", key: ogt.Key, target: dbTeam,
			fail: []ogt.Failure{{Status: http.StatusServiceUnavailable}}, waits: []time.Duration{200 * time.Millisecond}},
		{name: "a lasting 5xx given up", key: ogt.Key, target: dbTeam,
			fail:     []ogt.Failure{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}},
			wantText: "Opsgenie answered 500", waits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := ogt.New(t)
			fake.Schedule("db team", "alice@example.com")
			fake.Fail(tt.fail...)
			c, waits := client(t, fake, tt.key)
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
