package main

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/audit/digest/digesttest"
	"github.com/accessbot/accessbot/storage"
)

// digestConfig writes a config in Berlin time whose database holds the digest's fixed data set.
func digestConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dsn := filepath.Join(dir, "accessbot.db")
	path := filepath.Join(dir, "accessbot.yaml")
	yaml := `
storage: {driver: sqlite, dsn: "` + dsn + `"}
log: {level: warn, format: json}
time_zone: Europe/Berlin
groups:
  sre: ["bob@example.com", "carol@example.com"]
resources:
  - name: prod-db
    adapter: {type: noop}
    policy: {approvers: [sre]}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := digesttest.Seed(ctx, db.AppendAudit); err != nil {
		t.Fatal(err)
	}
	return path
}

// The preview prints the digest's golden files: the same digest the chat gets.
func TestDigestPreviewPrintsTheDigestOfAWindow(t *testing.T) {
	cfg := digestConfig(t)
	for _, c := range []struct{ format, golden string }{
		{"text", "digest.txt"}, {"markdown", "digest.md"},
	} {
		want, err := os.ReadFile(filepath.Join("..", "..", "audit", "digest", "testdata", c.golden))
		if err != nil {
			t.Fatal(err)
		}
		// Local times are in time_zone; RFC 3339 says its own zone.
		for _, window := range [][]string{
			{"--since", "2026-11-16T09:00", "--until", "2026-11-23T09:00"},
			{"--since", "2026-11-16T08:00:00Z", "--until", "2026-11-23T08:00:00Z"},
		} {
			args := append([]string{"digest", "preview", "--config", cfg, "--format", c.format}, window...)
			code, out, errOut := runCLI(t, nil, args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errOut)
			}
			if out != string(want) {
				t.Errorf("%v printed:\n%s\nwant (%s):\n%s", args, out, c.golden, want)
			}
		}
	}
}

func TestDigestPreviewWritesTheChartAndDefaultsToThePeriodEndingNow(t *testing.T) {
	cfg := digestConfig(t)
	chart := filepath.Join(t.TempDir(), "chart.png")
	code, _, errOut := runCLI(t, nil, "digest", "preview", "--config", cfg, "--since", "2026-11-16", "--until", "2026-11-23T09:00", "--chart", chart)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, err := os.Open(chart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("the chart is not a PNG: %v", err)
	}
	// No window given: the week (digest.period) ending now.
	code, out, errOut := runCLI(t, nil, "digest", "preview", "--config", cfg)
	if code != 0 || !strings.Contains(out, "Access digest: ") || !strings.Contains(out, "Audit chain head\n  seq 98, hash ") {
		t.Errorf("default window: exit %d\n%s%s", code, out, errOut)
	}
}

func TestDigestPreviewRefusesBadInputInOneSentence(t *testing.T) {
	cfg := digestConfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "html"}, `--format "html" is not supported (use text or markdown)`},
		{[]string{"--since", "last week"}, `--since: "last week" is not a time`},
		{[]string{"--since", "2026-11-23", "--until", "2026-11-16"}, "--until must be after --since"},
		{[]string{"extra"}, `digest preview takes no arguments, got "extra"`},
	} {
		args := append([]string{"digest", "preview", "--config", cfg}, c.args...)
		code, _, errOut := runCLI(t, nil, args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	if code, _, errOut := runCLI(t, nil, "digest"); code != 2 || !strings.Contains(errOut, "digest needs a subcommand: preview") {
		t.Errorf("digest alone: exit %d, %q", code, errOut)
	}
}
