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
