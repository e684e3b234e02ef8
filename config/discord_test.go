package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
)

var discordEnv = map[string]string{
	"DISCORD_BOT_TOKEN":  "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.very-secret-discord-token",
	"DISCORD_PUBLIC_KEY": "e2b4b4a5b6c8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829",
}

func TestDiscordIsOffWhenTheSectionIsAbsent(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Discord.IsEnabled() {
		t.Error("Discord is on without a discord: section")
	}
	if c.Discord.APIURL != config.DefaultDiscordAPIURL || c.Discord.RoleCacheTTL != 5*time.Minute {
		t.Errorf("defaults not applied: %+v", c.Discord)
	}
}

func TestDiscordIsOffWhenEnabledIsFalseWhateverElseIsMissing(t *testing.T) {
	c := mustParse(t, valid+"discord:\n  enabled: false\n", nil)
	if c.Discord.IsEnabled() {
		t.Error("Discord is on with enabled: false")
	}
}

func TestADiscordSectionTurnsDiscordOnAndIsRead(t *testing.T) {
	src := valid + `discord:
  application_id: 123456789012345678
  public_key: "${DISCORD_PUBLIC_KEY}"
  bot_token: "${DISCORD_BOT_TOKEN}"
  api_url: "http://127.0.0.1:9999/api/v10/"
  guild_id: "223456789012345678"
  approver_channel: "323456789012345678"
  security_channel: "423456789012345678"
  channels:
    prod-db: "523456789012345678"
  users:
    623456789012345678: alice@example.com
  role_cache_ttl: 1m
`
	c := mustParse(t, src, discordEnv)
	d := c.Discord
	if !d.IsEnabled() {
		t.Fatal("Discord is off with a discord: section")
	}
	if d.ApplicationID != "123456789012345678" || d.GuildID != "223456789012345678" {
		t.Errorf("IDs = %q, %q: an unquoted ID must be read as it is written", d.ApplicationID, d.GuildID)
	}
	if d.BotToken.Reveal() != discordEnv["DISCORD_BOT_TOKEN"] || d.PublicKey != discordEnv["DISCORD_PUBLIC_KEY"] {
		t.Error("values were not expanded from the environment")
	}
	if d.APIURL != "http://127.0.0.1:9999/api/v10" {
		t.Errorf("api_url = %q, want it without the trailing slash", d.APIURL)
	}
	if d.ChannelFor("prod-db") != "523456789012345678" || d.ChannelFor("other") != "323456789012345678" {
		t.Errorf("ChannelFor: prod-db %q, other %q", d.ChannelFor("prod-db"), d.ChannelFor("other"))
	}
	if d.AlertChannel() != "423456789012345678" {
		t.Errorf("AlertChannel = %q", d.AlertChannel())
	}
	if d.Users["623456789012345678"] != "alice@example.com" {
		t.Errorf("users = %v", d.Users)
	}
	if d.RoleCacheTTL != time.Minute {
		t.Errorf("role_cache_ttl = %s", d.RoleCacheTTL)
	}
}

func TestGatewayModeNeedsNoPublicKey(t *testing.T) {
	src := valid + `discord:
  gateway: true
  application_id: "123456789012345678"
  bot_token: "${DISCORD_BOT_TOKEN}"
  approver_channel: "323456789012345678"
`
	c := mustParse(t, src, discordEnv)
	if !c.Discord.IsEnabled() || !c.Discord.Gateway || c.Discord.AlertChannel() != "323456789012345678" {
		t.Errorf("gateway mode not read: %+v", c.Discord)
	}
}

func TestDiscordMistakesAreReportedAtTheirKey(t *testing.T) {
	base := "discord:\n  application_id: \"123456789012345678\"\n  approver_channel: \"323456789012345678\"\n"
	creds := "  bot_token: ${DISCORD_BOT_TOKEN}\n  public_key: ${DISCORD_PUBLIC_KEY}\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{
			name: "a missing bot token",
			src:  base + "  public_key: ${DISCORD_PUBLIC_KEY}\n",
			want: `accessbot.yaml:8: discord.bot_token: required: the bot token`,
		},
		{
			name: "a token with its prefix",
			src:  base + "  public_key: ${DISCORD_PUBLIC_KEY}\n  bot_token: Bot abc\n",
			want: `accessbot.yaml:12: discord.bot_token: give the token alone`,
		},
		{
			name: "a missing public key in HTTP mode",
			src:  base + "  bot_token: ${DISCORD_BOT_TOKEN}\n",
			want: `accessbot.yaml:8: discord.public_key: required (unless gateway is true)`,
		},
		{
			name: "a public key that is not one",
			src:  base + "  bot_token: ${DISCORD_BOT_TOKEN}\n  public_key: abcd\n",
			want: `accessbot.yaml:12: discord.public_key: is not an Ed25519 public key`,
		},
		{
			name: "a missing application ID",
			src:  "discord:\n  approver_channel: \"323456789012345678\"\n" + creds,
			want: `accessbot.yaml:8: discord.application_id: required`,
		},
		{
			name: "an application ID that is a name",
			src:  "discord:\n  application_id: accessbot\n  approver_channel: \"323456789012345678\"\n" + creds,
			want: `accessbot.yaml:9: discord.application_id: "accessbot" is not a Discord ID`,
		},
		{
			name: "an api_url that is not a URL",
			src:  base + creds + "  api_url: discord.com\n",
			want: `accessbot.yaml:13: discord.api_url: must be an absolute http:// or https:// URL`,
		},
		{
			name: "a channel name instead of an ID",
			src:  "discord:\n  application_id: \"123456789012345678\"\n  approver_channel: \"#approvals\"\n" + creds,
			want: `accessbot.yaml:10: discord.approver_channel: "#approvals" is not a Discord ID`,
		},
		{
			name: "a channel for a resource that does not exist",
			src:  base + creds + "  channels: {prod-bd: \"523456789012345678\"}\n",
			want: `accessbot.yaml:13: discord.channels.prod-bd: unknown resource "prod-bd" (did you mean "prod-db"?)`,
		},
		{
			name: "no channel for a resource's approval messages",
			src:  "discord:\n  application_id: \"123456789012345678\"\n" + creds,
			want: `accessbot.yaml:8: discord.approver_channel: required: the channel ID for approval messages (resources without a channel under discord.channels: prod-db)`,
		},
		{
			name: "a user mapped by name",
			src:  base + creds + "  users: {alice: alice@example.com}\n",
			want: `accessbot.yaml:13: discord.users.alice: "alice" is not a Discord user ID`,
		},
		{
			name: "a user mapped to nobody",
			src:  base + creds + "  users: {\"623456789012345678\": \"\"}\n",
			want: `accessbot.yaml:13: discord.users.623456789012345678: empty`,
		},
		{
			name: "a zero cache TTL",
			src:  base + creds + "  role_cache_ttl: 0s\n",
			want: `accessbot.yaml:13: discord.role_cache_ttl: must be longer than zero`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(valid+tt.src), envOf(discordEnv))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			got := problemsOf(t, err)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
				t.Errorf("problems = %q\nwant one starting with %q", got, tt.want)
			}
			for _, secret := range discordEnv {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestADiscordRoleNeedsTheGuildItIsIn(t *testing.T) {
	src := strings.Replace(valid, "approvers: [sre]", `approvers: [sre, "discord-role:oncall"]`, 1) + `discord:
  application_id: "123456789012345678"
  approver_channel: "323456789012345678"
  bot_token: ${DISCORD_BOT_TOKEN}
  public_key: ${DISCORD_PUBLIC_KEY}
`
	_, err := config.Parse(testFile, []byte(src), envOf(discordEnv))
	if err == nil {
		t.Fatal("Parse succeeded without a guild_id")
	}
	got := problemsOf(t, err)
	want := `accessbot.yaml:8: discord.guild_id: required: "discord-role:oncall" names a Discord role`
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Errorf("problems = %q\nwant one starting with %q", got, want)
	}
	if c := mustParse(t, src+"  guild_id: \"223456789012345678\"\n", discordEnv); !c.Discord.IsEnabled() {
		t.Error("Discord off")
	}
}

// The example's commented discord: section, uncommented, is a valid section.
func TestTheExampleDiscordSectionIsValidWhenUncommented(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "# discord:":
			in = true
			out = append(out, "discord:")
		case in && strings.HasPrefix(line, "#   "):
			out = append(out, strings.TrimPrefix(line, "# "))
		case in:
			in = false
			out = append(out, line)
		default:
			out = append(out, line)
		}
	}
	src := strings.Join(out, "\n")
	if !strings.Contains(src, "\ndiscord:\n") {
		t.Fatal("config.example.yaml has no commented discord: section")
	}
	c, err := config.Parse(exampleFile, []byte(src), envOf(discordEnv))
	if err != nil {
		t.Fatalf("the uncommented discord section does not validate:\n%v", err)
	}
	d := c.Discord
	if !d.IsEnabled() || d.ChannelFor("prod-db") == d.ApproverChannel || len(d.Users) != 1 {
		t.Errorf("unexpected discord section: %+v", d)
	}
}
