package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/ratelimit"
)

func TestAHoldIsWaitedOutWhenShortAndRefusedWhenLong(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var waited []time.Duration
	wait := func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	h := &ratelimit.Hold{Who: "GitHub"}
	if err := h.Wait(context.Background(), now, time.Minute, wait); err != nil || len(waited) != 0 {
		t.Fatalf("an empty hold: %v, waited %v; want no wait", err, waited)
	}
	h.Until(now.Add(30 * time.Second))
	h.Until(now.Add(10 * time.Second)) // an earlier end never shortens the hold
	if err := h.Wait(context.Background(), now, time.Minute, wait); err != nil || len(waited) != 1 || waited[0] != 30*time.Second {
		t.Fatalf("a 30s hold: %v, waited %v; want one wait of 30s", err, waited)
	}
	err := h.Wait(context.Background(), now, 10*time.Second, wait)
	var tl *ratelimit.TooLong
	if !errors.As(err, &tl) || tl.Wait != 30*time.Second || err.Error() != "GitHub's rate limit resets in 30s, longer than max_rate_wait" {
		t.Fatalf("a hold longer than max: %v; want TooLong naming GitHub and 30s", err)
	}
	if len(waited) != 1 {
		t.Errorf("a hold longer than max was waited: %v", waited)
	}
	if err := h.Wait(context.Background(), now.Add(31*time.Second), time.Minute, wait); err != nil || len(waited) != 1 {
		t.Errorf("a hold that is over: %v, waited %v; want nothing", err, waited)
	}
}

func TestResetAtReadsTheResetInTheAPIsClock(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	date := now.Add(-time.Hour).Format(http.TimeFormat) // the API's clock is an hour behind ours
	for _, tc := range []struct {
		name  string
		reset int64
		date  string
		want  time.Time
	}{
		{"a reset read against the answer's Date", now.Add(-time.Hour + 20*time.Second).Unix(), date, now.Add(20 * time.Second)},
		{"a reset without a Date is taken as it is", now.Add(20 * time.Second).Unix(), "", now.Add(20 * time.Second)},
		{"a reset in the past still holds a second", now.Add(-time.Minute).Unix(), "", now.Add(time.Second)},
		{"a reset this second holds a second", now.Unix(), "", now.Add(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratelimit.ResetAt(now, tc.reset, tc.date); !got.Equal(tc.want) {
				t.Errorf("ResetAt = %v, want %v", got, tc.want)
			}
		})
	}
}
