package digest_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/digest/digesttest"
)

func TestTheDigestListsThePolicyChangesOfItsWindow(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	appendChange := func(at time.Time, p audit.ConfigChangedData) {
		t.Helper()
		if _, err := db.AppendAudit(ctx, audit.Event{At: at, Actor: "accessbot"}.With(p)); err != nil {
			t.Fatal(err)
		}
	}
	// Before the window: the first start. In it: one start with two changes. After it: one
	// more, which the digest must not show.
	appendChange(digesttest.Since.Add(-24*time.Hour), audit.ConfigChangedData{Initial: true, SnapshotSHA256: "s0",
		Changes: []audit.ConfigChange{{Key: "policy.prod-db.approvals", Op: audit.ConfigOpAdded, New: "1"}}})
	in := time.Date(2026, 11, 18, 14, 5, 0, 0, digesttest.Location)
	appendChange(in, audit.ConfigChangedData{SnapshotSHA256: "s1", Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.approvals", Op: audit.ConfigOpChanged, Old: "1", New: "2"},
		{Key: "slack.bot_token", Op: audit.ConfigOpChanged, Secret: true},
	}})
	appendChange(digesttest.Until.Add(time.Hour), audit.ConfigChangedData{SnapshotSHA256: "s2", Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.break_glass", Op: audit.ConfigOpChanged, Old: "false", New: "true"},
	}})

	d := build(t, db)
	if d.Policy == nil || d.Policy.Starts != 1 || d.Policy.Count != 2 {
		t.Fatalf("policy changes = %+v; want one start with two changes", d.Policy)
	}
	var b bytes.Buffer
	if err := digest.WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	want := `Policy changes  [!]
  1 start changed the policy: 2 keys changed.
  - Wed 18 Nov 14:05 policy.prod-db.approvals: 1 → 2
  - Wed 18 Nov 14:05 slack.bot_token: changed (secret)
`
	if !strings.Contains(b.String(), want) {
		t.Errorf("the digest has no policy section as expected:\n%s", b.String())
	}
	if strings.Contains(b.String(), "break_glass") {
		t.Error("a change after the window is in the digest")
	}
}

func TestADigestWithNoPolicyChangeHasNoPolicySection(t *testing.T) {
	d := build(t, seeded(t))
	for _, s := range d.Sections() {
		if s.Key == digest.SectionPolicy {
			t.Errorf("a policy section with nothing changed: %+v", s)
		}
	}
}
