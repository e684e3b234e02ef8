// Package ratelimit paces calls to an outside API by the limits it publishes: a token bucket per
// key (a method and a destination, a method for a whole workspace), which a caller reserves
// before each call and which the API's own "wait" answer (HTTP 429 with Retry-After) can empty
// until a given time. Time is passed in, never read, so that tests and benchmarks drive it.
package ratelimit

import (
	"sync"
	"time"
)

// Rate is a published limit: one call every Every on average, with up to Burst calls at once
// after a quiet spell. A Rate with Every <= 0 does not limit.
type Rate struct {
	Every time.Duration
	Burst int
}

// PerMinute returns the Rate of n calls a minute with the given burst.
func PerMinute(n, burst int) Rate { return Rate{Every: time.Minute / time.Duration(n), Burst: burst} }

// Limit is one bucket a call counts against.
type Limit struct {
	// Key names the bucket: calls with the same Key share it ("chat.postMessage C123").
	Key  string
	Rate Rate
}

// Scaled returns r with every interval divided by factor (factor > 1 is faster); benchmarks run
// the published limits faster than real time this way. A factor <= 0 returns r unchanged.
func (r Rate) Scaled(factor float64) Rate {
	if factor <= 0 || r.Every <= 0 {
		return r
	}
	r.Every = time.Duration(float64(r.Every) / factor)
	if r.Every <= 0 {
		r.Every = 1
	}
	return r
}

// Limiter holds the buckets. Its zero value is ready; it is safe for concurrent use. Buckets
// that have been full for a while are forgotten, so destinations seen once do not pile up.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// bucket is a token bucket kept as the time it is "empty until" (GCRA): a call at now is
// allowed when tat - Burst·Every <= now, and moves tat one Every on. pausedUntil is an
// API's own answer to wait, which holds every call back whatever the tokens say.
type bucket struct {
	tat         time.Time
	pausedUntil time.Time
}

// Reserve takes one call's token from every bucket in limits and returns when the call may be
// made: now when every bucket had a token, otherwise the earliest time all of them allow it.
// The tokens are taken either way (a reservation), so calls reserved one after the other go out
// in that order, each at its own slot; a caller that will not make the call gives them back
// with Cancel.
func (l *Limiter) Reserve(now time.Time, limits ...Limit) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	at := now
	for _, lim := range limits {
		if lim.Rate.Every <= 0 {
			continue
		}
		b := l.bucketLocked(lim.Key)
		if t := b.earliest(lim.Rate, now); t.After(at) {
			at = t
		}
	}
	for _, lim := range limits {
		if lim.Rate.Every <= 0 {
			continue
		}
		b := l.bucketLocked(lim.Key)
		tat := b.tat
		if tat.Before(at) {
			tat = at
		}
		b.tat = tat.Add(lim.Rate.Every)
	}
	return at
}

// Cancel gives back a token reserved at `at` from every bucket in limits, when the call was
// not made (the message was given up or the API refused it before counting it).
func (l *Limiter) Cancel(limits ...Limit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, lim := range limits {
		if b, ok := l.buckets[lim.Key]; ok && lim.Rate.Every > 0 {
			b.tat = b.tat.Add(-lim.Rate.Every)
		}
	}
}

// Pause holds back every call counted against key until `until`: the API answered "wait" (429
// with Retry-After). Reservations made later start after it.
func (l *Limiter) Pause(key string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key)
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
}

// earliest returns when the bucket allows one more call of rate r, at or after now.
func (b *bucket) earliest(r Rate, now time.Time) time.Time {
	burst := max(r.Burst, 1)
	at := b.tat.Add(-time.Duration(burst-1) * r.Every)
	if at.Before(now) {
		at = now
	}
	if at.Before(b.pausedUntil) {
		at = b.pausedUntil
	}
	return at
}

func (l *Limiter) bucketLocked(key string) *bucket {
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{}
		l.buckets[key] = b
	}
	return b
}

// sweepLocked forgets, at most once a minute, buckets that are full again and not paused: they
// hold nothing a new bucket would not.
func (l *Limiter) sweepLocked(now time.Time) {
	if now.Sub(l.swept) < time.Minute && !now.Before(l.swept) {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if b.tat.Before(now.Add(-time.Minute)) && b.pausedUntil.Before(now) {
			delete(l.buckets, k)
		}
	}
}
