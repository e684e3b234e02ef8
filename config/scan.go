package config

import (
	"errors"
	"sort"
	"strings"

	"github.com/accessbot/accessbot/grants"
)

// ScanOff is the scan schedule that turns scheduled scans off.
const ScanOff = "off"

// DefaultScanSchedule is when `accessbot serve` runs the standing-privilege scan unless the
// config says otherwise: hourly, counted from the start.
const DefaultScanSchedule = "@every 1h"

// Scan is the `scan:` section: the standing-privilege scan, which lists the access that exists
// at every target whose adapter can list it and reports what no active grant explains (see
// grants.Scanner). `accessbot scan` runs it on demand whatever the schedule.
type Scan struct {
	// Schedule is when `accessbot serve` scans: a five-field cron spec read in time_zone
	// ("0 * * * *"), a descriptor (@hourly, @daily), "@every <duration>" (at least 1m), or off.
	// Default "@every 1h".
	Schedule string `yaml:"schedule"`
	// Ignore maps a resource name to the holders it is expected to have at its target (service
	// accounts, a DBA role): account names as the adapter lists them, or patterns where * and ?
	// match any characters, compared case-insensitively. They are never findings.
	Ignore map[string][]string `yaml:"ignore"`
}

// Enabled reports whether scans run on a schedule.
func (s Scan) Enabled() bool { return s.Schedule != ScanOff }

// ScanOptions returns the scanner options the section sets.
func (s Scan) ScanOptions() grants.ScanOptions {
	ignore := make(map[string][]string, len(s.Ignore))
	for name, list := range s.Ignore {
		ignore[name] = append([]string(nil), list...)
	}
	return grants.ScanOptions{Ignore: ignore}
}

func defaultScan() Scan { return Scan{Schedule: DefaultScanSchedule} }

func (v *validator) scan() {
	s := &v.c.Scan
	s.Schedule = strings.TrimSpace(s.Schedule)
	switch {
	case s.Schedule == "":
		v.add("scan.schedule", "required: a cron spec such as \"0 * * * *\", @hourly, \"@every 1h\", or off")
	case s.Schedule == ScanOff:
	default:
		_, err := grants.ScanSchedule(s.Schedule)
		switch {
		case errors.Is(err, grants.ErrScheduleTooOften):
			v.add("scan.schedule", "%s is %v", v.quote("scan.schedule", s.Schedule), grants.ErrScheduleTooOften)
		case err != nil:
			v.add("scan.schedule", "%s is not a schedule: %v (use a cron spec such as \"0 * * * *\", @hourly, \"@every 1h\", or off)",
				v.quote("scan.schedule", s.Schedule), err)
		}
	}
	known := map[string]bool{}
	var list []string
	for _, r := range v.c.Resources {
		if r.Name != "" && !known[r.Name] {
			known[r.Name] = true
			list = append(list, r.Name)
		}
	}
	names := make([]string, 0, len(s.Ignore))
	for name := range s.Ignore {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := joinKey("scan.ignore", name)
		if !known[name] {
			hint := ""
			if c := closest(name, list); c != "" {
				hint = ` (did you mean "` + c + `"?)`
			}
			v.add(path, "unknown resource %q%s", name, hint)
			continue
		}
		for i, p := range s.Ignore[name] {
			if err := grants.ValidHolderPattern(p); err != nil {
				v.add(joinIndex(path, i), "%v", err)
			}
		}
	}
}
