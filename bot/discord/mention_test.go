package discord_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
)

func TestAMessageCallsOnLinkedPeopleAndPingsOnlyThem(t *testing.T) {
	fake := discordtest.New(t)
	links := newFakeLinks()
	// Eve linked her account and confirmed it herself; Zed has none.
	links.links[eveID] = discord.Link{UserID: eveID, Person: "eve@example.com", ConfirmedAt: t0, Via: "web"}
	c := newClient(t, fake, clock.NewFake(t0), links)
	v := bot.View{Title: "Access request", Tone: bot.TonePending, Notify: []string{"bob@example.com", "eve@example.com", "zed@example.com"}}
	ref, err := c.Post(ctx(t), "300000000000000001", v)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Content         string `json:"content"`
		AllowedMentions struct {
			Parse []string `json:"parse"`
			Users []string `json:"users"`
		} `json:"allowed_mentions"`
	}
	post := fake.Calls(discordtest.RoutePostMessage)[0]
	if err := json.Unmarshal(post.Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Content != "Calling on <@"+bobID+"> <@"+eveID+"> zed@example.com" {
		t.Fatalf("content = %q, want bob (config) and eve (link) mentioned and zed named", sent.Content)
	}
	if len(sent.AllowedMentions.Parse) != 0 || !slices.Equal(sent.AllowedMentions.Users, []string{bobID, eveID}) {
		t.Fatalf("allowed_mentions = %+v, want bob and eve alone", sent.AllowedMentions)
	}
	// Once decided, the card calls on nobody: the edit empties the content.
	v.Notify, v.Title = nil, "Approved"
	if err := c.Update(ctx(t), ref, v); err != nil {
		t.Fatal(err)
	}
	m, _ := fake.Message(ref.Channel, ref.ID)
	if !strings.Contains(string(m.Body), `"content":""`) {
		t.Fatalf("the edit of a decided card: %s, want its content emptied", m.Body)
	}
}
