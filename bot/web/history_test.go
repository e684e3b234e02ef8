package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/storage"
)

// newStore returns a migrated SQLite store in the test's directory.
func newStore(t *testing.T) *storage.DB {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(t.TempDir(), "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// storedChat starts a chat on the store, as `serve` does: built, then restored.
func storedChat(t *testing.T, store web.Store, h *fakeHandler, maxMessages int) *web.Chat {
	t.Helper()
	chat, err := web.New(web.Options{People: people, Handler: h, Store: store, MaxMessages: maxMessages,
		Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := chat.Restore(context.Background()); err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Cleanup(chat.Close)
	return chat
}

// titles lists the titles of the views a person sees, in order.
func titles(t *testing.T, chat *web.Chat, as string) []string {
	t.Helper()
	st, ok := chat.StateFor(as)
	if !ok {
		t.Fatalf("no state for %s", as)
	}
	var out []string
	for _, m := range st.Messages {
		if m.View != nil {
			out = append(out, m.Channel+": "+m.View.Title)
		}
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestARestartedChatShowsItsHistory(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	before := storedChat(t, store, &fakeHandler{}, 0)
	ref, err := before.Post(ctx, web.ChannelApprovals, bot.View{Title: "Alice requests prod-db", Tone: bot.TonePending})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.DM(ctx, "alice", bot.View{Title: "Your request is waiting"}); err != nil {
		t.Fatal(err)
	}
	if err := before.Update(ctx, ref, bot.View{Title: "Approved by Bob", Tone: bot.ToneSuccess}); err != nil {
		t.Fatal(err)
	}
	want := []string{"dm:alice: Your request is waiting", "approvals: Approved by Bob"} // the DM is listed first
	if got := titles(t, before, "alice"); !equal(got, want) {
		t.Fatalf("before the restart alice sees %q, want %q", got, want)
	}
	before.Close()

	after := storedChat(t, store, &fakeHandler{}, 0)
	if got := titles(t, after, "alice"); !equal(got, want) {
		t.Errorf("after the restart alice sees %q, want %q", got, want)
	}
	if got, want := titles(t, after, "bob"), []string{"approvals: Approved by Bob"}; !equal(got, want) {
		t.Errorf("after the restart bob sees %q, want %q", got, want)
	}
	st, _ := after.StateFor("bob")
	if m := st.Messages[0]; m.ID != ref.ID || !m.Edited {
		t.Errorf("restored message %+v, want ID %s, edited", m, ref.ID)
	}

	// The reference the outbox kept still names the message: an update changes it in place.
	if err := after.Update(ctx, ref, bot.View{Title: "Access ended"}); err != nil {
		t.Fatal(err)
	}
	if _, err := after.Post(ctx, web.ChannelApprovals, bot.View{Title: "Carol requests staging"}); err != nil {
		t.Fatal(err)
	}
	want = []string{"approvals: Access ended", "approvals: Carol requests staging"}
	if got := titles(t, after, "bob"); !equal(got, want) {
		t.Errorf("after an update bob sees %q, want %q", got, want)
	}
	after.Close()
	if got := titles(t, storedChat(t, store, &fakeHandler{}, 0), "bob"); !equal(got, want) {
		t.Errorf("after a second restart bob sees %q, want %q", got, want)
	}
}

// What a person types and a reply for them alone are not kept: a slash command and its
// private answer vanish on Slack too, and `/access link <code>` holds a code.
func TestCommandsAndPrivateRepliesAreNotKept(t *testing.T) {
	store := newStore(t)
	h := &fakeHandler{reply: func(c call) bot.Reply {
		if c.text == "request prod-db 1h INC-1" {
			return bot.Reply{View: &bot.View{Title: "Request r-1 posted"}}
		}
		return bot.Reply{Private: true, View: &bot.View{Title: "Confirm the link"}}
	}}
	chat := storedChat(t, store, h, 0)
	mux := http.NewServeMux()
	chat.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	openWithToken(t, chat, srv)
	for _, text := range []string{"/access link ABCD-EFGH", "/access request prod-db 1h INC-1"} {
		if status, _, raw := postJSON(t, srv, web.PathCommand, map[string]string{"as": "alice", "text": text}); status != 200 {
			t.Fatalf("command %q: %d %s", text, status, raw)
		}
	}
	if st, _ := chat.StateFor("alice"); len(st.Messages) != 4 {
		t.Fatalf("alice sees %d messages, want 2 commands and 2 replies", len(st.Messages))
	}
	stored, err := store.WebMessages(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].View.Title != "Request r-1 posted" {
		t.Errorf("stored %+v, want only the reply for the channel", stored)
	}
	after := storedChat(t, store, h, 0)
	if got, want := titles(t, after, "alice"), []string{"dm:alice: Request r-1 posted"}; !equal(got, want) {
		t.Errorf("after the restart alice sees %q, want %q", got, want)
	}
}

func TestTheStoredHistoryIsBoundedPerChannel(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	chat := storedChat(t, store, &fakeHandler{}, 3)
	for _, title := range []string{"1", "2", "3", "4", "5"} {
		if _, err := chat.Post(ctx, web.ChannelApprovals, bot.View{Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chat.Post(ctx, web.ChannelSecurity, bot.View{Title: "alert"}); err != nil {
		t.Fatal(err)
	}
	stored, err := store.WebMessages(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 {
		t.Errorf("%d messages stored, want the 3 newest of approvals and security's one", len(stored))
	}
	want := []string{"approvals: 3", "approvals: 4", "approvals: 5", "security: alert"}
	if got := titles(t, storedChat(t, store, &fakeHandler{}, 3), "bob"); !equal(got, want) {
		t.Errorf("after the restart bob sees %q, want %q", got, want)
	}
	// A smaller bound after a restart shows each channel's newest.
	want = []string{"approvals: 4", "approvals: 5", "security: alert"}
	if got := titles(t, storedChat(t, store, &fakeHandler{}, 2), "bob"); !equal(got, want) {
		t.Errorf("with a bound of 2 bob sees %q, want %q", got, want)
	}
}

// failingStore refuses every write.
type failingStore struct{ web.Store }

func (failingStore) SaveWebMessage(context.Context, bot.HistoryMessage, int) error {
	return errors.New("disk full")
}

// A message the store refused is not shown: the outbox sees the error and posts it again, and
// it must not then appear twice.
func TestAPostTheStoreRefusesIsNotShown(t *testing.T) {
	ctx := context.Background()
	chat := storedChat(t, failingStore{newStore(t)}, &fakeHandler{}, 0)
	if _, err := chat.Post(ctx, web.ChannelApprovals, bot.View{Title: "lost?"}); err == nil {
		t.Fatal("Post succeeded with a store that refuses writes")
	}
	if got := titles(t, chat, "bob"); len(got) != 0 {
		t.Errorf("bob sees %q, want nothing", got)
	}
}
