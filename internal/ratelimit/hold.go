package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Hold is a pause an API announced for everything a client sends it: its rate limit is spent
// until a time (GitHub's and Okta's reset headers, a Retry-After). Every call waits it out
// first, when it ends soon enough, so that a client does not spend its next calls on refusals.
// The zero value holds nothing; it is safe for concurrent use.
type Hold struct {
	// Who names the API in errors ("GitHub").
	Who string

	mu    sync.Mutex
	until time.Time
}

// Until makes the hold last until t, unless it already lasts longer.
func (h *Hold) Until(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.After(h.until) {
		h.until = t
	}
}

// Wait waits out what is left of the hold at now with wait, when that is at most max; a longer
// hold is a *TooLong error at once, which the caller reports as retryable later.
func (h *Hold) Wait(ctx context.Context, now time.Time, max time.Duration, wait func(context.Context, time.Duration) error) error {
	h.mu.Lock()
	d := h.until.Sub(now)
	h.mu.Unlock()
	if d <= 0 {
		return nil
	}
	if d > max {
		return &TooLong{Who: h.Who, Wait: d}
	}
	return wait(ctx, d)
}

// TooLong is a hold that ends later than a caller will wait.
type TooLong struct {
	Who  string
	Wait time.Duration
}

func (e *TooLong) Error() string {
	return fmt.Sprintf("%s's rate limit resets in %s, longer than max_rate_wait", e.Who, e.Wait.Round(time.Second))
}

// ResetAt is when a rate limit announced as a Unix time in the API's clock (reset) resets in
// ours: read against the answer's Date header when it has one, so that a skewed local clock
// waits as long as the API means, and at least a second from now, since such resets have a
// second's resolution (a reset "now" or in the past still means the limit is spent).
func ResetAt(now time.Time, reset int64, date string) time.Time {
	until := time.Unix(reset, 0)
	if d, err := http.ParseTime(date); err == nil {
		until = now.Add(until.Sub(d))
	}
	if !until.After(now) {
		until = now.Add(time.Second)
	}
	return until
}
