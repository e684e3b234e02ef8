package slack_test

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/bot/slack"
)

const manifestFile = "../../deploy/slack-app-manifest.yaml"

type manifest struct {
	Features struct {
		SlashCommands []struct {
			Command string `yaml:"command"`
			URL     string `yaml:"url"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		SocketModeEnabled *bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func TestTheAppManifestAsksForWhatTheCodeUses(t *testing.T) {
	data, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("the manifest does not parse: %v", err)
	}
	for _, scope := range slack.RequiredScopes {
		if !slices.Contains(m.OAuthConfig.Scopes.Bot, scope) {
			t.Errorf("the manifest does not ask for the bot scope %q", scope)
		}
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/access" {
		t.Fatalf("the manifest should declare exactly the /access command, has %+v", m.Features.SlashCommands)
	}
	checkURL(t, "slash command url", m.Features.SlashCommands[0].URL, slack.PathCommands)
	if !m.Settings.Interactivity.IsEnabled {
		t.Error("interactivity is off: buttons and forms would not work")
	}
	checkURL(t, "interactivity request_url", m.Settings.Interactivity.RequestURL, slack.PathInteractions)
	if m.Settings.SocketModeEnabled == nil || *m.Settings.SocketModeEnabled {
		t.Error("socket_mode_enabled should be written, and false: HTTP mode is the default")
	}
}

func checkURL(t *testing.T, what, raw, path string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != path {
		t.Errorf("%s = %q, want https://<host>%s", what, raw, path)
	}
}
