package slack_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/clock"
)

func TestUploadTakesSlacksThreeSteps(t *testing.T) {
	fake := slacktest.New(t)
	c := newClient(t, fake, clock.NewFake(t0))
	data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 3000)...)
	if err := c.Upload(ctx(t), "C0SECURITY", "access-digest-2026-11-16.png", data, "Grants per day"); err != nil {
		t.Fatal(err)
	}
	files := fake.Files()
	if len(files) != 1 {
		t.Fatalf("files %+v", files)
	}
	f := files[0]
	if !bytes.Equal(f.Data, data) || f.Name != "access-digest-2026-11-16.png" || f.Title != "Grants per day" ||
		f.Channel != "C0SECURITY" || !f.Shared || f.AltText != "Grants per day" {
		t.Errorf("file %+v (%d bytes)", f, len(f.Data))
	}
	var methods []string
	for _, call := range fake.Calls("files.getUploadURLExternal", "upload", "files.completeUploadExternal") {
		methods = append(methods, call.Method)
		if call.Token != slacktest.BotToken {
			t.Errorf("%s with token %q", call.Method, call.Token)
		}
	}
	if len(methods) != 3 || methods[0] != "files.getUploadURLExternal" || methods[1] != "upload" || methods[2] != "files.completeUploadExternal" {
		t.Errorf("calls %v", methods)
	}
}

func TestUploadErrorsAreDeliveryErrors(t *testing.T) {
	fake := slacktest.New(t)
	c := newClient(t, fake, clock.NewFake(t0))
	fake.FailNext("files.getUploadURLExternal", "missing_scope")
	err := c.Upload(ctx(t), "C0SECURITY", "a.png", []byte("x"), "a")
	if !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("missing files:write: %v, want a permanent error", err)
	}
	if err := c.Upload(ctx(t), "C0SECURITY", "a.png", nil, "a"); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("empty file: %v", err)
	}
	if slack.FileScope != "files:write" {
		t.Errorf("scope %q", slack.FileScope)
	}
}
