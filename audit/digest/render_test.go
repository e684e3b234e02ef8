package digest

import (
	"testing"
	"time"
)

// TestSpansAreWrittenAsDurationsAreEverywhere holds the digest's spans to duration.Approx, the
// one spelling people read ("1d12h", not "36h") at the one precision the chat and the report
// use too.
func TestSpansAreWrittenAsDurationsAreEverywhere(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{"nothing is zero", 0, "0s"},
		{"clock skew is zero", -time.Second, "0s"},
		{"under half a millisecond is zero", 400 * time.Microsecond, "0s"},
		{"a revocation is in milliseconds", 350*time.Millisecond + 400*time.Microsecond, "350ms"},
		{"just under a second rounds up", 999600 * time.Microsecond, "1s"},
		{"under a minute is to the second", 35400 * time.Millisecond, "35s"},
		{"under a day is to the minute", time.Minute + 35400*time.Millisecond, "2m"},
		{"a 10m grant revoked a moment before its expiry is 10m, not 9m59s", 9*time.Minute + 59400*time.Millisecond, "10m"},
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
