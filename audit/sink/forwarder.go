// Package sink forwards the audit log to a SIEM: an HTTP endpoint (HMAC-signed JSON batches),
// a syslog server (RFC 5424 over TCP, optionally TLS; or over RELP, acknowledged) or a JSON
// Lines file with rotation.
//
// A Forwarder follows the log from a cursor stored under "sink:<name>", like the chat
// dispatchers do: it reads the events past the cursor in batches, sends a batch, and moves the
// cursor only once the sink has acknowledged it. Delivery is therefore at least once: a batch
// whose acknowledgement was lost is sent again, and receivers deduplicate by the events'
// sequence numbers. When a sink is down nothing is lost; the Forwarder retries with
// exponential backoff and catches up when the sink returns.
//
// Several replicas on one database each run every sink, from the one stored cursor. The cursor
// moves by compare-and-swap from where the batch began: a replica whose batch another replica
// has sent meanwhile (a duplicate the receiver drops) finds the cursor moved, leaves it where it
// is and goes on from there, so the cursor never goes back and nothing is skipped. With a
// Locker (Options.Locker) the replicas also take turns, and send each batch once.
//
// The package imports only audit, the clock, the backoff arithmetic and the webhook adapter's
// signing.
package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/backoff"
	"github.com/accessbot/accessbot/internal/clock"
)

// Sink sends batches of events somewhere.
type Sink interface {
	// Send delivers events, in sequence order. A nil error means the sink acknowledged every
	// one of them; an error means any of them may or may not have arrived.
	Send(ctx context.Context, events []audit.Event) error
	// Close releases connections and files. Send may be called again after Close.
	Close() error
	// String describes the sink for logs, without credentials.
	String() string
}

// Store is where the Forwarder reads events and keeps its cursor; storage.DB implements it.
type Store interface {
	audit.Source
	// Cursor returns the last sequence number the named consumer handled (0 when none).
	Cursor(ctx context.Context, name string) (int64, error)
	// SetCursorIf moves the named cursor to seq only if it is still at old (a cursor never
	// stored is at 0), and reports whether it moved.
	SetCursorIf(ctx context.Context, name string, old, seq int64) (bool, error)
}

// Notifier is grants.Notifier, restated so that this package does not import the domain.
type Notifier interface {
	Notify(ctx context.Context, events []audit.Event)
}

// Notifiers passes each notification to every notifier in turn: the grants.Service has one
// Notifier, and the chat relay and every Forwarder want to hear.
type Notifiers []Notifier

// Notify implements grants.Notifier.
func (ns Notifiers) Notify(ctx context.Context, events []audit.Event) {
	for _, n := range ns {
		if n != nil {
			n.Notify(ctx, events)
		}
	}
}

// Defaults of Options.
const (
	DefaultBatch      = 500
	DefaultPoll       = 5 * time.Second
	DefaultRetryStart = time.Second
	DefaultRetryMax   = 5 * time.Minute
	// retryJitter moves each delay by up to ±20% of itself.
	retryJitter = 0.2
)

// Options configure a Forwarder.
type Options struct {
	// Name names the sink in logs and its cursor ("sink:<name>").
	Name  string
	Sink  Sink
	Store Store
	Clock clock.Clock
	Log   zerolog.Logger
	// Batch is the most events one Send carries; default 500.
	Batch int
	// Poll is how often the log is read without a Notify (events appended without one, such
	// as config.loaded, or by another replica); default 5s.
	Poll time.Duration
	// RetryStart and RetryMax bound the backoff after a failure: RetryStart doubling per
	// consecutive failure up to RetryMax, each ±20%; defaults 1s and 5m.
	RetryStart, RetryMax time.Duration
	// AfterPass, when set, is called after each pass of Run with the Forwarder's status, once
	// the next attempt is scheduled. Tests wait on it.
	AfterPass func(Status)
	// Locker, when set, makes the replicas on one database take turns: a pass waits for the
	// sink's lock ("sink:<name>"), so each replica sends only what the one before it left, and
	// events reach the sink twice only after a crash. storage.DB implements it. Without it
	// the cursor's compare-and-swap still keeps every event, but replicas forwarding at the
	// same moment send the same batch.
	Locker Locker
}

// Locker takes named locks that every replica on the database sees (storage.DB's TryLock).
type Locker interface {
	// TryLock takes the named lock if no other holder has it, without waiting; ok is false when
	// one does. The lock lasts until release is called or the process ends.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
}

// lockPoll is how often (real time) a pass asks again for a lock another replica holds.
const lockPoll = 50 * time.Millisecond

// Status is where a Forwarder stands.
type Status struct {
	// Cursor is the last sequence number the sink acknowledged; Head the last one seen in the
	// log.
	Cursor, Head int64
	// Forwarded is how many events the last pass sent (and had acknowledged).
	Forwarded int
	// Failing is true from a failed pass to the next successful one; Failures counts the
	// consecutive failed passes and LastError is the latest failure.
	Failing   bool
	Failures  int
	LastError error
	// NextAttempt is when Run tries again without being woken: after the backoff while
	// failing, after Poll otherwise.
	NextAttempt time.Time
	// TotalFailures counts every failed pass since the Forwarder was built (for
	// accessbot_sink_failures_total); LastSuccess is when a pass last ended without error.
	TotalFailures int64
	LastSuccess   time.Time
}

// Lag is how many events the sink is behind the log.
func (s Status) Lag() int64 { return max(0, s.Head-s.Cursor) }

// Forwarder forwards the audit log to one sink.
type Forwarder struct {
	o      Options
	log    zerolog.Logger
	cursor string
	wake   chan struct{}

	pass sync.Mutex // one pass at a time

	mu     sync.Mutex
	status Status
	since  time.Time // when the current failure began
}

var _ Notifier = (*Forwarder)(nil)

// CursorName is the name of a sink's stored cursor.
func CursorName(name string) string { return "sink:" + name }

// New builds a Forwarder. It does no I/O.
func New(o Options) (*Forwarder, error) {
	if o.Name == "" || o.Sink == nil || o.Store == nil {
		return nil, errors.New("audit sink: name, sink and store are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.RetryStart <= 0 {
		o.RetryStart = DefaultRetryStart
	}
	if o.RetryMax < o.RetryStart {
		o.RetryMax = max(DefaultRetryMax, o.RetryStart)
	}
	return &Forwarder{
		o:      o,
		log:    o.Log.With().Str("component", "audit-sink").Str("sink", o.Name).Logger(),
		cursor: CursorName(o.Name),
		wake:   make(chan struct{}, 1),
	}, nil
}

// Name is the sink's name.
func (f *Forwarder) Name() string { return f.o.Name }

// Status returns where the Forwarder stands. It does no I/O.
func (f *Forwarder) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Lag returns how many events the sink is behind the log, as of the last pass or
// notification, as this process saw them; it does no I/O. /metrics reads StoredLag instead.
func (f *Forwarder) Lag() int64 { return f.Status().Lag() }

// Reported returns the failed passes since the Forwarder was built and when a pass last
// succeeded, for the metrics. It does no I/O.
func (f *Forwarder) Reported() (failures int64, lastSuccess time.Time) {
	st := f.Status()
	return st.TotalFailures, st.LastSuccess
}

// StoredLag returns how many events the sink has not acknowledged: the log's head minus the
// sink's stored cursor, both read from the database. Unlike Lag it is the same on every
// replica and cannot say 0 while a sink that never answered holds events back.
func (f *Forwarder) StoredLag(ctx context.Context) (int64, error) {
	cur, err := f.o.Store.Cursor(ctx, f.cursor)
	if err != nil {
		return 0, fmt.Errorf("read cursor %s: %w", f.cursor, err)
	}
	head, err := f.o.Store.AuditHead(ctx)
	if err != nil {
		return 0, fmt.Errorf("read audit head: %w", err)
	}
	return max(0, head.Seq-cur), nil
}

// Wake makes Run read the log now, unless it is waiting out a backoff.
func (f *Forwarder) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Notify implements grants.Notifier: it notes the new head and wakes Run, which reads the
// events from the log (the log, not the notification, is the truth).
func (f *Forwarder) Notify(_ context.Context, events []audit.Event) {
	if len(events) > 0 {
		f.mu.Lock()
		f.status.Head = max(f.status.Head, events[len(events)-1].Seq)
		f.mu.Unlock()
	}
	f.Wake()
}

// Run forwards what the log holds past the cursor, then again whenever woken and every Poll,
// until ctx is done. After a failure it waits out the backoff (ignoring wakes) and tries
// again, forever. It closes the sink when it returns.
func (f *Forwarder) Run(ctx context.Context) error {
	defer func() {
		if err := f.o.Sink.Close(); err != nil {
			f.log.Warn().Err(err).Msg("close audit sink")
		}
	}()
	timer := f.o.Clock.NewTimer(f.o.Poll)
	defer timer.Stop()
	f.log.Info().Str("target", f.o.Sink.String()).Msg("forwarding the audit log")
	for {
		_, err := f.ForwardOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := f.o.Clock.Now()
		f.mu.Lock()
		wait := f.o.Poll
		if err != nil {
			wait = f.backoff(f.status.Failures)
		}
		f.status.NextAttempt = now.Add(wait)
		st := f.status
		f.mu.Unlock()
		timer.Reset(wait)
		if f.o.AfterPass != nil {
			f.o.AfterPass(st)
		}
		wake := f.wake
		if err != nil {
			wake = nil // a burst of events must not cut the backoff short
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C():
		}
	}
}

// backoff is the delay after the failures-th consecutive failure.
func (f *Forwarder) backoff(failures int) time.Duration {
	p := backoff.Policy{Base: f.o.RetryStart, Max: f.o.RetryMax, Jitter: backoff.Spread(retryJitter)}
	return p.Delay(failures, nil)
}

// ForwardOnce sends every event past the cursor, a batch at a time, moving the cursor after
// each acknowledged batch, and returns how many events it sent. It records the outcome in the
// Status and logs when the sink goes down or comes back.
func (f *Forwarder) ForwardOnce(ctx context.Context) (int, error) {
	f.pass.Lock()
	defer f.pass.Unlock()
	n, err := f.forward(ctx)
	if ctx.Err() != nil {
		return n, err
	}
	now := f.o.Clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &f.status
	st.Forwarded = n
	if err != nil {
		st.Failures++
		st.TotalFailures++
		st.LastError = err
		if !st.Failing {
			st.Failing, f.since = true, now
			f.log.Error().Err(err).Int64("cursor", st.Cursor).Int64("lag", st.Lag()).
				Msg("audit sink is failing; retrying with backoff until it accepts the events")
		} else {
			f.log.Debug().Err(err).Int("failures", st.Failures).Int64("lag", st.Lag()).Msg("audit sink still failing")
		}
		return n, err
	}
	if st.Failing {
		f.log.Info().Dur("down_for", now.Sub(f.since)).Int("failures", st.Failures).Int64("cursor", st.Cursor).
			Msg("audit sink is back; caught up")
	}
	st.Failing, st.Failures, st.LastError = false, 0, nil
	st.LastSuccess = now
	return n, nil
}

func (f *Forwarder) forward(ctx context.Context) (int, error) {
	if f.o.Locker != nil {
		release, err := f.lock(ctx)
		if err != nil {
			return 0, err
		}
		defer release()
	}
	cur, err := f.o.Store.Cursor(ctx, f.cursor)
	if err != nil {
		return 0, err
	}
	head, err := f.o.Store.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	f.setPosition(cur, head.Seq)
	total := 0
	batch := make([]audit.Event, 0, f.o.Batch)
	for ctx.Err() == nil {
		batch = batch[:0]
		err := f.o.Store.ScanAudit(ctx, audit.Filter{AfterSeq: cur, MaxSeq: cur + int64(f.o.Batch)},
			func(e audit.Event) error {
				batch = append(batch, e)
				return nil
			})
		if err != nil {
			return total, fmt.Errorf("read audit events after %d: %w", cur, err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		first, last := batch[0].Seq, batch[len(batch)-1].Seq
		f.setPosition(cur, last) // the log may have grown since the head was read
		if err := f.o.Sink.Send(ctx, batch); err != nil {
			return total, fmt.Errorf("send audit events %d-%d to %s: %w", first, last, f.o.Sink, err)
		}
		// Acknowledged. If the cursor cannot be stored, the batch is sent again: a duplicate,
		// never a gap.
		moved, err := f.o.Store.SetCursorIf(ctx, f.cursor, cur, last)
		if err != nil {
			return total, fmt.Errorf("move cursor %s to %d: %w", f.cursor, last, err)
		}
		if !moved {
			// Another replica forwarded from here first: this batch was a duplicate. Go on
			// from where that replica left the cursor, never back.
			if cur, err = f.o.Store.Cursor(ctx, f.cursor); err != nil {
				return total, err
			}
			f.log.Debug().Int64("first", first).Int64("last", last).Int64("cursor", cur).
				Msg("another replica sent these events first; going on from its cursor")
			f.setPosition(cur, last)
			continue
		}
		cur = last
		total += len(batch)
		f.setPosition(cur, last)
		if len(batch) < f.o.Batch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// lock waits for the sink's lock: another replica holds it for one pass at most.
func (f *Forwarder) lock(ctx context.Context) (func(), error) {
	for {
		release, ok, err := f.o.Locker.TryLock(ctx, f.cursor)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", f.cursor, err)
		}
		if ok {
			return release, nil
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (f *Forwarder) setPosition(cursor, head int64) {
	f.mu.Lock()
	f.status.Cursor = cursor
	f.status.Head = max(f.status.Head, head, cursor)
	f.mu.Unlock()
}
