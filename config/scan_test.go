package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/config"
)

func TestTheScanRunsHourlyUnlessTheConfigSaysOtherwise(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Scan.Schedule != "@every 1h" || !c.Scan.Enabled() {
		t.Errorf("default scan = %+v", c.Scan)
	}
	c = mustParse(t, valid+"scan:\n  schedule: off\n", nil)
	if c.Scan.Enabled() {
		t.Error("schedule: off leaves scans on")
	}
}

func TestAScanSectionIsRead(t *testing.T) {
	c := mustParse(t, valid+`scan:
  schedule: "30 * * * *"
  ignore:
    prod-db: [postgres, "svc_*"]
`, nil)
	if c.Scan.Schedule != "30 * * * *" || !slices.Equal(c.Scan.Ignore["prod-db"], []string{"postgres", "svc_*"}) {
		t.Errorf("scan = %+v", c.Scan)
	}
	if o := c.Scan.ScanOptions(); !slices.Equal(o.Ignore["prod-db"], []string{"postgres", "svc_*"}) {
		t.Errorf("ScanOptions = %+v", o)
	}
}

func TestScanMistakesAreReportedWithLineAndKey(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"a schedule that is not one", "scan:\n  schedule: hourly\n",
			[]string{`accessbot.yaml:9: scan.schedule: "hourly" is not a schedule: expected exactly 5 fields, found 1: [hourly] (use a cron spec such as "0 * * * *", @hourly, "@every 1h", or off)`}},
		{"a schedule too often", "scan:\n  schedule: \"@every 10s\"\n",
			[]string{`accessbot.yaml:9: scan.schedule: "@every 10s" is too often: scan at most once a minute`}},
		{"an empty schedule", "scan:\n  schedule: \"\"\n",
			[]string{`accessbot.yaml:9: scan.schedule: required: a cron spec such as "0 * * * *", @hourly, "@every 1h", or off`}},
		{"an ignore list for an unknown resource", "scan:\n  ignore:\n    prod-bd: [svc]\n",
			[]string{`accessbot.yaml:10: scan.ignore.prod-bd: unknown resource "prod-bd" (did you mean "prod-db"?)`}},
		{"a malformed pattern", "scan:\n  ignore:\n    prod-db: [ok, \"svc_[\"]\n",
			[]string{`accessbot.yaml:10: scan.ignore.prod-db[1]: holder pattern "svc_[" is malformed: syntax error in pattern`}},
		{"an unknown key", "scan:\n  schedul: \"@hourly\"\n",
			[]string{`accessbot.yaml:9: scan.schedul: unknown key "schedul" (did you mean "schedule"?)`}},
		{"a list where a string belongs", "scan:\n  schedule: [a]\n",
			[]string{`accessbot.yaml:9: scan.schedule: expected a string, got a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("accessbot.yaml", []byte(valid+tt.src), func(string) (string, bool) { return "", false })
			if err == nil {
				t.Fatal("no error")
			}
			got := problemsOf(t, err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
