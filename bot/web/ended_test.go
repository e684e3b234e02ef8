package web_test

import (
	"context"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
)

// holderButtons are the buttons the views put on an active grant's messages.
func holderButtons(grantID string) []bot.Button {
	return []bot.Button{
		{ActionID: bot.ActionExtend, Label: "Extend", Value: grantID},
		{ActionID: bot.ActionRevoke, Label: "I'm done", Value: grantID, Style: bot.StyleDanger},
	}
}

// After a grant ended, its Extend and I'm done buttons stayed on the "access is active" DM and
// the expiry warning: the message that says it ended takes them off every message, and leaves
// another grant's alone.
func TestAnEndedGrantsButtonsLeaveTheMessagesThatShowedThem(t *testing.T) {
	chat, srv := newChat(t, &fakeHandler{reply: func(c call) bot.Reply {
		v := bot.View{Title: "status", Buttons: holderButtons("g-1")}
		return bot.Reply{Private: true, View: &v}
	}})
	ctx := context.Background()
	for _, v := range []bot.View{
		{Title: "Your access to prod-db is active", Buttons: holderButtons("g-1")},
		{Title: "Your access to staging-db is active", Buttons: holderButtons("g-2")},
		{Title: "Your access to prod-db ends in 10m", Buttons: holderButtons("g-1")},
	} {
		if _, err := chat.DM(ctx, "alice", v); err != nil {
			t.Fatal(err)
		}
	}
	// A status reply, private, in the approvals channel.
	if code, _, body := postJSON(t, srv, web.PathCommand, map[string]string{"as": "alice", "channel": web.ChannelApprovals, "text": "/access status g-1"}); code != 200 {
		t.Fatalf("command: %d %s", code, body)
	}
	s := openStream(t, srv, "alice")
	if _, err := chat.DM(ctx, "alice", bot.View{Title: "Your access to prod-db has ended", Ended: "g-1"}); err != nil {
		t.Fatal(err)
	}
	st, _ := chat.StateFor("alice")
	buttons := map[string]int{}
	for _, m := range st.Messages {
		if m.View == nil {
			continue
		}
		for _, b := range m.View.Buttons {
			buttons[b.Value]++
		}
		if m.View.Title == "" {
			t.Errorf("a message lost its text: %+v", m)
		}
	}
	if buttons["g-1"] != 0 || buttons["g-2"] != 2 {
		t.Errorf("buttons by grant after g-1 ended: %v, want none for g-1 and both of g-2's", buttons)
	}
	// Open pages get the messages without the buttons.
	retired := 0
	for range 4 {
		m := s.message()
		if m.View != nil && len(m.View.Buttons) == 0 && m.View.Title != "Your access to prod-db has ended" {
			retired++
		}
	}
	if retired != 3 {
		t.Errorf("the stream carried %d messages without their buttons, want 3", retired)
	}
}
