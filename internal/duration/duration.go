// Package duration reads and writes durations the way people type them in the config and in
// chat: Go's syntax ("90m", "1h30m", "8h") plus "d" for days of 24 hours ("1d", "7d", "1d12h").
// config and bot share it, so a duration means the same in a policy and in `/access request`.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours: the "d" unit.
const Day = 24 * time.Hour

// Parse parses a duration: Go's syntax ("90m", "1h30m", "8h") plus "d" for days of 24 hours
// ("1d", "7d", "1d12h", "1.5d"). A bare "0" is zero. Surrounding spaces are ignored.
func Parse(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a duration (use 30m, 1h, 8h, 7d)", orig)
	if s == "" {
		return 0, bad
	}
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	// Rewrite each "<n>d" term as hours and let time.ParseDuration do the rest, so sign,
	// fractions, repeated units and overflow are all handled in one place.
	var b strings.Builder
	rest := s
	if rest[0] == '+' || rest[0] == '-' {
		b.WriteByte(rest[0])
		rest = rest[1:]
	}
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] == '.' || rest[j] >= '0' && rest[j] <= '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		if num == "" || unit == "" {
			return 0, bad
		}
		if unit == "d" {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, bad
			}
			num, unit = strconv.FormatFloat(n*24, 'f', -1, 64), "h"
		}
		b.WriteString(num)
		b.WriteString(unit)
		rest = rest[j:]
	}
	d, err := time.ParseDuration(b.String())
	if err != nil {
		return 0, bad
	}
	return d, nil
}

// Format writes a duration the way Parse reads it, without zero parts: "1h30m", "2d", "45s",
// rather than time.Duration's "1h30m0s".
func Format(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		if d == -d { // math.MinInt64 has no positive counterpart
			return d.String()
		}
		d = -d
	}
	if d%time.Second != 0 || d < time.Second {
		// Sub-second durations do not occur in policy; fall back to Go's exact spelling.
		return b.String() + d.String()
	}
	for _, u := range []struct {
		size time.Duration
		name string
	}{{Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.size
		}
	}
	return b.String()
}

// Approx writes a span people read (how long access was held, how late a revocation was, how
// far off a time is) rounded to the nearest step of one precision everywhere, so that the chat,
// the digest and the report agree and a 10m grant that lasted 9m59.6s reads "10m": whole
// milliseconds under a second, tenths of a second under ten seconds, seconds under a minute,
// minutes under a day, hours beyond. Nothing below zero is written (clock skew): it is "0s".
func Approx(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		d = d.Round(time.Millisecond)
	case d < 10*time.Second:
		d = d.Round(100 * time.Millisecond)
	case d < time.Minute:
		d = d.Round(time.Second)
	case d < Day:
		d = d.Round(time.Minute)
	default:
		d = d.Round(time.Hour)
	}
	if d == 0 {
		return "0s"
	}
	return Format(d)
}
