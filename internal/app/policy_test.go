package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

const policyYAML = `groups:
  sre: [alice@example.com, bob@example.com]
resources:
  - name: prod-db
    adapter: {type: webhook, url: "http://127.0.0.1:9/hook", secret: "${HOOK_KEY}"}
    policy: {approvers: [sre], approvals: 1}
`

func TestEachStartRecordsHowThePolicyChangedAndNeverASecret(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DSN: filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	start := func(src string, env map[string]string) (audit.ConfigChangedData, bool) {
		t.Helper()
		cfg, err := config.Parse("accessbot.yaml", []byte(src), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		e, ok, err := app.RecordPolicyChange(ctx, db, cfg, clk)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range e.Data {
			for _, s := range env {
				if strings.Contains(v, s) {
					t.Errorf("a secret value is in the event: %s", v)
				}
			}
		}
		if !ok {
			return audit.ConfigChangedData{}, false
		}
		p, err := audit.Decode[audit.ConfigChangedData](e)
		if err != nil {
			t.Fatal(err)
		}
		return p, true
	}

	first, ok := start(policyYAML, map[string]string{"HOOK_KEY": "hook-key-one-0a1b2c"})
	if !ok || !first.Initial || len(first.Changes) < 10 {
		t.Fatalf("the first start recorded %v: %+v; want the whole policy as initial", ok, first)
	}
	if _, ok := start(policyYAML, map[string]string{"HOOK_KEY": "hook-key-one-0a1b2c"}); ok {
		t.Error("a restart with the same config recorded a change")
	}
	changed := strings.Replace(strings.Replace(policyYAML, "${HOOK_KEY}", "${HOOK_KEY_2}", 1), "approvals: 1", "approvals: 2", 1)
	p, ok := start(changed, map[string]string{"HOOK_KEY_2": "hook-key-two-3d4e5f"})
	if !ok || p.Initial {
		t.Fatalf("a changed config recorded %v: %+v", ok, p)
	}
	var lines []string
	for _, c := range p.Changes {
		lines = append(lines, c.String())
	}
	want := []string{
		"policy.prod-db.approvals: 1 → 2",
		"resources.prod-db.adapter.secret: changed (secret)",
		"resources.prod-db.policy.approvals: 1 → 2",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
