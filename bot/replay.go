package bot

import (
	"sync"
	"time"
)

// DefaultReplayWindow is how long a ReplayCache remembers a request by default: as long as the
// platforms let a signed timestamp be from now.
const DefaultReplayWindow = 5 * time.Minute

// DefaultReplayEntries bounds a ReplayCache by default. Only requests with a valid signature
// enter it, so only the platform's own traffic fills it: 50,000 entries is more than 150
// requests a second for a whole five-minute window.
const DefaultReplayEntries = 50_000

// ReplayCache remembers the requests a platform's endpoint accepted (by signature) for as long
// as their timestamps could still pass the freshness check, so that each is accepted once: a
// captured request sent again is refused. Its zero value is ready to use; set Window and
// MaxEntries before the first Seen. It is safe for concurrent use.
type ReplayCache struct {
	// Window is how far a request's timestamp may be from now (DefaultReplayWindow when 0). An
	// entry older than that is forgotten: the freshness check refuses its request anyway.
	Window time.Duration
	// MaxEntries bounds the cache (DefaultReplayEntries when 0). When it is full the oldest
	// entry is dropped: a replay of that request would then pass, which only matters past
	// MaxEntries accepted requests within one Window.
	MaxEntries int

	mu sync.Mutex
	// seen maps each accepted key to its request's timestamp; order lists them as they were
	// accepted, so expired entries are dropped from the front.
	seen  map[string]time.Time
	order []replayEntry
}

type replayEntry struct {
	key string
	at  time.Time
}

// Seen reports whether key was accepted before (a replay). When it was not, Seen remembers it,
// with at, the timestamp of its request, and returns false. now is the time of the check: the
// entries whose timestamp is before now - Window are dropped first.
func (c *ReplayCache) Seen(key string, at, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	c.pruneLocked(now)
	if _, dup := c.seen[key]; dup {
		return true
	}
	maxEntries := c.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultReplayEntries
	}
	for len(c.order) >= maxEntries {
		delete(c.seen, c.order[0].key)
		c.order = c.order[1:]
	}
	c.seen[key] = at
	c.order = append(c.order, replayEntry{key: key, at: at})
	return false
}

// pruneLocked drops the entries too old to pass the freshness check anyway.
func (c *ReplayCache) pruneLocked(now time.Time) {
	window := c.Window
	if window <= 0 {
		window = DefaultReplayWindow
	}
	cutoff := now.Add(-window)
	i := 0
	for i < len(c.order) && c.order[i].at.Before(cutoff) {
		delete(c.seen, c.order[i].key)
		i++
	}
	if i > 0 {
		c.order = c.order[i:]
	}
}
