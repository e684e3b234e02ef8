package grants

import (
	"time"

	"github.com/accessbot/accessbot/internal/backoff"
)

// RetryPolicy says how failed adapter calls are retried: exponential backoff from Initial,
// doubling per failure up to Max, each delay moved by up to ±Jitter of itself so that many
// grants failing together do not retry together. A revocation that failed Attempts times becomes
// revoke_failed and is then retried every Slow.
type RetryPolicy struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
	Slow     time.Duration
	// Jitter is a fraction (0.2 = ±20%). Zero means the default; a negative value means none.
	Jitter float64
}

// DefaultRetry is the policy used for unset fields.
var DefaultRetry = RetryPolicy{Initial: time.Second, Max: 5 * time.Minute, Attempts: 8, Slow: 10 * time.Minute, Jitter: 0.2}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Initial <= 0 {
		p.Initial = DefaultRetry.Initial
	}
	if p.Max <= 0 {
		p.Max = DefaultRetry.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetry.Attempts
	}
	if p.Slow <= 0 {
		p.Slow = DefaultRetry.Slow
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = DefaultRetry.Jitter
	case p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		p.Jitter = 1
	}
	return p
}

// Backoff returns the delay before the next try after the failures-th failure (from 1):
// Initial·2^(failures-1), capped at Max, then moved by a random ±Jitter fraction.
func (p RetryPolicy) Backoff(failures int) time.Duration {
	return p.withDefaults().backoff().Delay(failures, nil)
}

// backoff is the policy as internal/backoff reads it. p must have its defaults.
func (p RetryPolicy) backoff() backoff.Policy {
	return backoff.Policy{Base: p.Initial, Max: p.Max, Jitter: backoff.Spread(p.Jitter)}
}
