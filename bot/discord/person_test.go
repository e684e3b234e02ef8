package discord_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
)

// Finding 4 of issue 13: discord.users values were lowercased, so a Discord account mapped to
// "slack:UNOMAIL" acted as "slack:unomail", another person than the Slack user UNOMAIL, and one
// person approved twice. The mapping keeps the platform ID as written.
func TestAMappingToAPlatformIDKeepsTheIDsCase(t *testing.T) {
	fake := discordtest.New(t)
	c, err := discord.NewClient(discord.ClientOptions{
		BotToken: discordtest.BotToken, ApplicationID: discordtest.ApplicationID, APIURL: fake.APIURL(),
		Users: map[string]string{aliceID: " SLACK:UNOMAIL ", bobID: "Bob@Example.com"},
		Clock: clock.NewFake(t0), RoleTTL: time.Minute, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ user, want string }{
		{aliceID, "slack:UNOMAIL"},
		{bobID, "bob@example.com"},
	} {
		a, err := c.Actor(ctx(t), discord.Person{ID: tt.user, Name: "someone"})
		if err != nil || a.ID != tt.want {
			t.Errorf("Actor(%s) = %+v, %v; want ID %q", tt.user, a, err, tt.want)
		}
		if got := c.Mapped(tt.user); got != tt.want {
			t.Errorf("Mapped(%s) = %q, want %q", tt.user, got, tt.want)
		}
	}
}
