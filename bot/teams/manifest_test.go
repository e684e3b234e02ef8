package teams_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/accessbot/accessbot/bot"
)

// offMenu are the verbs the Teams command menu leaves out: Teams shows at most 10 commands, the
// grammar has more, and these are set-up commands a person types once (a key, a login), which
// `help` lists and which work typed like every other.
var offMenu = []string{bot.VerbSSHKey, bot.VerbGitHubLogin}

// The app manifest in deploy/teams is one Teams accepts (schema 1.16 or later, at most 10
// commands) and lists every verb of the grammar but the set-up ones (offMenu), for the bot in
// personal chats and teams; every title it lists is a verb.
func TestTheAppManifestListsEveryCommand(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "teams", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ManifestVersion string `json:"manifestVersion"`
		ID              string `json:"id"`
		Bots            []struct {
			BotID        string   `json:"botId"`
			Scopes       []string `json:"scopes"`
			CommandLists []struct {
				Commands []struct {
					Title string `json:"title"`
				} `json:"commands"`
			} `json:"commandLists"`
		} `json:"bots"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.ManifestVersion < "1.16" || len(m.Bots) != 1 || m.Bots[0].BotID != m.ID || m.ID != "{{TEAMS_APP_ID}}" {
		t.Fatalf("manifest %+v", m)
	}
	b := m.Bots[0]
	if !slices.Contains(b.Scopes, "personal") || !slices.Contains(b.Scopes, "team") || len(b.CommandLists) != 1 {
		t.Fatalf("bot %+v", b)
	}
	var titles []string
	for _, c := range b.CommandLists[0].Commands {
		titles = append(titles, c.Title)
	}
	if len(titles) > 10 {
		t.Errorf("%d commands: Teams shows at most 10", len(titles))
	}
	for _, verb := range bot.Verbs {
		if !slices.Contains(titles, verb) && !slices.Contains(offMenu, verb) {
			t.Errorf("the manifest does not list %q", verb)
		}
	}
	for _, title := range titles {
		if !slices.Contains(bot.Verbs, title) {
			t.Errorf("the manifest lists %q, which is not a verb", title)
		}
	}
}
