package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DigestOff is the digest schedule that turns the scheduled digest off.
const DigestOff = "off"

// Defaults of the `digest:` section.
const (
	// DefaultDigestSchedule is Monday at 09:00 in time_zone.
	DefaultDigestSchedule = "0 9 * * 1"
	// DefaultDigestPeriod is the week before each digest.
	DefaultDigestPeriod = 7 * 24 * time.Hour
	defaultWorkStart    = "09:00"
	defaultWorkEnd      = "18:00"
)

// Digest is the `digest:` section: the access digest that `accessbot serve` posts to chat on a
// schedule (what happened over the period before each firing), and that `accessbot digest
// preview` prints.
type Digest struct {
	// Schedule is when the digest is posted: a five-field cron spec read in time_zone, a
	// descriptor (@weekly, @daily), or off. Default "0 9 * * 1" (Monday 09:00).
	Schedule string `yaml:"schedule"`
	// Period is the window each digest covers, ending when it fires. Default 7d. Whole days are
	// counted on the calendar of time_zone, so a week is a week across a daylight saving change.
	Period time.Duration `yaml:"period"`
	// WorkingHours are when access is expected; grants made outside them are listed.
	WorkingHours WorkingHours `yaml:"working_hours"`
	// Channels maps a platform (slack, discord, web) to the channels the digest is posted to.
	// Absent: each enabled platform's security channel. A platform with an empty list gets none.
	Channels map[string][]string `yaml:"channels"`
	// Chart uploads a PNG of grants per day by resource with the digest, where the platform
	// takes files. Default true.
	Chart *bool `yaml:"chart"`

	days       []time.Weekday
	start, end time.Duration
}

// WorkingHours are days of the week and the hours of each.
type WorkingHours struct {
	// Days are weekdays (mon, tue, ... sun) or ranges of them (mon-fri). Default mon-fri.
	Days []string `yaml:"days"`
	// Start and End are times of day, HH:MM. Default 09:00 and 18:00. An End before Start is a
	// shift over midnight.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

func defaultDigest() Digest {
	return Digest{
		Schedule: DefaultDigestSchedule,
		Period:   DefaultDigestPeriod,
		WorkingHours: WorkingHours{
			Days: []string{"mon-fri"}, Start: defaultWorkStart, End: defaultWorkEnd,
		},
	}
}

// Enabled reports whether `accessbot serve` posts the digest on a schedule.
func (d Digest) Enabled() bool { return d.Schedule != DigestOff }

// ChartEnabled reports whether the chart goes with the digest.
func (d Digest) ChartEnabled() bool { return d.Chart == nil || *d.Chart }

// WorkDays returns the working weekdays, Sunday first.
func (d Digest) WorkDays() []time.Weekday { return slices.Clone(d.days) }

// WorkHours returns the start and end of the working day, as offsets from midnight.
func (d Digest) WorkHours() (start, end time.Duration) { return d.start, d.end }

// ChannelsFor returns where the digest goes on each platform: Channels when the section sets
// it, else each platform's security channel in security (platforms with none get nothing).
func (d Digest) ChannelsFor(security map[string]string) map[string][]string {
	out := map[string][]string{}
	if d.Channels != nil {
		for p, list := range d.Channels {
			out[p] = slices.Clone(list)
		}
		return out
	}
	for p, ch := range security {
		if ch != "" {
			out[p] = []string{ch}
		}
	}
	return out
}

// DigestPlatforms are the platforms digest.channels may name.
var DigestPlatforms = []string{"slack", "discord", "teams", "web"}

var (
	clockTime  = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
	weekdayKey = map[string]time.Weekday{
		"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
		"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	}
)

// weekday reads "mon" or "monday" in any case.
func weekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 {
		return 0, false
	}
	d, ok := weekdayKey[s[:3]]
	if !ok || (len(s) > 3 && !strings.EqualFold(d.String(), s)) {
		return 0, false
	}
	return d, true
}

func (v *validator) digest() {
	d := &v.c.Digest
	d.Schedule = strings.TrimSpace(d.Schedule)
	switch {
	case d.Schedule == "":
		v.add("digest.schedule", `required: a cron spec such as "0 9 * * 1" (Monday 09:00), @weekly, or off`)
	case d.Schedule == DigestOff:
	case strings.HasPrefix(d.Schedule, "CRON_TZ=") || strings.HasPrefix(d.Schedule, "TZ="):
		v.add("digest.schedule", "a time zone prefix is not supported here: the schedule uses the config's time_zone")
	default:
		s, err := cron.ParseStandard(d.Schedule)
		switch {
		case err != nil:
			v.add("digest.schedule", `%s is not a schedule: %v (use a cron spec such as "0 9 * * 1", @weekly, or off)`,
				v.quote("digest.schedule", d.Schedule), err)
		default:
			if every, ok := s.(cron.ConstantDelaySchedule); ok && every.Delay < time.Hour {
				v.add("digest.schedule", "%s is too often: post the digest at most once an hour", v.quote("digest.schedule", d.Schedule))
			}
		}
	}
	switch {
	case d.Period < time.Hour:
		v.add("digest.period", "must be at least 1h (the default is 7d)")
	case d.Period > 92*24*time.Hour:
		v.add("digest.period", "must be at most 92d (a quarter); export the audit log for longer")
	}

	w := d.WorkingHours
	d.days = nil
	if len(w.Days) == 0 {
		v.add("digest.working_hours.days", "required: the working days, e.g. [mon-fri]")
	}
	seen := map[time.Weekday]bool{}
	for i, entry := range w.Days {
		path := joinIndex("digest.working_hours.days", i)
		from, to, isRange := strings.Cut(entry, "-")
		a, okA := weekday(from)
		b, okB := a, true
		if isRange {
			b, okB = weekday(to)
		}
		if !okA || !okB {
			v.add(path, "%s is not a weekday or a range of them (use mon, tue, wed, thu, fri, sat, sun, or mon-fri)", v.quote(path, entry))
			continue
		}
		for day := a; ; day = (day + 1) % 7 {
			seen[day] = true
			if day == b {
				break
			}
		}
	}
	for day := time.Sunday; day <= time.Saturday; day++ {
		if seen[day] {
			d.days = append(d.days, day)
		}
	}
	parse := func(key, value string) (time.Duration, bool) {
		path := "digest.working_hours." + key
		m := clockTime.FindStringSubmatch(strings.TrimSpace(value))
		if m == nil {
			v.add(path, "%s is not a time of day (use HH:MM, e.g. 09:00)", v.quote(path, value))
			return 0, false
		}
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute, true
	}
	start, okS := parse("start", w.Start)
	end, okE := parse("end", w.End)
	if okS && okE && start == end {
		v.add("digest.working_hours.end", "is the same as start: a working day needs some hours")
	}
	d.start, d.end = start, end

	platforms := make([]string, 0, len(d.Channels))
	for p := range d.Channels {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		path := joinKey("digest.channels", p)
		if !slices.Contains(DigestPlatforms, p) {
			hint := ""
			if c := closest(p, DigestPlatforms); c != "" {
				hint = fmt.Sprintf(` (did you mean "%s"?)`, c)
			}
			v.add(path, "unknown platform %q%s: use %s", p, hint, strings.Join(DigestPlatforms, ", "))
			continue
		}
		for i, ch := range d.Channels[p] {
			cpath := joinIndex(path, i)
			switch {
			case strings.TrimSpace(ch) == "":
				v.add(cpath, "empty channel")
			case p == "slack" && !slackChannel.MatchString(ch):
				v.add(cpath, "%s is not a Slack channel (an ID such as C0123ABCD, or #name)", v.quote(cpath, ch))
			case p == "discord" && !snowflake.MatchString(ch):
				v.add(cpath, "%s is not a Discord channel ID (a number such as 1234567890123456789)", v.quote(cpath, ch))
			case p == "teams" && !isTeamsConversation(ch):
				v.add(cpath, "%s is not a Teams conversation ID (19:…@thread.tacv2)", v.quote(cpath, ch))
			}
		}
	}
}
