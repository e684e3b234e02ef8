package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// leadTime is how long after the end of setup the first grant expires: the scheduler is idle,
// waiting on its timer, when the window opens.
const leadTime = 3 * time.Second

// latenessResult is one run of the lateness benchmark.
type latenessResult struct {
	// Mode is "run" (Scheduler.Run: timer on the earliest due time) or "cron" (RunDue every
	// CronPeriod of wall time).
	Mode       string
	CronPeriod time.Duration
	N          int
	Window     time.Duration
	// Create is the time to make the N grants through the Service; Activate the time the
	// scheduler took to activate them all; Lead how long before the first expiry that was done.
	Create, Activate, Lead time.Duration
	// DB is revoked_at - expires_at as stored; Hook is what Metrics.RevokeLateness heard.
	DB, Hook dist
	Failures int
}

// calibrate measures what making and activating one grant costs on this machine, on a
// throwaway database, so that the lateness runs can place their window just after setup.
func calibrate(ctx context.Context, dir string) (time.Duration, error) {
	const n = 300
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	db, err := openStore(ctx, filepath.Join(dir, "calibrate.db"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	log, closeLog, err := fileLogger(filepath.Join(dir, "calibrate.log"))
	if err != nil {
		return 0, err
	}
	defer closeLog()
	rec := newRecorder(n)
	svc, err := newService(db, clock.Real{}, log, rec)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	expires := start.Add(time.Hour)
	if err := requestGrants(ctx, svc, clock.Real{}, n, func(int) time.Time { return expires }); err != nil {
		return 0, err
	}
	if _, err := grants.NewScheduler(svc, grants.SchedulerOptions{}).RunDue(ctx); err != nil {
		return 0, err
	}
	return time.Since(start) / n, nil
}

// runLateness makes n grants through the Service, expiring evenly over window starting a few
// seconds after setup, lets the scheduler activate them, and measures how late each is revoked.
// With cron 0 the scheduler runs as serve runs it (Scheduler.Run); otherwise the baseline: a
// loop that calls Scheduler.RunDue every cron of wall time, and nothing else.
func runLateness(ctx context.Context, dir string, n int, window, perGrant, cron time.Duration, cpuProfile string) (latenessResult, error) {
	res := latenessResult{Mode: "run", CronPeriod: cron, N: n, Window: window}
	if cron > 0 {
		res.Mode = "cron"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	db, err := openStore(ctx, filepath.Join(dir, "accessbot.db"))
	if err != nil {
		return res, err
	}
	defer db.Close()
	log, closeLog, err := fileLogger(filepath.Join(dir, "engine.log"))
	if err != nil {
		return res, err
	}
	defer closeLog()
	rec := newRecorder(n)
	svc, err := newService(db, clock.Real{}, log, rec)
	if err != nil {
		return res, err
	}

	// Setup gets half as long again as calibration predicts, plus slack.
	setupStart := time.Now()
	budget := time.Duration(1.5*float64(n)*float64(perGrant)) + 2*time.Second
	t0 := setupStart.Add(budget + leadTime)
	expiry := func(i int) time.Time { return t0.Add(window * time.Duration(i) / time.Duration(n)) }
	if err := requestGrants(ctx, svc, clock.Real{}, n, expiry); err != nil {
		return res, err
	}
	res.Create = time.Since(setupStart)

	sc := grants.NewScheduler(svc, grants.SchedulerOptions{})
	deadline := t0.Add(window + 2*max(cron, time.Minute))
	if cron == 0 {
		err = measureRun(ctx, sc, rec, &res, t0, deadline, cpuProfile)
	} else {
		err = measureCron(ctx, sc, rec, &res, t0, deadline, cron)
	}
	if err != nil {
		return res, err
	}

	list, err := svc.ListGrants(ctx, grants.GrantFilter{})
	if err != nil {
		return res, err
	}
	var late []time.Duration
	for _, g := range list {
		if g.State != grants.GrantRevoked {
			return res, fmt.Errorf("grant %s is %s after the run, not revoked", g.ID, g.State)
		}
		late = append(late, g.RevokedAt.Sub(g.ExpiresAt))
	}
	if len(late) != n {
		return res, fmt.Errorf("found %d grants, made %d", len(late), n)
	}
	res.DB = distribution(late)
	res.Hook = distribution(rec.latenesses())
	res.Failures = rec.failures
	return res, nil
}

// measureRun runs Scheduler.Run (which activates the grants in its start-up pass) until every
// grant has been revoked.
func measureRun(ctx context.Context, sc *grants.Scheduler, rec *recorder, res *latenessResult, t0, deadline time.Time, cpuProfile string) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var runErr error
	runDone := make(chan struct{})
	start := time.Now()
	go func() {
		runErr = sc.Run(runCtx)
		close(runDone)
	}()
	defer func() {
		stop()
		<-runDone
	}()
	if err := waitFor(ctx, rec.activated, t0, runDone); err != nil {
		return fmt.Errorf("activate %d grants before the first expiry: %w", res.N, err)
	}
	res.Activate = time.Since(start)
	res.Lead = time.Until(t0)
	if res.Lead < 500*time.Millisecond {
		return fmt.Errorf("setup ended %s before the first expiry; rerun (the machine was slower than calibration said)", res.Lead)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := waitFor(ctx, rec.revoked, deadline, runDone); err != nil {
		return fmt.Errorf("revoke %d grants: %w", res.N, err)
	}
	stop()
	<-runDone
	if runErr != nil {
		return fmt.Errorf("scheduler: %w", runErr)
	}
	return nil
}

// measureCron is the baseline: RunDue at tick0 (which activates the grants) and then every
// period of wall time, at fixed times, until every grant has been revoked.
func measureCron(ctx context.Context, sc *grants.Scheduler, rec *recorder, res *latenessResult, t0, deadline time.Time, period time.Duration) error {
	tick0 := time.Now()
	if _, err := sc.RunDue(ctx); err != nil {
		return fmt.Errorf("first pass: %w", err)
	}
	if rec.granted.Load() != int64(res.N) {
		return fmt.Errorf("first pass activated %d of %d grants", rec.granted.Load(), res.N)
	}
	res.Activate = time.Since(tick0)
	res.Lead = time.Until(t0)
	if res.Lead < 500*time.Millisecond {
		return fmt.Errorf("setup ended %s before the first expiry; rerun", res.Lead)
	}
	for k := 1; ; k++ {
		next := tick0.Add(time.Duration(k) * period)
		if next.After(deadline) {
			return fmt.Errorf("not every grant was revoked by %s", deadline.Format(time.RFC3339))
		}
		if err := sleep(ctx, time.Until(next)); err != nil {
			return err
		}
		if _, err := sc.RunDue(ctx); err != nil {
			return fmt.Errorf("pass %d: %w", k, err)
		}
		select {
		case <-rec.revoked:
			return nil
		default:
		}
	}
}

// waitFor waits until ch is closed, failing at deadline, when ctx ends or when the scheduler
// returns early.
func waitFor(ctx context.Context, ch <-chan struct{}, deadline time.Time, runDone <-chan struct{}) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("timed out")
	case <-runDone:
		return errors.New("the scheduler returned early")
	}
}
