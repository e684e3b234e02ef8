package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/schedule"
)

// Publishing the audit log's signed checkpoints (issue 15): in every digest (DigestOptions.
// Checkpoint), to every SIEM sink (the checkpoint.published event each publication appends is
// forwarded like every event), and to the witness channel once per publish interval (a
// CheckpointPublisher). The witness message is queued in the outbox with the move of the
// checkpoint cursor, compare-and-swap, as the digest is: of two replicas or a restart firing for
// one interval, one queues it, and its key (checkpoint:<interval>:<channel>) is stored once.

// CheckpointCursor names the cursor of the witness channel: the sequence number of the last
// checkpoint.published event whose message was queued.
const CheckpointCursor = "checkpoint"

// DeliverCheckpoint posts the signed checkpoint of the checkpoint.published event Seq to the
// witness channel.
const DeliverCheckpoint DeliveryKind = "checkpoint"

// CheckpointSigner signs a checkpoint of the log as it is now: size, root and signed note
// (translog.Log.Checkpoint, adapted by the caller, which knows the transparency log).
type CheckpointSigner func(ctx context.Context) (audit.CheckpointPublishedData, error)

// CheckpointOptions configure a CheckpointPublisher.
type CheckpointOptions struct {
	// Store is where the checkpoint.published event is appended (storage.DB).
	Store grants.Store
	Sign  CheckpointSigner
	// Interval is how often a checkpoint goes to the witness channel; default 1h. Firings are
	// at whole multiples of it (every hour on the hour).
	Interval time.Duration
	// Channels maps a platform name to its witness channel. Platforms the Bot does not have
	// are skipped.
	Channels map[string]string
	Log      zerolog.Logger
}

// CheckpointResult is what one firing did.
type CheckpointResult struct {
	// Event is the checkpoint.published event of the interval (zero when it was posted already).
	Event audit.Event
	// Queued is true when this firing queued the messages.
	Queued     bool
	Deliveries int
}

// CheckpointPublisher posts a signed checkpoint to the witness channel every interval, timed by
// the Bot's clock.
type CheckpointPublisher struct {
	b     *Bot
	store digestStore
	o     CheckpointOptions
	log   zerolog.Logger
}

// NewCheckpointPublisher checks the options and builds the publisher of b's checkpoints.
func NewCheckpointPublisher(b *Bot, o CheckpointOptions) (*CheckpointPublisher, error) {
	if b == nil || o.Store == nil || o.Sign == nil {
		return nil, errors.New("checkpoint publisher needs a bot, a store and a signer")
	}
	if o.Interval <= 0 {
		o.Interval = time.Hour
	}
	return &CheckpointPublisher{b: b, store: b.store, o: o, log: o.Log.With().Str("component", "checkpoint").Logger()}, nil
}

// Next returns the first interval boundary after t.
func (p *CheckpointPublisher) Next(t time.Time) time.Time {
	return t.Truncate(p.o.Interval).Add(p.o.Interval)
}

// Run publishes at every interval boundary until ctx is done. A firing that fails is logged;
// the next interval publishes a newer checkpoint.
func (p *CheckpointPublisher) Run(ctx context.Context) error {
	schedule.Loop{Name: "checkpoint", Clock: p.b.clock, Next: p.Next, Log: p.log}.Run(ctx, func(ctx context.Context, at time.Time) {
		res, err := p.Publish(ctx, at)
		switch {
		case err != nil && ctx.Err() == nil:
			p.log.Error().Err(err).Time("interval", at).Msg("publishing the checkpoint failed")
		case err == nil && res.Queued:
			p.log.Info().Int64("audit_seq", res.Event.Seq).Int("messages", res.Deliveries).Msg("checkpoint queued for the witness channel")
		}
	})
	return nil
}

// Publish signs a checkpoint, records it (checkpoint.published, with the interval slot), and
// queues it for the witness channels, unless the interval slot was published already.
func (p *CheckpointPublisher) Publish(ctx context.Context, slot time.Time) (CheckpointResult, error) {
	var res CheckpointResult
	slot = slot.UTC()
	cur, err := p.store.Cursor(ctx, CheckpointCursor)
	if err != nil {
		return res, fmt.Errorf("read the checkpoint cursor: %w", err)
	}
	if cur > 0 {
		e, err := p.b.read.event(ctx, cur)
		if err != nil {
			return res, fmt.Errorf("read the last published checkpoint: %w", err)
		}
		if last, _ := audit.Decode[audit.CheckpointPublishedData](e); !last.Slot.Before(slot) {
			return res, nil
		}
	}
	c, err := p.o.Sign(ctx)
	if err != nil {
		return res, fmt.Errorf("sign the checkpoint: %w", err)
	}
	c.To, c.Slot = audit.PublishedToWitness, slot
	now := p.b.clock.Now()
	var names []string
	for name, ch := range p.o.Channels {
		if ch != "" && p.b.platform(name) != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	deliveries := func(seq int64) []Delivery {
		var ds []Delivery
		for _, name := range names {
			ch := p.o.Channels[name]
			ds = append(ds, Delivery{Platform: name, Key: "checkpoint:" + slot.Format(time.RFC3339) + ":" + ch,
				Kind: DeliverCheckpoint, Channel: ch, Seq: seq, CreatedAt: now})
		}
		return ds
	}
	// The event, its deliveries and the cursor's move in one transaction: of two replicas
	// publishing the same interval, the second's move fails and its event is never written.
	var ev audit.Event
	var ds []Delivery
	err = p.o.Store.Update(ctx, func(tx grants.Tx) error {
		q, ok := tx.(enqueueTx)
		if !ok {
			return errors.New("the store cannot queue deliveries in a transaction")
		}
		var err error
		if ev, err = tx.Append(ctx, audit.Event{At: now, Actor: grants.System.ID}.With(c)); err != nil {
			return err
		}
		ds = deliveries(ev.Seq)
		return q.Enqueue(ctx, ds, &CursorMove{Name: CheckpointCursor, From: cur, To: ev.Seq})
	})
	if errors.Is(err, ErrCursorMoved) {
		// Another replica published this interval first.
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("record the checkpoint: %w", err)
	}
	res.Event = ev
	res.Queued, res.Deliveries = true, len(ds)
	for _, name := range names {
		if _, o := p.b.Workers(name); o != nil {
			o.Wake()
		}
	}
	return res, nil
}

// enqueueTx is a transaction that also queues deliveries and moves a cursor (storage's), so
// that an event and its deliveries commit together.
type enqueueTx interface {
	Enqueue(ctx context.Context, ds []Delivery, move *CursorMove) error
}

// CheckpointView is the witness channel's message of a checkpoint.published event: the size and
// root, and the signed note verbatim in a code block, for anyone to keep and check later logs
// against.
func CheckpointView(e audit.Event) View {
	c, _ := audit.Decode[audit.CheckpointPublishedData](e)
	return View{
		Title: "Audit log checkpoint",
		Text: fmt.Sprintf("The audit log holds %d events; its Merkle root is %s. Keep this signed checkpoint: "+
			"`accessbot audit verify --since` proves that a later log extends it.\n```\n%s```", c.Size, code(c.Root), c.Note),
		Tone:   ToneNeutral,
		Footer: fmt.Sprintf("audit event %d", e.Seq),
	}
}
