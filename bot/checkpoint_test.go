package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/storage"
)

// witnessChannel is where the tests' checkpoints go.
const witnessChannel = "C-witness"

// fakeSigner stands in for translog.Log.Checkpoint (tested in audit/translog): a checkpoint of
// the log's head, with a note that says which one it is.
func fakeSigner(db *storage.DB) bot.CheckpointSigner {
	return func(ctx context.Context) (audit.CheckpointPublishedData, error) {
		h, err := db.AuditHead(ctx)
		if err != nil {
			return audit.CheckpointPublishedData{}, err
		}
		return audit.CheckpointPublishedData{Size: h.Seq, Root: "cm9vdA==",
			Note: fmt.Sprintf("accessbot.example.com/audit\n%d\ncm9vdA==\n\n— accessbot.example.com/audit sig%d\n", h.Seq, h.Seq)}, nil
	}
}

func witnessPosts(h *bottest.Harness) []bottest.Call {
	var out []bottest.Call
	for _, c := range h.Platform.Calls(bottest.OpPost) {
		if c.Channel == witnessChannel && c.Err == nil {
			out = append(out, c)
		}
	}
	return out
}

func TestTheDigestCarriesASignedCheckpointAndRecordsIt(t *testing.T) {
	h, _, _ := digestHarness(t)
	r, err := bot.NewDigestRunner(h.Bot, bot.DigestOptions{Store: h.DB, Schedule: "0 9 * * 1", Location: berlin,
		Channels: map[string][]string{"slack": {bottest.SecurityChannel}}, Checkpoint: fakeSigner(h.DB)})
	if err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)
	h.Clock.Set(monday)
	res, err := r.Post(h.Ctx, monday)
	if err != nil || !res.Queued {
		t.Fatalf("post: %+v, %v", res, err)
	}
	c := res.Digest.Checkpoint
	if c == nil || c.Size != res.Event.Seq || c.To != audit.PublishedInDigest {
		t.Fatalf("the digest's checkpoint is %+v (digest.posted is event %d)", c, res.Event.Seq)
	}
	h.Deliver()
	posts := digestPosts(h)
	if len(posts) != 1 {
		t.Fatalf("%d digest posts", len(posts))
	}
	last := posts[0].View.Fields[len(posts[0].View.Fields)-1]
	if last.Label != "Signed checkpoint" || !strings.Contains(last.Value, "```\n"+c.Note+"```") ||
		!strings.Contains(last.Value, fmt.Sprintf("%d events, root hash cm9vdA==", c.Size)) {
		t.Errorf("the digest's last field is %+v", last)
	}
	evs := h.AuditEvents(audit.CheckpointPublished)
	if len(evs) != 1 {
		t.Fatalf("%d checkpoint.published events, want 1", len(evs))
	}
	if p, err := audit.Decode[audit.CheckpointPublishedData](evs[0]); err != nil || p != *c {
		t.Errorf("checkpoint.published says %+v (%v), the digest %+v", p, err, *c)
	}
	r.Wait()
}

func TestTheWitnessChannelGetsOneCheckpointPerInterval(t *testing.T) {
	h := bottest.New(t, bottest.Options{})
	p, err := bot.NewCheckpointPublisher(h.Bot, bot.CheckpointOptions{Store: h.DB, Sign: fakeSigner(h.DB),
		Channels: map[string]string{"slack": witnessChannel, "nowhere": "C-x"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 4, 10, 20, 0, 0, time.UTC)
	h.Clock.Set(start)
	if next := p.Next(start); !next.Equal(time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("Next(%s) = %s, want 11:00 (the default interval is an hour)", start, next)
	}

	ctx, cancel := context.WithCancel(h.Ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	// Three hours of the fake clock: one checkpoint per hour, whatever else fires.
	for hour := 11; hour <= 13; hour++ {
		at := time.Date(2026, 12, 4, hour, 0, 0, 0, time.UTC)
		if got := waitTimer(t, h, h.Clock.Now()); !got.Equal(at) {
			t.Fatalf("the publisher fires at %s, want %s", got, at)
		}
		h.Clock.Set(at)
		bottest.Eventually(t, 5*time.Second, "the checkpoint to be queued", func() bool {
			return len(h.AuditEvents(audit.CheckpointPublished)) == hour-10
		})
		// A restart or the same slot again publishes nothing more.
		if res, err := p.Publish(h.Ctx, at); err != nil || res.Queued {
			t.Errorf("publishing %s again: %+v, %v", at, res, err)
		}
		h.Deliver()
		posts := witnessPosts(h)
		if len(posts) != hour-10 {
			t.Fatalf("after %s: %d witness posts, want %d", at, len(posts), hour-10)
		}
		evs := h.AuditEvents(audit.CheckpointPublished)
		c, _ := audit.Decode[audit.CheckpointPublishedData](evs[len(evs)-1])
		if c.To != audit.PublishedToWitness || !c.Slot.Equal(at) {
			t.Errorf("checkpoint.published %+v", c)
		}
		if v := posts[len(posts)-1].View; !strings.Contains(v.Text, "```\n"+c.Note+"```") {
			t.Errorf("the witness message lacks the note verbatim: %q", v.Text)
		}
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestTwoReplicasPublishAnIntervalOnce(t *testing.T) {
	h := bottest.New(t, bottest.Options{})
	slot := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)
	h.Clock.Set(slot)
	var pubs []*bot.CheckpointPublisher
	for range 2 {
		p, err := bot.NewCheckpointPublisher(h.Bot, bot.CheckpointOptions{Store: h.DB, Sign: fakeSigner(h.DB),
			Channels: map[string]string{"slack": witnessChannel}})
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	// Both fire for the same hour at once, as two replicas' clocks do.
	var wg sync.WaitGroup
	results := make([]bot.CheckpointResult, len(pubs))
	for i, p := range pubs {
		wg.Go(func() {
			var err error
			if results[i], err = p.Publish(h.Ctx, slot); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if results[0].Queued == results[1].Queued {
		t.Errorf("queued: %v and %v, want exactly one", results[0].Queued, results[1].Queued)
	}
	h.Deliver()
	h.Deliver()
	if n := len(witnessPosts(h)); n != 1 {
		t.Errorf("%d witness posts for one interval, want 1", n)
	}
}

// The replica that loses the race for an interval writes nothing: its checkpoint.published
// event, its deliveries and the cursor's move commit together, so the cursor another replica
// moved first rolls back its event too. Replica A reads the cursor, then, while it signs,
// replica B publishes the same interval whole.
func TestTheReplicaThatLosesAnIntervalWritesNoEvent(t *testing.T) {
	h := bottest.New(t, bottest.Options{})
	slot := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)
	h.Clock.Set(slot)
	opts := bot.CheckpointOptions{Store: h.DB, Sign: fakeSigner(h.DB), Channels: map[string]string{"slack": witnessChannel}}
	b, err := bot.NewCheckpointPublisher(h.Bot, opts)
	if err != nil {
		t.Fatal(err)
	}
	var bRes bot.CheckpointResult
	sign := fakeSigner(h.DB)
	opts.Sign = func(ctx context.Context) (audit.CheckpointPublishedData, error) {
		var err error
		if bRes, err = b.Publish(ctx, slot); err != nil {
			t.Errorf("replica B: %v", err)
		}
		return sign(ctx)
	}
	a, err := bot.NewCheckpointPublisher(h.Bot, opts)
	if err != nil {
		t.Fatal(err)
	}
	aRes, err := a.Publish(h.Ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	if !bRes.Queued || aRes.Queued {
		t.Errorf("queued: A %v, B %v; want B only", aRes.Queued, bRes.Queued)
	}
	if evs := h.AuditEvents(audit.CheckpointPublished); len(evs) != 1 || evs[0].Seq != bRes.Event.Seq {
		t.Errorf("%d checkpoint.published events, want B's alone", len(evs))
	}
}
