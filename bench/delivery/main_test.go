package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/slack"
)

// TestBenchmarkRunsSmall runs a small burst at a high scale: everything is delivered (run
// fails otherwise) and the table has its rows.
func TestBenchmarkRunsSmall(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-requests", "40", "-channels", "4", "-people", "10", "-scale", "100", "-markdown", "-tmp", t.TempDir()}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"| burst of 40 requests, each approved, 4 channels |", "floor of the limits",
		"calls saved by coalescing", "40 approval messages showing the grant"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestTheFloorIsTheSlowestBucketsCallsBeyondItsBurst(t *testing.T) {
	r := slack.DefaultRates()
	got, by := floor(map[string]int{
		"chat.postMessage C1": 13, // 10 beyond the burst of 3, 1s apart: 10s
		"chat.update":         15, // 10 beyond the burst of 5, 1.2s apart: 12s
		"conversations.open":  2,  // within the burst
	}, r)
	if got != 12*time.Second || by != "chat.update, 15 calls" {
		t.Fatalf("floor = %s by %q; want 12s by chat.update", got, by)
	}
}
