package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

// constant is a random source that always draws the same number: 0 makes Float64 return 0 (the
// low end of Spread), 1 makes Int64N return 0 (the low end of Half and Plus), and all ones
// makes Float64 return just under 1 and Int64N(n) return n-1 (the high ends).
type constant uint64

func (c constant) Uint64() uint64 { return uint64(c) }

const (
	lowFloat = constant(0)
	lowInt   = constant(1)
	high     = constant(^uint64(0))
)

// The four policies of accessbot, with the numbers their callers use.
var (
	grantsRetry   = Policy{Base: time.Second, Max: 5 * time.Minute, Jitter: Spread(0.2)}
	sinkForwarder = Policy{Base: time.Second, Max: 8 * time.Second, Jitter: Spread(0.2)}
	webhook       = Policy{Base: 200 * time.Millisecond, Max: 2 * time.Second, Jitter: Half}
	storageTx     = Policy{Base: 5 * time.Millisecond, Growth: Quadratic, Jitter: Plus(5 * time.Millisecond)}
)

func TestDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		policy  Policy
		attempt int
		source  constant
		want    time.Duration
	}{
		{"the first failure waits the base", Policy{Base: time.Second}, 1, lowFloat, time.Second},
		{"an attempt below one counts as the first", Policy{Base: time.Second}, 0, lowFloat, time.Second},
		{"exponential doubles by default", Policy{Base: time.Second}, 4, lowFloat, 8 * time.Second},
		{"exponential takes another factor", Policy{Base: time.Second, Factor: 3}, 3, lowFloat, 9 * time.Second},
		{"a fractional factor multiplies", Policy{Base: time.Second, Factor: 1.5}, 3, lowFloat, 2250 * ms},
		{"the cap holds", Policy{Base: time.Second, Max: 5 * time.Second}, 4, lowFloat, 5 * time.Second},
		{"the cap holds for huge attempts", Policy{Base: time.Second, Max: 5 * time.Second}, 1 << 30, lowFloat, 5 * time.Second},
		{"no cap saturates instead of overflowing", Policy{Base: time.Second}, 200, lowFloat, 1<<63 - 1},
		{"quadratic grows with the square", Policy{Base: 5 * ms, Growth: Quadratic}, 3, lowFloat, 45 * ms},

		{"grants: the low end of ±20%", grantsRetry, 1, lowFloat, 800 * ms},
		{"grants: the high end of ±20%", grantsRetry, 1, high, 1200 * ms},
		{"grants: doubling before jitter", grantsRetry, 3, lowFloat, 3200 * ms},
		{"grants: jitter applies to the cap", grantsRetry, 20, lowFloat, 4 * time.Minute},
		{"sink: capped at its maximum, then jittered", sinkForwarder, 5, high, 9600 * ms},
		{"webhook: half is kept", webhook, 1, lowInt, 100 * ms},
		{"webhook: the whole delay at most", webhook, 1, high, 200 * ms},
		{"webhook: doubling", webhook, 3, high, 800 * ms},
		{"webhook: capped at 2s", webhook, 9, lowInt, time.Second},
		{"storage: the base plus nothing", storageTx, 1, lowInt, 5 * ms},
		{"storage: the square plus just under 5ms", storageTx, 2, high, 25*ms - 1},
		{"storage: no cap", storageTx, 4, lowInt, 80 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Delay(tt.attempt, rand.New(tt.source)); got != tt.want {
				t.Errorf("Delay(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestJitterFromTheGlobalSourceStaysInItsRange(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		lo, hi time.Duration
	}{
		{"spread", grantsRetry, 800 * time.Millisecond, 1200 * time.Millisecond},
		{"half", webhook, 100 * time.Millisecond, 200 * time.Millisecond},
		{"plus", storageTx, 5 * time.Millisecond, 10*time.Millisecond - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := tt.policy.Delay(1, nil)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("Delay(1) = %s, want within [%s, %s]", d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Errorf("Delay(1) took only %d values in 200 draws: no jitter", len(seen))
			}
		})
	}
}

func TestSpreadOfZeroOrLessLeavesTheDelay(t *testing.T) {
	for _, f := range []float64{0, -1} {
		if got := Spread(f)(time.Second, nil); got != time.Second {
			t.Errorf("Spread(%v)(1s) = %s, want 1s", f, got)
		}
	}
	if got := Plus(0)(time.Second, nil); got != time.Second {
		t.Errorf("Plus(0)(1s) = %s, want 1s", got)
	}
}
