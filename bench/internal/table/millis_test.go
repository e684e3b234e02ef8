package table_test

import (
	"testing"
	"time"

	"github.com/accessbot/accessbot/bench/internal/table"
)

func TestMillisKeepsTwoDecimalsUnderTenMillisecondsAndOneAbove(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{1234 * time.Microsecond, "1.23 ms"},
		{9990 * time.Microsecond, "9.99 ms"},
		{10 * time.Millisecond, "10.0 ms"},
		{123456 * time.Microsecond, "123.5 ms"},
	} {
		if got := table.Millis(tt.d); got != tt.want {
			t.Errorf("Millis(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
