package flood

import (
	"testing"
	"time"
)

func TestTheGateLetsMaxAMinuteThroughAndCountsTheRest(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	g := &Gate{Max: 2}
	for i, want := range []bool{true, true, false, false, false} {
		ok, held := g.Allow(at.Add(time.Duration(i) * time.Second))
		if ok != want || held != 0 {
			t.Fatalf("event %d: Allow = %v, %d; want %v, 0", i, ok, held, want)
		}
	}
	if ok, held := g.Allow(at.Add(time.Minute)); !ok || held != 3 {
		t.Fatalf("a minute later: Allow = %v, %d; want true and the 3 held back", ok, held)
	}
	if ok, held := g.Allow(at.Add(time.Minute + time.Second)); !ok || held != 0 {
		t.Fatalf("the next: Allow = %v, %d; want true, 0 (the count was reported once)", ok, held)
	}
	if ok, _ := g.Allow(at); !ok {
		t.Fatal("a clock that went backwards must start a new minute")
	}
}

func TestAZeroGateLetsNothingThrough(t *testing.T) {
	var g Gate
	if ok, _ := g.Allow(time.Now()); ok {
		t.Fatal("the zero Gate let an event through")
	}
}
