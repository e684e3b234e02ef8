package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultReplayEntries bounds a ReplayCache by default. Only requests with a valid signature
// enter it, so only the platform's own traffic fills it: 50,000 entries is more than 150
// requests a second for a whole five-minute window.
const DefaultReplayEntries = 50_000

// ReplayCheckTimeout bounds the question to a ReplayStore: the platforms wait 3 seconds for an
// answer in all.
const ReplayCheckTimeout = 2 * time.Second

// ErrReplayUnchecked is why a signed request was refused when the ReplayStore could not say
// whether it was accepted before: accessbot fails closed, and answers 503 so that the platform
// (or the person) can try again, rather than 401, which would say the signature was wrong.
var ErrReplayUnchecked = errors.New("cannot check whether the request was accepted before")

// ReplayStore remembers the signed requests a platform's endpoint accepted, by a key from
// their signature, for as long as their timestamps could still pass the freshness check, so
// that each request is accepted once. One process keeps them in a ReplayCache; replicas share
// one in the database (storage), so that the whole deployment accepts a request once.
type ReplayStore interface {
	// Seen records key, to be remembered until expires, and reports whether it was recorded
	// before: a replay. Of several callers with the same key, wherever they run, exactly one
	// gets false. now is the time of the check; entries that expired before it may be
	// forgotten. An error means the store could not answer.
	Seen(ctx context.Context, key string, now, expires time.Time) (replayed bool, err error)
}

// CheckReplay asks store whether key was accepted before, within ReplayCheckTimeout. An error
// wraps ErrReplayUnchecked.
func CheckReplay(ctx context.Context, store ReplayStore, key string, now, expires time.Time) (replayed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, ReplayCheckTimeout)
	defer cancel()
	replayed, err = store.Seen(ctx, key, now, expires)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrReplayUnchecked, err)
	}
	return replayed, nil
}

// ReplayCache is the ReplayStore of one process. Its zero value is ready to use; set
// MaxEntries before the first Seen. It is safe for concurrent use.
type ReplayCache struct {
	// MaxEntries bounds the cache (DefaultReplayEntries when 0). When it is full the oldest
	// entry is dropped: a replay of that request would then pass, which only matters past
	// MaxEntries accepted requests within one freshness window.
	MaxEntries int

	mu sync.Mutex
	// seen maps each accepted key to when it expires; order lists them as they were accepted,
	// so expired entries are dropped from the front.
	seen  map[string]time.Time
	order []replayEntry
}

var _ ReplayStore = (*ReplayCache)(nil)

type replayEntry struct {
	key     string
	expires time.Time
}

// Seen reports whether key was accepted before (a replay). When it was not, Seen remembers it
// until expires and returns false. The entries that expired before now are dropped first. It
// never fails.
func (c *ReplayCache) Seen(_ context.Context, key string, now, expires time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	c.pruneLocked(now)
	if _, dup := c.seen[key]; dup {
		return true, nil
	}
	maxEntries := c.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultReplayEntries
	}
	for len(c.order) >= maxEntries {
		delete(c.seen, c.order[0].key)
		c.order = c.order[1:]
	}
	c.seen[key] = expires
	c.order = append(c.order, replayEntry{key: key, expires: expires})
	return false, nil
}

// pruneLocked drops the entries too old to pass the freshness check anyway.
func (c *ReplayCache) pruneLocked(now time.Time) {
	i := 0
	for i < len(c.order) && c.order[i].expires.Before(now) {
		delete(c.seen, c.order[i].key)
		i++
	}
	if i > 0 {
		c.order = c.order[i:]
	}
}
