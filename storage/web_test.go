package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

func TestWebMessagesKeepTheNewestVersionAndTheNewestOfEachChannel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		msg := func(ch, id string, pos, version int64, title string) bot.HistoryMessage {
			return bot.HistoryMessage{Channel: ch, ID: id, Pos: pos, Version: version, View: bot.View{Title: title},
				PostedAt: base.Add(time.Duration(pos) * time.Second)}
		}
		save := func(m bot.HistoryMessage, keep int) {
			t.Helper()
			if err := db.SaveWebMessage(ctx, m, keep); err != nil {
				t.Fatalf("save %s v%d: %v", m.ID, m.Version, err)
			}
		}
		save(msg("approvals", "e-1", 1, 1, "asked"), 3)
		save(msg("dm:alice", "e-2", 2, 2, "waiting"), 3)
		edited := msg("approvals", "e-1", 1, 4, "approved")
		edited.UpdatedAt = base.Add(time.Minute)
		save(edited, 3)
		// An older version arriving late changes nothing.
		save(msg("approvals", "e-1", 1, 3, "asked again"), 3)
		for i := int64(5); i <= 8; i++ {
			save(msg("approvals", "e-"+string(rune('0'+i)), i, i, "later"), 3)
		}
		got, err := db.WebMessages(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.Channel+"/"+m.ID)
		}
		want := []string{"dm:alice/e-2", "approvals/e-6", "approvals/e-7", "approvals/e-8"}
		if len(ids) != len(want) {
			t.Fatalf("stored %v, want %v (approvals pruned to its newest 3)", ids, want)
		}
		for i := range want {
			if ids[i] != want[i] {
				t.Fatalf("stored %v, want %v", ids, want)
			}
		}
		if !got[0].PostedAt.Equal(base.Add(2*time.Second)) || got[0].View.Title != "waiting" {
			t.Errorf("read back %+v", got[0])
		}

		// Read with a bound of 1, each channel gives its newest.
		save(msg("security", "e-9", 9, 9, "alert"), 0)
		newest, err := db.WebMessages(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(newest) != 3 || newest[1].ID != "e-8" {
			t.Errorf("%+v with 1 per channel, want the newest of 3 channels", newest)
		}

		if err := db.SaveWebMessage(ctx, bot.HistoryMessage{Channel: "approvals"}, 3); !errors.Is(err, grants.ErrInvalid) {
			t.Errorf("a message without an ID: %v, want ErrInvalid", err)
		}
	})
}

func TestAWebMessageEditIsNotUndoneByAnOlderWrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		for _, m := range []bot.HistoryMessage{
			{Channel: "approvals", ID: "e-1", Pos: 1, Version: 1, View: bot.View{Title: "asked"}, PostedAt: base},
			{Channel: "approvals", ID: "e-1", Pos: 1, Version: 5, View: bot.View{Title: "approved"}, PostedAt: base, UpdatedAt: base.Add(time.Minute)},
			{Channel: "approvals", ID: "e-1", Pos: 1, Version: 3, View: bot.View{Title: "asked again"}, PostedAt: base, UpdatedAt: base.Add(time.Second)},
		} {
			if err := db.SaveWebMessage(ctx, m, 0); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.WebMessages(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Version != 5 || got[0].View.Title != "approved" || !got[0].UpdatedAt.Equal(base.Add(time.Minute)) {
			t.Errorf("stored %+v, want version 5, approved", got)
		}
	})
}
