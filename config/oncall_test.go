package config_test

import (
	"strings"
	"testing"
	"time"
)

const onCallResource = `groups:
  sre: [alice@example.com]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    policy:
      approvers: [sre, "pagerduty:escalation/PESC001/level/1", "opsgenie:schedule/DB team"]
      auto_approve: 'oncall_for("pagerduty:schedule/PABC123") && duration <= duration("1h")'
`

const onCallSection = `oncall:
  pagerduty:
    token: "${PD_TOKEN}"
  opsgenie:
    api_key: "${OG_KEY}"
    region: eu
`

var onCallEnv = map[string]string{"PD_TOKEN": "pd-s3cret", "OG_KEY": "og-s3cret"}

func TestRotaApproversAndRulesAreReadWithTheirProviders(t *testing.T) {
	c := mustParse(t, onCallResource+onCallSection, onCallEnv)
	o := c.OnCall
	if o.PagerDuty.Token.Reveal() != "pd-s3cret" || o.Opsgenie.APIKey.Reveal() != "og-s3cret" {
		t.Fatalf("keys not read: %+v", o)
	}
	if o.CacheTTL != time.Minute || o.Timeout != 1500*time.Millisecond || o.Opsgenie.OpsgenieURL() != "https://api.eu.opsgenie.com" {
		t.Fatalf("defaults: %+v, opsgenie %s", o, o.Opsgenie.OpsgenieURL())
	}
	if s := strings.Join([]string{o.PagerDuty.Token.String(), o.Opsgenie.APIKey.String()}, " "); strings.Contains(s, "s3cret") {
		t.Fatal("a key prints")
	}
}

func TestRotaMistakesAreConfigErrorsWithTheirLine(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"an escalation without a level", strings.Replace(onCallResource, "level/1", "level/x", 1) + onCallSection,
			`accessbot.yaml:7: resources[0].policy.approvers[1]: "pagerduty:escalation/PESC001/level/x": the escalation level must be a number from 1`},
		{"a misspelt provider", strings.Replace(onCallResource, `"opsgenie:schedule/DB team"`, `"opsgenei:schedule/DB team"`, 1) + onCallSection,
			`(did you mean "opsgenie:schedule/DB team"?)`},
		{"a rota whose provider has no section", onCallResource + "oncall:\n  pagerduty:\n    token: x\n",
			`names opsgenie, but the oncall: section has no opsgenie:`},
		{"a rule naming a rota that is not one", strings.Replace(onCallResource, `oncall_for("pagerduty:schedule/PABC123")`, `oncall_for("pagerduty:sched/PABC123")`, 1) + onCallSection,
			`resources[0].policy.auto_approve: "pagerduty:sched/PABC123" is not a PagerDuty rota`},
		{"a rule naming a rota of no provider", strings.Replace(onCallResource, `oncall_for("pagerduty:schedule/PABC123")`, `oncall_for("pagerdoots:schedule/PABC123")`, 1) + onCallSection,
			`(did you mean "pagerduty:schedule/PABC123"?)`},
		{"oncall_for over a variable", strings.Replace(onCallResource, `oncall_for("pagerduty:schedule/PABC123")`, `oncall_for(resource)`, 1) + onCallSection,
			`oncall_for takes a rota name in quotes`},
		{"a PagerDuty section without its token", onCallResource + "oncall:\n  pagerduty:\n    api_url: https://api.pagerduty.com\n  opsgenie:\n    api_key: k\n",
			`oncall.pagerduty.token: required`},
		{"an Opsgenie region that is not one", onCallResource + strings.Replace(onCallSection, "region: eu", "region: asia", 1), `oncall.opsgenie.region: "asia" is not a region`},
		{"a rota as an admin group", onCallResource + onCallSection + "admins:\n  groups: [\"pagerduty:schedule/PABC123\"]\n",
			`admins.groups[0]: "pagerduty:schedule/PABC123" is a rota: admins are named here`},
		{"a PagerDuty URL over plain http", onCallResource + strings.Replace(onCallSection, `token: "${PD_TOKEN}"`, "token: x\n    api_url: http://pagerduty.example.com", 1),
			`oncall.pagerduty.api_url: "http://pagerduty.example.com" is not an https URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErr(t, tt.src, onCallEnv)
			if !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one with %q", got, tt.want)
			}
		})
	}
}
