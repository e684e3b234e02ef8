package app_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/translog"
	"github.com/accessbot/accessbot/internal/clock"
)

// With a transparency: section and a witness channel, serve posts a checkpoint signed with the
// configured key to the witness channel at every publish_interval, on its clock.
func TestServePublishesASignedCheckpointEveryInterval(t *testing.T) {
	const origin = "accessbot.example.com/audit"
	signer, verifier, err := translog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads]}
web:
  enabled: true
  people:
    - {id: alice, email: alice@example.com}
transparency:
  origin: "` + origin + `"
  key: "${CHECKPOINT_KEY}"
  witness_channel: "security"
  publish_interval: "1m"
`
	start := time.Date(2026, 12, 4, 10, 0, 30, 0, time.UTC)
	clk := clock.NewFake(start)
	a, ctx, cancel := newApp(t, dir, yaml, func(k string) (string, bool) { return signer, k == "CHECKPOINT_KEY" }, clk)
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	published := func() []audit.Event {
		var out []audit.Event
		_ = a.DB.ScanAudit(ctx, audit.Filter{}, func(e audit.Event) error {
			if e.Type == audit.CheckpointPublished {
				out = append(out, e)
			}
			return nil
		})
		return out
	}
	// Move the clock to the next minutes until two have passed; each gets one checkpoint.
	waitFor(t, "two checkpoints", func() bool {
		if len(published()) < 2 {
			clk.Set(clk.Now().Truncate(time.Minute).Add(time.Minute))
		}
		return len(published()) >= 2
	})
	evs := published()
	if len(evs) < 2 {
		t.Fatalf("%d checkpoint.published events after two intervals, want 2", len(evs))
	}
	// Whole minutes, one checkpoint each (which minutes depends on when the publisher armed its
	// timer against the clock the test moves).
	var prev time.Time
	for i, e := range evs {
		c, err := audit.Decode[audit.CheckpointPublishedData](e)
		if err != nil || c.To != audit.PublishedToWitness || !c.Slot.After(start) || !c.Slot.Equal(c.Slot.Truncate(time.Minute)) ||
			(i > 0 && !c.Slot.After(prev)) {
			t.Errorf("checkpoint %d: %+v, %v", i, c, err)
		}
		prev = c.Slot
		ck, err := translog.OpenCheckpoint(c.Note, verifier)
		if err != nil || int64(ck.Size) != c.Size || ck.Origin != origin {
			t.Errorf("checkpoint %d: the note does not verify with the public key: %+v, %v", i, ck, err)
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("run: %v", err)
	}
}
