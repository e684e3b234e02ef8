package slack_test

import (
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/clock"
)

func TestAMessageCallsOnPeopleByTheirSlackUserAndNamesTheOthers(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: "U0CAROL", Name: "carol", Email: "Carol@example.com"})
	c := newClient(t, fake, clock.NewFake(t0))
	v := approvalView
	v.Notify = []string{"carol@example.com", "zed@example.com"}
	ref, err := c.Post(ctx(t), "C0APPROVE", v)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := fake.Message(ref.Channel, ref.ID)
	if !strings.Contains(m.Text, "Calling on <@U0CAROL> zed@example.com") {
		t.Fatalf("notification text %q does not mention carol and name zed", m.Text)
	}
	if !strings.Contains(m.Blocks, `Calling on \u003c@U0CAROL\u003e zed@example.com`) && !strings.Contains(m.Blocks, "Calling on <@U0CAROL> zed@example.com") {
		t.Fatalf("blocks lack the mention line: %s", m.Blocks)
	}
	// The redraw asks Slack again for nobody: the answers are kept.
	if err := c.Update(ctx(t), ref, v); err != nil {
		t.Fatal(err)
	}
	if n := fake.Count("users.lookupByEmail"); n != 2 {
		t.Fatalf("%d users.lookupByEmail calls for two people and a redraw, want 2", n)
	}
	// A message that calls on nobody has no mention line.
	plain := approvalView
	ref, _ = c.Post(ctx(t), "C0APPROVE", plain)
	if m, _ := fake.Message(ref.Channel, ref.ID); strings.Contains(m.Text+m.Blocks, "Calling on") {
		t.Fatalf("a message without Notify calls on someone: %+v", m)
	}
}
