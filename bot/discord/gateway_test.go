package discord_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/testwait"
)

func gatewayServer(t *testing.T, fake *discordtest.Server, h *fakeHandler) *discord.Server {
	t.Helper()
	srv, err := discord.NewServer(newClient(t, fake, clock.Real{}, newFakeLinks()), discord.ServerOptions{Handler: h, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// In gateway mode the interaction arrives over the websocket accessbot opens, and the answer
// goes back by POST /interactions/{id}/{token}/callback, through the same code as HTTP.
func TestAnInteractionOverTheGatewayIsAnsweredThroughTheCallback(t *testing.T) {
	fake := discordtest.New(t)
	h := &fakeHandler{reply: bot.Reply{Private: true, View: &bot.View{Title: "Your access"}}}
	srv := gatewayServer(t, fake, h)
	runCtx, stop := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() {
		runErr = srv.RunGateway(runCtx)
		close(done)
	}()
	t.Cleanup(func() {
		stop()
		testwait.Receive(t, done, "RunGateway to return")
		srv.Wait()
	})
	fake.WaitIdentified(t, 10*time.Second)

	i := discordtest.Command(alice, "list")
	fake.Push(t, i)
	cb := fake.WaitFor(t, discordtest.RouteCallback, 1, 10*time.Second)[0]
	if cb.Params["id"] != i.ID || cb.Params["token"] != i.Token || cb.Auth != "" {
		t.Errorf("callback %s (auth %q), want this interaction's, without the bot token", cb.Path, cb.Auth)
	}
	body := cb.JSON()
	if body["type"] != float64(4) || !strings.Contains(string(cb.Body), "Your access") || !strings.Contains(string(cb.Body), `"flags":64`) {
		t.Errorf("callback body %s", cb.Body)
	}
	cmds, _ := h.got()
	if len(cmds) != 1 || cmds[0].text != "list" || cmds[0].actor.ID != "alice@example.com" {
		t.Errorf("handler got %+v", cmds)
	}
	// discordgo's own REST calls went to the configured API URL, not to discord.com.
	if fake.Count(discordtest.RouteGateway)+fake.Count(discordtest.RouteGatewayBot) == 0 {
		t.Error("the session did not ask the fake for the gateway URL")
	}

	stop()
	select {
	case <-done:
		if runErr != nil {
			t.Errorf("RunGateway after its context ended: %v", runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunGateway did not stop when its context ended")
	}
}

func TestTheGatewayRefusesABadTokenAndAClientNeedsOne(t *testing.T) {
	fake := discordtest.New(t)
	fake.SetToken("another-token")
	srv := gatewayServer(t, fake, &fakeHandler{})
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.RunGateway(c)
	if err == nil || !strings.Contains(err.Error(), "refused the bot token") || strings.Contains(err.Error(), discordtest.BotToken) {
		t.Errorf("RunGateway with a refused token = %v", err)
	}
	if _, err := discord.NewClient(discord.ClientOptions{ApplicationID: discordtest.ApplicationID}); err == nil {
		t.Error("a client without a bot token was made")
	}
	if _, err := discord.NewClient(discord.ClientOptions{BotToken: "x"}); err == nil {
		t.Error("a client without an application ID was made")
	}
}
