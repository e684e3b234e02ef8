package config

import (
	"time"

	"github.com/accessbot/accessbot/internal/duration"
)

// ParseDuration parses a duration the way people write one in the config and in chat: Go's
// syntax ("90m", "1h30m", "8h") plus "d" for days of 24 hours ("1d", "7d", "1d12h", "1.5d").
// A bare "0" is zero. It is duration.Parse, kept here for the config's callers.
func ParseDuration(s string) (time.Duration, error) { return duration.Parse(s) }

// FormatDuration writes a duration the way ParseDuration reads it, without zero parts:
// "1h30m", "2d", "45s", rather than time.Duration's "1h30m0s". It is duration.Format.
func FormatDuration(d time.Duration) string { return duration.Format(d) }
