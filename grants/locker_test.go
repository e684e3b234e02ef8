package grants_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/internal/testwait"
)

// replicaScanners builds two scan runners over one database, sharing their schedule through
// the store: on PostgreSQL two harnesses (two replicas: two handles, two services); on SQLite,
// one process, two runners over one harness.
func replicaScanners(t *testing.T, driver, spec string) (*gt.Harness, [2]*grants.ScanRunner) {
	t.Helper()
	harness := func(dsn string) *gt.Harness {
		l := gt.NewFakeLister()
		l.AddHolder("mallory", "role analyst")
		r := gt.DefaultResource()
		r.Adapter = l
		return gt.New(t, gt.Options{Resources: []*grants.Resource{r}, Driver: driver, DSN: dsn})
	}
	var hs [2]*gt.Harness
	if driver == "postgres" {
		dsn := pgtest.Shared(t).NewDatabase(t)
		hs = [2]*gt.Harness{harness(dsn), harness(dsn)}
	} else {
		h := harness("")
		hs = [2]*gt.Harness{h, h}
	}
	var rs [2]*grants.ScanRunner
	for i, h := range hs {
		r, err := grants.NewScanRunner(newScanner(t, h, grants.ScanOptions{}), spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.UseLocker(h.DB)
		rs[i] = r
	}
	return hs[0], rs
}

func eachDriver(t *testing.T, test func(t *testing.T, driver string)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) { test(t, d) })
	}
}

// Two replicas fire the same hourly scan at once, and again a little later: one scan per firing.
func TestAScheduledScanRunsOncePerFiringAcrossReplicas(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h, rs := replicaScanners(t, driver, "0 * * * *")
		slot := gt.Start.Add(time.Hour)
		for round := 1; round <= 3; round++ {
			var wg sync.WaitGroup
			var mu sync.Mutex
			ran := 0
			for _, r := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rep, did, err := r.RunScheduled(h.Ctx, slot)
					if err != nil {
						t.Errorf("RunScheduled: %v", err)
					}
					if did {
						mu.Lock()
						ran++
						mu.Unlock()
						wantFindings(t, rep, "prod-db/mallory/no_grant")
					}
				}()
			}
			testwait.Wait(t, &wg, "the replicas' scheduled scans")
			if ran != 1 {
				t.Fatalf("firing %d: %d replicas scanned, want 1", round, ran)
			}
			// A replica whose timer fires late for the same slot finds it done.
			if _, did, err := rs[round%2].RunScheduled(h.Ctx, slot); err != nil || did {
				t.Fatalf("firing %d again: ran %v, %v; want skipped", round, did, err)
			}
			if n := len(scanEvents(h)); n != round {
				t.Fatalf("%d scan events after %d firings", n, round)
			}
			slot = slot.Add(time.Hour)
		}
	})
}

// A scan under way in one replica is not started in another.
func TestAScanUnderWayElsewhereIsNotStartedAgain(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h, rs := replicaScanners(t, driver, "0 * * * *")
		release, ok, err := h.DB.TryLock(h.Ctx, "job:scan")
		if err != nil || !ok {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		if _, did, err := rs[1].RunScheduled(h.Ctx, gt.Start.Add(time.Hour)); err != nil || did {
			t.Fatalf("ran %v, %v while the lock was held elsewhere", did, err)
		}
		release()
		if _, did, err := rs[1].RunScheduled(h.Ctx, gt.Start.Add(time.Hour)); err != nil || !did {
			t.Fatalf("ran %v, %v once the lock was free", did, err)
		}
	})
}

// "@every" counts from each process's start, so replicas fire at different moments: a firing
// within a period of the last run is covered by it; one that fails leaves the next to run.
func TestRunOnceWithAnEveryScheduleAndAFailedRun(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h, _ := replicaScanners(t, driver, "@every 1h")
		next := cron.Every(time.Hour).Next
		runs := 0
		job := func(context.Context) error { runs++; return nil }
		t0 := gt.Start
		steps := []struct {
			at   time.Duration
			fail bool
			want bool
		}{
			{at: 0, want: true},                         // replica A
			{at: 20 * time.Minute, want: false},         // replica B, 20 minutes later
			{at: time.Hour, want: true},                 // A
			{at: 80 * time.Minute, want: false},         // B
			{at: 2 * time.Hour, fail: true, want: true}, // A fails
			{at: 140 * time.Minute, want: true},         // B runs what A could not
			{at: 3 * time.Hour, want: false},            // A: B's run covers it
			{at: 200 * time.Minute, want: true},         // B
		}
		for i, s := range steps {
			fn := job
			if s.fail {
				fn = func(context.Context) error { return errors.New("target down") }
			}
			ran, err := grants.RunOnce(h.Ctx, h.DB, "test", t0.Add(s.at), next, fn)
			if ran != s.want || (err != nil) != s.fail {
				t.Fatalf("step %d (+%s): ran %v, %v; want ran %v", i, s.at, ran, err, s.want)
			}
		}
		if runs != 4 {
			t.Errorf("%d successful runs, want 4", runs)
		}
	})
}
