package slacktest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot/slack/slacktest"
)

func TestTheFakeAnswersAsSlackDocuments(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(slacktest.User{ID: "U1", Name: "alice", RealName: "Alice", Email: "alice@example.com"})
	api := slackapi.New(slacktest.BotToken, slackapi.OptionAPIURL(fake.APIURL()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	u, err := api.GetUserInfoContext(ctx, "U1")
	if err != nil || u.Profile.Email != "alice@example.com" {
		t.Errorf("users.info = %+v, %v", u, err)
	}
	_, err = api.GetUserInfoContext(ctx, "U404")
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); !ok || se.Err != "user_not_found" {
		t.Errorf("users.info of an unknown user = %v", err)
	}

	fake.RateLimit(2, 1500*time.Millisecond)
	for range 2 {
		_, _, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("hi", false))
		if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); !ok || rl.RetryAfter != 2*time.Second {
			t.Errorf("rate limited post = %v, want retry after 2s (rounded up)", err)
		}
	}
	if _, ts, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("hi", false)); err != nil || ts == "" {
		t.Errorf("post after the limit = %q, %v", ts, err)
	}
	calls := fake.Calls("chat.postMessage")
	if len(calls) != 3 || !calls[0].RateLimited || calls[2].RateLimited || calls[2].Arg("text") != "hi" {
		t.Errorf("recorded calls = %+v", calls)
	}

	bad := slackapi.New("xoxb-wrong", slackapi.OptionAPIURL(fake.APIURL()))
	if _, err := bad.AuthTestContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("auth.test with a wrong token = %v", err)
	}
}

func TestTheFakeRefusesBlocksHoldingMoreTextThanSlackTakes(t *testing.T) {
	fake := slacktest.New(t)
	api := slackapi.New(slacktest.BotToken, slackapi.OptionAPIURL(fake.APIURL()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := func(text string) slackapi.Block {
		return slackapi.NewRichTextBlock("code", &slackapi.RichTextPreformatted{Type: slackapi.RTEPreformatted,
			Elements: []slackapi.RichTextSectionElement{slackapi.NewRichTextSectionTextElement(text, nil)}})
	}
	header := slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, "Title", false, false))
	// 12,000 characters of text in all: the header's 5 and the code's 11,995.
	_, ts, err := api.PostMessageContext(ctx, "D1", slackapi.MsgOptionBlocks(header, code(strings.Repeat("x", 11995))))
	if err != nil {
		t.Fatalf("12,000 characters: %v", err)
	}
	_, _, err = api.PostMessageContext(ctx, "D1", slackapi.MsgOptionBlocks(header, code(strings.Repeat("x", 11996))))
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); !ok || se.Err != "msg_blocks_too_long" {
		t.Errorf("12,001 characters = %v, want msg_blocks_too_long", err)
	}
	_, _, _, err = api.UpdateMessageContext(ctx, "D1", ts, slackapi.MsgOptionBlocks(header, code(strings.Repeat("x", 11996))))
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); !ok || se.Err != "msg_blocks_too_long" {
		t.Errorf("an update to 12,001 characters = %v, want msg_blocks_too_long", err)
	}
	m, _ := fake.Message("D1", ts)
	if pre, err := m.Preformatted(); err != nil || len(pre) != 1 || len(pre[0]) != 11995 {
		t.Errorf("the message holds %d code blocks (%v), want the first post's", len(pre), err)
	}
}
