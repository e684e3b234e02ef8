package grants

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
)

// Adapter operations, as metrics and audit data name them.
const (
	opGrant  = "grant"
	opRevoke = "revoke"
)

// SchedulerOptions tune the Scheduler; zero values take the defaults.
type SchedulerOptions struct {
	// Sweep is the period of the safety-net pass (robfig/cron "@every"); default 15s, negative
	// disables it.
	Sweep time.Duration
	Retry RetryPolicy
	// Batch is how many due grants one transaction claims, and how many results one transaction
	// finishes; default 200.
	Batch int
	// Workers bounds concurrent adapter calls; default 32.
	Workers int
	// CallTimeout bounds one adapter call; default 30s. A claim lasts twice as long, so another
	// pass (or replica) only picks a grant up again once the call has surely ended.
	CallTimeout time.Duration
	// Owner is this process's identity (NewProcessID), recorded on every claim, with its
	// heartbeat kept by a Heartbeat. Empty keeps the legacy hold rule: no owner is recorded, and
	// a claim holds its grant for its whole life even when its process has died.
	Owner string
	// HeartbeatTimeout is how long an owner's heartbeat may be silent before the holds it
	// recorded are lapsed and this scheduler takes them over; default DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
}

// Scheduler does what is due: it calls adapters to make and revoke grants, retries with
// backoff, expires pending requests and fires expiry warnings. The database is its queue: every
// step is claimed, and finished, by a compare-and-swap on the row, so a crash at any point
// leaves rows that the next pass (in this process or after a restart) completes.
type Scheduler struct {
	svc   *Service
	o     SchedulerOptions
	retry RetryPolicy
	log   zerolog.Logger

	wake chan struct{}
	// sem bounds concurrent adapter calls.
	sem chan struct{}
	// calls counts adapter calls not yet finished, so Run can wait for them.
	calls sync.WaitGroup

	mu sync.Mutex
	// inflight holds the IDs of grants whose adapter call this process has not finished, so
	// that a pass never claims them again even if their claim lapsed.
	inflight map[string]bool

	// Results are finished in batches: whichever worker finds no flush under way becomes the
	// flusher and commits what has piled up.
	fmu      sync.Mutex
	pending  []result
	flushing bool
}

type job struct {
	g  Grant
	op string
	r  *Resource
	// done is the pass's wait group (RunDue waits on it); nil in Run's passes.
	done *sync.WaitGroup
}

type result struct {
	job
	lease adapters.Lease
	err   error
}

// NewScheduler builds the scheduler of s; s wakes it after every change that may move the
// earliest due time.
func NewScheduler(s *Service, o SchedulerOptions) *Scheduler {
	if o.Sweep == 0 {
		o.Sweep = 15 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	sc := &Scheduler{
		svc:      s,
		o:        o,
		retry:    o.Retry.withDefaults(),
		log:      s.log.With().Str("component", "scheduler").Logger(),
		wake:     make(chan struct{}, 1),
		sem:      make(chan struct{}, o.Workers),
		inflight: map[string]bool{},
	}
	s.setWaker(sc.Wake)
	return sc
}

// Wake makes Run look at the database again: the earliest due time may have moved.
func (sc *Scheduler) Wake() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

func (sc *Scheduler) claimTTL() time.Duration { return 2 * sc.o.CallTimeout }

// idleRetry is how long Run waits (in real time) before trying again when something is due but
// the last pass could not make progress (the database refused, say), so it never spins.
const idleRetry = 200 * time.Millisecond

// Run first does everything overdue (revocations missed while accessbot was down come first),
// then keeps one timer on the earliest due time, re-armed after every pass and whenever woken,
// plus the cron sweep as a safety net. It returns when ctx is done, after the adapter calls in
// flight have finished or timed out.
func (sc *Scheduler) Run(ctx context.Context) error {
	defer sc.calls.Wait()
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		n, err := sc.RunDue(ctx)
		if err != nil {
			sc.log.Error().Err(err).Msg("start-up pass failed")
			break
		}
		if n == 0 {
			break
		}
		sc.log.Info().Int("done", n).Msg("caught up with overdue work")
	}

	if sc.o.Sweep > 0 {
		c := cron.New()
		if _, err := c.AddFunc("@every "+sc.o.Sweep.String(), sc.Wake); err != nil {
			return fmt.Errorf("schedule sweep every %s: %w", sc.o.Sweep, err)
		}
		c.Start()
		defer c.Stop()
	}

	timer := sc.svc.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		passStart := sc.svc.clock.Now()
		n, err := sc.pass(ctx, nil)
		if err != nil && ctx.Err() == nil {
			sc.log.Error().Err(err).Msg("scheduler pass failed")
		}
		var timerC, retryC <-chan time.Time
		at, ok, nerr := sc.nextDue(ctx)
		switch {
		case nerr != nil:
			if ctx.Err() == nil {
				sc.log.Error().Err(nerr).Msg("read next due time")
			}
			retryC = time.After(idleRetry)
		case !ok:
			// Nothing scheduled: wait to be woken.
		default:
			d := at.Sub(sc.svc.clock.Now())
			if d <= 0 {
				// Work that fell due while the pass ran, or a pass that made progress: go
				// again at once. Work that was already due when the pass began and still is
				// (claimed elsewhere, or the database refused) waits a little, so Run never spins.
				if err == nil && (n > 0 || at.After(passStart)) {
					continue
				}
				retryC = time.After(idleRetry)
			} else {
				timer.Reset(d)
				timerC = timer.C()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timerC:
		case <-retryC:
		case <-sc.wake:
		}
	}
}

// nextDue is the earliest time a pass will find something to do: the store's NextDue, or the
// moment the hold of a process that has stopped beating lapses (its last beat plus the
// heartbeat timeout), whichever comes first.
func (sc *Scheduler) nextDue(ctx context.Context) (at time.Time, ok bool, err error) {
	err = sc.svc.store.View(ctx, func(tx ReadTx) error {
		var err error
		if at, ok, err = tx.NextDue(ctx); err != nil {
			return err
		}
		ht, owned := tx.(HoldTx)
		if sc.o.Owner == "" || !owned {
			return nil
		}
		seen, held, err := ht.OwnersLastSeen(ctx, sc.svc.now(), sc.o.Owner)
		if err != nil {
			return err
		}
		if lapse := seen.Add(sc.o.HeartbeatTimeout + time.Microsecond); held && (!ok || lapse.Before(at)) {
			at, ok = lapse, true
		}
		return nil
	})
	return at, ok, err
}

// RunDue makes one pass over everything due at the clock's current time: pending requests that
// expire, grants to activate, revoke or retry, and expiry warnings. It returns when the adapter
// calls it started have finished and their results are stored, with how many things it did.
func (sc *Scheduler) RunDue(ctx context.Context) (int, error) {
	var wg sync.WaitGroup
	n, err := sc.pass(ctx, &wg)
	wg.Wait()
	return n, err
}

// pass claims and dispatches everything due. With wg set (RunDue: the start-up catch-up, and
// tests) the caller waits for the calls, and they start only after the pass's expiry warnings
// are written, so that one pass writes its audit events in one order whatever the goroutines do
// (claims, warnings, then the calls' results); otherwise a call starts as soon as it is claimed,
// since a revocation should not wait for warnings, and results finish in the background.
func (sc *Scheduler) pass(ctx context.Context, wg *sync.WaitGroup) (int, error) {
	total := 0
	n, err := sc.expirePending(ctx)
	total += n
	if err != nil {
		return total, err
	}
	var held []job // with wg: claimed, dispatched after the warnings
	for ctx.Err() == nil {
		jobs, full, err := sc.claim(ctx)
		if err != nil {
			for _, j := range held {
				sc.dispatch(ctx, j)
			}
			return total, err
		}
		for _, j := range jobs {
			j.done = wg
			if wg != nil {
				held = append(held, j)
				continue
			}
			sc.dispatch(ctx, j)
		}
		total += len(jobs)
		if !full || len(jobs) == 0 {
			break
		}
	}
	n, err = sc.warn(ctx)
	total += n
	for _, j := range held {
		sc.dispatch(ctx, j)
	}
	return total, err
}

// expirePending moves pending requests whose TTL has passed to expired.
func (sc *Scheduler) expirePending(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		now := sc.svc.now()
		var changed, seen int
		err := sc.svc.update(ctx, now, func(t *txn) error {
			changed = 0
			due, err := t.DuePending(ctx, now, sc.o.Batch)
			if err != nil {
				return fmt.Errorf("read pending requests due: %w", err)
			}
			seen = len(due)
			for _, r := range due {
				if r.State != RequestPending || r.PendingUntil.After(now) {
					continue
				}
				r.State, r.DecidedAt, r.DecidedBy = RequestExpired, now, System.ID
				if err := updateRequest(ctx, t, &r); err != nil {
					if errors.Is(err, ErrConflict) {
						continue // decided meanwhile
					}
					return err
				}
				if err := t.event(ctx, requestEvent(System.ID, r, audit.RequestExpiredData{PendingUntil: r.PendingUntil})); err != nil {
					return err
				}
				changed++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("expire pending requests: %w", err)
		}
		total += changed
		if seen < sc.o.Batch || changed == 0 {
			break
		}
	}
	return total, nil
}

// warn fires the expiry warnings that are due, each once.
func (sc *Scheduler) warn(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		now := sc.svc.now()
		var changed, seen int
		err := sc.svc.update(ctx, now, func(t *txn) error {
			changed = 0
			due, err := t.DueWarnings(ctx, now, sc.o.Batch)
			if err != nil {
				return fmt.Errorf("read expiry warnings due: %w", err)
			}
			seen = len(due)
			for _, g := range due {
				if g.State != GrantActive || g.WarnAt.IsZero() || g.WarnAt.After(now) {
					continue
				}
				if !g.ExpiresAt.After(now) {
					// Expired already: its revocation (which clears WarnAt) says more than a
					// warning would.
					continue
				}
				g.WarnAt = time.Time{}
				g.UpdatedAt = now
				if err := updateGrant(ctx, t, &g); err != nil {
					if errors.Is(err, ErrConflict) {
						continue // changed meanwhile (revoked, extended): the next pass looks again
					}
					return err
				}
				changed++
				if err := t.event(ctx, grantEvent(System.ID, g, audit.GrantWarnedData{
					ExpiresAt: g.ExpiresAt, Remaining: g.ExpiresAt.Sub(now).Round(time.Second),
				})); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("fire expiry warnings: %w", err)
		}
		total += changed
		if seen < sc.o.Batch || changed == 0 {
			break
		}
	}
	return total, nil
}

// claim takes up to Batch due grants in one transaction: an active grant past its expiry becomes
// revoking (with its grant.revoking event), an activating grant past its expiry too (its grant
// may have partly happened), and every claimed grant's NextAttemptAt moves a claim period ahead,
// so no other pass calls the adapter for the same attempt. full reports whether the batch was
// full (more may be due).
func (sc *Scheduler) claim(ctx context.Context) (jobs []job, full bool, err error) {
	now := sc.svc.now()
	err = sc.svc.update(ctx, now, func(t *txn) error {
		jobs = jobs[:0]
		due, err := t.DueGrants(ctx, now, sc.o.Batch)
		if err != nil {
			return fmt.Errorf("read due grants: %w", err)
		}
		full = len(due) >= sc.o.Batch
		// The holds of dead processes are due too. The owners they name are dead for this
		// transaction: a re-read row that names another owner is held by someone alive.
		var dead map[string]bool
		if ht, owned := t.Tx.(HoldTx); owned && sc.o.Owner != "" {
			orphans, err := ht.OrphanedGrants(ctx, now, now.Add(-sc.o.HeartbeatTimeout), sc.o.Batch)
			if err != nil {
				return fmt.Errorf("read grants held by dead processes: %w", err)
			}
			full = full || len(orphans) >= sc.o.Batch
			dead = map[string]bool{}
			for _, g := range orphans {
				dead[g.ClaimOwner] = true
			}
			due = append(due, orphans...)
		}
		for _, g := range due {
			if sc.isInflight(g.ID) {
				continue
			}
			j, ok, err := sc.claimOne(ctx, t, g, dead)
			if err != nil {
				return err
			}
			if ok {
				jobs = append(jobs, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim due grants: %w", err)
	}
	return jobs, full, nil
}

// claimOne claims one due grant within the claim transaction. When another writer changed the
// row since it was read (PostgreSQL runs writers side by side), it looks at the fresh row again:
// a grant another pass has claimed is no longer due and is left alone, but one changed for
// another reason (an expiry warning, say) is still claimed, so nothing due is skipped. A grant
// held by a claim whose owner is in dead is due even though its claim has not run out.
func (sc *Scheduler) claimOne(ctx context.Context, t *txn, g Grant, dead map[string]bool) (job, bool, error) {
	now := t.now
	for try := 1; ; try++ {
		// waiting reports whether the grant's next attempt is still ahead and not freed by
		// its owner's death.
		waiting := g.NextAttemptAt.After(now) && (g.ClaimOwner == "" || !dead[g.ClaimOwner])
		var (
			op      string
			revoked *audit.Event
		)
		switch g.State {
		case GrantActive:
			if g.ExpiresAt.After(now) {
				return job{}, false, nil
			}
			revoked = toRevoking(&g, audit.GrantRevokingData{ExpiresAt: g.ExpiresAt})
			op = opRevoke
		case GrantActivating:
			if waiting {
				return job{}, false, nil
			}
			op = opGrant
			if !g.ExpiresAt.After(now) {
				revoked = toRevoking(&g, audit.GrantRevokingData{ExpiresAt: g.ExpiresAt, From: string(GrantActivating)})
				op = opRevoke
			}
		case GrantRevoking, GrantRevokeFailed:
			if waiting {
				return job{}, false, nil
			}
			op = opRevoke
		default:
			return job{}, false, nil
		}
		if g.ClaimOwner != "" && dead[g.ClaimOwner] && g.NextAttemptAt.After(now) {
			sc.log.Info().Str("grant_id", g.ID).Str("dead_owner", g.ClaimOwner).Str("state", string(g.State)).
				Msg("taking over a grant held by a process whose heartbeat stopped")
		}
		g.NextAttemptAt = now.Add(sc.claimTTL())
		g.ClaimOwner = sc.o.Owner
		g.UpdatedAt = now
		err := updateGrant(ctx, t, &g)
		if errors.Is(err, ErrConflict) && try < 5 {
			id := g.ID
			if g, err = t.Grant(ctx, id); err != nil {
				return job{}, false, fmt.Errorf("read grant %s: %w", id, err)
			}
			continue
		}
		if err != nil {
			return job{}, false, err
		}
		if revoked != nil {
			if err := t.event(ctx, *revoked); err != nil {
				return job{}, false, err
			}
		}
		return job{g: g, op: op, r: sc.svc.resources[g.Resource]}, true, nil
	}
}

// toRevoking moves a grant to revoking and returns the event that records it.
func toRevoking(g *Grant, data audit.GrantRevokingData) *audit.Event {
	g.State = GrantRevoking
	g.Attempts = 0
	g.LastError = ""
	g.WarnAt = time.Time{}
	e := grantEvent(System.ID, *g, data)
	return &e
}

func (sc *Scheduler) isInflight(id string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.inflight[id]
}

func (sc *Scheduler) setInflight(id string, on bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if on {
		sc.inflight[id] = true
	} else {
		delete(sc.inflight, id)
	}
}

// dispatch runs the job's adapter call on the worker pool. It blocks while every worker is busy,
// which keeps the number of claimed-but-not-started grants small.
func (sc *Scheduler) dispatch(ctx context.Context, j job) {
	sc.setInflight(j.g.ID, true)
	if j.done != nil {
		j.done.Add(1)
	}
	sc.calls.Add(1)
	select {
	case sc.sem <- struct{}{}:
	case <-ctx.Done():
		// Not called: the claim lapses and a later pass takes the grant again.
		sc.release(j)
		return
	}
	// The call outlives a cancelled pass: a call under way is finished (or times out) and its
	// result stored, rather than abandoned halfway.
	callCtx := context.WithoutCancel(ctx)
	go func() {
		res := sc.call(callCtx, j)
		<-sc.sem
		sc.submit(res)
	}()
}

func (sc *Scheduler) release(j job) {
	sc.setInflight(j.g.ID, false)
	if j.done != nil {
		j.done.Done()
	}
	sc.calls.Done()
}

// call makes one adapter call with its deadline. A panicking adapter is an error, not a crash.
func (sc *Scheduler) call(ctx context.Context, j job) (res result) {
	res.job = j
	if j.r == nil {
		res.err = adapters.Permanentf("resource %s is no longer configured", j.g.Resource)
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, sc.o.CallTimeout)
	defer cancel()
	subject := adapters.Subject{ID: j.g.Subject, Email: j.g.Email, Account: j.g.Account}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			res.err = adapters.Retryablef("adapter %s panicked: %v", j.r.AdapterType, p)
		}
		sc.svc.metrics.AdapterCall(j.r.Name, j.op, time.Since(start), res.err)
	}()
	switch j.op {
	case opGrant:
		res.lease, res.err = j.r.Adapter.Grant(ctx, adapters.GrantRequest{
			GrantID: j.g.ID, Resource: j.g.Resource, Subject: subject, Reason: j.g.Reason,
			Start: j.g.StartsAt, Expires: j.g.ExpiresAt,
		})
	case opRevoke:
		res.err = j.r.Adapter.Revoke(ctx, adapters.RevokeRequest{
			GrantID: j.g.ID, Resource: j.g.Resource, Subject: subject, Data: j.g.LeaseData,
		})
	}
	return res
}

// submit hands a result to be stored. Results are stored in batches: the first worker to find no
// flush under way commits everything that has piled up, Batch at a time.
func (sc *Scheduler) submit(r result) {
	sc.fmu.Lock()
	sc.pending = append(sc.pending, r)
	if sc.flushing {
		sc.fmu.Unlock()
		return
	}
	sc.flushing = true
	for len(sc.pending) > 0 {
		n := min(len(sc.pending), sc.o.Batch)
		batch := append([]result(nil), sc.pending[:n]...)
		sc.pending = sc.pending[n:]
		sc.fmu.Unlock()
		sc.finish(batch)
		sc.fmu.Lock()
	}
	sc.flushing = false
	sc.fmu.Unlock()
}

// finish stores a batch of results in one transaction. If that fails, each is tried alone, so
// one bad row does not hold back the others; a result that cannot be stored is dropped, its
// claim lapses, and the adapter is called again (calls are idempotent).
func (sc *Scheduler) finish(batch []result) {
	defer func() {
		for _, r := range batch {
			sc.release(r.job)
		}
		sc.Wake()
	}()
	if err := sc.finishTx(batch); err != nil {
		if len(batch) == 1 {
			sc.log.Error().Err(err).Str("grant_id", batch[0].g.ID).Str("op", batch[0].op).
				Msg("could not store adapter result; the grant will be retried when its claim lapses")
			return
		}
		sc.log.Warn().Err(err).Int("results", len(batch)).Msg("storing a batch of adapter results failed; storing them one by one")
		for _, r := range batch {
			if err := sc.finishTx([]result{r}); err != nil {
				sc.log.Error().Err(err).Str("grant_id", r.g.ID).Str("op", r.op).
					Msg("could not store adapter result; the grant will be retried when its claim lapses")
			}
		}
	}
}

func (sc *Scheduler) finishTx(batch []result) error {
	ctx, cancel := context.WithTimeout(context.Background(), sc.o.CallTimeout)
	defer cancel()
	now := sc.svc.now()
	var after []func()
	err := sc.svc.update(ctx, now, func(t *txn) error {
		after = after[:0]
		for _, r := range batch {
			if err := sc.apply(ctx, t, r, &after); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

// apply stores one adapter result on the grant's current row. A grant that moved on meanwhile
// (forced, say) keeps its new state. When another writer changes the row between this
// transaction's read and its write (PostgreSQL runs writers side by side), the result is applied
// again on the fresh row.
func (sc *Scheduler) apply(ctx context.Context, t *txn, r result, after *[]func()) error {
	for try := 1; ; try++ {
		g, err := t.Grant(ctx, r.g.ID)
		if err != nil {
			return fmt.Errorf("read grant %s: %w", r.g.ID, err)
		}
		events, then, ok := sc.settle(&g, r, t.now)
		if !ok {
			return nil
		}
		// The call is over: whatever comes next (a retry, nothing) is no claim's hold.
		g.ClaimOwner = ""
		g.UpdatedAt = t.now
		if err := updateGrant(ctx, t, &g); err != nil {
			if errors.Is(err, ErrConflict) && try < 3 {
				continue
			}
			return err
		}
		for _, e := range events {
			if err := t.event(ctx, e); err != nil {
				return err
			}
		}
		*after = append(*after, then...)
		return nil
	}
}

// settle works out what an adapter result does to the grant: it changes g and returns the audit
// events to write and what to do after commit. ok is false when the result no longer applies.
func (sc *Scheduler) settle(g *Grant, r result, now time.Time) (events []audit.Event, after []func(), ok bool) {
	errText := ""
	if r.err != nil {
		errText = truncate(r.err.Error(), 500)
	}
	switch r.op {
	case opGrant:
		if g.State != GrantActivating {
			sc.log.Warn().Str("grant_id", g.ID).Str("state", string(g.State)).Msg("activation result arrived after the grant moved on; ignored")
			return nil, nil, false
		}
		switch {
		case r.err == nil:
			attempts := g.Attempts + 1
			g.State = GrantActive
			g.LeaseData = r.lease.Data
			g.Attempts, g.LastError, g.NextAttemptAt = 0, "", time.Time{}
			events = append(events, grantEvent(System.ID, *g, audit.GrantActiveData{Attempts: attempts, ExpiresAt: g.ExpiresAt}))
			if sec := r.lease.Secret; sec != nil {
				pg := public(*g)
				after = append(after, func() { sc.svc.deliverSecret(context.Background(), pg, sec) })
			}
		case adapters.IsPermanent(r.err):
			g.State = GrantFailed
			g.Attempts++
			g.LastError, g.NextAttemptAt = errText, time.Time{}
			events = append(events, grantEvent(System.ID, *g, audit.GrantFailedData{Error: errText, Attempts: g.Attempts}))
			gid, res := g.ID, g.Resource
			after = append(after, func() {
				sc.log.Warn().Str("grant_id", gid).Str("resource", res).Str("error", errText).Msg("grant failed permanently")
			})
		default:
			g.Attempts++
			g.LastError = errText
			g.NextAttemptAt = now.Add(sc.backoff(g.Attempts))
			events = append(events, retryEvent(*g, opGrant, errText))
		}
	case opRevoke:
		if g.State != GrantRevoking && g.State != GrantRevokeFailed {
			sc.log.Warn().Str("grant_id", g.ID).Str("state", string(g.State)).Msg("revocation result arrived after the grant moved on; ignored")
			return nil, nil, false
		}
		if r.err == nil {
			lateness := max(now.Sub(g.ExpiresAt), 0)
			attempts := g.Attempts + 1
			g.State = GrantRevoked
			g.RevokedAt = now
			if g.RevokedBy == "" {
				g.RevokedBy = System.ID
			}
			g.LeaseData = nil
			g.LastError, g.NextAttemptAt = "", time.Time{}
			events = append(events, grantEvent(System.ID, *g, audit.GrantRevokedData{Lateness: lateness, Attempts: attempts}))
			after = append(after, func() { sc.svc.metrics.RevokeLateness(lateness) })
			break
		}
		g.Attempts++
		g.LastError = errText
		switch {
		case g.State == GrantRevokeFailed:
			g.NextAttemptAt = now.Add(sc.retry.Slow)
			events = append(events, retryEvent(*g, opRevoke, errText))
		case g.Attempts >= sc.retry.Attempts || adapters.IsPermanent(r.err):
			// Like Vault's irrevocable leases: alert, list for operators, keep trying slowly.
			g.State = GrantRevokeFailed
			g.NextAttemptAt = now.Add(sc.retry.Slow)
			events = append(events,
				grantEvent(System.ID, *g, audit.GrantRevokeFailedData{
					Error: errText, Attempts: g.Attempts, NextAttemptAt: g.NextAttemptAt,
				}),
				grantEvent(System.ID, *g, audit.AlertRaisedData{
					Alert: audit.AlertRevokeFailed,
					Message: fmt.Sprintf("Revoking %s's access to %s (grant %s) failed %d times: %s. It is retried every %s until it works or an admin forces it.",
						g.Subject, g.Resource, g.ID, g.Attempts, errText, fmtDuration(sc.retry.Slow)),
				}))
			gid, res := g.ID, g.Resource
			after = append(after, func() {
				sc.svc.metrics.RevokeFailure(res)
				sc.log.Error().Str("grant_id", gid).Str("resource", res).Str("error", errText).Msg("revocation keeps failing; grant is revoke_failed")
			})
		default:
			g.NextAttemptAt = now.Add(sc.backoff(g.Attempts))
			events = append(events, retryEvent(*g, opRevoke, errText))
		}
	default:
		sc.log.Error().Str("op", r.op).Msg("unknown scheduler operation")
		return nil, nil, false
	}
	return events, after, true
}

// backoff returns the delay after the failures-th failure.
func (sc *Scheduler) backoff(failures int) time.Duration {
	return sc.retry.backoff().Delay(failures, nil)
}

func retryEvent(g Grant, op, errText string) audit.Event {
	return grantEvent(System.ID, g, audit.GrantRetryData{
		Op: op, Attempt: g.Attempts, Error: errText, NextAttemptAt: g.NextAttemptAt,
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// deliverSecret hands an adapter's secret to the requester. The value never reaches a log.
func (s *Service) deliverSecret(ctx context.Context, g Grant, sec *adapters.Secret) {
	if s.secrets == nil {
		s.log.Warn().Str("grant_id", g.ID).Str("kind", sec.Kind).Msg("no secret sink configured; the adapter's secret was dropped")
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.callTimeout)
	defer cancel()
	if err := s.secrets.DeliverSecret(cctx, g, sec); err != nil {
		s.log.Error().Err(err).Str("grant_id", g.ID).Str("kind", sec.Kind).Msg("delivering the secret failed; it is not stored and cannot be sent again")
	}
}
