package discord_test

import (
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
)

// The buckets Discord announces are followed by discordgo's limiter, which waits on the wall
// clock: this test runs in real time, with a short window.
func TestTheClientWaitsForTheBucketsDiscordAnnouncesInsteadOfHittingThem(t *testing.T) {
	fake := discordtest.New(t)
	const per, window = 3, 150 * time.Millisecond
	fake.EnforceLimits(discordtest.Limits{Per: per, Window: window, Global: 50})
	c := newClient(t, fake, clock.NewFake(t0), nil)
	const channel = "300000000000000001"
	start := time.Now()
	var ref bot.MessageRef
	for i := range 3 * per {
		r, err := c.Post(ctx(t), channel, bot.View{Title: "message", Text: "number " + string(rune('a'+i))})
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		ref = r
	}
	for range per + 1 {
		if err := c.Update(ctx(t), ref, bot.View{Title: "message", Text: "edited"}); err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	for _, route := range []string{discordtest.RoutePostMessage, discordtest.RouteEditMessage} {
		if n := fake.RateLimitedCount(route); n != 0 {
			t.Errorf("%d calls of %s answered 429: the client did not follow the bucket's headers", n, route)
		}
	}
	if got := len(fake.Calls(discordtest.RoutePostMessage)); got != 3*per {
		t.Errorf("%d posts reached the fake, want %d", got, 3*per)
	}
	// Nine posts at three a window take two windows of waiting at least.
	if took := time.Since(start); took < 2*window {
		t.Errorf("took %s; the bucket allows no less than %s", took, 2*window)
	}
}
