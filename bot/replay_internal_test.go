package bot

import (
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
		// window and maxEntries configure the cache.
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
		{"the default window is five minutes", 0, 0, []seen{
			{"sig-a", t0, t0, false},
			{"sig-a", t0, t0.Add(DefaultReplayWindow), true},
			{"sig-a", t0, t0.Add(DefaultReplayWindow + time.Second), false},
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
			c := &ReplayCache{Window: tt.window, MaxEntries: tt.maxEntries}
			for i, call := range tt.calls {
				if got := c.Seen(call.key, call.at, call.now); got != call.want {
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
			if !c.Seen(key, t0, t0) {
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
