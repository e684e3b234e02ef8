package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/grants"
)

// kubeconfigView is the DM that carries a kubeconfig of size bytes, as bot.SecretView makes it.
func kubeconfigView(size int) (bot.View, string) {
	value := bottest.Kubeconfig(size)
	now := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	g := grants.Grant{ID: "g-1", Resource: "k8s-prod", ExpiresAt: now.Add(time.Hour)}
	return bot.SecretView(g, &adapters.Secret{Kind: "kubeconfig", Label: "kubeconfig for k8s-prod", Value: value}, now), value
}

func TestASecretReachesThePageWhole(t *testing.T) {
	for _, size := range []int{1331, 3584, 64 << 10} {
		chat, srv := newChat(t, &fakeHandler{})
		events := openStream(t, srv, "alice")
		v, value := kubeconfigView(size)
		if _, err := chat.DM(context.Background(), "alice", v); err != nil {
			t.Fatal(err)
		}
		m := events.message()
		if m.View == nil || m.View.Secret == nil || m.View.Secret.Value != value {
			t.Errorf("a %d-byte kubeconfig: the page got %+v, want the value byte for byte", size, m.View)
		}
	}
}

func TestASecretIsShownButNeverWrittenToTheHistory(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	chat := storedChat(t, store, &fakeHandler{}, 0)
	v, value := kubeconfigView(3584)
	if _, err := chat.DM(ctx, "alice", bot.View{Title: "Your access to k8s-prod is active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chat.DM(ctx, "alice", v); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, chat, "alice"); len(got) != 2 {
		t.Fatalf("alice sees %q, want the active notice and the secret", got)
	}
	stored, err := store.WebMessages(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	part := value[len(value)/2 : len(value)/2+64]
	for _, m := range stored {
		b, _ := json.Marshal(m)
		if m.View.Secret != nil || strings.Contains(string(b), part) {
			t.Errorf("the history holds the secret: %s", b)
		}
	}
	if len(stored) != 1 || stored[0].View.Title != "Your access to k8s-prod is active" {
		t.Errorf("the history holds %d messages, want the active notice only", len(stored))
	}
	// After a restart the secret is gone: shown once.
	again := storedChat(t, store, &fakeHandler{}, 0)
	if got := titles(t, again, "alice"); len(got) != 1 || got[0] != web.DMChannel("alice")+": Your access to k8s-prod is active" {
		t.Errorf("after a restart alice sees %q, want the active notice only", got)
	}
}
