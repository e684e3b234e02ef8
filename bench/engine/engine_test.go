package main

import (
	"context"
	"github.com/accessbot/accessbot/bench/internal/table"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"an empty list is zero", nil, 99, 0},
		{"one value is every percentile", ms(7), 50, 7 * time.Millisecond},
		{"p50 of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of a hundred is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99 of ten is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100 is the largest", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestDistributionSortsItsInputWithoutChangingIt(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	d := distribution(in)
	if d.N != 3 || d.Min != 1 || d.P50 != 2 || d.Max != 3 {
		t.Errorf("distribution = %+v", d)
	}
	if in[0] != 3 {
		t.Errorf("input was sorted in place: %v", in)
	}
}

func TestParseStatusReadsTheKilobyteFields(t *testing.T) {
	status := "Name:\taccessbot\nState:\tS (sleeping)\nVmHWM:\t   30840 kB\nVmRSS:\t   28012 kB\nThreads:\t9\n"
	got, err := parseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if got["VmRSS"] != 28012 || got["VmHWM"] != 30840 {
		t.Errorf("parseStatus = %v", got)
	}
	if _, ok := got["Threads"]; ok {
		t.Errorf("a count without kB was read as memory: %v", got)
	}
}

func TestMetricValueMatchesOnlyTheExactSample(t *testing.T) {
	body := `# HELP accessbot_grants Grants by state.
accessbot_active_grants 12
accessbot_grants{state="active"} 100000
accessbot_grants{state="revoked"} 1
accessbot_grants{state="revoke_failed"} 0
`
	tests := []struct {
		sample string
		want   float64
		ok     bool
	}{
		{`accessbot_grants{state="active"}`, 100000, true},
		{`accessbot_grants{state="revoked"}`, 1, true},
		{`accessbot_grants{state="revoke"}`, 0, false},
		{`accessbot_grants`, 0, false},
	}
	for _, tt := range tests {
		got, ok := metricValue(body, tt.sample)
		if got != tt.want || ok != tt.ok {
			t.Errorf("metricValue(%s) = %v, %v; want %v, %v", tt.sample, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQuickSizesGiveWayToExplicitFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-grants", "300"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.grants != 300 {
		t.Errorf("-grants 300 with -quick gave %d", o.grants)
	}
	if o.cronPeriod != 10*time.Second || o.verifyN != 100_000 {
		t.Errorf("-quick did not shorten the rest: cron %s, verify %d", o.cronPeriod, o.verifyN)
	}
	if _, err := parseFlags([]string{"-only", "lateness,bogus"}, io.Discard); err == nil {
		t.Error("-only accepted an unknown benchmark")
	}
}

func TestFormattingForTheTable(t *testing.T) {
	tests := []struct{ got, want string }{
		{table.Thousands(1234567), "1,234,567"},
		{table.Thousands(999), "999"},
		{secs(1500 * time.Millisecond), "1.500 s"},
		{secs(65 * time.Second), "65.0 s"},
		{table.Ratio(1, 2), "0.50"},
		{table.Ratio(1, 1000), "0.001 (1/1000)"},
		{table.Ratio(1, 0), ""},
		{mb(40 * 1024), "40.0 MB"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestLatenessRunsMeasureEveryGrant runs both lateness benchmarks small, so that the program
// keeps working as the engine changes.
func TestLatenessRunsMeasureEveryGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the scheduler on the wall clock for a few seconds")
	}
	ctx := context.Background()
	dir := t.TempDir()
	perGrant, err := calibrate(ctx, filepath.Join(dir, "calibrate"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cron := range []time.Duration{0, 2 * time.Second} {
		r, err := runLateness(ctx, filepath.Join(dir, "run"+cron.String()), 100, time.Second, perGrant, cron, "")
		if err != nil {
			t.Fatalf("cron %s: %v", cron, err)
		}
		if r.DB.N != 100 || r.Hook.N != 100 {
			t.Errorf("cron %s: measured %d grants in the database and %d by the hook, want 100", cron, r.DB.N, r.Hook.N)
		}
		if r.DB.Min < 0 || r.DB.P50 > r.DB.P99 || r.DB.P99 > r.DB.Max {
			t.Errorf("cron %s: distribution out of order: %+v", cron, r.DB)
		}
		if cron > 0 && r.DB.Max > cron+time.Second {
			t.Errorf("cron %s: a grant was revoked %s late, more than a period", cron, r.DB.Max)
		}
	}
}

// TestBinaryBenchmarksRunSmall runs recovery, audit and memory against the built binary with
// small sizes.
func TestBinaryBenchmarksRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts accessbot")
	}
	ctx := context.Background()
	dir := t.TempDir()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := build(ctx, root, "./cmd/accessbot", dir)
	if err != nil {
		t.Fatal(err)
	}
	httpBin, err := build(ctx, root, "./bench/httpserver", dir)
	if err != nil {
		t.Fatal(err)
	}

	rec, err := runRecovery(ctx, filepath.Join(dir, "recovery"), bin, 50)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Recovered <= 0 || rec.Floor <= 0 || rec.Ready > rec.Recovered+time.Second {
		t.Errorf("recovery = %+v", rec)
	}

	a, err := runAudit(ctx, filepath.Join(dir, "audit"), bin, 50, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if a.Single <= 0 || a.SinglePlain <= 0 || a.Batched <= 0 || a.VerifyCLI <= 0 || a.ScanRaw <= 0 {
		t.Errorf("audit = %+v", a)
	}

	m, err := runMemory(ctx, filepath.Join(dir, "memory"), bin, httpBin, 200)
	if err != nil {
		t.Fatal(err)
	}
	if m.Baseline.RSS <= 0 || m.Idle.RSS <= m.Baseline.RSS {
		t.Errorf("memory = %+v: serve should need more than a trivial server", m)
	}
}
