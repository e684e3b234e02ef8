package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The program keeps working: a small log, one run, the table printed.
func TestTheBenchmarkRunsSmall(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-events", "3000", "-days", "8", "-runs", "1", "-tmp", t.TempDir(), "-markdown"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"seeded 3000 events", "| last week (the weekly digest) |", "| the whole log | 3000 |", "USING INDEX"} {
		if !strings.Contains(out.String()+errOut.String(), want) {
			t.Errorf("output lacks %q:\n%s%s", want, out.String(), errOut.String())
		}
	}
}
