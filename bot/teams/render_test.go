package teams_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/teams"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestEveryBotMessageRendersAsAGoldenCard renders each message the bot core sends (its golden
// views in bot/testdata/views) as the Adaptive Card Teams receives, into testdata/cards: a new
// view of the core without a golden card here fails until one is written (go test -update).
func TestEveryBotMessageRendersAsAGoldenCard(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "views", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no bot views to render: %v", err)
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if strings.HasPrefix(name, "form_") {
				var f bot.Form
				if err := dec.Decode(&f); err != nil {
					t.Fatalf("%s is not a bot.Form: %v", p, err)
				}
				c := teams.FormCard(f, nil)
				checkCard(t, c)
				golden(t, filepath.Join("cards", name), c)
				return
			}
			var v bot.View
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%s is not a bot.View: %v", p, err)
			}
			c := teams.Render(v)
			checkCard(t, c)
			if len(c.Actions) != len(v.Buttons) {
				t.Errorf("%d actions for %d buttons", len(c.Actions), len(v.Buttons))
			}
			if v.Secret != nil && !strings.Contains(mustJSON(t, c), mustJSON(t, v.Secret.Value)) {
				t.Errorf("the secret is not in the card verbatim")
			}
			golden(t, filepath.Join("cards", name), c)
		})
	}
}

// checkCard checks what Teams needs of every card: version 1.4 or later, Action.Execute only,
// each with a verb and an action in its data.
func checkCard(t *testing.T, c teams.Card) {
	t.Helper()
	if c.Type != "AdaptiveCard" || c.Version < "1.4" || len(c.Body) == 0 {
		t.Errorf("card %s %s with %d elements", c.Type, c.Version, len(c.Body))
	}
	for _, a := range c.Actions {
		if a.Type != "Action.Execute" || a.Verb == "" || a.Data.Action != a.Verb {
			t.Errorf("action %+v", a)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(string(b), `"`)
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (go test -update rewrites it):\n%s", path, got)
	}
}

// Nothing a person types becomes markdown: emphasis, links and list markers are escaped.
func TestNothingAPersonTypesBecomesMarkdown(t *testing.T) {
	c := teams.Render(bot.View{Title: "*bold* [x](https://evil.example)", Text: "- item\n1. first _it_",
		Fields: []bot.Field{{Label: "Reason", Value: "**INC-1**"}}})
	for _, e := range c.Body {
		for _, s := range []string{e.Text, factsText(e)} {
			for _, raw := range []string{"*bold*", "[x]", "_it_", "**INC"} {
				if strings.Contains(s, raw) {
					t.Errorf("%q is left as markdown in %q", raw, s)
				}
			}
			if strings.HasPrefix(s, "- ") || strings.Contains(s, "\n1. ") {
				t.Errorf("a list marker is left in %q", s)
			}
		}
	}
}

func factsText(e teams.Element) string {
	var b strings.Builder
	for _, f := range e.Facts {
		b.WriteString(f.Title + f.Value)
	}
	return b.String()
}

// An approval card's refresh names the request and at most 60 users.
func TestTheRefreshNamesTheRequestAndAtMost60Users(t *testing.T) {
	var users []string
	for i := 0; i < 70; i++ {
		users = append(users, "29:user"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	c := teams.WithRefresh(teams.Render(bot.View{Title: "x"}), "r-1", users)
	if c.Refresh == nil || len(c.Refresh.UserIDs) != 60 || c.Refresh.Action.Data.Value != "r-1" || c.Refresh.Action.Verb != teams.VerbRefresh {
		t.Errorf("refresh %+v", c.Refresh)
	}
	if teams.WithRefresh(teams.Render(bot.View{Title: "x"}), "r-1", nil).Refresh != nil {
		t.Errorf("a refresh without users")
	}
}
