// Package backoff computes how long to wait before trying a failed call again: a delay that
// grows with each failure up to a cap, moved by chance so that callers that failed together do
// not retry together. It is the one copy of that arithmetic; the grants scheduler, the audit
// sink forwarder, the webhook adapter and the storage transaction retry each keep their own
// numbers in a Policy.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Growth is how the delay grows from one attempt to the next.
type Growth int

const (
	// Exponential multiplies the delay by Factor per attempt: Base, Base·Factor,
	// Base·Factor², ... It is the zero value.
	Exponential Growth = iota
	// Quadratic grows with the square of the attempt: Base, 4·Base, 9·Base, ... Short
	// collisions (storage's serialization failures) want a gentler start than doubling.
	Quadratic
)

// Policy says how long to wait after each failure.
type Policy struct {
	// Base is the delay after the first failure, before jitter.
	Base time.Duration
	// Max caps the delay before jitter; zero means no cap.
	Max time.Duration
	// Factor is the growth per attempt of an Exponential policy; zero means 2.
	Factor float64
	// Growth is Exponential (the default) or Quadratic.
	Growth Growth
	// Jitter moves the capped delay by chance; nil means none.
	Jitter Jitter
}

// Delay returns the wait after the attempt-th failure (from 1; smaller counts as 1). Randomness
// comes from r, which tests set to get known draws; nil means math/rand/v2's global source,
// which is safe for concurrent use.
func (p Policy) Delay(attempt int, r *rand.Rand) time.Duration {
	d := p.grown(max(attempt, 1))
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	if p.Jitter == nil {
		return d
	}
	return p.Jitter(d, r)
}

// grown is the delay before the cap and jitter. An Exponential delay stops growing once it
// reaches Max, so no attempt count can overflow it.
func (p Policy) grown(attempt int) time.Duration {
	if p.Growth == Quadratic {
		return time.Duration(attempt*attempt) * p.Base
	}
	f := p.Factor
	if f == 0 {
		f = 2
	}
	d := p.Base
	for i := 1; i < attempt && (p.Max <= 0 || d < p.Max); i++ {
		if float64(d) >= math.MaxInt64/f {
			return math.MaxInt64
		}
		if f == math.Trunc(f) {
			d *= time.Duration(f) // exact for the usual doubling, however long d is
		} else {
			d = time.Duration(float64(d) * f)
		}
	}
	return d
}

// Jitter moves a delay d by chance, drawing from r (nil: the global source).
type Jitter func(d time.Duration, r *rand.Rand) time.Duration

// Spread moves a delay by up to ±fraction of itself (0.2 is ±20%), uniformly: d becomes
// d·(1 + fraction·u) with u in [-1, 1). A fraction of zero or less leaves d as it is.
func Spread(fraction float64) Jitter {
	return func(d time.Duration, r *rand.Rand) time.Duration {
		if fraction <= 0 {
			return d
		}
		return time.Duration(float64(d) * (1 + fraction*(2*float64Of(r)-1)))
	}
}

// Half keeps half of a delay and draws the other half at random: d becomes uniform over
// [d/2, d/2 + d/2] ("equal jitter"). Short retries inside one call stay short yet apart.
func Half(d time.Duration, r *rand.Rand) time.Duration {
	return d/2 + time.Duration(int64nOf(r, int64(d/2+1)))
}

// Plus adds a random amount in [0, upTo) to a delay. An upTo of zero or less adds nothing.
func Plus(upTo time.Duration) Jitter {
	return func(d time.Duration, r *rand.Rand) time.Duration {
		if upTo <= 0 {
			return d
		}
		return d + time.Duration(int64nOf(r, int64(upTo)))
	}
}

func float64Of(r *rand.Rand) float64 {
	if r == nil {
		return rand.Float64()
	}
	return r.Float64()
}

func int64nOf(r *rand.Rand, n int64) int64 {
	if r == nil {
		return rand.Int64N(n)
	}
	return r.Int64N(n)
}

// Sleep waits d, or returns the context's error if it ends first (at once when d <= 0 and the
// context has ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
