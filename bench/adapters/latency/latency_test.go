package latency_test

import (
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/noop"
	"github.com/accessbot/accessbot/bench/adapters/latency"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}} {
		if got := latency.Percentile(ds, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 5 {
		t.Error("Percentile sorted its input")
	}
	if latency.Percentile(nil, 0.5) != 0 {
		t.Error("Percentile of nothing is not 0")
	}
}

func TestCyclesMeasureBothResources(t *testing.T) {
	e := latency.Start(t, noop.New(), latency.Options{AdapterType: "noop"})
	for _, r := range []string{latency.BaselineResource, latency.TargetResource, latency.TargetResource} {
		approved, call, err := e.Cycle(r)
		if err != nil {
			t.Fatal(err)
		}
		if approved <= 0 || call <= 0 || call > approved {
			t.Errorf("%s: approved→active %v, adapter call %v: want 0 < call <= approved", r, approved, call)
		}
	}
	if n := e.Retries(); n != 0 {
		t.Errorf("%d retries", n)
	}
}
