package slacktest

import (
	"math"
	"time"
)

// Limits are the rate limits the fake enforces, as Slack documents them
// (https://api.slack.com/apis/rate-limits): chat.postMessage per channel, chat.update and
// conversations.open per workspace (their tier). A call over its limit is answered 429 with a
// Retry-After in whole seconds, as Slack does, recorded with RateLimited, and changes nothing.
// The buckets are the fake's own (a "generic cell rate" count), independent of the code under
// test. A zero Every leaves that method unlimited.
type Limits struct {
	PostEvery   time.Duration
	PostBurst   int
	UpdateEvery time.Duration
	UpdateBurst int
	OpenEvery   time.Duration
	OpenBurst   int
	// Tolerance lets a call come that much early: requests sent in their slot reach the fake a
	// little apart from how they left (goroutines, the network), as they reach Slack.
	Tolerance time.Duration
	// Now tells the time; nil is the wall clock. A test passes its fake clock's Now.
	Now func() time.Time
}

// EnforceLimits makes the fake answer 429 to calls over l from now on.
func (s *Server) EnforceLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Now == nil {
		l.Now = time.Now
	}
	s.limits = &l
	s.tats = map[string]time.Time{}
}

// RateLimited returns how many calls of method the fake answered 429.
func (s *Server) RateLimited(method string) int {
	n := 0
	for _, c := range s.Calls(method) {
		if c.RateLimited {
			n++
		}
	}
	return n
}

// nowLocked returns the time as the limits tell it.
func (s *Server) nowLocked() time.Time {
	if s.limits != nil {
		return s.limits.Now()
	}
	return time.Now()
}

// overLimitLocked returns, for a call over its limit, how long Slack would ask to wait; 0 lets
// the call through and counts it.
func (s *Server) overLimitLocked(c Call, now time.Time) time.Duration {
	l := s.limits
	if l == nil {
		return 0
	}
	var key string
	var every time.Duration
	var burst int
	switch c.Method {
	case "chat.postMessage":
		key, every, burst = "chat.postMessage "+c.Arg("channel"), l.PostEvery, l.PostBurst
	case "chat.update":
		key, every, burst = "chat.update", l.UpdateEvery, l.UpdateBurst
	case "conversations.open":
		key, every, burst = "conversations.open", l.OpenEvery, l.OpenBurst
	default:
		return 0
	}
	if every <= 0 {
		return 0
	}
	tat := s.tats[key]
	allowedAt := tat.Add(-time.Duration(max(burst, 1)-1)*every - l.Tolerance)
	if now.Before(allowedAt) {
		return allowedAt.Sub(now)
	}
	if tat.Before(now) {
		tat = now
	}
	s.tats[key] = tat.Add(every)
	return 0
}

// retryAfterSeconds is a wait as Slack's Retry-After header says it: whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
