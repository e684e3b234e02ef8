package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/schedule"
)

// The digest in chat: DigestView renders a digest.Digest as one message; a DigestRunner builds
// the digest on a schedule, records it (digest.posted, with the head of the audit chain), and
// queues the message in each platform's outbox, keyed by the window, so that a chat outage
// delays the digest without losing it and two firings for one window post it once. The chart
// goes to the platforms that take files (FileUploader), best effort.

// Limits of the chat message; `accessbot digest preview` prints everything.
const (
	digestItems    = 6    // items shown per section
	digestCounts   = 12   // names shown in "by resource" and "by person"
	digestItemLen  = 180  // characters of one item
	digestFieldLen = 1000 // Discord refuses field values over 1024
)

// DigestCursor names the cursor of the digest: the sequence number of the last digest.posted
// event whose messages were queued.
const DigestCursor = "digest"

// DigestView is the digest as a chat message: the period, what needs attention, one field per
// section with its first items, and the head of the audit chain in full.
func DigestView(d digest.Digest) View {
	v := View{Title: d.Title(), Tone: ToneNeutral}
	v.Text = fmt.Sprintf("%s: %s in the audit log.", d.Period(), plural(int(d.Events), "event", "events"))
	var attention []string
	if n := d.BreakGlass.Unreviewed; n > 0 {
		attention = append(attention, plural(n, "break-glass use", "break-glass uses")+" not reviewed")
	}
	if n := d.RevocationCount.Failed; n > 0 {
		attention = append(attention, plural(n, "revocation", "revocations")+" failed")
	}
	if n := d.Scan.LastFindings; n > 0 {
		attention = append(attention, fmt.Sprintf("the last scan found %s no grant explains", plural(n, "holder", "holders")))
	}
	if len(attention) > 0 {
		v.Tone = ToneWarning
		v.Text += "\n\nNeeds attention: " + strings.Join(attention, "; ") + "."
	}
	cut := false
	for _, s := range d.Sections() {
		label := s.Title
		if s.Attention {
			label += " (!)"
		}
		var value string
		switch s.Key {
		case digest.SectionHead:
			value = fmt.Sprintf("seq %d\n%s", d.Head.Seq, code(d.Head.Hash))
		case digest.SectionCheckpoint:
			value = s.Summary + "\n```\n" + d.CheckpointNote() + "```"
		case digest.SectionByResource, digest.SectionByPerson:
			if len(s.Items) == 0 {
				value = s.Summary
				break
			}
			shown := s.Items[:min(len(s.Items), digestCounts)]
			value = strings.Join(shown, " · ")
			if more := len(s.Items) - len(shown); more > 0 {
				value += fmt.Sprintf(" · and %d more", more)
				cut = true
			}
		default:
			var lines []string
			if s.Summary != "" {
				lines = append(lines, s.Summary)
			}
			shown := s.Items[:min(len(s.Items), digestItems)]
			for _, it := range shown {
				lines = append(lines, "• "+clipText(strings.Join(strings.Fields(it), " "), digestItemLen))
			}
			if more := len(s.Items) - len(shown) + s.More; more > 0 {
				lines = append(lines, fmt.Sprintf("… and %d more", more))
				cut = true
			}
			value = strings.Join(lines, "\n")
		}
		v.Fields = append(v.Fields, Field{Label: label, Value: clipText(value, digestFieldLen)})
	}
	v.Footer = "Window " + d.Window()
	if cut {
		v.Footer += fmt.Sprintf(" · every item: %s", code(fmt.Sprintf("accessbot digest preview --since %s --until %s",
			d.Since.UTC().Format(time.RFC3339), d.Until.UTC().Format(time.RFC3339))))
	}
	return v
}

// clipText shortens s to at most n bytes, on a character boundary, with an ellipsis.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// DigestOptions configure a DigestRunner.
type DigestOptions struct {
	// Store is where the digest.posted event is appended (storage.DB). The Bot's store reads
	// the audit log and queues the messages.
	Store grants.Store
	// Schedule is a five-field cron spec or descriptor, read in Location.
	Schedule string
	// Location is the config's time zone (UTC when nil): the schedule, the digest's days and
	// working hours are read in it.
	Location *time.Location
	// Period is the window of each digest, ending at the firing time; default 7 days. Whole
	// days are counted on Location's calendar.
	Period time.Duration
	// Digest shapes the digest (working hours; its Location is set from Location).
	Digest digest.Options
	// Channels maps a platform name to the channels the digest is posted to. Platforms the Bot
	// does not have are skipped.
	Channels map[string][]string
	// Chart uploads the chart to the platforms that take files.
	Chart bool
	// Checkpoint, when set (transparency is on), signs a checkpoint that every digest carries
	// and records as checkpoint.published.
	Checkpoint CheckpointSigner
	// UploadAttempts and UploadRetry bound the chart's upload: attempts in all (default 3),
	// and the wait before the second (default 1m, doubling). Waits are on the Bot's clock.
	UploadAttempts int
	UploadRetry    time.Duration
	Log            zerolog.Logger
}

// DigestResult is what one firing did.
type DigestResult struct {
	Digest digest.Digest
	// Event is the window's digest.posted event.
	Event audit.Event
	// Queued is true when this firing queued the messages; false when the window had been
	// posted already (a second firing, another replica).
	Queued bool
	// Deliveries counts the messages queued.
	Deliveries int
}

// DigestRunner posts the digest on a schedule, timed by the Bot's clock.
type DigestRunner struct {
	b *Bot
	// store is the Bot's store, as far as the digest uses it.
	store digestStore
	o     DigestOptions
	sched cron.Schedule
	log   zerolog.Logger
	// posted is told after each firing (tests).
	posted  func(DigestResult, error)
	uploads sync.WaitGroup
}

// digestStore is what a DigestRunner reads and writes through the Bot's store: the digest's
// cursor, the audit log its digest.posted events are found in, and the queue its messages go to.
type digestStore interface {
	Cursor(ctx context.Context, name string) (int64, error)
	ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error
	Enqueue(ctx context.Context, ds []Delivery, move *CursorMove) error
}

// NewDigestRunner checks the options and builds the runner of b's digest.
func NewDigestRunner(b *Bot, o DigestOptions) (*DigestRunner, error) {
	if b == nil || o.Store == nil {
		return nil, errors.New("digest runner needs a bot and a store")
	}
	spec := strings.TrimSpace(o.Schedule)
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		return nil, fmt.Errorf("digest schedule %q: a time zone prefix is not supported (the schedule uses the location given)", spec)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("digest schedule %q: %w", spec, err)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Period <= 0 {
		o.Period = 7 * 24 * time.Hour
	}
	if o.UploadAttempts <= 0 {
		o.UploadAttempts = 3
	}
	if o.UploadRetry <= 0 {
		o.UploadRetry = time.Minute
	}
	o.Digest.Location = o.Location
	return &DigestRunner{b: b, store: b.store, o: o, sched: sched, log: o.Log.With().Str("component", "digest").Logger()}, nil
}

// OnPost sets a function told of every scheduled firing's result.
func (r *DigestRunner) OnPost(fn func(DigestResult, error)) { r.posted = fn }

// Next returns when the digest fires next after t.
func (r *DigestRunner) Next(t time.Time) time.Time { return r.sched.Next(t.In(r.o.Location)) }

// Prev returns the last firing at or before t, looking back one period (zero when none).
func (r *DigestRunner) Prev(t time.Time) time.Time {
	var prev time.Time
	for at := r.Next(digest.WindowStart(t, r.o.Period, r.o.Location).Add(-time.Second)); !at.IsZero() && !at.After(t); at = r.Next(at) {
		prev = at
	}
	return prev
}

// Run posts the digest at every time the schedule names until ctx is done. At start it first
// posts the last firing's digest if that one was missed (accessbot was down) and an earlier
// digest was posted: a fresh install starts with the next firing. A firing that fails is logged
// and the schedule goes on. Run waits for chart uploads in flight before it returns.
func (r *DigestRunner) Run(ctx context.Context) error {
	defer r.uploads.Wait()
	clk := r.b.clock
	if prev := r.Prev(clk.Now()); !prev.IsZero() {
		if missed, err := r.missed(ctx, prev); err != nil {
			r.log.Warn().Err(err).Msg("could not tell whether the last digest was posted")
		} else if missed {
			r.log.Info().Time("window_end", prev).Msg("posting the digest missed while accessbot was down")
			r.fire(ctx, prev)
		}
	}
	schedule.Loop{Name: "digest", Clock: clk, Next: r.Next, Log: r.log}.Run(ctx, r.fire)
	return nil
}

func (r *DigestRunner) fire(ctx context.Context, until time.Time) {
	res, err := r.Post(ctx, until)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Error().Err(err).Time("window_end", until).Msg("digest failed")
	case err == nil && res.Queued:
		r.log.Info().Str("window", res.Digest.Window()).Int64("audit_seq", res.Event.Seq).
			Int("messages", res.Deliveries).Msg("digest queued")
	case err == nil:
		r.log.Info().Str("window", res.Digest.Window()).Msg("digest of this window already posted")
	}
	if r.posted != nil {
		r.posted(res, err)
	}
}

// missed reports whether a digest was posted before and the one ending at prev was not.
func (r *DigestRunner) missed(ctx context.Context, prev time.Time) (bool, error) {
	last, ok, err := r.lastPosted(ctx)
	if err != nil || !ok {
		return false, err
	}
	return last.Until.Before(prev), nil
}

// lastPosted reads the digest.posted event the cursor is at.
func (r *DigestRunner) lastPosted(ctx context.Context) (digest.Posted, bool, error) {
	cur, err := r.store.Cursor(ctx, DigestCursor)
	if err != nil || cur == 0 {
		return digest.Posted{}, false, err
	}
	e, err := r.b.read.event(ctx, cur)
	if err != nil {
		return digest.Posted{}, false, err
	}
	p, err := digest.DecodePosted(e)
	if err != nil {
		return digest.Posted{}, false, err
	}
	return p, true, nil
}

// Post builds the digest of the period ending at until, records it, and queues it on every
// platform, unless that window was posted already. It is what each firing does.
//
// Order and idempotence: the digest.posted event is appended once per window (a firing that
// finds one for its window reuses it), and the messages are queued together with the move of
// the digest's cursor to that event, compare-and-swap: of two firings for one window (a restart,
// two replicas) only one queues anything, and the outbox's keys (digest:<window>:<channel>)
// keep a message from being stored twice.
func (r *DigestRunner) Post(ctx context.Context, until time.Time) (DigestResult, error) {
	since := digest.WindowStart(until, r.o.Period, r.o.Location)
	var res DigestResult
	cur, err := r.store.Cursor(ctx, DigestCursor)
	if err != nil {
		return res, fmt.Errorf("read the digest cursor: %w", err)
	}
	if last, ok, err := r.lastPosted(ctx); err != nil {
		return res, fmt.Errorf("read the last digest: %w", err)
	} else if ok && !last.Until.Before(until) {
		res.Event.Seq = last.Seq
		res.Digest.Since, res.Digest.Until = since.In(r.o.Location), until.In(r.o.Location)
		return res, nil
	}
	d, err := digest.Build(ctx, r.b.store, since, until, r.o.Digest)
	if err != nil {
		return res, err
	}
	ev, found, err := r.findPosted(ctx, since, until)
	if err != nil {
		return res, err
	}
	if found {
		p, err := digest.DecodePosted(ev)
		if err != nil {
			return res, err
		}
		d.Head = p.Head
	} else {
		now := r.b.clock.Now()
		err := r.o.Store.Update(ctx, func(tx grants.Tx) error {
			var err error
			ev, err = tx.Append(ctx, audit.Event{At: now, Actor: grants.System.ID}.With(d.PostedPayload()))
			return err
		})
		if err != nil {
			return res, fmt.Errorf("record the digest: %w", err)
		}
	}
	if r.o.Checkpoint != nil {
		if d.Checkpoint, err = r.publishCheckpoint(ctx); err != nil {
			return res, err
		}
	}
	res.Digest, res.Event = d, ev

	v := DigestView(d)
	now := r.b.clock.Now()
	var ds []Delivery
	for _, name := range r.platformNames() {
		for i, ch := range r.o.Channels[name] {
			ds = append(ds, Delivery{
				Platform: name, Key: "digest:" + d.Window() + ":" + ch, Kind: DeliverNotice,
				Channel: ch, Seq: ev.Seq, Index: i, View: &v, CreatedAt: now,
			})
		}
	}
	err = r.store.Enqueue(ctx, ds, &CursorMove{Name: DigestCursor, From: cur, To: ev.Seq})
	if errors.Is(err, ErrCursorMoved) {
		// Another firing queued this window (or a later one) meanwhile.
		if !found {
			r.log.Warn().Str("window", d.Window()).Int64("audit_seq", ev.Seq).
				Msg("another firing posted this digest first; this one's digest.posted event stays in the log unposted")
		}
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("queue the digest: %w", err)
	}
	res.Queued, res.Deliveries = true, len(ds)
	for _, name := range r.platformNames() {
		if _, o := r.b.Workers(name); o != nil {
			o.Wake()
		}
	}
	if r.o.Chart {
		r.uploadChart(ctx, d)
	}
	return res, nil
}

// publishCheckpoint signs the checkpoint the digest carries and records it.
func (r *DigestRunner) publishCheckpoint(ctx context.Context) (*audit.CheckpointPublishedData, error) {
	c, err := r.o.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign the digest's checkpoint: %w", err)
	}
	c.To = audit.PublishedInDigest
	now := r.b.clock.Now()
	if err := r.o.Store.Update(ctx, func(tx grants.Tx) error {
		_, err := tx.Append(ctx, audit.Event{At: now, Actor: grants.System.ID}.With(c))
		return err
	}); err != nil {
		return nil, fmt.Errorf("record the digest's checkpoint: %w", err)
	}
	return &c, nil
}

// platformNames are the platforms the Bot has and the digest has channels for, sorted.
func (r *DigestRunner) platformNames() []string {
	var out []string
	for name, chans := range r.o.Channels {
		if len(chans) > 0 && r.b.platform(name) != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// findPosted looks for the digest.posted event of the window [since, until): it is at or after
// until, the time the digest fires.
func (r *DigestRunner) findPosted(ctx context.Context, since, until time.Time) (audit.Event, bool, error) {
	var found audit.Event
	ok := false
	key := digest.WindowKey(since, until)
	err := r.store.ScanAudit(ctx, audit.Filter{Since: until}, func(e audit.Event) error {
		if e.Type != digest.EventPosted || ok {
			return nil
		}
		if p, err := digest.DecodePosted(e); err == nil && digest.WindowKey(p.Since, p.Until) == key {
			found, ok = e, true
		}
		return nil
	})
	if err != nil {
		return audit.Event{}, false, fmt.Errorf("look for the digest of %s: %w", key, err)
	}
	return found, ok, nil
}

// uploadChart uploads the chart to every platform that takes files, in the background, after
// the outbox has had a go at the digest itself (so the chart follows the text). It retries on
// the Bot's clock and gives up quietly: the chart is a picture of what the text says.
func (r *DigestRunner) uploadChart(ctx context.Context, d digest.Digest) {
	type target struct {
		name, channel string
		up            FileUploader
	}
	var targets []target
	for _, name := range r.platformNames() {
		up, ok := r.b.platform(name).(FileUploader)
		if !ok {
			continue
		}
		for _, ch := range r.o.Channels[name] {
			targets = append(targets, target{name, ch, up})
		}
	}
	if len(targets) == 0 {
		return
	}
	png, err := digest.Chart(d)
	if err != nil {
		r.log.Warn().Err(err).Msg("could not draw the digest's chart")
		return
	}
	if png == nil {
		return
	}
	for _, t := range targets {
		r.uploads.Add(1)
		go func() {
			defer r.uploads.Done()
			if _, o := r.b.Workers(t.name); o != nil {
				_, _ = o.SendDue(ctx)
			}
			wait := r.o.UploadRetry
			for attempt := 1; ; attempt++ {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := t.up.Upload(cctx, t.channel, d.ChartFile(), png, d.ChartTitle())
				cancel()
				if err == nil {
					return
				}
				log := r.log.Warn().Err(err).Str("platform", t.name).Str("channel", t.channel).Int("attempt", attempt)
				if attempt >= r.o.UploadAttempts || errors.Is(err, ErrPermanent) || ctx.Err() != nil {
					log.Msg("gave up uploading the digest's chart")
					return
				}
				log.Dur("retry_in", wait).Msg("uploading the digest's chart failed; will retry")
				timer := r.b.clock.NewTimer(wait)
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C():
				}
				wait *= 2
			}
		}()
	}
}

// Wait waits for the chart uploads in flight.
func (r *DigestRunner) Wait() { r.uploads.Wait() }
