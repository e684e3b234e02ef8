package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
)

var slackEnv = map[string]string{
	"SLACK_BOT_TOKEN":      "xoxb-1111-2222-abcdefabcdef",
	"SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
	"SLACK_APP_TOKEN":      "xapp-1-A111-222-abcdefabcdef",
}

func TestSlackIsOffWhenTheSectionIsAbsent(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Slack.IsEnabled() {
		t.Error("Slack is on without a slack: section")
	}
	if c.Slack.APIURL != config.DefaultSlackAPIURL || c.Slack.GroupCacheTTL != 5*time.Minute || c.Slack.UserCacheTTL != 10*time.Minute {
		t.Errorf("defaults not applied: %+v", c.Slack)
	}
}

func TestSlackIsOffWhenEnabledIsFalseWhateverElseIsMissing(t *testing.T) {
	c := mustParse(t, valid+"slack:\n  enabled: false\n", nil)
	if c.Slack.IsEnabled() {
		t.Error("Slack is on with enabled: false")
	}
}

func TestASlackSectionTurnsSlackOnAndIsRead(t *testing.T) {
	src := valid + `slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: "http://127.0.0.1:9999/api"
  approver_channel: "C0APPROVE1"
  security_channel: "#security"
  channels:
    prod-db: "C0PRODDB01"
  group_cache_ttl: 1m
  user_cache_ttl: 2m
`
	c := mustParse(t, src, slackEnv)
	s := c.Slack
	if !s.IsEnabled() {
		t.Fatal("Slack is off with a slack: section")
	}
	if s.BotToken.Reveal() != slackEnv["SLACK_BOT_TOKEN"] || s.SigningSecret.Reveal() != slackEnv["SLACK_SIGNING_SECRET"] {
		t.Error("secrets were not expanded from the environment")
	}
	if s.APIURL != "http://127.0.0.1:9999/api/" {
		t.Errorf("api_url = %q, want a trailing slash added", s.APIURL)
	}
	if s.ChannelFor("prod-db") != "C0PRODDB01" || s.ChannelFor("other") != "C0APPROVE1" {
		t.Errorf("ChannelFor: prod-db %q, other %q", s.ChannelFor("prod-db"), s.ChannelFor("other"))
	}
	if s.AlertChannel() != "#security" {
		t.Errorf("AlertChannel = %q", s.AlertChannel())
	}
	if s.GroupCacheTTL != time.Minute || s.UserCacheTTL != 2*time.Minute {
		t.Errorf("TTLs = %s, %s", s.GroupCacheTTL, s.UserCacheTTL)
	}
}

func TestSocketModeNeedsAnAppTokenButNoSigningSecret(t *testing.T) {
	src := valid + `slack:
  socket_mode: true
  bot_token: "${SLACK_BOT_TOKEN}"
  app_token: "${SLACK_APP_TOKEN}"
  approver_channel: C0APPROVE1
`
	c := mustParse(t, src, slackEnv)
	if !c.Slack.IsEnabled() || !c.Slack.SocketMode || c.Slack.AppToken.Reveal() == "" {
		t.Errorf("socket mode not read: %+v", c.Slack)
	}
}

func TestSlackMistakesAreReportedAtTheirKey(t *testing.T) {
	base := "slack:\n  approver_channel: C0APPROVE1\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{
			name: "a missing bot token",
			src:  base + "  signing_secret: s3cr3t\n",
			want: `accessbot.yaml:8: slack.bot_token: required: the bot token`,
		},
		{
			name: "an app token where the bot token belongs",
			src:  base + "  signing_secret: s3cr3t\n  bot_token: ${SLACK_APP_TOKEN}\n",
			want: `accessbot.yaml:11: slack.bot_token: is not a bot token: bot tokens start with xoxb-`,
		},
		{
			name: "a missing signing secret in HTTP mode",
			src:  base + "  bot_token: ${SLACK_BOT_TOKEN}\n",
			want: `accessbot.yaml:8: slack.signing_secret: required (unless socket_mode is true)`,
		},
		{
			name: "socket mode without an app token",
			src:  base + "  bot_token: ${SLACK_BOT_TOKEN}\n  socket_mode: true\n",
			want: `accessbot.yaml:8: slack.app_token: required with socket_mode`,
		},
		{
			name: "an api_url that is not a URL",
			src:  base + "  signing_secret: s\n  bot_token: ${SLACK_BOT_TOKEN}\n  api_url: slack.com\n",
			want: `accessbot.yaml:12: slack.api_url: must be an absolute http:// or https:// URL`,
		},
		{
			name: "a channel that is not a channel",
			src:  "slack:\n  approver_channel: approvals channel\n  signing_secret: s\n  bot_token: ${SLACK_BOT_TOKEN}\n",
			want: `accessbot.yaml:9: slack.approver_channel: "approvals channel" is not a channel ID (C0123ABCD) or #channel-name`,
		},
		{
			name: "a channel for a resource that does not exist",
			src:  base + "  signing_secret: s\n  bot_token: ${SLACK_BOT_TOKEN}\n  channels: {prod-bd: C0PRODDB01}\n",
			want: `accessbot.yaml:12: slack.channels.prod-bd: unknown resource "prod-bd" (did you mean "prod-db"?)`,
		},
		{
			name: "no channel for a resource's approval messages",
			src:  "slack:\n  signing_secret: s\n  bot_token: ${SLACK_BOT_TOKEN}\n",
			want: `accessbot.yaml:8: slack.approver_channel: required: the channel for approval messages (resources without a channel under slack.channels: prod-db)`,
		},
		{
			name: "a zero cache TTL",
			src:  base + "  signing_secret: s\n  bot_token: ${SLACK_BOT_TOKEN}\n  user_cache_ttl: 0s\n",
			want: `accessbot.yaml:12: slack.user_cache_ttl: must be longer than zero`,
		},
		{
			name: "a rate limit scale that is not positive",
			src:  base + "  signing_secret: s\n  bot_token: ${SLACK_BOT_TOKEN}\n  rate_limit_scale: -2\n",
			want: `accessbot.yaml:12: slack.rate_limit_scale: must be a positive number (1 keeps to Slack's published limits), not -2`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(valid+tt.src), envOf(slackEnv))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			got := problemsOf(t, err)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
				t.Errorf("problems = %q\nwant one starting with %q", got, tt.want)
			}
			for _, secret := range slackEnv {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestASecretNeverPrints(t *testing.T) {
	s := config.Slack{BotToken: "xoxb-very-secret", SigningSecret: "signing-very-secret"}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s),
		fmt.Sprintf("%s %q %x", s.BotToken, s.BotToken, s.BotToken), string(j),
	} {
		if strings.Contains(out, "very-secret") || !strings.Contains(out, "[redacted]") {
			t.Errorf("printed as %s", out)
		}
	}
}

// The example's commented slack: section, uncommented, is a valid section.
func TestTheExampleSlackSectionIsValidWhenUncommented(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []string
	in := false
	for _, line := range lines {
		switch {
		case line == "# slack:":
			in = true
			out = append(out, "slack:")
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
	if !strings.Contains(src, "\nslack:\n") {
		t.Fatal("config.example.yaml has no commented slack: section")
	}
	c, err := config.Parse(exampleFile, []byte(src), envOf(slackEnv))
	if err != nil {
		t.Fatalf("the uncommented slack section does not validate:\n%v", err)
	}
	if !c.Slack.IsEnabled() || c.Slack.ChannelFor("prod-db") == c.Slack.ApproverChannel {
		t.Errorf("unexpected slack section: %+v", c.Slack)
	}
}
