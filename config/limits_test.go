package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
)

func TestLimitsAndReadinessHaveSaneDefaults(t *testing.T) {
	c := mustParse(t, valid, nil)
	want := grants.Limits{PendingPerPerson: 5, PendingPerResource: 20, PerPersonPerHour: 20}
	if got := c.Limits.GrantsLimits(); got != want {
		t.Errorf("default limits %+v, want %+v", got, want)
	}
	if c.Ops.ReadinessInterval != 5*time.Second {
		t.Errorf("default readiness interval %s, want 5s", c.Ops.ReadinessInterval)
	}
}

func TestLimitsAndReadinessAreSetKeyByKey(t *testing.T) {
	c := mustParse(t, "limits:\n  pending_per_person: 2\n  requests_per_person_per_hour: 0\nops:\n  readiness_interval: 30s\n"+valid, nil)
	want := grants.Limits{PendingPerPerson: 2, PendingPerResource: 20, PerPersonPerHour: 0}
	if got := c.Limits.GrantsLimits(); got != want {
		t.Errorf("limits %+v, want %+v (an unset key keeps its default, 0 turns one off)", got, want)
	}
	if c.Ops.ReadinessInterval != 30*time.Second {
		t.Errorf("readiness interval %s, want 30s", c.Ops.ReadinessInterval)
	}
}

func TestLimitsAndReadinessMistakesAreReportedAtTheirKey(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"a negative limit", "limits:\n  pending_per_resource: -1\n", `accessbot.yaml:2: limits.pending_per_resource: must be 0 (no limit) or more, got -1`},
		{"a zero readiness interval", "ops:\n  readiness_interval: 0s\n", `accessbot.yaml:2: ops.readiness_interval: must be longer than zero, got 0`},
		{"a readiness interval over five minutes", "ops:\n  readiness_interval: 1h\n", `accessbot.yaml:2: ops.readiness_interval: 1h is longer than 5m`},
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
