package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyReportPrintsEachFormatWithoutADatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "accessbot.yaml")
	dsn := filepath.Join(dir, "never-created.db")
	yaml := `storage: {driver: sqlite, dsn: "` + dsn + `"}
groups:
  sre: ["bob@example.com", "carol@example.com"]
resources:
  - name: prod-db
    adapter: {type: noop}
    policy: {approvers: [sre], approvals: 2, break_glass: true, auto_approve: "hour < 9"}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ format, want string }{
		{"text", "  ! breakglass_no_reviewer: "},
		{"markdown", "| approvers | 2 of sre (bob@example.com, carol@example.com) |"},
		{"html", "<code>auto_approve_unbounded</code>"},
	} {
		code, out, errOut := runCLI(t, nil, "policy", "report", "--config", cfg, "--format", tc.format)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.format, code, errOut)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s report lacks %q:\n%s", tc.format, tc.want, out)
		}
	}
	out := filepath.Join(dir, "policy.html")
	if code, _, errOut := runCLI(t, nil, "policy", "report", "--config", cfg, "--format", "html", "--output", out); code != 0 {
		t.Fatalf("--output: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("--output wrote nothing: %v", err)
	}
	if _, err := os.Stat(dsn); err == nil {
		t.Error("the policy report created a database")
	}
	if code, _, errOut := runCLI(t, nil, "policy", "report", "--config", cfg, "--format", "pdf"); code != 2 || !strings.Contains(errOut, "use text, markdown or html") {
		t.Errorf("--format pdf: exit %d: %s", code, errOut)
	}
}
