package ratelimit

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

func TestReservationsAreSpacedByTheRateAfterTheBurst(t *testing.T) {
	tests := []struct {
		name string
		rate Rate
		want []time.Duration // when each of the calls reserved at t0 may go
	}{
		{"one a second without burst goes a second apart", Rate{Every: time.Second, Burst: 1},
			[]time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}},
		{"a burst of three goes at once, then one a second", Rate{Every: time.Second, Burst: 3},
			[]time.Duration{0, 0, 0, time.Second, 2 * time.Second}},
		{"fifty a minute is one every 1.2s", PerMinute(50, 1),
			[]time.Duration{0, 1200 * time.Millisecond, 2400 * time.Millisecond}},
		{"a zero rate does not limit", Rate{}, []time.Duration{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Limiter
			for i, want := range tt.want {
				if got := l.Reserve(t0, Limit{Key: "k", Rate: tt.rate}).Sub(t0); got != want {
					t.Fatalf("call %d may go after %s; want %s", i, got, want)
				}
			}
		})
	}
}

func TestAQuietSpellRefillsTheBurstButNoMore(t *testing.T) {
	var l Limiter
	r := Limit{Key: "k", Rate: Rate{Every: time.Second, Burst: 2}}
	l.Reserve(t0, r)
	l.Reserve(t0, r)
	later := t0.Add(time.Hour)
	for i, want := range []time.Duration{0, 0, time.Second} {
		if got := l.Reserve(later, r).Sub(later); got != want {
			t.Fatalf("call %d after an hour may go after %s; want %s", i, got, want)
		}
	}
}

func TestACallCountingAgainstTwoBucketsWaitsForTheSlowerAndTakesFromBoth(t *testing.T) {
	var l Limiter
	channel := Limit{Key: "post C1", Rate: Rate{Every: time.Second, Burst: 1}}
	workspace := Limit{Key: "open", Rate: Rate{Every: 3 * time.Second, Burst: 1}}
	if at := l.Reserve(t0, channel, workspace); !at.Equal(t0) {
		t.Fatalf("first call at %s; want now", at)
	}
	if at := l.Reserve(t0, channel, workspace); at.Sub(t0) != 3*time.Second {
		t.Fatalf("second call after %s; want 3s (the workspace bucket)", at.Sub(t0))
	}
	// The channel bucket was taken at the 3s slot, so the next channel-only call follows it.
	if at := l.Reserve(t0, channel); at.Sub(t0) != 4*time.Second {
		t.Fatalf("a channel-only call after %s; want 4s", at.Sub(t0))
	}
}

func TestPauseHoldsEveryCallUntilTheAPIAllowsAgain(t *testing.T) {
	var l Limiter
	r := Limit{Key: "chat.update", Rate: Rate{Every: time.Second, Burst: 5}}
	l.Pause("chat.update", t0.Add(30*time.Second))
	if at := l.Reserve(t0, r); at.Sub(t0) != 30*time.Second {
		t.Fatalf("a call during the pause may go after %s; want 30s", at.Sub(t0))
	}
	other := Limit{Key: "chat.postMessage C1", Rate: Rate{Every: time.Second, Burst: 1}}
	if at := l.Reserve(t0, other); !at.Equal(t0) {
		t.Fatalf("a call on another key waited until %s; a pause is per key", at)
	}
}

func TestCancelGivesTheSlotBack(t *testing.T) {
	var l Limiter
	r := Limit{Key: "k", Rate: Rate{Every: time.Second, Burst: 1}}
	l.Reserve(t0, r)
	l.Reserve(t0, r)
	l.Cancel(r)
	if at := l.Reserve(t0, r); at.Sub(t0) != time.Second {
		t.Fatalf("after a cancel the next call may go after %s; want 1s", at.Sub(t0))
	}
}

func TestScaledDividesTheInterval(t *testing.T) {
	if got := PerMinute(50, 1).Scaled(60); got.Every != 20*time.Millisecond || got.Burst != 1 {
		t.Fatalf("50/min scaled by 60 = %+v; want every 20ms, burst 1", got)
	}
	if got := (Rate{Every: time.Second}).Scaled(0); got.Every != time.Second {
		t.Fatalf("scale 0 changed the rate to %+v", got)
	}
}
