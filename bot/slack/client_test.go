package slack_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

var (
	alice  = slacktest.User{ID: "U0ALICE", Name: "alice", RealName: "Alice Example", DisplayName: "ali", Email: "Alice@Example.com"}
	carol  = slacktest.User{ID: "U0CAROL", Name: "carol", RealName: "Carol Lead", Email: "carol@example.com"}
	nomail = slacktest.User{ID: "U0NOMAIL", Name: "guest", DisplayName: "Guest"}
)

func newClient(t *testing.T, fake *slacktest.Server, clk clock.Clock) *slack.Client {
	t.Helper()
	c, err := slack.NewClient(slack.ClientOptions{
		BotToken: slacktest.BotToken,
		APIURL:   fake.APIURL(),
		Clock:    clk,
		UserTTL:  10 * time.Minute,
		GroupTTL: 5 * time.Minute,
		Log:      zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

var approvalView = bot.View{
	Title:   "Access request: prod-db",
	Fields:  []bot.Field{{Label: "Reason", Value: "INC-42"}},
	Buttons: []bot.Button{{ActionID: bot.ActionApprove, Label: "Approve", Value: "r-1"}},
	Tone:    bot.TonePending,
}

func TestPostAndUpdateDeliverTheRenderedMessageWithTheBotToken(t *testing.T) {
	fake := slacktest.New(t)
	c := newClient(t, fake, clock.NewFake(t0))
	ref, err := c.Post(ctx(t), "C0APPROVE", approvalView)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Platform != "slack" || ref.Channel != "C0APPROVE" || ref.ID == "" {
		t.Errorf("ref = %+v", ref)
	}
	post := fake.Calls("chat.postMessage")[0]
	if post.Token != slacktest.BotToken {
		t.Errorf("token = %q", post.Token)
	}
	var blocks []map[string]any
	if err := post.Decode("blocks", &blocks); err != nil || len(blocks) == 0 {
		t.Fatalf("blocks: %v %v", blocks, err)
	}
	if post.Arg("text") != slack.Text(approvalView) {
		t.Errorf("fallback text = %q", post.Arg("text"))
	}

	done := approvalView
	done.Title, done.Buttons, done.Tone = "Approved", nil, bot.ToneSuccess
	if err := c.Update(ctx(t), ref, done); err != nil {
		t.Fatal(err)
	}
	m, ok := fake.Message(ref.Channel, ref.ID)
	if !ok || m.Text != slack.Text(done) {
		t.Errorf("message after update = %+v", m)
	}
}

func TestDMOpensTheConversationThenPostsInIt(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(alice)
	c := newClient(t, fake, clock.NewFake(t0))
	ref, err := c.DM(ctx(t), alice.ID, bot.View{Title: "Your access to prod-db ends in 10 minutes"})
	if err != nil {
		t.Fatal(err)
	}
	open := fake.Calls("conversations.open")
	if len(open) != 1 || open[0].Arg("users") != alice.ID {
		t.Fatalf("conversations.open calls = %+v", open)
	}
	if ref.Channel != "D0ALICE" || fake.Calls("chat.postMessage")[0].Arg("channel") != "D0ALICE" {
		t.Errorf("posted to %+v", ref)
	}
}

func TestAPIFailuresBecomeWhatTheOutboxUnderstands(t *testing.T) {
	type call func(c *slack.Client) error
	post := func(c *slack.Client) error { _, err := c.Post(ctx(t), "C0APPROVE", approvalView); return err }
	update := func(c *slack.Client) error {
		return c.Update(ctx(t), bot.MessageRef{Platform: "slack", Channel: "C0APPROVE", ID: "1.2"}, approvalView)
	}
	dm := func(c *slack.Client) error { _, err := c.DM(ctx(t), alice.ID, approvalView); return err }
	tests := []struct {
		name      string
		call      call
		setup     func(f *slacktest.Server)
		permanent bool
		retry     time.Duration
	}{
		{"a 429 on post waits Retry-After", post, func(f *slacktest.Server) { f.RateLimit(1, 7*time.Second) }, false, 7 * time.Second},
		{"a 429 on update waits Retry-After", update, func(f *slacktest.Server) { f.RateLimit(1, 3*time.Second) }, false, 3 * time.Second},
		{"a 429 on a DM waits Retry-After", dm, func(f *slacktest.Server) { f.RateLimit(1, 30*time.Second) }, false, 30 * time.Second},
		{"a DM to a user Slack does not know is permanent", dm, func(f *slacktest.Server) { f.FailNext("conversations.open", "user_not_found") }, true, 0},
		{"a channel that does not exist is permanent", post, func(f *slacktest.Server) { f.FailNext("chat.postMessage", "channel_not_found") }, true, 0},
		{"a bot not in the channel is permanent", post, func(f *slacktest.Server) { f.FailNext("chat.postMessage", "not_in_channel") }, true, 0},
		{"a revoked token is permanent", post, func(f *slacktest.Server) { f.SetTokens("xoxb-other", slacktest.AppToken) }, true, 0},
		{"a message that is gone is permanent", update, func(*slacktest.Server) {}, true, 0},
		{"blocks Slack finds too long are permanent", post, func(f *slacktest.Server) { f.FailNext("chat.postMessage", "msg_blocks_too_long") }, true, 0},
		{"an internal error is worth retrying", post, func(f *slacktest.Server) { f.FailNext("chat.postMessage", "internal_error") }, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := slacktest.New(t)
			fake.AddUser(alice)
			tt.setup(fake)
			err := tt.call(newClient(t, fake, clock.NewFake(t0)))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, bot.ErrPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			var ra *bot.RetryAfterError
			if got := errors.As(err, &ra); got != (tt.retry > 0) || got && ra.After != tt.retry {
				t.Errorf("retry after = %v (%v), want %s", got, err, tt.retry)
			}
		})
	}
}

func TestCheckCallsAuthTest(t *testing.T) {
	fake := slacktest.New(t)
	c := newClient(t, fake, clock.NewFake(t0))
	if err := c.Check(ctx(t)); err != nil {
		t.Fatal(err)
	}
	fake.SetTokens("xoxb-rotated", slacktest.AppToken)
	if err := c.Check(ctx(t)); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("Check with a refused token: %v, want Slack's invalid_auth", err)
	}
	if fake.Count("auth.test") != 2 {
		t.Errorf("auth.test calls = %d", fake.Count("auth.test"))
	}
}

func TestTheActorIsTheLowercaseEmailFromUsersInfoCachedForTheTTL(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(alice)
	clk := clock.NewFake(t0)
	c := newClient(t, fake, clk)
	want := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice Example", Platform: "slack", PlatformID: alice.ID}
	for i := range 2 {
		a, err := c.Actor(ctx(t), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a != want {
			t.Errorf("lookup %d: actor = %+v, want %+v", i, a, want)
		}
	}
	if n := fake.Count("users.info"); n != 1 {
		t.Errorf("users.info calls within the TTL = %d, want 1", n)
	}
	alice2 := alice
	alice2.Email = "alice.new@example.com"
	fake.AddUser(alice2)
	clk.Advance(10*time.Minute + time.Second)
	a, err := c.Actor(ctx(t), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Count("users.info") != 2 || a.ID != "alice.new@example.com" {
		t.Errorf("after the TTL: %d calls, actor %+v", fake.Count("users.info"), a)
	}
}

func TestAUserWithoutAnEmailIsKnownByTheirSlackID(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(nomail)
	a, err := newClient(t, fake, clock.NewFake(t0)).Actor(ctx(t), nomail.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "slack:U0NOMAIL" || a.Email != "" || a.Name != "Guest" {
		t.Errorf("actor = %+v", a)
	}
}

func TestAnUnknownUserIsAnErrorNotAGuess(t *testing.T) {
	fake := slacktest.New(t)
	if _, err := newClient(t, fake, clock.NewFake(t0)).Actor(ctx(t), "U0NOBODY"); err == nil || !strings.Contains(err.Error(), "user_not_found") {
		t.Errorf("Actor of an unknown user: %v, want Slack's user_not_found", err)
	}
}

type fixedDirectory map[string][]string

func (d fixedDirectory) MemberOf(_ context.Context, a grants.Actor, group string) (bool, error) {
	for _, m := range d[group] {
		if m == a.ID {
			return true, nil
		}
	}
	return false, nil
}

func TestSlackUserGroupsAnswerForAtHandlesAfterTheConfig(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUserGroup(slacktest.UserGroup{ID: "S0LEADS", Handle: "sre-leads", Users: []string{carol.ID}})
	clk := clock.NewFake(t0)
	c := newClient(t, fake, clk)
	dir := c.Directory(fixedDirectory{"security": {"alice@example.com"}})
	carolActor := grants.Actor{ID: "carol@example.com", Email: "carol@example.com", Platform: "slack", PlatformID: carol.ID}
	aliceActor := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Platform: "slack", PlatformID: alice.ID}
	tests := []struct {
		name  string
		actor grants.Actor
		group string
		want  bool
	}{
		{"a member of the Slack group", carolActor, "@sre-leads", true},
		{"the handle in another case", carolActor, "@SRE-Leads", true},
		{"not a member of the Slack group", aliceActor, "@sre-leads", false},
		{"a config group answered by the config", aliceActor, "security", true},
		{"a config group the person is not in", carolActor, "security", false},
		{"an unknown Slack group", carolActor, "@nobody", false},
		{"the same person from another platform", grants.Actor{ID: "carol@example.com", Platform: "discord", PlatformID: carol.ID}, "@sre-leads", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dir.MemberOf(ctx(t), tt.actor, tt.group)
			if err != nil || got != tt.want {
				t.Errorf("MemberOf(%s, %s) = %v, %v; want %v", tt.actor.ID, tt.group, got, err, tt.want)
			}
		})
	}
	if n := fake.Count("usergroups.list"); n != 1 {
		t.Errorf("usergroups.list calls = %d, want 1 (cached)", n)
	}
	if n := fake.Count("usergroups.users.list"); n != 1 {
		t.Errorf("usergroups.users.list calls = %d, want 1 (cached)", n)
	}
}

func TestGroupMembershipChangesAreSeenAfterTheTTL(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUserGroup(slacktest.UserGroup{ID: "S0LEADS", Handle: "sre-leads", Users: []string{carol.ID}})
	clk := clock.NewFake(t0)
	c := newClient(t, fake, clk)
	carolActor := grants.Actor{ID: "carol@example.com", Platform: "slack", PlatformID: carol.ID}
	member := func() bool {
		t.Helper()
		ok, err := c.MemberOf(ctx(t), carolActor, "@sre-leads")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !member() {
		t.Fatal("carol is not a member")
	}
	fake.SetGroupMembers("S0LEADS")
	clk.Advance(4 * time.Minute)
	if !member() {
		t.Error("the cache was dropped before its TTL")
	}
	clk.Advance(time.Minute + time.Second)
	if member() {
		t.Error("carol is still a member one TTL after leaving the group")
	}
	if n := fake.Count("usergroups.users.list"); n != 2 {
		t.Errorf("usergroups.users.list calls = %d, want 2", n)
	}
}

func TestAGroupLookupFailureFailsClosedWithAnError(t *testing.T) {
	fake := slacktest.New(t)
	fake.FailNext("usergroups.list", "missing_scope")
	c := newClient(t, fake, clock.NewFake(t0))
	ok, err := c.MemberOf(ctx(t), grants.Actor{Platform: "slack", PlatformID: carol.ID}, "@sre-leads")
	if ok || err == nil {
		t.Errorf("MemberOf = %v, %v; want false and an error", ok, err)
	}
}
