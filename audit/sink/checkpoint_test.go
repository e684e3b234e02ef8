package sink_test

import (
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
)

// A published checkpoint is an audit event like any other, so every SIEM sink receives it: the
// file sink's line holds the size, the root and the signed note verbatim.
func TestASinkReceivesThePublishedCheckpoints(t *testing.T) {
	db := newStore(t)
	appendEvents(t, db, 3)
	c := audit.CheckpointPublishedData{Size: 3, Root: "cm9vdA==", To: audit.PublishedToWitness, Slot: t0,
		Note: "accessbot.example.com/audit\n3\ncm9vdA==\ntime 2026-05-04T09:00:00Z\n\n— accessbot.example.com/audit c2ln\n"}
	if _, err := db.AppendAudit(testCtx(t), audit.Event{At: t0, Actor: "accessbot"}.With(c)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := sink.New(sink.Options{Name: "siem", Sink: newFileSink(t, sink.FileOptions{Path: path}), Store: db,
		Clock: clock.NewFake(t0), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.ForwardOnce(testCtx(t)); err != nil || n != 4 {
		t.Fatalf("forwarded %d events, %v; want 4", n, err)
	}
	got := readLines(t, path)
	if len(got) != 4 || got[3].Type != audit.CheckpointPublished {
		t.Fatalf("the sink holds %+v", got)
	}
	p, err := audit.Decode[audit.CheckpointPublishedData](got[3])
	if err != nil || p.Size != c.Size || p.Root != c.Root || p.Note != c.Note || !p.Slot.Equal(c.Slot) {
		t.Errorf("the sink's checkpoint.published says %+v (%v), want %+v", p, err, c)
	}
}
