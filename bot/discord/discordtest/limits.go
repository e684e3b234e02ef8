package discordtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Limits are the rate limits the fake enforces as Discord documents them
// (https://discord.com/developers/docs/topics/rate-limits): a bucket per route and major
// parameter (the channel of a message route), Per calls in each Window, announced in every
// answer's X-RateLimit-Bucket, -Limit, -Remaining and -Reset-After headers; and the global limit
// of Global bot calls a second. A call over either is answered 429 with {"message",
// "retry_after", "global"}, Retry-After and X-RateLimit-Scope, recorded with RateLimited, and
// changes nothing. Zero Per or Global leaves that limit off.
type Limits struct {
	Per    int
	Window time.Duration
	Global int
	// Now tells the time; nil is the wall clock.
	Now func() time.Time
}

// window is one bucket's count since its start.
type window struct {
	start time.Time
	n     int
}

// EnforceLimits makes the fake enforce l from now on.
func (s *Server) EnforceLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Now == nil {
		l.Now = time.Now
	}
	s.limits = &l
	s.windows = map[string]*window{}
}

// RateLimitedCount returns how many calls of the route were answered 429.
func (s *Server) RateLimitedCount(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Route == route && c.RateLimited {
			n++
		}
	}
	return n
}

// limitLocked counts a bot call against its buckets and sets the rate-limit headers; it writes
// the 429 and returns true when the call is over a limit.
func (s *Server) limitLocked(w http.ResponseWriter, c *Call) bool {
	l := s.limits
	if l == nil || !botRoutes[c.Route] {
		return false
	}
	now := l.Now()
	if l.Global > 0 {
		g := s.countLocked("global", time.Second, now)
		if g.n >= l.Global {
			s.refuseLocked(w, c, g.start.Add(time.Second).Sub(now), true)
			return true
		}
	}
	if l.Per <= 0 || l.Window <= 0 {
		if l.Global > 0 {
			s.windows["global"].n++
		}
		return false
	}
	key := c.Route + " " + c.Params["channel"]
	b := s.countLocked(key, l.Window, now)
	resetAfter := b.start.Add(l.Window).Sub(now)
	sum := sha256.Sum256([]byte(key))
	w.Header().Set("X-RateLimit-Bucket", hex.EncodeToString(sum[:8]))
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(l.Per))
	w.Header().Set("X-RateLimit-Reset-After", fmt.Sprintf("%.3f", resetAfter.Seconds()))
	if b.n >= l.Per {
		w.Header().Set("X-RateLimit-Remaining", "0")
		s.refuseLocked(w, c, resetAfter, false)
		return true
	}
	b.n++
	if l.Global > 0 {
		s.windows["global"].n++
	}
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(l.Per-b.n))
	return false
}

// countLocked returns the window of key at now, started anew when the last one ended.
func (s *Server) countLocked(key string, length time.Duration, now time.Time) *window {
	b, ok := s.windows[key]
	if !ok || !now.Before(b.start.Add(length)) {
		b = &window{start: now}
		s.windows[key] = b
	}
	return b
}

// refuseLocked answers 429 as Discord does and records the call.
func (s *Server) refuseLocked(w http.ResponseWriter, c *Call, after time.Duration, global bool) {
	c.Status, c.RateLimited = http.StatusTooManyRequests, true
	s.recordLocked(*c)
	secs := math.Ceil(after.Seconds()*1000) / 1000
	scope := "user"
	if global {
		scope = "global"
		w.Header().Set("X-RateLimit-Global", "true")
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(after.Seconds()))))
	w.Header().Set("X-RateLimit-Scope", scope)
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": secs, "global": global})
}
