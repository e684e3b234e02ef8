package bot

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestTheReplayCache(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	// seen is one call of Seen and what it must say.
	type seen struct {
		key     string
		at, now time.Time
		want    bool
	}
	tests := []struct {
		name string
		// window is how long after its request's timestamp an entry expires (the verifier's
		// freshness window; five minutes when 0); maxEntries configures the cache.
		window     time.Duration
		maxEntries int
		calls      []seen
		// remembered is how many entries must be left at the end.
		remembered int
	}{
		{"a new request is accepted and a duplicate refused", 0, 0, []seen{
			{"sig-a", t0, t0, false},
			{"sig-a", t0, t0.Add(time.Second), true},
			{"sig-b", t0, t0.Add(time.Second), false},
		}, 2},
		{"a duplicate is refused until the window ends, then forgotten", time.Minute, 0, []seen{
			{"sig-a", t0, t0, false},
			{"sig-a", t0, t0.Add(time.Minute), true},
			{"sig-a", t0, t0.Add(time.Minute + time.Second), false},
		}, 1},
		{"expired entries are pruned on the next check", time.Minute, 0, []seen{
			{"sig-a", t0, t0, false},
			{"sig-b", t0.Add(30 * time.Second), t0.Add(30 * time.Second), false},
			{"sig-c", t0.Add(2 * time.Minute), t0.Add(2 * time.Minute), false},
		}, 1},
		{"an entry is remembered until the moment it expires", 5 * time.Minute, 0, []seen{
			{"sig-a", t0, t0, false},
			{"sig-a", t0, t0.Add(5 * time.Minute), true},
			{"sig-a", t0, t0.Add(5*time.Minute + time.Second), false},
		}, 1},
		{"a full cache drops its oldest entry", 0, 2, []seen{
			{"sig-a", t0, t0, false},
			{"sig-b", t0, t0, false},
			{"sig-c", t0, t0, false},
			{"sig-c", t0, t0, true},
			{"sig-b", t0, t0, true},
			{"sig-a", t0, t0, false},
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &ReplayCache{MaxEntries: tt.maxEntries}
			window := tt.window
			if window == 0 {
				window = 5 * time.Minute
			}
			for i, call := range tt.calls {
				got, err := c.Seen(context.Background(), call.key, call.now, call.at.Add(window))
				if err != nil {
					t.Fatalf("call %d: Seen: %v", i, err)
				}
				if got != call.want {
					t.Errorf("call %d: Seen(%q, %s, %s) = %v, want %v", i, call.key,
						call.at.Format(time.TimeOnly), call.now.Format(time.TimeOnly), got, call.want)
				}
			}
			if len(c.seen) != tt.remembered || len(c.order) != tt.remembered {
				t.Errorf("the cache remembers %d (in order %d), want %d", len(c.seen), len(c.order), tt.remembered)
			}
		})
	}
}

// Only one of several concurrent deliveries of the same request is accepted.
func TestTheReplayCacheAcceptsARequestOnceUnderConcurrency(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var c ReplayCache
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for i := range 64 {
		wg.Go(func() {
			key := fmt.Sprintf("sig-%d", i%8)
			if replayed, _ := c.Seen(context.Background(), key, t0, t0.Add(time.Minute)); !replayed {
				mu.Lock()
				accepted[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for key, n := range accepted {
		if n != 1 {
			t.Errorf("%s was accepted %d times, want once", key, n)
		}
	}
	if len(accepted) != 8 {
		t.Errorf("%d keys accepted, want 8", len(accepted))
	}
}
