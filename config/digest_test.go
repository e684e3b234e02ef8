package config_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
)

func TestTheDigestIsWeeklyOnMondayMorningUnlessTheConfigSaysOtherwise(t *testing.T) {
	c := mustParse(t, valid, nil)
	d := c.Digest
	if d.Schedule != "0 9 * * 1" || d.Period != 7*24*time.Hour || !d.Enabled() || !d.ChartEnabled() {
		t.Errorf("default digest = %+v", d)
	}
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	if !slices.Equal(d.WorkDays(), weekdays) {
		t.Errorf("work days %v", d.WorkDays())
	}
	if start, end := d.WorkHours(); start != 9*time.Hour || end != 18*time.Hour {
		t.Errorf("work hours %s-%s", start, end)
	}
	sec := map[string]string{"slack": "C0SEC", "discord": "", "web": "security"}
	if got := d.ChannelsFor(sec); !maps.EqualFunc(got, map[string][]string{"slack": {"C0SEC"}, "web": {"security"}}, slices.Equal) {
		t.Errorf("default channels %v", got)
	}
	c = mustParse(t, valid+"digest:\n  schedule: off\n", nil)
	if c.Digest.Enabled() {
		t.Error("schedule: off leaves the digest on")
	}
}

func TestADigestSectionIsRead(t *testing.T) {
	c := mustParse(t, valid+`time_zone: Europe/Berlin
digest:
  schedule: "30 8 * * 1-5"
  period: 1d
  working_hours:
    days: [sat-mon, Wednesday]
    start: "22:00"
    end: "06:30"
  chart: false
  channels:
    slack: ["#access-review", C0SECURE1]
    web: []
`, nil)
	d := c.Digest
	if d.Schedule != "30 8 * * 1-5" || d.Period != 24*time.Hour || d.ChartEnabled() {
		t.Errorf("digest = %+v", d)
	}
	if want := []time.Weekday{time.Sunday, time.Monday, time.Wednesday, time.Saturday}; !slices.Equal(d.WorkDays(), want) {
		t.Errorf("work days %v, want %v", d.WorkDays(), want)
	}
	if start, end := d.WorkHours(); start != 22*time.Hour || end != 6*time.Hour+30*time.Minute {
		t.Errorf("work hours %s-%s", start, end)
	}
	got := d.ChannelsFor(map[string]string{"slack": "C0OTHER", "discord": "123"})
	if !maps.EqualFunc(got, map[string][]string{"slack": {"#access-review", "C0SECURE1"}, "web": {}}, slices.Equal) {
		t.Errorf("channels %v: the section's list replaces the security channels", got)
	}
}

func TestDigestMistakesAreReportedWithLineAndKey(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"a schedule that is not one", "digest:\n  schedule: weekly\n",
			[]string{`accessbot.yaml:9: digest.schedule: "weekly" is not a schedule: expected exactly 5 fields, found 1: [weekly] (use a cron spec such as "0 9 * * 1", @weekly, or off)`}},
		{"a schedule too often", "digest:\n  schedule: \"@every 10m\"\n",
			[]string{`accessbot.yaml:9: digest.schedule: "@every 10m" is too often: post the digest at most once an hour`}},
		{"a time zone prefix", "digest:\n  schedule: \"CRON_TZ=UTC 0 9 * * 1\"\n",
			[]string{`accessbot.yaml:9: digest.schedule: a time zone prefix is not supported here: the schedule uses the config's time_zone`}},
		{"a period too short", "digest:\n  period: 10m\n",
			[]string{`accessbot.yaml:9: digest.period: must be at least 1h (the default is 7d)`}},
		{"a bad day", "digest:\n  working_hours:\n    days: [mon-fry]\n",
			[]string{`accessbot.yaml:10: digest.working_hours.days[0]: "mon-fry" is not a weekday or a range of them (use mon, tue, wed, thu, fri, sat, sun, or mon-fri)`}},
		{"no days", "digest:\n  working_hours:\n    days: []\n",
			[]string{`accessbot.yaml:10: digest.working_hours.days: required: the working days, e.g. [mon-fri]`}},
		{"a bad time", "digest:\n  working_hours:\n    start: \"9am\"\n",
			[]string{`accessbot.yaml:10: digest.working_hours.start: "9am" is not a time of day (use HH:MM, e.g. 09:00)`}},
		{"no hours", "digest:\n  working_hours:\n    start: \"18:00\"\n",
			[]string{`accessbot.yaml:9: digest.working_hours.end: is the same as start: a working day needs some hours`}},
		{"an unknown platform", "digest:\n  channels:\n    slak: [C0SEC]\n",
			[]string{`accessbot.yaml:10: digest.channels.slak: unknown platform "slak" (did you mean "slack"?): use slack, discord, teams, web`}},
		{"a bad Slack channel", "digest:\n  channels:\n    slack: [\"security\"]\n",
			[]string{`accessbot.yaml:10: digest.channels.slack[0]: "security" is not a Slack channel (an ID such as C0123ABCD, or #name)`}},
		{"a bad Discord channel", "digest:\n  channels:\n    discord: [\"#security\"]\n",
			[]string{`accessbot.yaml:10: digest.channels.discord[0]: "#security" is not a Discord channel ID (a number such as 1234567890123456789)`}},
		{"an unknown key", "digest:\n  schedul: \"@weekly\"\n",
			[]string{`accessbot.yaml:9: digest.schedul: unknown key "schedul" (did you mean "schedule"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("accessbot.yaml", []byte(valid+tt.src), envOf(nil))
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
