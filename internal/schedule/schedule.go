// Package schedule runs a job at the times a schedule names, timed by an injected clock: the
// one copy of the "compute the next firing, wait on the clock, run, repeat" loop that the
// scheduled scan (grants) and the digest (bot) share.
package schedule

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/internal/clock"
)

// Loop is a job that runs on a schedule.
type Loop struct {
	// Name names the job in the log ("scan" logs "the scan schedule never fires again").
	Name string
	// Clock times the waits; tests move a clock.Fake.
	Clock clock.Clock
	// Next returns the first firing after t, or the zero time when the schedule never fires
	// again (a cron.Schedule's Next, in the job's time zone).
	Next func(t time.Time) time.Time
	// Log is where a schedule that never fires again is reported.
	Log zerolog.Logger
}

// Run calls fire with each firing time the schedule names, until ctx is done. fire runs in
// Run's goroutine: a firing that lasts past the next one skips it rather than overlapping it,
// since the next firing is computed from the clock's time once fire returns. A schedule that
// never fires again is logged as a warning, and Run then only waits for ctx.
func (l Loop) Run(ctx context.Context, fire func(ctx context.Context, at time.Time)) {
	timer := l.Clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		now := l.Clock.Now()
		next := l.Next(now)
		if next.IsZero() {
			l.Log.Warn().Msgf("the %s schedule never fires again", l.Name)
			<-ctx.Done()
			return
		}
		timer.Reset(next.Sub(now))
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
		fire(ctx, next)
	}
}
