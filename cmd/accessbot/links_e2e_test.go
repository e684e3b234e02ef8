package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
)

// replyButton returns the value of the button actionID in a Slack reply's blocks.
func replyButton(t *testing.T, body []byte, actionID string) string {
	t.Helper()
	var m struct {
		Blocks []struct {
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("reply %s: %v", body, err)
	}
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value
			}
		}
	}
	t.Fatalf("no %q button in %s", actionID, body)
	return ""
}

// TestADiscordLinkIsMadeOnlyByItsPersonEndToEnd reproduces finding 2 of issue 13 against the
// built binary, with Slack and Discord as they sign requests: Dana, an admin, asks on Discord to
// link her second account to bob@example.com and confirms it herself; Bob, talked into typing
// the code, is shown the account and refuses. Nothing is linked, her account acts as nobody.
// Then Bob links his own account, and hears of it by DM on Slack and on Discord.
func TestADiscordLinkIsMadeOnlyByItsPersonEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()

	slack := slacktest.New(t)
	slack.AddUser(slacktest.User{ID: "UDANA", Name: "dana", RealName: "Dana", Email: "dana@example.com"})
	slack.AddUser(slacktest.User{ID: "UBOB", Name: "bob", RealName: "Bob", Email: "bob@example.com"})
	dc := discordtest.New(t)
	danaAlt := discordtest.User{ID: "600000000000000020", Username: "dana-alt"}
	bobDC := discordtest.User{ID: "600000000000000002", Username: "bob", GlobalName: "Bob"}

	addr := freePort(t)
	cfg := fmt.Sprintf(`server:
  listen: %q
storage:
  driver: sqlite
  dsn: "accessbot.db"
admins:
  users: ["dana@example.com"]
groups:
  approvers: ["bob@example.com"]
slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: %q
  approver_channel: "CAPPROVALS"
discord:
  application_id: %q
  public_key: %q
  bot_token: "${DISCORD_BOT_TOKEN}"
  api_url: %q
  guild_id: %q
  approver_channel: "300000000000000010"
resources:
  - name: prod-db
    adapter: {type: noop}
    policy:
      approvers: [approvers]
`, addr, slack.APIURL(), discordtest.ApplicationID, discordtest.PublicKeyHex(), dc.APIURL(), discordtest.GuildID)
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, work, addr, "SLACK_SIGNING_SECRET="+e2eSigningSecret, "SLACK_BOT_TOKEN="+slacktest.BotToken,
		"DISCORD_BOT_TOKEN="+discordtest.BotToken)
	ctx := context.Background()
	onSlack := &slacktest.Sender{BaseURL: "http://" + addr, Secret: e2eSigningSecret}
	onDiscord := &discordtest.Sender{BaseURL: "http://" + addr}
	slash := func(user, text string) string {
		t.Helper()
		resp, err := onSlack.Command(ctx, slacktest.Command{Command: "/access", Text: text, UserID: user,
			ChannelID: "CGENERAL", ResponseURL: slack.ResponseURL("cmd")})
		if err != nil || resp.Status != 200 {
			t.Fatalf("%s on Slack: %v %+v", text, err, resp)
		}
		return string(resp.Body)
	}
	click := func(user, actionID, value string) {
		t.Helper()
		resp, err := onSlack.Interaction(ctx, slacktest.BlockAction{UserID: user, ActionID: actionID, Value: value,
			ChannelID: "CGENERAL", ResponseURL: slack.ResponseURL("click-" + actionID)}.Payload())
		if err != nil || resp.Status != 200 {
			t.Fatalf("click %s: %v %+v", actionID, err, resp)
		}
	}
	codeOf := regexp.MustCompile(`[A-Z2-9]{4}-[A-Z2-9]{4}`)
	ask := func(u discordtest.User, email string) string {
		t.Helper()
		_, body := sendDiscord(t, onDiscord, discordtest.Command(u, "link", discordtest.Opt{Name: "email", Value: email}))
		code := codeOf.FindString(body)
		if code == "" {
			t.Fatalf("no code for %s: %s", u.Username, body)
		}
		return code
	}
	actsAsNobody := func(u discordtest.User) {
		t.Helper()
		if _, body := sendDiscord(t, onDiscord, discordtest.Command(u, "list")); !strings.Contains(body, "Link your Discord account first") {
			t.Fatalf("%s's Discord account acts as someone: %s", u.Username, body)
		}
	}

	// Finding 2: the admin confirms her own request for bob's email, by ID and with the code.
	code := ask(danaAlt, "bob@example.com")
	if body := slash("UDANA", "link confirm "+danaAlt.ID); !strings.Contains(body, "Admins cannot confirm links") {
		t.Errorf("the admin's confirmation: %s", body)
	}
	if body := slash("UDANA", "link "+code); !strings.Contains(body, "No link to confirm") {
		t.Errorf("the admin typing the code: %s", body)
	}
	actsAsNobody(danaAlt)

	// Bob, talked into typing the code, sees whose account it is; nothing is linked until he
	// confirms, the admin cannot press his buttons, and he refuses.
	prompt := slash("UBOB", "link "+code)
	for _, want := range []string{"Is this Discord account yours?", "dana-alt", danaAlt.ID, "bob@example.com"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the prompt does not show %q: %s", want, prompt)
		}
	}
	actsAsNobody(danaAlt)
	value := replyButton(t, []byte(prompt), "link_confirm")
	click("UDANA", "link_confirm", value)
	click("UBOB", "link_cancel", value)
	slack.WaitFor(t, "response_url", 2, 10*time.Second)
	actsAsNobody(danaAlt)

	// Bob links his own account: shown, confirmed, and told by DM on Slack and on Discord.
	code = ask(bobDC, "bob@example.com")
	prompt = slash("UBOB", "link "+code)
	click("UBOB", "link_confirm", replyButton(t, []byte(prompt), "link_confirm"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		slackDM := false
		for _, c := range slack.Calls("chat.postMessage") {
			if ch := c.Arg("channel"); (strings.HasPrefix(ch, "D") || strings.HasPrefix(ch, "U")) &&
				strings.Contains(c.Arg("text")+c.Arg("blocks"), "A Discord account was linked to you") {
				slackDM = true
			}
		}
		dm := dc.DMChannel(bobDC.ID)
		discordDM := dm != "" && len(dc.Messages(dm)) > 0
		if slackDM && discordDM {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link was not told by DM (Slack %v, Discord %v)\n%s", slackDM, discordDM, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, body := sendDiscord(t, onDiscord, discordtest.Command(bobDC, "link")); !strings.Contains(body, "linked to bob@example.com") {
		t.Errorf("bob's link: %s", body)
	}
	p.stop(t)

	export := exec.Command(bin, "audit", "export", "--format", "jsonl", "--config", "config.yaml")
	export.Dir = work
	export.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + work, "SLACK_SIGNING_SECRET=x", "SLACK_BOT_TOKEN=" + slacktest.BotToken, "DISCORD_BOT_TOKEN=x"}
	out, err := export.CombinedOutput()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	var linked []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, `"identity.linked"`) {
			linked = append(linked, line)
		}
	}
	if len(linked) != 1 || !strings.Contains(linked[0], bobDC.ID) || strings.Contains(linked[0], danaAlt.ID) {
		t.Errorf("identity.linked events = %v, want bob's own account only", linked)
	}
	if !strings.Contains(string(out), `"identity.unlinked"`) {
		t.Errorf("bob's refusal is not in the audit log:\n%s", out)
	}
}
