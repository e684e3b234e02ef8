package slack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Sample views standing in for the bot's own (which get golden files of their own later).
var sampleViews = map[string]bot.View{
	"view_pending_approval": {
		Title: "Access request: prod-db for 1h",
		Text:  "Alice Example asks for access to prod-db.",
		Fields: []bot.Field{
			{Label: "Requester", Value: "Alice Example (alice@example.com)"},
			{Label: "Resource", Value: "prod-db"},
			{Label: "Duration", Value: "1h"},
			{Label: "Reason", Value: "INC-42 fixing the index"},
			{Label: "Approvals", Value: "0 of 2"},
		},
		Buttons: []bot.Button{
			{ActionID: bot.ActionApprove, Label: "Approve", Value: "r-abc123", Style: bot.StylePrimary},
			{ActionID: bot.ActionDeny, Label: "Deny", Value: "r-abc123", Style: bot.StyleDanger},
		},
		Tone:   bot.TonePending,
		Footer: "r-abc123 · expires 2025-03-14 11:30 UTC",
	},
	"view_approved": {
		Title: "Access granted: prod-db until 10:30 UTC",
		Fields: []bot.Field{
			{Label: "Requester", Value: "Alice Example"},
			{Label: "Approved by", Value: "Carol, Dave"},
		},
		Buttons: []bot.Button{{ActionID: bot.ActionRevoke, Label: "I'm done", Value: "g-xyz789"}},
		Tone:    bot.ToneSuccess,
		Footer:  "g-xyz789",
	},
	"view_help": {
		Title: "accessbot",
		Text:  "Ask for temporary access:\n`/access request prod-db 1h INC-42 fixing the index`\n\nSee what you can ask for: `/access resources`",
		Tone:  bot.ToneNeutral,
	},
	"view_escaped": {
		Title: "Denied <!channel> & co",
		Text:  "Reason: <!here> see <https://evil.example|the docs> & <@U0ADMIN>",
		Fields: []bot.Field{
			{Label: "<b>", Value: "a > b & c < d"},
			{Label: "Empty", Value: ""},
		},
		Tone:   bot.ToneDanger,
		Footer: "<#C0123>",
	},
	"view_list_with_repeated_actions": {
		Title: "Your grants",
		Fields: []bot.Field{
			{Label: "prod-db", Value: "until 10:30"},
			{Label: "staging-db", Value: "until 12:00"},
		},
		Buttons: []bot.Button{
			{ActionID: bot.ActionRevoke, Label: "Revoke prod-db", Value: "g-1"},
			{ActionID: bot.ActionExtend, Label: "Extend prod-db", Value: "g-1"},
			{ActionID: bot.ActionRevoke, Label: "Revoke staging-db", Value: "g-2"},
		},
		Tone: bot.ToneWarning,
	},
}

var sampleForms = map[string]bot.Form{
	"form_request": {
		ID: bot.FormRequest, Title: "Request access", Submit: "Request",
		Inputs: []bot.Input{
			{ID: "resource", Label: "Resource", Kind: bot.InputSelect, Placeholder: "Choose a resource",
				Initial: "staging-db", Options: []bot.Option{
					{Value: "prod-db", Label: "prod-db: Production PostgreSQL"},
					{Value: "staging-db", Label: "staging-db: Staging PostgreSQL"},
				}},
			{ID: "duration", Label: "Duration", Kind: bot.InputText, Initial: "1h", Hint: "30m, 1h, 8h or 1d; at most 4h"},
			{ID: "reason", Label: "Reason", Kind: bot.InputLong, Placeholder: "INC-42 fixing the index"},
		},
	},
	"form_deny": {
		ID: bot.FormDeny, Value: "r-abc123", Title: "Deny request r-abc123 for prod-db", Submit: "Deny",
		Inputs: []bot.Input{{ID: "reason", Label: "Why?", Kind: bot.InputLong, Optional: true}},
	},
	"form_extend": {
		ID: bot.FormExtend, Value: "g-xyz789", Title: "Extend", Submit: "",
		Inputs: []bot.Input{
			{ID: "duration", Label: "By how long", Kind: bot.InputText, Initial: "30m"},
			{ID: "reason", Label: "Why", Kind: bot.InputLong, Optional: true},
		},
	},
}

func TestViewsRenderAsTheGoldenBlockKit(t *testing.T) {
	for name, v := range sampleViews {
		t.Run(name, func(t *testing.T) {
			golden(t, name, map[string]any{"text": slack.Text(v), "blocks": slack.Blocks(v)})
		})
	}
}

func TestFormsRenderAsTheGoldenModals(t *testing.T) {
	for name, f := range sampleForms {
		t.Run(name, func(t *testing.T) {
			golden(t, name, slack.Modal(f))
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

// texts returns every text of rendered blocks, by type.
func texts(t *testing.T, v any) map[string][]string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var walk func(any)
	walk = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			if typ, ok := n["type"].(string); ok {
				if text, ok := n["text"].(string); ok {
					out[typ] = append(out[typ], text)
				}
			}
			for _, c := range n {
				walk(c)
			}
		case []any:
			for _, c := range n {
				walk(c)
			}
		}
	}
	walk(tree)
	return out
}

func TestNothingAPersonTypesCanMentionLinkOrBreakOutOfMrkdwn(t *testing.T) {
	v := sampleViews["view_escaped"]
	got := texts(t, slack.Blocks(v))
	if len(got["mrkdwn"]) < 3 {
		t.Fatalf("expected mrkdwn texts, got %v", got)
	}
	for _, s := range append(got["mrkdwn"], slack.Text(v)) {
		if strings.ContainsAny(s, "<>") {
			t.Errorf("unescaped < or > in %q", s)
		}
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(s, "&amp;", ""), "&lt;", ""), "&gt;", ""), "&") {
			t.Errorf("unescaped & in %q", s)
		}
	}
}

func TestButtonsCarryTheirActionIDAndValueAndRepeatsGoToAnotherRow(t *testing.T) {
	blocks := slack.Blocks(sampleViews["view_list_with_repeated_actions"])
	b, _ := json.Marshal(blocks)
	var decoded []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, blk := range decoded {
		if blk.Type != "actions" {
			continue
		}
		var row []string
		for _, e := range blk.Elements {
			row = append(row, e.ActionID+"="+e.Value)
		}
		rows = append(rows, row)
	}
	want := [][]string{{"revoke=g-1", "extend=g-1"}, {"revoke=g-2"}}
	if len(rows) != len(want) || strings.Join(rows[0], ",") != strings.Join(want[0], ",") || strings.Join(rows[1], ",") != strings.Join(want[1], ",") {
		t.Errorf("action rows = %v, want %v", rows, want)
	}
}

func TestLongTextIsCutToSlackLimitsWithoutBreakingAnEntity(t *testing.T) {
	v := bot.View{
		Title: strings.Repeat("t", 200),
		Text:  strings.Repeat("&", 3500),
	}
	got := texts(t, slack.Blocks(v))
	if n := len([]rune(got["plain_text"][0])); n > 150 {
		t.Errorf("header is %d characters, over Slack's 150", n)
	}
	text := got["mrkdwn"][0]
	if n := len([]rune(text)); n > 3000 {
		t.Errorf("section text is %d characters, over Slack's 3000", n)
	}
	if !strings.HasSuffix(text, "&amp;…") {
		t.Errorf("section text ends %q, want a whole entity then an ellipsis", text[len(text)-12:])
	}
	f := slack.Modal(bot.Form{ID: "x", Title: "A title far longer than twenty-four characters"})
	if n := len([]rune(f.Title.Text)); n > 24 {
		t.Errorf("modal title is %d characters, over Slack's 24", n)
	}
}

// TestEveryBotMessageRendersAsGoldenBlockKit renders each message the bot core sends (its own
// golden views in bot/testdata/views) as Slack would receive it, into testdata/blockkit.
func TestEveryBotMessageRendersAsGoldenBlockKit(t *testing.T) {
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
				golden(t, filepath.Join("blockkit", name), slack.Modal(f))
				return
			}
			var v bot.View
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%s is not a bot.View: %v", p, err)
			}
			golden(t, filepath.Join("blockkit", name), map[string]any{"text": slack.Text(v), "blocks": slack.Blocks(v)})
		})
	}
}
