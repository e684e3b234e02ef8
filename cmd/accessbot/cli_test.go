package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// writeConfig writes a small valid config with its database in dir.
func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "accessbot.yaml")
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
log: {level: warn, format: json}
admins: {users: ["ops@example.com"]}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: noop}
    policy:
      approvers: [leads]
      reason_required: false
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// migrated creates the config's database with `accessbot migrate`, as an operator does before
// the commands that read it (they never create one).
func migrated(t *testing.T, cfgPath string) string {
	t.Helper()
	if code, out, errOut := runCLI(t, nil, "migrate", "--config", cfgPath); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	return cfgPath
}

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

func TestCommandsGiveOneSentenceAndAnExitCode(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("storage:\n  driver: sqlite\n  dsn: x.db\nresources:\n  - name: a\n    adapter: {type: nosuch}\n    policy: {approvers: [ghosts], max_duraton: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Two email domains and the default account name (the local part): valid, with a warning.
	twoDomains := filepath.Join(dir, "two-domains.yaml")
	goodYAML, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(twoDomains, append(goodYAML, "identity:\n  email_domains: [example.com, corp.example]\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  string
		wantErr  []string
		notInErr string
	}{
		{name: "no command prints usage", args: nil, wantCode: 2, wantErr: []string{"Usage:"}},
		{name: "an unknown command is named", args: []string{"frobnicate"}, wantCode: 2, wantErr: []string{`unknown command "frobnicate"`}},
		{name: "version prints the version", args: []string{"version"}, wantCode: 0, wantOut: "accessbot "},
		{name: "a valid config validates", args: []string{"config", "validate", "--config", good}, wantCode: 0, wantOut: "is valid: 1 resources"},
		{name: "a valid config with a risky account name validates with a warning", args: []string{"config", "validate", "--config", twoDomains},
			wantCode: 0, wantOut: "warning: " + twoDomains + ":"},
		{name: "the config comes from ACCESSBOT_CONFIG", env: map[string]string{"ACCESSBOT_CONFIG": good}, args: []string{"config", "validate"}, wantCode: 0, wantOut: "is valid"},
		{name: "every problem of a bad config is listed with its line", args: []string{"config", "validate", "--config", bad}, wantCode: 1,
			wantErr: []string{"bad.yaml:6", "nosuch", "bad.yaml:7", "max_duraton", "ghosts"}, notInErr: "goroutine"},
		{name: "a missing config says how to give one", args: []string{"serve", "--config", filepath.Join(dir, "nope.yaml")}, wantCode: 1,
			wantErr: []string{"does not exist", "--config"}},
		{name: "an unknown flag is named", args: []string{"grants", "list", "--config", good, "--colour"}, wantCode: 2, wantErr: []string{"colour"}},
		{name: "a bad state is refused before touching the database", args: []string{"grants", "list", "--config", good, "--state", "happy"}, wantCode: 2,
			wantErr: []string{`"happy" is not a grant state`}},
		{name: "an unknown grant cannot be revoked", args: []string{"grants", "revoke", "g-nosuchgrant", "--config", migrated(t, good)}, wantCode: 1,
			wantErr: []string{"g-nosuchgrant"}, notInErr: "goroutine"},
		{name: "force needs a note", args: []string{"grants", "revoke", "g-x", "--force", "--config", good}, wantCode: 2, wantErr: []string{"--note"}},
		{name: "an unknown export format is refused", args: []string{"audit", "export", "--format", "xml", "--config", good}, wantCode: 2, wantErr: []string{`"xml"`}},
		{name: "the appendix of events goes with html only", args: []string{"audit", "export", "--format", "csv", "--events", "--config", good}, wantCode: 2, wantErr: []string{"--events goes with --format html"}},
		{name: "a bad --since is explained", args: []string{"audit", "export", "--since", "yesterday-ish", "--config", good}, wantCode: 2, wantErr: []string{"is not a time"}},
		{name: "migrate brings the database up to date", args: []string{"migrate", "--config", good}, wantCode: 0, wantOut: "up to date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.env, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout %q lacks %q", out, tc.wantOut)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if tc.notInErr != "" && strings.Contains(errOut, tc.notInErr) {
				t.Errorf("stderr contains %q:\n%s", tc.notInErr, errOut)
			}
		})
	}
}

// seed runs one request through approval, activation and revocation on the config's database.
func seed(t *testing.T, cfgPath string) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	a, err := app.New(ctx, cfg, testLogger(), app.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Platform: "web"}
	bob := grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Platform: "web"}
	out, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "scratch", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	approved, err := a.Service.Approve(ctx, bob, out.Request.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Scheduler.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	return approved.Grant.ID
}

func TestGrantsListRevokeAndAuditVerify(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir)
	grantID := seed(t, cfgPath)

	code, out, errOut := runCLI(t, nil, "grants", "list", "--config", cfgPath, "--state", "active")
	if code != 0 || !strings.Contains(out, grantID) || !strings.Contains(out, "alice@example.com") {
		t.Fatalf("grants list: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "grants", "list", "--config", cfgPath, "--json")
	if code != 0 || !strings.Contains(out, `"id":"`+grantID+`"`) || strings.Contains(out, "lease") {
		t.Fatalf("grants list --json: %d\n%s", code, out)
	}
	code, out, errOut = runCLI(t, nil, "grants", "revoke", grantID, "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "due for revocation") {
		t.Fatalf("grants revoke: %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, nil, "audit", "verify", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify on an intact log: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "audit", "export", "--format", "csv", "--config", cfgPath, "--user", "alice@example.com")
	if code != 0 || !strings.HasPrefix(out, "seq,") || !strings.Contains(out, "request.created") {
		t.Fatalf("audit export csv: %d\n%s", code, out)
	}

	// Someone edits the log behind accessbot's back: verify must fail and name the row.
	db, err := sql.Open("sqlite", filepath.Join(dir, "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, errOut = runCLI(t, nil, "audit", "verify", "--config", cfgPath)
	if code == 0 || !strings.Contains(errOut, "seq 3") {
		t.Fatalf("audit verify on an edited log: exit %d\n%s\n%s", code, out, errOut)
	}
}

// writeScanConfig writes a config whose prod-db is a PostgreSQL target in membership mode.
func writeScanConfig(t *testing.T, dir, dsn, role, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "scan.yaml")
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
log: {level: warn, format: json}
groups:
  leads: ["bob@example.com"]
resources:
  - name: prod-db
    adapter: {type: postgres, dsn: "` + dsn + `", mode: membership, roles: [` + role + `], connect_timeout: 2s}
    policy: {approvers: [leads]}
  - name: scratch
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads]}
` + extra
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScanOnACleanTargetExitsZero(t *testing.T) {
	dir := t.TempDir()
	cfg := migrated(t, writeConfig(t, dir))
	code, out, errOut := runCLI(t, nil, "scan", "--config", cfg)
	if code != 0 || !strings.Contains(out, "scratch") || !strings.Contains(out, "No standing access found (audit event #1).") || errOut != "" {
		t.Fatalf("scan: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "scan", "--json", "--config", cfg)
	var rep grants.ScanReport
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || len(rep.Resources) != 1 || rep.Resources[0].Resource != "scratch" ||
		len(rep.Findings()) != 0 || rep.AuditSeq != 2 || !strings.HasPrefix(rep.Actor, "cli:") {
		t.Fatalf("scan --json: exit %d, %v\n%s", code, err, out)
	}
	if code, out, errOut := runCLI(t, nil, "audit", "verify", "--config", cfg); code != 0 || !strings.Contains(out, "2 events") {
		t.Fatalf("audit verify after two scans: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestScanRefusesBadInputInOneSentence(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "prod-db", "--config", cfg}, `scan takes no arguments, got "prod-db"`},
		{[]string{"scan", "--jsn", "--config", cfg}, `unknown flag --jsn for "accessbot scan"`},
	} {
		code, out, errOut := runCLI(t, nil, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 2 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	bad := writeScanConfig(t, dir, "postgres://x@127.0.0.1:1/x", "analyst", "scan:\n  schedule: hourly\n")
	if code, _, errOut := runCLI(t, nil, "scan", "--config", bad); code != 1 || !strings.Contains(errOut, "scan.schedule") {
		t.Errorf("a bad scan section: exit %d\n%s", code, errOut)
	}
}

func TestScanOfAnUnreachableTargetExitsThree(t *testing.T) {
	dir := t.TempDir()
	cfg := migrated(t, writeScanConfig(t, dir, "postgres://bot@127.0.0.1:1/app?sslmode=disable", "analyst", ""))
	code, out, errOut := runCLI(t, nil, "scan", "--config", cfg)
	if code != 3 || !strings.Contains(errOut, "1 resource(s) could not be listed: prod-db") ||
		!strings.Contains(out, "not listed: list access at prod-db") || !strings.Contains(out, "its adapter cannot list access") {
		t.Fatalf("scan: exit %d\n%s\n%s", code, out, errOut)
	}
}

// The whole command against a real PostgreSQL: a managed role granted by hand is found (exit 1),
// then the config's ignore list accepts it (exit 0).
func TestScanFindsARoleGrantedByHand(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE ROLE analyst NOLOGIN", "CREATE ROLE alice_admin LOGIN", "GRANT analyst TO alice_admin"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dir := t.TempDir()
	cfg := migrated(t, writeScanConfig(t, dir, srv.DSN, "analyst", ""))
	code, out, errOut := runCLI(t, nil, "scan", "--config", cfg)
	if code != 1 {
		t.Fatalf("scan: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"RESOURCE  ACCOUNT      ACCESS             WHY", "prod-db   alice_admin  member of analyst  no active grant",
		"Standing access found: 1 holder on prod-db no grant explains (prod-db: alice_admin). Recorded as audit event #1."} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// The last line is the one sentence (log lines at level warn may come before it).
	if !strings.HasSuffix(errOut, "\naccessbot: Standing access found: 1 holder on prod-db no grant explains (prod-db: alice_admin)\n") {
		t.Errorf("stderr = %q", errOut)
	}
	code, out, _ = runCLI(t, nil, "scan", "--json", "--config", cfg)
	var rep grants.ScanReport
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || len(rep.Findings()) != 1 || rep.Findings()[0].Account != "alice_admin" {
		t.Fatalf("scan --json: exit %d, %v\n%s", code, err, out)
	}

	cfg = writeScanConfig(t, dir, srv.DSN, "analyst", "scan:\n  ignore:\n    prod-db: [alice_*]\n")
	if code, out, errOut := runCLI(t, nil, "scan", "--config", cfg); code != 0 || !strings.Contains(out, "No standing access found") {
		t.Fatalf("scan with alice_* ignored: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, nil, "audit", "verify", "--config", cfg); code != 0 || !strings.Contains(out, "3 events") {
		t.Fatalf("audit verify: exit %d\n%s\n%s", code, out, errOut)
	}
}

// The auditor's report: one HTML file with the verdict on the chain and the grant, and a
// non-zero exit when the chain is broken (the file still says so). Standard error is not a
// terminal here, so it carries no progress line.
func TestAuditExportHTMLWritesTheReport(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir)
	grantID := seed(t, cfgPath)
	out := filepath.Join(dir, "report.html")

	code, stdout, errOut := runCLI(t, nil, "audit", "export", "--format", "html", "--output", out, "--config", cfgPath)
	if code != 0 || stdout != "" || !strings.Contains(errOut, "exported a report of 1 requests and 1 grants") || strings.Contains(errOut, "\r") {
		t.Fatalf("audit export --format html: exit %d\nstdout: %q\nstderr: %q", code, stdout, errOut)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", `<section id="verification" class="intact"`, "Chain intact: events 1–",
		`<tr id="grant-` + grantID + `"`, `data-n="grants">1<`, "@media print"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte("<script")) {
		t.Error("the report has a script")
	}

	// To standard output, with the appendix, and only what alice took part in.
	code, stdout, _ = runCLI(t, nil, "audit", "export", "--format", "html", "--events", "--user", "alice@example.com", "--config", cfgPath)
	if code != 0 || !strings.Contains(stdout, `<section id="events"`) || !strings.Contains(stdout, "only requests alice@example.com took part in") {
		t.Fatalf("audit export --format html --events --user: exit %d\n%.300s", code, stdout)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, errOut = runCLI(t, nil, "audit", "export", "--format", "html", "--output", out, "--config", cfgPath)
	if code != 1 || !strings.Contains(errOut, "audit log is NOT intact: first bad event is seq 2") {
		t.Fatalf("audit export --format html of a tampered log: exit %d\n%s", code, errOut)
	}
	if page, _ := os.ReadFile(out); !bytes.Contains(page, []byte("BROKEN at seq 2")) {
		t.Error("the report of a tampered log does not say BROKEN at seq 2")
	}
}
