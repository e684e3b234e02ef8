package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/adapters/exec"
	"github.com/accessbot/accessbot/config"
)

// writeFile writes data to dir/name, making the directories it needs.
func writeFile(t *testing.T, dir, name, data string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// The issue: `accessbot audit verify --config /etc/accessbot/accessbot.yaml` run from another
// directory made an empty accessbot.db there. Every relative path in the file is relative to
// the file, whatever the working directory, and whether the file is named by a relative or an
// absolute path.
func TestRelativePathsAreRelativeToTheConfigFile(t *testing.T) {
	etc := t.TempDir()
	writeFile(t, etc, "scripts/grant.sh", "#!/bin/sh\n", 0o755)
	writeFile(t, etc, "tls/ca.pem", "", 0o644)
	cfgPath := writeFile(t, etc, "accessbot.yaml", `
storage: {driver: sqlite, dsn: "data/accessbot.db?_busy_timeout=9000"}
groups: {sre: [alice@example.com]}
audit_sinks:
  - {name: archive, type: file, path: audit/audit.jsonl}
  - {name: abs, type: file, path: /var/log/accessbot/audit.jsonl}
resources:
  - name: box
    adapter: {type: exec, command: scripts/grant.sh}
    policy: {approvers: [sre]}
  - name: box2
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [sre]}
`, 0o600)
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	rel, err := filepath.Rel(elsewhere, cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{cfgPath, rel} {
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("Load(%s): %v", path, err)
		}
		if want := filepath.Join(etc, "data", "accessbot.db") + "?_busy_timeout=9000"; c.Storage.DSN != want {
			t.Errorf("Load(%s): dsn %q, want %q", path, c.Storage.DSN, want)
		}
		if c.AuditSinks[0].Path != filepath.Join(etc, "audit", "audit.jsonl") || c.AuditSinks[1].Path != "/var/log/accessbot/audit.jsonl" {
			t.Errorf("Load(%s): sink paths %q, %q", path, c.AuditSinks[0].Path, c.AuditSinks[1].Path)
		}
		if cmd := c.Resources[0].Adapter.Config.(*exec.Config).Command; cmd != filepath.Join(etc, "scripts", "grant.sh") {
			t.Errorf("Load(%s): exec command %q", path, cmd)
		}
		if cmd := c.Resources[1].Adapter.Config.(*exec.Config).Command; cmd != "/bin/true" {
			t.Errorf("Load(%s): an absolute command became %q", path, cmd)
		}
	}
	// Nothing was made in the working directory.
	if left, _ := os.ReadDir(elsewhere); len(left) != 0 {
		t.Errorf("loading made %v in the working directory", left)
	}
}

// What is not a file path stays as written: SQLite's in-memory database and file: URIs, and a
// PostgreSQL DSN.
func TestDSNsThatAreNotRelativeFilesStayAsWritten(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ storage, want string }{
		{`{driver: sqlite, dsn: ":memory:"}`, ":memory:"},
		{`{driver: sqlite, dsn: "file:x.db?mode=memory"}`, "file:x.db?mode=memory"},
		{`{driver: postgres, dsn: "postgres://u@db/accessbot"}`, "postgres://u@db/accessbot"},
		{`{driver: postgres, dsn: "host=db dbname=accessbot"}`, "host=db dbname=accessbot"},
	} {
		path := writeFile(t, dir, "c.yaml", "storage: "+tc.storage+"\n"+valid, 0o600)
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Storage.DSN != tc.want {
			t.Errorf("%s: dsn %q", tc.storage, c.Storage.DSN)
		}
	}
}

// An auditor must not need the chat platforms' secrets: LoadFor a command that uses storage
// and log ignores the unset ${SLACK_SIGNING_SECRET} under slack: (and turns Slack off in
// what it returns), while Load, which serve and config validate use, still reports it. A
// problem in a section the command needs still stops it.
func TestLoadForNeedsOnlyTheSectionsItIsGiven(t *testing.T) {
	for _, n := range []string{"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "OIDC_SECRET"} {
		t.Setenv(n, "")
		os.Unsetenv(n)
	}
	dir := t.TempDir()
	chat := `
storage: {driver: sqlite, dsn: accessbot.db}
slack: {bot_token: "${SLACK_BOT_TOKEN}", signing_secret: "${SLACK_SIGNING_SECRET}"}
discord: {application_id: "1", public_key: "${DISCORD_PUBLIC_KEY}", bot_token: "${DISCORD_BOT_TOKEN}"}
`
	path := writeFile(t, dir, "accessbot.yaml", chat+valid, 0o600)
	_, err := config.Load(path)
	var errs *config.Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), "SLACK_SIGNING_SECRET is not set") || !strings.Contains(err.Error(), "DISCORD_BOT_TOKEN is not set") {
		t.Fatalf("Load: %v", err)
	}
	c, err := config.LoadFor(path, config.SectionStorage, config.SectionLog)
	if err != nil {
		t.Fatalf("LoadFor(storage, log): %v", err)
	}
	if c.Slack.IsEnabled() || c.Discord.IsEnabled() || c.Storage.DSN != filepath.Join(dir, "accessbot.db") {
		t.Errorf("slack on %v, discord on %v, dsn %q", c.Slack.IsEnabled(), c.Discord.IsEnabled(), c.Storage.DSN)
	}
	if _, err := config.LoadFor(path, config.SectionsExcept(config.SectionSlack, config.SectionDiscord, config.SectionOIDC)...); err != nil {
		t.Errorf("LoadFor(all but the chat platforms): %v", err)
	}

	bad := writeFile(t, dir, "bad.yaml", "storage: {driver: sqlite, dsn: \"${NO_SUCH_DB_FILE}\"}\n"+chat[strings.Index(chat, "slack:"):]+valid, 0o600)
	_, err = config.LoadFor(bad, config.SectionStorage, config.SectionLog)
	if err == nil || !strings.Contains(err.Error(), "NO_SUCH_DB_FILE") || strings.Contains(err.Error(), "SLACK") {
		t.Errorf("LoadFor with a bad storage section: %v", err)
	}
	// A broken file is broken for every command.
	broken := writeFile(t, dir, "broken.yaml", "storage: [\n", 0o600)
	if _, err := config.LoadFor(broken, config.SectionStorage); err == nil {
		t.Error("LoadFor accepted a file that is not YAML")
	}
}
