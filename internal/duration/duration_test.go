package duration

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseAcceptsGoSyntaxAndDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"8h", 8 * time.Hour},
		{"45s", 45 * time.Second},
		{"0", 0},
		{"1d", Day},
		{"7d", 7 * Day},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"-1d", -Day},
		{"+2h", 2 * time.Hour},
		{" 2h ", 2 * time.Hour},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRejectsWhatIsNotADurationWithAnExample(t *testing.T) {
	for _, in := range []string{"", " ", "2x", "d", "1dd", "abc", "1 d", "30", "1d-2h", "h1", "-", "1e9d", "99999999999999d"} {
		got, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
			continue
		}
		if want := "(use 30m, 1h, 8h, 7d)"; !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error %q does not show how to write one %q", in, err, want)
		}
	}
}

func TestFormatWritesWhatParseReads(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{90 * time.Minute, "1h30m"},
		{48 * time.Hour, "2d"},
		{36 * time.Hour, "1d12h"},
		{45 * time.Second, "45s"},
		{-2 * time.Hour, "-2h"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Duration(math.MinInt64), time.Duration(math.MinInt64).String()},
	}
	for _, tt := range tests {
		got := Format(tt.in)
		if got != tt.want {
			t.Errorf("Format(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := Parse(got); err != nil || back != tt.in {
			t.Errorf("Parse(Format(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func TestApproxRoundsToOnePrecisionEverywhere(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"nothing is zero seconds", 0, "0s"},
		{"below zero (clock skew) is zero seconds", -3 * time.Second, "0s"},
		{"under a millisecond rounds to zero seconds", 400 * time.Microsecond, "0s"},
		{"under a second is in milliseconds", 250400 * time.Microsecond, "250ms"},
		{"under ten seconds is to the tenth", 1449 * time.Millisecond, "1.4s"},
		{"a whole second has no tenths", 3020 * time.Millisecond, "3s"},
		{"under a minute is to the second", 42600 * time.Millisecond, "43s"},
		{"a 10m grant that lasted a little less is 10m", 9*time.Minute + 59600*time.Millisecond, "10m"},
		{"a 2m grant just made is 2m", 2*time.Minute - 5*time.Millisecond, "2m"},
		{"under a day is to the minute", time.Hour + 30*time.Minute + 12*time.Second, "1h30m"},
		{"a day and more is to the hour", 26*time.Hour + 40*time.Minute, "1d3h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Approx(tt.d); got != tt.want {
				t.Errorf("Approx(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}
