package grants

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/internal/clock"
)

// Holds that know their owner. A grant the scheduler has claimed for an adapter call is held
// (its NextAttemptAt a claim period ahead) so that no other pass or replica calls the adapter
// for it meanwhile. Every process has a random ID for its life and a heartbeat in the store, and
// records its ID on each claim (Grant.ClaimOwner). A hold whose owner's heartbeat has stopped
// for longer than SchedulerOptions.HeartbeatTimeout is lapsed: any process, the restarted one or
// a live replica, takes the grant over at once instead of waiting for the claim to run out.
// A live owner's hold lasts its whole claim, so a long adapter call is never taken away.

// DefaultHeartbeatTimeout is how long a process's heartbeat may be silent before its holds are
// taken over.
const DefaultHeartbeatTimeout = time.Second

// Heartbeats is where processes record that they are alive. storage.DB implements it.
type Heartbeats interface {
	// Beat records that process id, started at startedAt, is alive at now.
	Beat(ctx context.Context, id string, startedAt, now time.Time) error
}

// HoldTx reads the holds that know their owner. The transactions of storage implement it; with a
// store whose transactions do not, the scheduler keeps the legacy rule (a hold lasts its claim).
type HoldTx interface {
	// OrphanedGrants returns up to limit activating, revoking or revoke_failed grants whose
	// claim has not run out at now (NextAttemptAt after now) but whose owner's last heartbeat
	// is before deadBefore, or who has none. Earliest claim first.
	OrphanedGrants(ctx context.Context, now, deadBefore time.Time, limit int) ([]Grant, error)
	// OwnersLastSeen returns the earliest last heartbeat among the owners, other than except,
	// of the claims that still hold grants at now (the zero time for an owner with none); ok is
	// false when there are none.
	OwnersLastSeen(ctx context.Context, now time.Time, except string) (at time.Time, ok bool, err error)
}

// NewProcessID returns a fresh identity for this process's life: a restarted process is another
// process, so nothing can mistake a dead predecessor's holds for its own.
func NewProcessID() string { return RandomID("p_") }

// Heartbeat keeps one process's heartbeat: it beats every Interval until its context ends.
type Heartbeat struct {
	// ID is the process's identity (NewProcessID), the owner the scheduler records on claims.
	ID    string
	Store Heartbeats
	Clock clock.Clock
	// Interval is the time between beats; default a quarter of DefaultHeartbeatTimeout. Keep it
	// well under scheduler.heartbeat_timeout, so that a late beat or two does not make a live
	// process look dead.
	Interval time.Duration
	Log      zerolog.Logger

	started time.Time
}

// Start records the first beat, so the process is known alive before it claims anything.
func (h *Heartbeat) Start(ctx context.Context) error {
	if h.Clock == nil {
		h.Clock = clock.Real{}
	}
	if h.Interval <= 0 {
		h.Interval = DefaultHeartbeatTimeout / 4
	}
	h.started = h.Clock.Now()
	if err := h.Store.Beat(ctx, h.ID, h.started, h.started); err != nil {
		return fmt.Errorf("first heartbeat of process %s: %w", h.ID, err)
	}
	return nil
}

// Run beats every Interval until ctx ends. A beat that fails is logged and the next one tried:
// a process that cannot reach the database cannot finish its claims either, and another process
// may take them over.
func (h *Heartbeat) Run(ctx context.Context) error {
	t := h.Clock.NewTimer(h.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		bctx, cancel := context.WithTimeout(ctx, max(h.Interval, time.Second))
		err := h.Store.Beat(bctx, h.ID, h.started, h.Clock.Now())
		cancel()
		if err != nil && ctx.Err() == nil {
			h.Log.Warn().Err(err).Str("process", h.ID).Msg("heartbeat failed; if it stays silent, other processes take over this one's grants")
		}
		t.Reset(h.Interval)
	}
}
