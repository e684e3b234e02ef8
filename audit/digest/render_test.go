package digest

import (
	"testing"
	"time"
)

// TestSpansAreWrittenAsDurationsAreEverywhere holds the digest's spans to duration.Format, the
// one spelling people read ("1d12h", not "36h"), at the digest's precision.
func TestSpansAreWrittenAsDurationsAreEverywhere(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{"nothing is zero", 0, "0"},
		{"clock skew is zero", -time.Second, "0"},
		{"under half a millisecond is zero", 400 * time.Microsecond, "0"},
		{"a revocation is in milliseconds", 350*time.Millisecond + 400*time.Microsecond, "350ms"},
		{"just under a second rounds up", 999600 * time.Microsecond, "1s"},
		{"under an hour is to the second", time.Minute + 35400*time.Millisecond, "1m35s"},
		{"an hour and more is to the minute", 22*time.Hour + 53*time.Minute + 10*time.Second, "22h53m"},
		{"a day and more is in days", 36 * time.Hour, "1d12h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dur(tt.in); got != tt.want {
				t.Errorf("dur(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
