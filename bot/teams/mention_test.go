package teams_test

import (
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/teams"
)

func TestACardCallsOnPeopleByTheirUPNOrEntraIDAndNamesTheRest(t *testing.T) {
	v := bot.View{Title: "Alice requests prod-db for 1h", Notify: []string{
		"Bob@Example.com",
		"teams:6F1C2A3B-0D4E-4F5A-9B8C-7D6E5F4A3B2C",
		"slack:U123",
		"teams:not-a-guid</at><at>x",
	}}
	c := teams.Render(v)
	var mentions []string
	for _, m := range c.MSTeams.Entities {
		if m.Type != "mention" || m.Text != "<at>"+m.Mentioned.ID+"</at>" {
			t.Errorf("mention %+v: its text must name its ID", m)
		}
		mentions = append(mentions, m.Mentioned.ID)
	}
	want := []string{"bob@example.com", "6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c"}
	if strings.Join(mentions, ",") != strings.Join(want, ",") {
		t.Fatalf("mentioned %v, want %v (a person known only elsewhere, or an ID that is not one, is named, never mentioned)", mentions, want)
	}
	var line string
	for _, e := range c.Body {
		if strings.HasPrefix(e.Text, "Calling on ") {
			line = e.Text
		}
	}
	if !strings.Contains(line, "<at>bob@example.com</at>") || !strings.Contains(line, "slack:U123") ||
		strings.Count(line, "<at>") != 2 {
		t.Errorf("calling line %q: want two mentions and the others named", line)
	}
	if c := teams.Render(bot.View{Title: "decided"}); len(c.MSTeams.Entities) != 0 {
		t.Errorf("a card that calls on nobody has mentions %+v", c.MSTeams.Entities)
	}
}
