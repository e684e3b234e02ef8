package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot/discord/discordtest"
)

func writeDiscordConfig(t *testing.T, dir, apiURL string) string {
	t.Helper()
	path := filepath.Join(dir, "accessbot.yaml")
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
log: {level: warn, format: json}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: noop}
    policy: {approvers: [leads]}
discord:
  application_id: "` + discordtest.ApplicationID + `"
  public_key: "` + discordtest.PublicKeyHex() + `"
  bot_token: "` + discordtest.BotToken + `"
  api_url: "` + apiURL + `"
  guild_id: "` + discordtest.GuildID + `"
  approver_channel: "300000000000000001"
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDiscordRegisterPutsTheCommandInTheGuildOrGlobally(t *testing.T) {
	fake := discordtest.New(t)
	cfg := writeDiscordConfig(t, t.TempDir(), fake.APIURL())

	code, out, errOut := runCLI(t, nil, "discord", "register", "--config", cfg)
	if code != 0 || !strings.Contains(out, "registered /access") || !strings.Contains(out, "in server "+discordtest.GuildID) {
		t.Fatalf("register: %d %q %q", code, out, errOut)
	}
	if !strings.Contains(out, "client_id="+discordtest.ApplicationID) || !strings.Contains(out, "applications.commands") {
		t.Errorf("no invite link in %q", out)
	}
	calls := fake.Calls(discordtest.RouteGuildCommands)
	if len(calls) != 1 || !strings.Contains(string(calls[0].Body), `"name":"access"`) {
		t.Fatalf("PUT guild commands: %+v", calls)
	}

	if code, out, errOut := runCLI(t, nil, "discord", "register", "--global", "--config", cfg); code != 0 || !strings.Contains(out, "globally") || fake.Count(discordtest.RouteGlobalCommands) != 1 {
		t.Errorf("register --global: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "discord", "register", "--global", "--guild", "1", "--config", cfg); code != 2 || !strings.Contains(errOut, "exclude each other") {
		t.Errorf("--guild with --global: %d %q", code, errOut)
	}

	fake.SetToken("another")
	code, _, errOut = runCLI(t, nil, "discord", "register", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "could not register") || strings.Contains(errOut, discordtest.BotToken) {
		t.Errorf("a refused token: %d %q", code, errOut)
	}

	plain := writeConfig(t, t.TempDir())
	if code, _, errOut := runCLI(t, nil, "discord", "register", "--config", plain); code != 1 || !strings.Contains(errOut, "no discord: section") {
		t.Errorf("without a discord section: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "discord"); code != 2 || !strings.Contains(errOut, "register") {
		t.Errorf("discord alone: %d %q", code, errOut)
	}
}
