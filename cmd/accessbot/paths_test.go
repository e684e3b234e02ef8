package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The issue: `accessbot audit verify --config /etc/accessbot/accessbot.yaml`, run from another
// directory, created an empty accessbot.db there and passed ("audit log intact: 0 events"). The
// database is found next to the config, wherever the command runs.
func TestAuditVerifyFromAnotherDirectoryReadsTheConfiguredDatabase(t *testing.T) {
	etc := t.TempDir()
	cfgPath := writeConfig(t, etc)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// The database as an operator writes it: a name relative to the config file.
	relative := strings.Replace(string(data), `dsn: "`+filepath.Join(etc, "accessbot.db")+`"`, `dsn: "accessbot.db"`, 1)
	if relative == string(data) {
		t.Fatal("the config's dsn was not rewritten")
	}
	if err := os.WriteFile(cfgPath, []byte(relative), 0o600); err != nil {
		t.Fatal(err)
	}
	seed(t, cfgPath)
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	code, out, errOut := runCLI(t, nil, "audit", "verify", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "audit log intact: ") || strings.Contains(out, "intact: 0 events") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
	if left, _ := os.ReadDir(elsewhere); len(left) != 0 {
		t.Errorf("audit verify made %v in the working directory", left)
	}
}

// The commands that read the database never create one: a missing SQLite file is exit 1 and
// one sentence naming its absolute path and the config, and no file appears. serve, migrate
// and demo still create theirs.
func TestReadingCommandsNeverCreateADatabase(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir)
	db := filepath.Join(dir, "accessbot.db")
	want := "accessbot: database " + db + " does not exist (check storage.dsn in " + cfgPath
	for _, args := range [][]string{
		{"audit", "verify"},
		{"audit", "export", "--format", "csv"},
		{"audit", "export", "--format", "html", "--output", filepath.Join(dir, "report.html")},
		{"grants", "list"},
		{"grants", "revoke", "g-01J9Z3QK7W"},
		{"digest", "preview"},
		{"scan"},
	} {
		code, out, errOut := runCLI(t, nil, append(args, "--config", cfgPath)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q", args, code, out, errOut, want)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%v created %s", args, db)
		}
	}
	if code, _, errOut := runCLI(t, nil, "migrate", "--config", cfgPath); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, nil, "audit", "verify", "--config", cfgPath); code != 0 || !strings.Contains(out, "intact: 0 events") {
		t.Errorf("audit verify after migrate: exit %d\n%s%s", code, out, errOut)
	}
}

// An auditor needs no chat platform's secret: with SLACK_SIGNING_SECRET and the other chat
// variables unset, the commands that work offline run on a real log, while config validate
// and serve still report the unset variable.
func TestOfflineCommandsNeedNoChatSecrets(t *testing.T) {
	unsetEnv(t, "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "DISCORD_BOT_TOKEN", "DISCORD_PUBLIC_KEY")
	dir := t.TempDir()
	plain := writeConfig(t, dir)
	grantID := seed(t, plain)
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	chat := filepath.Join(dir, "chat.yaml")
	if err := os.WriteFile(chat, append(data, `
slack: {bot_token: "${SLACK_BOT_TOKEN}", signing_secret: "${SLACK_SIGNING_SECRET}"}
discord: {application_id: "1", public_key: "${DISCORD_PUBLIC_KEY}", bot_token: "${DISCORD_BOT_TOKEN}"}
`...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "verify"}, "audit log intact: "},
		{[]string{"audit", "export", "--format", "csv"}, "request.created"},
		{[]string{"grants", "list"}, grantID},
		{[]string{"digest", "preview", "--since", "2026-11-01", "--until", "2026-11-03"}, "Access digest"},
		{[]string{"scan"}, "No standing access found"},
	} {
		code, out, errOut := runCLI(t, nil, append(tc.args, "--config", chat)...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d\n%s%s", tc.args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"config", "validate"}, {"serve"}} {
		code, _, errOut := runCLI(t, nil, append(args, "--config", chat)...)
		if code != 1 || !strings.Contains(errOut, "environment variable SLACK_SIGNING_SECRET is not set") {
			t.Errorf("%v: exit %d, stderr %q; want the unset variable reported", args, code, errOut)
		}
	}
}
