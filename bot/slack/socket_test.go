package slack_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/clock"
)

// socketHarness runs the server in Socket Mode against the fake's websocket.
func socketHarness(t *testing.T) (*slacktest.Server, *fakeHandler, func() error) {
	t.Helper()
	fake := slacktest.New(t)
	fake.AddUser(alice)
	fake.AddUser(carol)
	clk := clock.NewFake(t0)
	handler := &fakeHandler{}
	srv, err := slack.NewServer(newClient(t, fake, clk), slack.ServerOptions{
		AppToken: slacktest.AppToken, Handler: handler, Clock: clk, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.RunSocketMode(runCtx) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
				srv.Wait()
			case <-time.After(10 * time.Second):
				t.Error("RunSocketMode did not return after its context ended")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	if err := fake.WaitForSocket(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return fake, handler, stop
}

func push(t *testing.T, fake *slacktest.Server, typ string, payload []byte) json.RawMessage {
	t.Helper()
	id, err := fake.Push(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := fake.AckOf(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

func TestSocketModeOpensTheConnectionWithTheAppToken(t *testing.T) {
	fake, _, _ := socketHarness(t)
	opens := fake.Calls("apps.connections.open")
	if len(opens) != 1 || opens[0].Token != slacktest.AppToken {
		t.Errorf("apps.connections.open calls = %+v", opens)
	}
}

func TestASlashCommandOverSocketModeIsAcknowledgedWithTheReply(t *testing.T) {
	fake, handler, _ := socketHarness(t)
	handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Your grants", Text: "None."}}
	ack := push(t, fake, slacktest.EnvelopeSlashCommands, slacktest.Command{Text: "list", UserID: alice.ID, ChannelID: "C0GENERAL"}.JSON())
	a := decodeAnswer(t, ack)
	if a.ResponseType != "ephemeral" || a.Text != slack.Text(*handler.reply.View) || len(a.Blocks) == 0 {
		t.Errorf("ack payload = %s", ack)
	}
	cmds, _ := handler.got()
	if len(cmds) != 1 || cmds[0].text != "list" || cmds[0].actor.ID != "alice@example.com" {
		t.Errorf("commands = %+v", cmds)
	}
}

func TestAFormSubmissionOverSocketModeIsAcknowledgedWithItsErrors(t *testing.T) {
	fake, handler, _ := socketHarness(t)
	handler.reply = bot.Reply{Errors: map[string]string{"reason": "Say why"}}
	ack := push(t, fake, slacktest.EnvelopeInteractive, slacktest.ViewSubmission{
		UserID: carol.ID, CallbackID: bot.FormDeny, PrivateMetadata: "r-1", Values: map[string]string{"reason": ""},
	}.Payload())
	a := decodeAnswer(t, ack)
	if a.ResponseAction != "errors" || a.Errors["reason"] != "Say why" {
		t.Errorf("ack payload = %s", ack)
	}
	_, acts := handler.got()
	if len(acts) != 1 || acts[0].action.Form != bot.FormDeny || acts[0].action.Value != "r-1" {
		t.Errorf("actions = %+v", acts)
	}
}

func TestAClickOverSocketModeIsAcknowledgedAndAnsweredThroughTheResponseURL(t *testing.T) {
	fake, handler, _ := socketHarness(t)
	handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "Approved"}}
	ack := push(t, fake, slacktest.EnvelopeInteractive, slacktest.BlockAction{
		UserID: carol.ID, ActionID: bot.ActionApprove, Value: "r-1", ChannelID: "C0APPROVE",
		ResponseURL: fake.ResponseURL("sock-click"),
	}.Payload())
	if string(ack) != "null" {
		t.Errorf("ack payload = %s, want none", ack)
	}
	if posts := fake.Calls("response_url"); len(posts) != 1 || posts[0].Path != "/response/sock-click" {
		t.Errorf("response_url posts = %+v", posts)
	}
}

func TestSocketModeReconnectsWhenSlackAsks(t *testing.T) {
	fake, handler, _ := socketHarness(t)
	if err := fake.Disconnect(); err != nil {
		t.Fatal(err)
	}
	fake.WaitFor(t, "socket.connect", 2, 10*time.Second)
	handler.reply = bot.Reply{Private: true, View: &bot.View{Title: "ok"}}
	if err := fake.WaitForSocket(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ack := push(t, fake, slacktest.EnvelopeSlashCommands, slacktest.Command{Text: "help", UserID: alice.ID}.JSON())
	if a := decodeAnswer(t, ack); a.Text == "" {
		t.Errorf("ack after reconnecting = %s", ack)
	}
}

func TestSocketModeStopsCleanlyWhenItsContextEnds(t *testing.T) {
	_, _, stop := socketHarness(t)
	if err := stop(); err != nil {
		t.Errorf("RunSocketMode = %v, want nil", err)
	}
}

func TestSocketModeWithARefusedAppTokenReturnsAnError(t *testing.T) {
	fake := slacktest.New(t)
	fake.SetTokens(slacktest.BotToken, "xapp-other")
	srv, err := slack.NewServer(newClient(t, fake, clock.NewFake(t0)), slack.ServerOptions{
		AppToken: slacktest.AppToken, Handler: &fakeHandler{}, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.RunSocketMode(ctx(t)) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("RunSocketMode with a refused token returned nil")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunSocketMode kept retrying a refused token")
	}
}
