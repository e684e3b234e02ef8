package deploy

import (
	"reflect"
	"testing"
)

func TestSelectorsFindEveryMetricAnExpressionNamesAndNothingElse(t *testing.T) {
	for _, tc := range []struct {
		name string
		expr string
		want []selector
	}{
		{"an aggregation's label list and a function are not metrics",
			`histogram_quantile(0.99, sum by (le) (rate(accessbot_revoke_lateness_seconds_bucket[$__rate_interval]))) > 5`,
			[]selector{{name: "accessbot_revoke_lateness_seconds_bucket"}}},
		{"matchers are read with their operators",
			`max by (type) (increase(accessbot_audit_events_total{type=~"request.created|request.denied", job!="x"}[5m]))`,
			[]selector{{name: "accessbot_audit_events_total", matchers: []matcher{{"type", "=~", "request.created|request.denied"}, {"job", "!=", "x"}}}}},
		{"both sides of a binary operator",
			"max by (platform) (accessbot_outbox_oldest_pending_seconds) > 120\nand\nmax by (platform) (delta(accessbot_outbox_pending[5m])) > 0",
			[]selector{{name: "accessbot_outbox_oldest_pending_seconds"}, {name: "accessbot_outbox_pending"}}},
		{"a bare metric compared", `accessbot_ready == 0`, []selector{{name: "accessbot_ready"}}},
		{"strings are not metrics", `label_replace(accessbot_ready, "x", "$1", "instance", "(up).*")`,
			[]selector{{name: "accessbot_ready"}}},
		{"a promtool input series", `accessbot_grants{state="revoke_failed",instance="a:9090"}`,
			[]selector{{name: "accessbot_grants", matchers: []matcher{{"state", "=", "revoke_failed"}, {"instance", "=", "a:9090"}}}}},
		{"on and group_left list labels", `a * on (instance) group_left (version) b offset 5m`,
			[]selector{{name: "a"}, {name: "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectors(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("selectors(%q)\n got %+v\nwant %+v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestARenamedMetricOrLabelValueIsCaught(t *testing.T) {
	ex := parseExposition(t, `# TYPE accessbot_grants gauge
accessbot_grants{state="active"} 1
accessbot_grants{state="revoke_failed"} 0
`)
	for _, tc := range []struct {
		expr string
		bad  bool
	}{
		{`max(accessbot_grants{state="revoke_failed"}) > 0`, false},
		{`max by (state) (accessbot_grants{state=~"active|revoke_failed"})`, false},
		{`max(accessbot_grant{state="revoke_failed"}) > 0`, true},
		{`max(accessbot_grants{state="revoke-failed"}) > 0`, true},
		{`max(accessbot_grants{state=~"active|revoking"})`, true},
		{`max(accessbot_grants{status="active"})`, true},
		{`max(accessbot_grants{state!="active", job="accessbot"})`, false},
		{`max(accessbot_grants{state!="x"})`, false},
		{`max(accessbot_grants{status!="x"})`, true},
	} {
		if errs := checkExpr(ex, tc.expr, true); (len(errs) > 0) != tc.bad {
			t.Errorf("checkExpr(%q) = %v; want an error: %v", tc.expr, errs, tc.bad)
		}
	}
}
