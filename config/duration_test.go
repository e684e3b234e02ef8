package config

import (
	"testing"
	"time"
)

func TestParseDurationAcceptsGoSyntaxAndDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"8h", 8 * time.Hour},
		{"45s", 45 * time.Second},
		{"0", 0},
		{"1d", 24 * time.Hour},
		{"7d", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"-1d", -24 * time.Hour},
		{" 2h ", 2 * time.Hour},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationRejectsWhatIsNotADuration(t *testing.T) {
	for _, in := range []string{"", "2x", "d", "1dd", "abc", "1 d", "30", "1d-2h", "h1"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatDurationWritesWhatParseDurationReads(t *testing.T) {
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
	}
	for _, tt := range tests {
		got := FormatDuration(tt.in)
		if got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseDuration(got); err != nil || back != tt.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tt.in, back, err)
		}
	}
}
