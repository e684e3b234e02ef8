package discord_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestEveryBotMessageRendersAsGoldenComponents renders each message the bot core sends (its
// golden views in bot/testdata/views) as Discord receives it, into testdata/components: the
// embed and the action rows of a message, or the modal of a form.
func TestEveryBotMessageRendersAsGoldenComponents(t *testing.T) {
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
				m := discord.Modal(f)
				checkModal(t, m)
				golden(t, filepath.Join("components", name), discord.Response{Type: discordgo.InteractionResponseModal, Data: m})
				return
			}
			var v bot.View
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%s is not a bot.View: %v", p, err)
			}
			m := discord.Render(v)
			checkMessage(t, m)
			golden(t, filepath.Join("components", name), m)
		})
	}
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
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", path, got)
	}
}

// checkMessage checks a rendered message against Discord's documented limits.
func checkMessage(t *testing.T, m discord.Message) {
	t.Helper()
	if len(m.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1", len(m.Embeds))
	}
	e := m.Embeds[0]
	total := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
	if e.Footer != nil {
		total += utf8.RuneCountInString(e.Footer.Text)
	}
	if utf8.RuneCountInString(e.Title) > 256 || utf8.RuneCountInString(e.Description) > 4096 || len(e.Fields) > 25 {
		t.Errorf("embed over the limits: title %d, description %d, %d fields", utf8.RuneCountInString(e.Title), utf8.RuneCountInString(e.Description), len(e.Fields))
	}
	for _, f := range e.Fields {
		total += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
		if f.Name == "" || f.Value == "" || utf8.RuneCountInString(f.Name) > 256 || utf8.RuneCountInString(f.Value) > 1024 {
			t.Errorf("field %q: %q is empty or too long", f.Name, f.Value)
		}
	}
	if total > 6000 {
		t.Errorf("embed has %d characters, over 6000", total)
	}
	if len(m.Components) > 5 {
		t.Errorf("%d action rows, over 5", len(m.Components))
	}
	ids := map[string]bool{}
	for _, row := range m.Components {
		r, ok := row.(discordgo.ActionsRow)
		if !ok || len(r.Components) == 0 || len(r.Components) > 5 {
			t.Fatalf("row %#v is not an action row of 1 to 5 buttons", row)
		}
		for _, c := range r.Components {
			b := c.(discordgo.Button)
			if ids[b.CustomID] || len(b.CustomID) > 100 || b.CustomID == "" || utf8.RuneCountInString(b.Label) > 80 {
				t.Errorf("button %+v: custom_id repeated, empty or too long, or label too long", b)
			}
			ids[b.CustomID] = true
		}
	}
	if m.AllowedMentions == nil || m.AllowedMentions.Parse == nil || len(m.AllowedMentions.Parse) != 0 {
		t.Error("the message may ping someone")
	}
}

func checkModal(t *testing.T, m discord.ModalData) {
	t.Helper()
	if m.CustomID == "" || len(m.CustomID) > 100 || utf8.RuneCountInString(m.Title) > 45 || len(m.Components) == 0 || len(m.Components) > 5 {
		t.Errorf("modal over the limits: %+v", m)
	}
	for _, row := range m.Components {
		ti := row.(discordgo.ActionsRow).Components[0].(discordgo.TextInput)
		if utf8.RuneCountInString(ti.Label) > 45 || utf8.RuneCountInString(ti.Placeholder) > 100 || ti.CustomID == "" {
			t.Errorf("text input over the limits: %+v", ti)
		}
	}
}

func TestNothingAPersonTypesCanLinkMentionOrFormat(t *testing.T) {
	v := bot.View{
		Title: "Denied",
		Text:  "Reason: [click here](https://evil.example) @everyone <@&123> **bold** _it_ ~~x~~ ||spoiler|| > quote\n# Heading\n\\[x](y)",
		Fields: []bot.Field{
			{Label: "Reason", Value: "[a](https://evil.example) <#C1>"},
		},
		Tone: bot.ToneDanger,
	}
	m := discord.Render(v)
	e := m.Embeds[0]
	for _, s := range []string{e.Description, e.Fields[0].Value} {
		// What is left once every escaped character is taken out must hold nothing that formats.
		bare := regexp.MustCompile(`\\.`).ReplaceAllString(s, "")
		if strings.ContainsAny(bare, "<>[]*_~|") || strings.Contains(bare, "\n#") {
			t.Errorf("unescaped markdown in %q (bare: %q)", s, bare)
		}
	}
	if !strings.Contains(e.Description, `\[click here\](https://evil.example)`) || !strings.Contains(e.Description, "\n\\# Heading") {
		t.Errorf("description = %q", e.Description)
	}
	if m.AllowedMentions == nil || len(m.AllowedMentions.Parse) != 0 {
		t.Error("the message may ping @everyone")
	}
}

func TestCodeSpansAreKeptAsTheyAre(t *testing.T) {
	for in, want := range map[string]string{
		"Try `/access request prod_db 1h INC-42 *now*` then": "Try `/access request prod_db 1h INC-42 *now*` then",
		"a `lone backtick and *stars*":                       "a \\`lone backtick and \\*stars\\*",
		"two `spans` and `more_spans` with _this_ outside":   "two `spans` and `more_spans` with \\_this\\_ outside",
		"`x` then an unmatched ` and [link](https://evil.x)": "`x` then an unmatched \\` and \\[link\\](https://evil.x)",
	} {
		if got := discord.Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestButtonsCarryActionAndValueAndRepeatsStayUnique(t *testing.T) {
	var buttons []bot.Button
	for i := 0; i < 12; i++ {
		buttons = append(buttons, bot.Button{ActionID: bot.ActionRevoke, Label: "I'm done", Value: "g-1"})
	}
	rows := discord.Components(buttons)
	if len(rows) != 3 {
		t.Fatalf("%d rows for 12 buttons, want 3 of at most 5", len(rows))
	}
	seen := map[string]bool{}
	for _, row := range rows {
		for _, c := range row.(discordgo.ActionsRow).Components {
			id := c.(discordgo.Button).CustomID
			if seen[id] {
				t.Errorf("custom_id %q repeated", id)
			}
			seen[id] = true
			if a, v := discord.ParseCustomID(id); a != bot.ActionRevoke || v != "g-1" {
				t.Errorf("ParseCustomID(%q) = %q, %q", id, a, v)
			}
		}
	}
	if a, v := discord.ParseCustomID(discord.CustomID(bot.ActionApprove, "r-abc#7x")); a != bot.ActionApprove || v != "r-abc#7x" {
		t.Errorf("a value with # came back as %q, %q", a, v)
	}
	long := discord.Components([]bot.Button{{ActionID: "approve", Value: strings.Repeat("x", 120)}})
	if len(long) != 0 {
		t.Errorf("a button whose custom_id is over 100 characters was rendered: %+v", long)
	}
}

func TestModalsCarryTheFormAndItsValue(t *testing.T) {
	f := bot.Form{ID: bot.FormExtend, Value: "g-xyz", Title: "Extend access for a very long time indeed, longer than Discord allows",
		Inputs: []bot.Input{{ID: "duration", Label: "By how long", Kind: bot.InputText, Initial: "30m"},
			{ID: "reason", Label: "Why", Kind: bot.InputLong, Optional: true, Hint: "Empty keeps the reason given before."}}}
	m := discord.Modal(f)
	checkModal(t, m)
	form, value, ok := discord.ParseModalCustomID(m.CustomID)
	if !ok || form != bot.FormExtend || value != "g-xyz" {
		t.Errorf("ParseModalCustomID(%q) = %q, %q, %v", m.CustomID, form, value, ok)
	}
	reason := m.Components[1].(discordgo.ActionsRow).Components[0].(discordgo.TextInput)
	if reason.Required || reason.Style != discordgo.TextInputParagraph || reason.Placeholder != f.Inputs[1].Hint {
		t.Errorf("reason input = %+v", reason)
	}
}

func TestLongTextIsCutToDiscordLimits(t *testing.T) {
	v := bot.View{Title: strings.Repeat("t", 300), Text: strings.Repeat("*", 5000), Footer: strings.Repeat("f", 3000)}
	for i := 0; i < 30; i++ {
		v.Fields = append(v.Fields, bot.Field{Label: "label", Value: strings.Repeat("v", 1500)})
	}
	checkMessage(t, discord.Render(v))
	d := discord.Render(v).Embeds[0].Description
	if strings.HasSuffix(strings.TrimSuffix(d, "…"), `\`) && !strings.HasSuffix(strings.TrimSuffix(d, "…"), `\*`) {
		t.Errorf("the cut leaves a lone backslash: …%s", d[len(d)-10:])
	}
}
