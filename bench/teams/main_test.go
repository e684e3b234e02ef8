package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBenchmarkRunsSmall runs both phases for a moment: every answer 200, every answered
// request committed and replied to (run fails otherwise).
func TestBenchmarkRunsSmall(t *testing.T) {
	var out, errs bytes.Buffer
	args := []string{"-clients", "4", "-users", "10", "-duration", "300ms", "-warmup", "100ms", "-markdown", "-tmp", t.TempDir()}
	if err := run(context.Background(), args, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s%s", err, errs.String(), out.String())
	}
	got := out.String()
	for _, want := range []string{"| signed Teams activities, 4 clients, 300ms | requests/s", "p99 latency", "every one committed and answered"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "failures: none") != 2 {
		t.Errorf("some requests failed:\n%s", got)
	}
}
