package slack_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
)

// pacedSetup is a Bot delivering through the Slack client to a fake that enforces Slack's
// published limits on the harness's clock, with n requesters who are workspace members.
func pacedSetup(t *testing.T, n int) (*bottest.Harness, *slacktest.Server, []grants.Actor) {
	t.Helper()
	fake := slacktest.New(t)
	client, err := slack.NewClient(slack.ClientOptions{BotToken: slacktest.BotToken, APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	// PaceWait -1: every wait for a slot goes back to the queue, so the test moves the clock.
	h := bottest.New(t, bottest.Options{Deliver: client, Delivery: bot.DeliveryOptions{PaceWait: -1}})
	r := slack.DefaultRates()
	fake.EnforceLimits(slacktest.Limits{
		PostEvery: r.Post.Every, PostBurst: r.Post.Burst,
		UpdateEvery: r.Update.Every, UpdateBurst: r.Update.Burst,
		OpenEvery: r.Open.Every, OpenBurst: r.Open.Burst,
		Now: h.Clock.Now,
	})
	var people []grants.Actor
	for i := range n {
		p := grantstest.Person(fmt.Sprintf("dev%d@example.com", i))
		fake.AddUser(slacktest.User{ID: p.PlatformID, Name: p.Name, Email: p.Email})
		people = append(people, p)
	}
	return h, fake, people
}

// drain delivers until nothing is pending, moving the clock to the next due delivery each
// time, and returns how long that took on the clock.
func drain(t *testing.T, h *bottest.Harness) time.Duration {
	t.Helper()
	start := h.Clock.Now()
	for range 10000 {
		h.Deliver()
		pending := h.Pending()
		if len(pending) == 0 {
			return h.Clock.Now().Sub(start)
		}
		now := h.Clock.Now()
		var next time.Time
		for _, d := range pending {
			if d.NextAttemptAt.After(now) && (next.IsZero() || d.NextAttemptAt.Before(next)) {
				next = d.NextAttemptAt
			}
		}
		if next.IsZero() {
			t.Fatalf("%d deliveries pending and none due later: %+v", len(pending), pending)
		}
		h.Clock.Set(next)
	}
	t.Fatal("the outbox did not drain")
	return 0
}

func TestABurstIsDeliveredWithinSlacksLimitsAtTheFloorTheyAllow(t *testing.T) {
	const n = 10
	h, fake, people := pacedSetup(t, n)
	for i, p := range people {
		h.Command(p, "request prod-db 1h INC-1 fixing the index")
		h.Click(grantstest.Bob, bot.ActionApprove, fmt.Sprintf("r-%d", i+1))
	}
	h.RunDue()
	took := drain(t, h)

	for _, m := range []string{"chat.postMessage", "chat.update", "conversations.open"} {
		if got := fake.RateLimited(m); got != 0 {
			t.Errorf("%d %s calls answered 429: the outbox went over Slack's limit", got, m)
		}
	}
	// One approval channel: 10 posts, 3 at once then one a second, is 7s; ten
	// conversations.open, 5 at once then one every 1.2s, is 6s, and each person's second DM a
	// second after the first. The client keeps two calls of each burst in reserve, which costs
	// two intervals: 9s for the posts, 8.4s for the last conversations.open, 9.4s for its
	// second DM.
	if took > 9400*time.Millisecond {
		t.Errorf("delivery took %s on the clock; with two calls of each burst kept in reserve the limits allow 9.4s", took)
	}
	msgs := fake.Messages(bottest.ApprovalsChannel)
	if len(msgs) != n {
		t.Fatalf("%d approval messages, want %d", len(msgs), n)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Text+m.Blocks, "Granted until") {
			t.Errorf("approval message %s does not show the grant: %s", m.TS, m.Text)
		}
	}
	// Every change happened before the first send: each message is posted once, showing the
	// latest state, and the superseded updates are never sent.
	if got := fake.Count("chat.update"); got != 0 {
		t.Errorf("%d chat.update calls for messages posted with their latest state", got)
	}
	if got, want := fake.Count("chat.postMessage"), n+2*n; got != want {
		t.Errorf("%d chat.postMessage calls, want %d (%d approval messages, 2 DMs each)", got, want, n)
	}
	if got := fake.Count("conversations.open"); got != n {
		t.Errorf("%d conversations.open calls, want %d (one per person, then kept)", got, n)
	}
}

func TestUpdatesOfOneMessageCollapseIntoOneWithinTheUpdateTier(t *testing.T) {
	const n = 10
	h, fake, people := pacedSetup(t, n)
	for _, p := range people {
		h.Command(p, "request prod-db 1h INC-1 fixing the index")
	}
	drain(t, h)
	for i := range people {
		h.Click(grantstest.Bob, bot.ActionApprove, fmt.Sprintf("r-%d", i+1))
	}
	h.RunDue() // approved, activating, active: three changes per message
	took := drain(t, h)

	if got := fake.RateLimited("chat.update"); got != 0 {
		t.Errorf("%d chat.update calls answered 429", got)
	}
	if got := fake.Count("chat.update"); got != n {
		t.Errorf("%d chat.update calls, want %d: one per message, the superseded changes coalesced", got, n)
	}
	// Ten updates, and ten conversations.open for the first DMs, each 5 at once then one every
	// 1.2s: 6s; with two kept in reserve, 8.4s. The last person's second DM goes a second after
	// their first, in their own conversation: 9.4s.
	if took > 9400*time.Millisecond {
		t.Errorf("delivery took %s on the clock; the tiers allow 6s, with two calls kept in reserve 8.4s, and the last DM a second later", took)
	}
	for _, m := range fake.Messages(bottest.ApprovalsChannel) {
		if !strings.Contains(m.Text+m.Blocks, "Granted until") {
			t.Errorf("approval message %s does not show the grant: %s", m.TS, m.Text)
		}
	}
	rows := 0
	for _, d := range h.Deliveries() {
		if d.Kind == bot.DeliverApproval && d.State == bot.DeliverySent {
			rows++
		}
	}
	calls := fake.Count("chat.update") + len(fake.Messages(bottest.ApprovalsChannel))
	_, outbox := h.Bot.Workers(slack.PlatformName)
	if got := outbox.Counts().Coalesced; got != int64(rows-calls) || got < int64(n) {
		t.Errorf("the outbox counted %d coalesced; %d approval deliveries were sent with %d calls", got, rows, calls)
	}
}

func TestA429OnOneChannelHoldsBackOnlyThatChannelAndIsNoFailure(t *testing.T) {
	fake := slacktest.New(t)
	client, err := slack.NewClient(slack.ClientOptions{BotToken: slacktest.BotToken, APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	api := grantstest.DefaultResource()
	api.Name = "prod-api"
	const apiChannel = "C-api"
	h := bottest.New(t, bottest.Options{
		Deliver:   client,
		Delivery:  bot.DeliveryOptions{PaceWait: -1},
		Resources: []*grants.Resource{grantstest.DefaultResource(), api},
		Channels: &bot.Channels{Approvals: bottest.ApprovalsChannel, Security: bottest.SecurityChannel,
			Resources: map[string]string{"prod-api": apiChannel}},
	})
	r := slack.DefaultRates()
	fake.EnforceLimits(slacktest.Limits{PostEvery: r.Post.Every, PostBurst: r.Post.Burst, Now: h.Clock.Now})
	// Something else posted to the approvals channel meanwhile: Slack's bucket for it is empty
	// and the outbox does not know.
	for range r.Post.Burst {
		if _, err := client.Post(h.Ctx, bottest.ApprovalsChannel, bot.View{Title: "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	h.Command(grantstest.Alice, "request prod-db 1h INC-1 fixing the index")  // to the approvals channel
	h.Command(grantstest.Alice, "request prod-api 1h INC-2 fixing the cache") // to the prod-api channel
	h.Deliver()

	if got := fake.RateLimited("chat.postMessage"); got != 1 {
		t.Fatalf("%d posts answered 429, want 1 (the approvals channel's)", got)
	}
	if got := len(fake.Messages(apiChannel)); got != 1 {
		t.Errorf("%d messages in %s: a 429 for another channel held it back", got, apiChannel)
	}
	var held *bot.Delivery
	for _, d := range h.Pending() {
		if d.Channel == bottest.ApprovalsChannel {
			held = &d
		}
	}
	if held == nil {
		t.Fatal("the approvals channel's message is not waiting")
	}
	if held.Attempts != 0 || !held.NextAttemptAt.Equal(h.Clock.Now().Add(time.Second)) {
		t.Errorf("held back with %d attempts until %s; want 0 attempts (a 429 is no failure) until Retry-After, 1s",
			held.Attempts, held.NextAttemptAt.Sub(h.Clock.Now()))
	}
	h.Advance(time.Second)
	h.Deliver()
	if got := len(fake.Messages(bottest.ApprovalsChannel)); got != r.Post.Burst+1 {
		t.Errorf("%d messages in the approvals channel after Retry-After, want %d", got, r.Post.Burst+1)
	}
	if p := h.Pending(); len(p) != 0 {
		t.Errorf("%d deliveries still pending", len(p))
	}
}

func TestDeliveriesPutBackForTheirSlotAreSentOnceAfterACrash(t *testing.T) {
	const n = 8
	h, fake, people := pacedSetup(t, n)
	for _, p := range people {
		h.Command(p, "request prod-db 1h INC-1 fixing the index")
	}
	h.Deliver() // the burst goes; the rest waits in the queue for its slot
	if got := len(fake.Messages(bottest.ApprovalsChannel)); got == 0 || got == n {
		t.Fatalf("%d of %d posted at once; the test wants some put back", got, n)
	}
	h.Reopen() // a crash: the slots kept in memory are lost, the queue is not
	drain(t, h)
	if got := len(fake.Messages(bottest.ApprovalsChannel)); got != n {
		t.Errorf("%d approval messages after the restart, want %d: none lost, none twice", got, n)
	}
	seen := map[string]bool{}
	for _, c := range fake.Calls("chat.postMessage") {
		if c.RateLimited || c.Arg("channel") != bottest.ApprovalsChannel {
			continue
		}
		if seen[c.Arg("text")] {
			t.Errorf("posted twice: %s", c.Arg("text"))
		}
		seen[c.Arg("text")] = true
	}
}
