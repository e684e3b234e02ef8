package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ratelimit"
)

// Delivery works like the grants scheduler: the database is the queue. A Dispatcher follows the
// audit log from a cursor stored per platform and turns each event into deliveries (post or
// update the approval message, DM the requester, alert the security channel), which it stores
// in the outbox in the transaction that moves its cursor. An Outbox claims due deliveries,
// renders each from the state at send time, and sends it through the Platform, with backoff.
// A crash anywhere leaves rows that the next pass, here or in another replica, completes; a
// replayed event finds its deliveries' keys taken and sends nothing twice.

// DeliveryOptions tune the Dispatchers and Outboxes; zero values take the defaults.
type DeliveryOptions struct {
	// Poll is how often a Dispatcher looks at the audit log and an Outbox at its due deliveries
	// without being woken (events from another replica, a crash); default 5s.
	Poll time.Duration
	// Retry is the backoff of failed sends (Initial, Max, Jitter); default 1s doubling to 5m.
	Retry grants.RetryPolicy
	// SendTimeout bounds one platform call; default 10s. A claim lasts twice as long.
	SendTimeout time.Duration
	// GiveUpAfter is how long a delivery is retried; default 24h.
	GiveUpAfter time.Duration
	// Batch is how many events or deliveries one transaction handles; default 100.
	Batch int
	// Keep is how long sent and failed deliveries stay in the outbox; default 7 days.
	Keep time.Duration
	// Parallel is how many destinations (channels, people's DMs) an Outbox sends to at once;
	// one destination's messages go one after the other, in order. Default 16.
	Parallel int
	// PaceWait is the longest an Outbox waits in place for a rate limit's slot (a Pacer's);
	// a later slot is kept for the delivery, which goes back to the queue until then, so that
	// other destinations are not held up. Default 500ms; negative never waits in place.
	PaceWait time.Duration
}

func (o DeliveryOptions) withDefaults() DeliveryOptions {
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Retry.Initial <= 0 {
		o.Retry.Initial = time.Second
	}
	if o.Retry.Max <= 0 {
		o.Retry.Max = 5 * time.Minute
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 10 * time.Second
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 24 * time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Keep <= 0 {
		o.Keep = 7 * 24 * time.Hour
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.PaceWait == 0 {
		o.PaceWait = 500 * time.Millisecond
	}
	return o
}

// idleRetry is how long (in real time) a loop waits before trying again when it could not make
// progress, so that it never spins.
const idleRetry = 200 * time.Millisecond

// reader reads what messages show.
type reader struct {
	svc   *grants.Service
	store readStore
}

// readStore is what a reader reads besides the Service: people's names and audit events.
type readStore interface {
	People(ctx context.Context, personID string) ([]Person, error)
	ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error
}

// DispatcherStore is what a Dispatcher uses: its cursor over the audit log, the events, the
// people it addresses, and the queue it fills.
type DispatcherStore interface {
	Cursors
	readStore
	Enqueue(ctx context.Context, ds []Delivery, move *CursorMove) error
}

// OutboxStore is what an Outbox uses: the queue it sends from, the kept messages' references,
// what the messages show, and the user IDs it DMs.
type OutboxStore interface {
	DeliveryQueue
	readStore
	PlatformUser(ctx context.Context, personID, platform string) (string, error)
}

// snapshot reads a request, its reviews, its grant and the names of the people involved.
func (r reader) snapshot(ctx context.Context, requestID string) (Snapshot, error) {
	req, err := r.svc.GetRequest(ctx, requestID)
	if err != nil {
		return Snapshot{}, err
	}
	reviews, err := r.svc.Reviews(ctx, requestID)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Request: req, Reviews: reviews}
	if req.GrantID != "" {
		g, err := r.svc.GetGrant(ctx, req.GrantID)
		switch {
		case err == nil:
			s.Grant = &g
		case !errors.Is(err, grants.ErrNotFound):
			return Snapshot{}, err
		}
	}
	s.Resource, _ = r.svc.Resource(req.Resource)
	ids := []string{req.DecidedBy}
	for _, rv := range reviews {
		ids = append(ids, rv.Reviewer)
	}
	if s.Grant != nil {
		ids = append(ids, s.Grant.RevokedBy, s.Grant.ReviewedBy, s.Grant.Subject)
	}
	s.Names = r.names(ctx, ids)
	return s, nil
}

// names looks up how people are shown. Names are cosmetic: a failed lookup shows the ID.
func (r reader) names(ctx context.Context, ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		if id == "" || id == grants.System.ID || id == grants.PolicyActor {
			continue
		}
		if _, done := out[id]; done {
			continue
		}
		out[id] = ""
		if ps, err := r.store.People(ctx, id); err == nil && len(ps) > 0 {
			out[id] = ps[0].Name
		}
	}
	return out
}

// event reads one audit event.
func (r reader) event(ctx context.Context, seq int64) (audit.Event, error) {
	var e audit.Event
	found := false
	err := r.store.ScanAudit(ctx, audit.Filter{AfterSeq: seq - 1, MaxSeq: seq}, func(ev audit.Event) error {
		e, found = ev, true
		return nil
	})
	if err != nil {
		return audit.Event{}, fmt.Errorf("read audit event %d: %w", seq, err)
	}
	if !found {
		return audit.Event{}, fmt.Errorf("read audit event %d: %w", seq, grants.ErrNotFound)
	}
	return e, nil
}

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	Store   DispatcherStore
	Service *grants.Service
	// Platform is the name of the platform the deliveries are for.
	Platform string
	Channels Channels
	Clock    clock.Clock
	Log      zerolog.Logger
	Options  DeliveryOptions
	// OnEnqueue is called after deliveries were stored (the Outbox's Wake).
	OnEnqueue func()
}

// Dispatcher turns audit events into one platform's deliveries.
type Dispatcher struct {
	o      DispatcherOptions
	opts   DeliveryOptions
	read   reader
	log    zerolog.Logger
	cursor string
	wake   chan struct{}

	mu     sync.Mutex // one pass at a time
	inited bool
}

var _ grants.Notifier = (*Dispatcher)(nil)

// NewDispatcher builds a Dispatcher. It does no I/O.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Dispatcher{
		o:      o,
		opts:   o.Options.withDefaults(),
		read:   reader{svc: o.Service, store: o.Store},
		log:    o.Log.With().Str("component", "dispatcher").Str("platform", o.Platform).Logger(),
		cursor: CursorName(o.Platform),
		wake:   make(chan struct{}, 1),
	}
}

// CursorName is the name of a platform's dispatcher cursor.
func CursorName(platform string) string { return "chat:" + platform }

// Wake makes Run look at the audit log now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Notify implements grants.Notifier: it wakes the Dispatcher, which reads the events from the
// log (the log, not the notification, is the truth).
func (d *Dispatcher) Notify(context.Context, []audit.Event) { d.Wake() }

// Run dispatches what the log holds past the cursor, then again whenever woken and every Poll,
// until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := d.o.Clock.NewTimer(d.opts.Poll)
	defer timer.Stop()
	for {
		_, err := d.DispatchOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var retry <-chan time.Time
		if err != nil {
			d.log.Error().Err(err).Msg("dispatching chat messages failed; retrying")
			retry = time.After(idleRetry)
		}
		timer.Reset(d.opts.Poll)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C():
		case <-retry:
		}
	}
}

// DispatchOnce turns every event past the cursor into deliveries, in batches, and returns how
// many events it passed. The first call creates the cursor at the end of the log: a platform
// starts with what happens from now on, not with the whole history.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.inited {
		if _, err := d.o.Store.InitCursor(ctx, d.cursor); err != nil {
			return 0, fmt.Errorf("start dispatching on %s: %w", d.o.Platform, err)
		}
		d.inited = true
	}
	total := 0
	for conflicts := 0; ctx.Err() == nil; {
		cur, err := d.o.Store.Cursor(ctx, d.cursor)
		if err != nil {
			return total, err
		}
		var events []audit.Event
		err = d.o.Store.ScanAudit(ctx, audit.Filter{AfterSeq: cur, MaxSeq: cur + int64(d.opts.Batch)},
			func(e audit.Event) error {
				events = append(events, e)
				return nil
			})
		if err != nil {
			return total, fmt.Errorf("read audit events after %d: %w", cur, err)
		}
		if len(events) == 0 {
			return total, nil
		}
		c := &planCache{requests: map[string]*grants.Request{}, home: map[string]string{}}
		var ds []Delivery
		for _, e := range events {
			planned, err := d.plan(ctx, e, c)
			if err != nil {
				return total, fmt.Errorf("plan messages for audit event %d (%s): %w", e.Seq, e.Type, err)
			}
			ds = append(ds, planned...)
		}
		move := &CursorMove{Name: d.cursor, From: cur, To: events[len(events)-1].Seq}
		err = d.o.Store.Enqueue(ctx, ds, move)
		if errors.Is(err, ErrCursorMoved) {
			// Another replica passed these events first; its deliveries stand.
			if conflicts++; conflicts > 10 {
				return total, err
			}
			continue
		}
		if err != nil {
			return total, fmt.Errorf("queue messages for audit events %d-%d: %w", move.From+1, move.To, err)
		}
		total += len(events)
		if len(ds) > 0 && d.o.OnEnqueue != nil {
			d.o.OnEnqueue()
		}
		if len(events) < d.opts.Batch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// planCache keeps what one batch has read.
type planCache struct {
	requests map[string]*grants.Request // nil: the request does not exist
	home     map[string]string          // person ID -> the platform they last used
}

// keptEvents change what an approval message or break-glass announcement shows.
var keptEvents = map[string]bool{
	audit.RequestCreated: true, audit.ReviewApproved: true, audit.RequestApproved: true,
	audit.RequestDenied: true, audit.RequestCancelled: true, audit.RequestExpired: true,
	audit.GrantActivating: true, audit.GrantActive: true, audit.GrantFailed: true,
	audit.GrantRevoking: true, audit.GrantRevoked: true, audit.GrantRevokeFailed: true,
	audit.GrantExtended: true, audit.BreakGlassUsed: true, audit.BreakGlassReviewed: true,
}

// dmWanted says whether the requester hears of an event by DM; it matches DMView.
func dmWanted(e audit.Event, r grants.Request) bool {
	switch e.Type {
	case audit.ReviewApproved:
		_, partial := partialTally(e)
		return partial
	case audit.RequestApproved:
		return r.Kind != grants.KindExtend && r.Kind != grants.KindBreakGlass
	case audit.RequestDenied, audit.RequestExpired, audit.GrantActive, audit.GrantFailed,
		audit.GrantRevoked, audit.GrantRevokeFailed, audit.GrantWarned, audit.BreakGlassReviewed:
		return true
	case audit.GrantExtended:
		p, _ := audit.Decode[audit.GrantExtendedData](e)
		return e.Actor != grants.System.ID && !p.TargetNotExtended
	}
	return false
}

// plan returns the deliveries one event makes on this platform.
func (d *Dispatcher) plan(ctx context.Context, e audit.Event, c *planCache) ([]Delivery, error) {
	var out []Delivery
	add := func(purpose string, del Delivery) {
		del.Platform = d.o.Platform
		del.Key = fmt.Sprintf("%d:%s", e.Seq, purpose)
		del.Seq, del.Index = e.Seq, len(out)
		if del.RequestID == "" {
			del.RequestID = e.RequestID
		}
		if del.GrantID == "" {
			del.GrantID = e.GrantID
		}
		del.CreatedAt = d.o.Clock.Now()
		out = append(out, del)
	}
	if e.Type == audit.AlertRaised {
		// A break-glass use has its own, louder announcement in the same channel.
		if p, _ := audit.Decode[audit.AlertRaisedData](e); p.Alert != audit.AlertBreakGlass && d.o.Channels.Security != "" {
			add("alert", Delivery{Kind: DeliverAlert, Channel: d.o.Channels.Security})
		}
		return out, nil
	}
	if e.Type == audit.ScanCompleted {
		// A scan that found standing access is an alert; a clean scan is only recorded.
		if p, _ := audit.Decode[audit.ScanCompletedData](e); p.Findings > 0 && d.o.Channels.Security != "" {
			add("alert", Delivery{Kind: DeliverAlert, Channel: d.o.Channels.Security})
		}
		return out, nil
	}
	if v, ok := LinkNoticeView(e); ok {
		// Every link and unlink is told to the person on every platform where they are reached
		// (each platform's dispatcher sees the event), not only the one they used last: a link
		// made behind their back is seen at once.
		reached, err := d.reaches(ctx, e.Subject)
		if err != nil {
			return nil, err
		}
		if reached {
			add("identity", Delivery{Kind: DeliverNotice, Person: e.Subject, Queue: "dm:" + e.Subject, View: &v})
		}
		return out, nil
	}
	if e.RequestID == "" || (!keptEvents[e.Type] && e.Type != audit.GrantWarned) {
		return nil, nil
	}
	req, err := c.request(ctx, d.o.Service, e.RequestID)
	if err != nil {
		return nil, err
	}
	if req == nil {
		d.log.Warn().Int64("seq", e.Seq).Str("request_id", e.RequestID).Msg("audit event about an unknown request; no message")
		return nil, nil
	}
	if keptEvents[e.Type] {
		approvers := d.o.Channels.ApproverChannel(req.Resource)
		if req.Kind == grants.KindBreakGlass {
			if approvers != "" {
				msg := "breakglass:" + req.ID + ":approvers"
				add("breakglass-approvers", Delivery{Kind: DeliverBreakGlass, Channel: approvers, Message: msg, Queue: msg, RequestID: req.ID})
			}
			if sec := d.o.Channels.Security; sec != "" && sec != approvers {
				msg := "breakglass:" + req.ID + ":security"
				add("breakglass-security", Delivery{Kind: DeliverBreakGlass, Channel: sec, Message: msg, Queue: msg, RequestID: req.ID})
			}
		} else if approvers != "" {
			msg := "request:" + req.ID
			add("approval", Delivery{Kind: DeliverApproval, Channel: approvers, Message: msg, Queue: msg, RequestID: req.ID})
		}
	}
	if dmWanted(e, *req) {
		home, err := c.homeOf(ctx, d.o.Store, req.Requester)
		if err != nil {
			return nil, err
		}
		// A person reachable on several platforms hears on the one they used last.
		if home == d.o.Platform {
			add("dm", Delivery{Kind: DeliverDM, Person: req.Requester, Queue: "dm:" + req.Requester})
		}
	}
	return out, nil
}

// reaches reports whether the person was seen on this platform, so a DM can reach them here.
func (d *Dispatcher) reaches(ctx context.Context, person string) (bool, error) {
	if person == "" {
		return false, nil
	}
	people, err := d.o.Store.People(ctx, person)
	if err != nil {
		return false, err
	}
	for _, p := range people {
		if p.Platform == d.o.Platform {
			return true, nil
		}
	}
	return false, nil
}

func (c *planCache) request(ctx context.Context, svc *grants.Service, id string) (*grants.Request, error) {
	if r, ok := c.requests[id]; ok {
		return r, nil
	}
	r, err := svc.GetRequest(ctx, id)
	if errors.Is(err, grants.ErrNotFound) {
		c.requests[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.requests[id] = &r
	return &r, nil
}

func (c *planCache) homeOf(ctx context.Context, store DispatcherStore, person string) (string, error) {
	if h, ok := c.home[person]; ok {
		return h, nil
	}
	ps, err := store.People(ctx, person)
	if err != nil {
		return "", err
	}
	h := ""
	if len(ps) > 0 {
		h = ps[0].Platform
	}
	c.home[person] = h
	return h, nil
}

// OutboxOptions configure an Outbox.
type OutboxOptions struct {
	Store    OutboxStore
	Service  *grants.Service
	Platform Platform
	// Channels give the security channel, told of deliveries given up.
	Channels Channels
	Clock    clock.Clock
	Log      zerolog.Logger
	Options  DeliveryOptions
	// Limiter paces the calls when the Platform is a Pacer; nil makes the Outbox its own. Tests
	// and benchmarks pass one to see or share its buckets.
	Limiter *ratelimit.Limiter
}

// Outbox sends one platform's deliveries. It sends to several destinations at once, each
// destination's messages in order, and keeps within the Platform's published rate limits when
// it is a Pacer.
type Outbox struct {
	o     OutboxOptions
	opts  DeliveryOptions
	read  reader
	log   zerolog.Logger
	name  string
	wake  chan struct{}
	pacer Pacer // nil: the Platform paces itself
	limit *ratelimit.Limiter

	mu        sync.Mutex // one pass at a time
	lastPrune time.Time

	// stateMu guards what the lanes of one pass share.
	stateMu     sync.Mutex
	pausedUntil time.Time            // a platform that is no Pacer asked to wait (429)
	reserved    map[string]time.Time // delivery key -> the rate-limit slot kept for it

	counts struct{ sent, coalesced, deferred, rateLimited atomic.Int64 }
}

// OutboxCounts are an Outbox's counters since it was built.
type OutboxCounts struct {
	// Sent counts deliveries sent.
	Sent int64
	// Coalesced counts deliveries a sent one covered: superseded changes of a kept message,
	// marked sent without a call of their own.
	Coalesced int64
	// Deferred counts deliveries put back in the queue until their rate-limit slot.
	Deferred int64
	// RateLimited counts answers of the platform asking to wait (429), which the pacing should
	// make rare.
	RateLimited int64
}

// NewOutbox builds an Outbox. It does no I/O.
func NewOutbox(o OutboxOptions) *Outbox {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Limiter == nil {
		o.Limiter = &ratelimit.Limiter{}
	}
	name := o.Platform.Name()
	pacer, _ := o.Platform.(Pacer)
	return &Outbox{
		o:        o,
		opts:     o.Options.withDefaults(),
		read:     reader{svc: o.Service, store: o.Store},
		log:      o.Log.With().Str("component", "outbox").Str("platform", name).Logger(),
		name:     name,
		wake:     make(chan struct{}, 1),
		pacer:    pacer,
		limit:    o.Limiter,
		reserved: map[string]time.Time{},
	}
}

// Counts returns the Outbox's counters.
func (o *Outbox) Counts() OutboxCounts {
	return OutboxCounts{Sent: o.counts.sent.Load(), Coalesced: o.counts.coalesced.Load(), Deferred: o.counts.deferred.Load(), RateLimited: o.counts.rateLimited.Load()}
}

// Wake makes Run look for due deliveries now.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// paused returns until when the whole platform asked to wait.
func (o *Outbox) paused() time.Time {
	o.stateMu.Lock()
	defer o.stateMu.Unlock()
	return o.pausedUntil
}

// Run sends what is due, then waits for the next due time, a Wake or the Poll, until ctx is done.
func (o *Outbox) Run(ctx context.Context) error {
	timer := o.o.Clock.NewTimer(o.opts.Poll)
	defer timer.Stop()
	for {
		n, err := o.SendDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := o.opts.Poll
		var retry <-chan time.Time
		if err != nil {
			o.log.Error().Err(err).Msg("sending chat messages failed; retrying")
			retry = time.After(idleRetry)
		} else if at, ok, err := o.o.Store.NextDelivery(ctx, o.name); err != nil {
			if ctx.Err() == nil {
				o.log.Error().Err(err).Msg("read when the next chat message is due")
			}
			retry = time.After(idleRetry)
		} else if ok {
			if p := o.paused(); at.Before(p) {
				at = p
			}
			wait = min(wait, at.Sub(o.o.Clock.Now()))
			if wait <= 0 {
				if n > 0 {
					continue
				}
				// Due but not sendable this pass (claimed elsewhere): look again shortly.
				retry = time.After(idleRetry)
				wait = o.opts.Poll
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		case <-timer.C():
		case <-retry:
		}
	}
}

// SendDue sends every delivery due now and returns how many it sent. Deliveries that become due
// by the sending (an update behind its post) are sent in the same call. Each pass claims a
// batch and sends it by destination: destinations at once (Parallel), one destination's
// deliveries one after the other in the order claimed, which is the order of their events.
func (o *Outbox) SendDue(ctx context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	sent := 0
	for pass := 0; pass < 1000 && ctx.Err() == nil; pass++ {
		now := o.o.Clock.Now()
		o.prune(ctx, now)
		if now.Before(o.paused()) {
			return sent, nil
		}
		until := now.Add(2 * o.opts.SendTimeout)
		ds, err := o.o.Store.ClaimDeliveries(ctx, o.name, now, until, o.opts.Batch)
		if err != nil {
			return sent, err
		}
		if len(ds) == 0 {
			return sent, nil
		}
		sent += o.sendLanes(ctx, ds, until)
	}
	return sent, ctx.Err()
}

// lane names the destination a delivery goes to: deliveries of one lane are sent in order.
func lane(d Delivery) string {
	switch {
	case d.Channel != "":
		return "channel:" + d.Channel
	case d.Person != "":
		return "person:" + d.Person
	case d.Queue != "":
		return "queue:" + d.Queue
	}
	return "key:" + d.Key
}

// sendLanes sends claimed deliveries, lanes in parallel, and returns how many were sent.
func (o *Outbox) sendLanes(ctx context.Context, ds []Delivery, claimedUntil time.Time) int {
	var order []string
	lanes := map[string][]Delivery{}
	for _, d := range ds {
		k := lane(d)
		if _, ok := lanes[k]; !ok {
			order = append(order, k)
		}
		lanes[k] = append(lanes[k], d)
	}
	var sent atomic.Int64
	sem := make(chan struct{}, o.opts.Parallel)
	var wg sync.WaitGroup
	for _, k := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func(l []Delivery) {
			defer func() { <-sem; wg.Done() }()
			release := func(rest []Delivery, at time.Time) {
				for _, r := range rest {
					if err := o.o.Store.RetryDelivery(ctx, r, at, r.LastError, false); err != nil {
						o.log.Warn().Err(err).Str("key", r.Key).Msg("release delivery")
					}
				}
			}
			for i, d := range l {
				now := o.o.Clock.Now()
				if p := o.paused(); now.Before(p) {
					// Rate limited: hand the rest back, due when the platform allows again.
					release(l[i:], p)
					return
				}
				if now.Add(o.opts.SendTimeout).After(claimedUntil) {
					// The claim could lapse during the call, and another sender send it too:
					// hand the rest back to the next pass.
					release(l[i:], now)
					return
				}
				if o.send(ctx, d, claimedUntil) {
					sent.Add(1)
				}
			}
		}(lanes[k])
	}
	wg.Wait()
	return int(sent.Load())
}

// prune deletes old finished deliveries, at most hourly, and forgets slots kept for
// deliveries long gone (sent by another replica meanwhile).
func (o *Outbox) prune(ctx context.Context, now time.Time) {
	if !o.lastPrune.IsZero() && now.Sub(o.lastPrune) < time.Hour && now.After(o.lastPrune) {
		return
	}
	o.lastPrune = now
	o.stateMu.Lock()
	for k, at := range o.reserved {
		if at.Before(now.Add(-time.Hour)) {
			delete(o.reserved, k)
		}
	}
	o.stateMu.Unlock()
	if n, err := o.o.Store.PruneDeliveries(ctx, now.Add(-o.opts.Keep)); err != nil {
		o.log.Warn().Err(err).Msg("prune the outbox")
	} else if n > 0 {
		o.log.Debug().Int("deleted", n).Msg("pruned the outbox")
	}
}

// deferError says a delivery's rate-limit slot is later than the Outbox waits in place.
type deferError struct{ until time.Time }

func (e *deferError) Error() string {
	return fmt.Sprintf("rate limit: next slot at %s", e.until.Format(time.RFC3339Nano))
}

// sendCall is what one send learns on the way: the buckets its call counted against.
type sendCall struct {
	claimedUntil time.Time
	limits       []ratelimit.Limit
}

// send sends one claimed delivery and records the result. It reports whether it was sent.
func (o *Outbox) send(ctx context.Context, d Delivery, claimedUntil time.Time) bool {
	log := o.log.With().Str("key", d.Key).Str("kind", string(d.Kind)).Str("request_id", d.RequestID).
		Str("grant_id", d.GrantID).Logger()
	call := &sendCall{claimedUntil: claimedUntil}
	ref, skip, err := o.deliver(ctx, d, call)
	now := o.o.Clock.Now()
	if err == nil {
		coalesce := d.Kind == DeliverApproval || d.Kind == DeliverBreakGlass
		if err := o.o.Store.MarkSent(ctx, d, ref, coalesce, now); err != nil {
			log.Warn().Err(err).Msg("record a sent chat message")
		} else if coalesce {
			o.counts.coalesced.Add(int64(d.Covers))
		}
		if skip {
			return false
		}
		o.counts.sent.Add(1)
		log.Debug().Msg("chat message sent")
		return true
	}
	errText := truncate(err.Error(), 500)
	var ra *RetryAfterError
	var de *deferError
	switch {
	case errors.As(err, &de):
		// Not an attempt, and not news: the slot is kept, the delivery waits in the queue.
		o.counts.deferred.Add(1)
		if err := o.o.Store.RetryDelivery(ctx, d, de.until, d.LastError, false); err != nil {
			log.Warn().Err(err).Msg("put a paced chat message back in the queue")
		}
	case errors.As(err, &ra):
		o.counts.rateLimited.Add(1)
		wait := max(ra.After, time.Second)
		until := o.pauseFor(d, call, ra.Key, now.Add(wait))
		log.Warn().Dur("retry_after", wait).Str("bucket", ra.Key).Msg("platform rate limit: waiting before sending more")
		if err := o.o.Store.RetryDelivery(ctx, d, until, errText, false); err != nil {
			log.Warn().Err(err).Msg("record a rate-limited chat message")
		}
	case errors.Is(err, ErrPermanent) || errors.Is(err, grants.ErrNotFound) || now.Sub(d.CreatedAt) > o.opts.GiveUpAfter:
		o.giveUp(ctx, log, d, errText, now)
	default:
		next := now.Add(o.opts.Retry.Backoff(d.Attempts + 1))
		log.Warn().Err(err).Int("attempt", d.Attempts+1).Time("next_attempt_at", next).Msg("sending a chat message failed; will retry")
		if err := o.o.Store.RetryDelivery(ctx, d, next, errText, true); err != nil {
			log.Warn().Err(err).Msg("record a failed chat message")
		}
	}
	return false
}

// pauseFor records a platform's answer to wait until `until`: for the bucket it named, else
// for the buckets of the call, else (a platform that is no Pacer) for the whole platform. It
// returns when the delivery is due again.
func (o *Outbox) pauseFor(d Delivery, call *sendCall, key string, until time.Time) time.Time {
	o.stateMu.Lock()
	delete(o.reserved, d.Key)
	o.stateMu.Unlock()
	switch {
	case key != "":
		o.limit.Pause(key, until)
	case len(call.limits) > 0:
		for _, l := range call.limits {
			o.limit.Pause(l.Key, until)
		}
	default:
		o.stateMu.Lock()
		if until.After(o.pausedUntil) {
			o.pausedUntil = until
		}
		o.stateMu.Unlock()
	}
	return until
}

// pace waits for the slot of a call to dest, or returns a *deferError when the slot is later
// than the Outbox waits in place (or than the claim allows). A delivery put back keeps its
// slot: when it is claimed again at that time it goes without reserving another.
func (o *Outbox) pace(ctx context.Context, d Delivery, call *sendCall, op Op, dest string) error {
	if o.pacer == nil {
		return nil
	}
	call.limits = o.pacer.Limits(op, dest)
	if len(call.limits) == 0 {
		return nil
	}
	now := o.o.Clock.Now()
	o.stateMu.Lock()
	at, kept := o.reserved[d.Key]
	delete(o.reserved, d.Key)
	o.stateMu.Unlock()
	if !kept || at.Before(now.Add(-o.opts.SendTimeout)) {
		// No slot, or one so stale that its buckets refilled since: reserve one now.
		at = o.limit.Reserve(now, call.limits...)
	}
	if !at.After(now) {
		return nil
	}
	wait := at.Sub(now)
	if o.opts.PaceWait < 0 || wait > o.opts.PaceWait || at.Add(o.opts.SendTimeout).After(call.claimedUntil) {
		o.stateMu.Lock()
		o.reserved[d.Key] = at
		o.stateMu.Unlock()
		return &deferError{until: at}
	}
	t := o.o.Clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		o.limit.Cancel(call.limits...)
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// giveUp stops retrying a delivery, and tells the security channel unless the delivery was
// bound there (which would loop).
func (o *Outbox) giveUp(ctx context.Context, log zerolog.Logger, d Delivery, errText string, now time.Time) {
	log.Error().Str("error", errText).Int("attempts", d.Attempts+1).Msg("giving up on a chat message")
	if err := o.o.Store.GiveUpDelivery(ctx, d, errText, now); err != nil {
		log.Warn().Err(err).Msg("record a chat message given up")
		return
	}
	sec := o.o.Channels.Security
	if sec == "" || d.Channel == sec || strings.HasPrefix(d.Key, "failed:") {
		return
	}
	v := DeliveryFailedView(d, errText)
	alert := Delivery{
		Platform: o.name, Key: "failed:" + d.Key, Kind: DeliverNotice, Channel: sec, Seq: d.Seq,
		Index: d.Index, RequestID: d.RequestID, GrantID: d.GrantID, View: &v, CreatedAt: now,
	}
	if err := o.o.Store.Enqueue(ctx, []Delivery{alert}, nil); err != nil {
		log.Error().Err(err).Msg("could not queue the alert about a chat message given up")
	}
}

// deliver renders and sends one delivery. skip is true when there was nothing to send.
func (o *Outbox) deliver(ctx context.Context, d Delivery, call *sendCall) (ref *MessageRef, skip bool, err error) {
	p := o.o.Platform
	now := o.o.Clock.Now()
	switch d.Kind {
	case DeliverApproval, DeliverBreakGlass:
		s, err := o.read.snapshot(ctx, d.RequestID)
		if err != nil {
			return nil, false, err
		}
		old, ok, err := o.o.Store.MessageRef(ctx, o.name, d.Message)
		if err != nil {
			return nil, false, err
		}
		if ok {
			if err := o.pace(ctx, d, call, OpUpdate, old.Channel); err != nil {
				return nil, false, err
			}
		} else if err := o.pace(ctx, d, call, OpPost, d.Channel); err != nil {
			return nil, false, err
		}
		// Rendered after the wait: the message shows the state at the time it is sent.
		now = o.o.Clock.Now()
		v := ApprovalView(s, now)
		if d.Kind == DeliverBreakGlass {
			v = BreakGlassView(s, now)
		}
		cctx, cancel := context.WithTimeout(ctx, o.opts.SendTimeout)
		defer cancel()
		if ok {
			return nil, false, p.Update(cctx, old, v)
		}
		posted, err := p.Post(cctx, d.Channel, v)
		if err != nil {
			return nil, false, err
		}
		return &posted, false, nil
	case DeliverDM:
		e, err := o.read.event(ctx, d.Seq)
		if err != nil {
			return nil, false, err
		}
		s, err := o.read.snapshot(ctx, d.RequestID)
		if err != nil {
			return nil, false, err
		}
		v, ok := DMView(e, s, now)
		if !ok {
			return nil, true, nil
		}
		return nil, false, o.dm(ctx, d, call, v)
	case DeliverAlert:
		e, err := o.read.event(ctx, d.Seq)
		if err != nil {
			return nil, false, err
		}
		return nil, false, o.post(ctx, d, call, AlertView(e, now))
	case DeliverCheckpoint:
		e, err := o.read.event(ctx, d.Seq)
		if err != nil {
			return nil, false, err
		}
		return nil, false, o.post(ctx, d, call, CheckpointView(e))
	case DeliverNotice:
		if d.View == nil {
			return nil, true, nil
		}
		if d.Person != "" {
			return nil, false, o.dm(ctx, d, call, *d.View)
		}
		return nil, false, o.post(ctx, d, call, *d.View)
	}
	return nil, false, fmt.Errorf("unknown delivery kind %q: %w", d.Kind, ErrPermanent)
}

// post paces and posts a message that is not kept (alerts, notices).
func (o *Outbox) post(ctx context.Context, d Delivery, call *sendCall, v View) error {
	if err := o.pace(ctx, d, call, OpPost, d.Channel); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, o.opts.SendTimeout)
	defer cancel()
	_, err := o.o.Platform.Post(cctx, d.Channel, v)
	return err
}

func (o *Outbox) dm(ctx context.Context, d Delivery, call *sendCall, v View) error {
	userID, err := o.o.Store.PlatformUser(ctx, d.Person, o.name)
	if errors.Is(err, ErrUnknownPerson) {
		return fmt.Errorf("DM %s: %w: %w", d.Person, ErrPermanent, err)
	}
	if err != nil {
		return err
	}
	if err := o.pace(ctx, d, call, OpDM, userID); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, o.opts.SendTimeout)
	defer cancel()
	_, err = o.o.Platform.DM(cctx, userID, v)
	return err
}
