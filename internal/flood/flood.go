// Package flood bounds how often something that anyone can cause is recorded: refused
// signatures, forged step-up links. A flood of them must not flood the audit log or the log
// file, yet none may vanish without a trace, so what is held back is counted and reported with
// the next one let through.
package flood

import (
	"sync"
	"time"
)

// Gate lets through at most Max events a minute. Its zero value lets nothing through; it is
// safe for concurrent use.
type Gate struct {
	// Max is how many a minute are let through.
	Max int

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// Allow reports whether one more event at now is let through and, when it is, how many were
// held back since the last one let through. A clock that went backwards starts a new minute.
func (g *Gate) Allow(now time.Time) (ok bool, suppressed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.start) >= time.Minute || now.Before(g.start) {
		g.start, g.n = now, 0
	}
	if g.n >= g.Max {
		g.suppressed++
		return false, 0
	}
	g.n++
	suppressed, g.suppressed = g.suppressed, 0
	return true, suppressed
}
