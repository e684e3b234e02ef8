package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
)

func TestAlertsAndRequireApprovalsLoadAsTheServiceTakesThem(t *testing.T) {
	src := "alerts:\n  - name: night_first\n    when: signals.first_access && signals.outside_hours\n    severity: high\n" +
		valid + "      require_approvals:\n        when: signals.recent_denial\n"
	c := mustParse(t, src, nil)
	alerts := c.GrantsAlerts()
	if len(alerts) != 1 || alerts[0].Name != "night_first" || alerts[0].Severity != "high" || alerts[0].When == nil {
		t.Fatalf("alerts %+v, want night_first (high) with its condition", alerts)
	}
	ra := c.Resources[0].EffectivePolicy().RequireApprovals
	if ra == nil || ra.Approvals != 2 || ra.When.Source != "signals.recent_denial" {
		t.Fatalf("require_approvals %+v, want signals.recent_denial needing 2 (the default)", ra)
	}
	wh := c.WorkingHours()
	if !wh.Contains(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)) || wh.Contains(time.Date(2026, 3, 3, 20, 0, 0, 0, time.UTC)) {
		t.Errorf("working hours %+v, want the digest's default Mon-Fri 09:00-18:00", wh)
	}
	if got := grants.DefaultWorkingHours(); len(got.Days) != len(wh.Days) || got.Start != wh.Start || got.End != wh.End {
		t.Errorf("the config's default working hours %+v differ from grants' %+v", wh, got)
	}
}

func TestAlertMistakesAreReportedAtTheirKey(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"a misspelt signal", "alerts:\n  - name: a\n    when: signals.frist_access\n", `accessbot.yaml:3: alerts[0].when: alert condition: `},
		{"no condition", "alerts:\n  - name: a\n", `accessbot.yaml:2: alerts[0].when: required`},
		{"a name with spaces", "alerts:\n  - name: my alert\n    when: \"true\"\n", `accessbot.yaml:2: alerts[0].name: required: lowercase letters`},
		{"a built-in alert's name", "alerts:\n  - name: breakglass\n    when: \"true\"\n", `accessbot.yaml:2: alerts[0].name: "breakglass" is an alert accessbot raises itself`},
		{"an unknown severity", "alerts:\n  - name: a\n    when: \"true\"\n    severity: urgent\n", `accessbot.yaml:4: alerts[0].severity: unknown severity "urgent"`},
		{"a require_approvals condition that is not a bool", "defaults:\n  require_approvals:\n    when: signals.requests_24h\n", `accessbot.yaml:3: defaults.require_approvals.when: require_approvals condition must be a bool expression`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(tt.src+valid), envOf(nil))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			got := problemsOf(t, err)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
				t.Fatalf("problems %q, want one starting %q", got, tt.want)
			}
		})
	}
}

func TestRequireApprovalsNeedsApproversEnoughForIt(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"more approvals than approvers", "groups:\n  sre: [alice@example.com, bob@example.com]\nresources:\n  - name: prod-db\n    adapter: {type: fake, url: \"http://127.0.0.1:9\"}\n    policy:\n      approvers: [sre]\n      require_approvals:\n        when: signals.first_access\n        approvals: 3\n",
			`accessbot.yaml:8: resources[0].policy.require_approvals: needs 3 distinct approvals when its condition holds but approver groups sre have only 2 member(s)`},
		{"no approvers at all", "resources:\n  - name: prod-db\n    adapter: {type: fake, url: \"http://127.0.0.1:9\"}\n    policy:\n      auto_approve: \"true\"\n      require_approvals:\n        when: signals.first_access\n",
			`accessbot.yaml:6: resources[0].policy.require_approvals: requests it applies to wait for approvers, but the policy names no approver group`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(tt.src), envOf(nil))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			got := problemsOf(t, err)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
				t.Fatalf("problems %q, want one starting %q", got, tt.want)
			}
		})
	}
}
