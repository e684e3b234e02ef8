package schedule

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/internal/clock"
)

var start = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// hourly fires on every hour.
func hourly(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) }

// armed waits until the loop waits on a timer, and returns when that timer fires.
func armed(t *testing.T, clk *clock.Fake) time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the loop never armed its timer")
		}
		time.Sleep(time.Millisecond)
	}
	at, _ := clk.NextTimer()
	return at
}

func TestRunFiresAtEachTimeTheScheduleNames(t *testing.T) {
	clk := clock.NewFake(start)
	ctx, cancel := context.WithCancel(context.Background())
	fired := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop{Name: "test", Clock: clk, Next: hourly, Log: zerolog.Nop()}.Run(ctx, func(_ context.Context, at time.Time) {
			fired <- at
		})
	}()
	for _, want := range []time.Time{start.Add(30 * time.Minute), start.Add(90 * time.Minute)} {
		if at := armed(t, clk); !at.Equal(want) {
			t.Fatalf("the timer is armed for %s, want %s", at, want)
		}
		clk.Advance(want.Sub(clk.Now()))
		if got := <-fired; !got.Equal(want) {
			t.Errorf("fired with %s, want the scheduled time %s", got, want)
		}
	}
	armed(t, clk)
	cancel()
	<-done
}

func TestAFiringThatOverrunsTheNextSkipsIt(t *testing.T) {
	clk := clock.NewFake(start)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu  sync.Mutex
		got []time.Time
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop{Name: "test", Clock: clk, Next: hourly, Log: zerolog.Nop()}.Run(ctx, func(_ context.Context, at time.Time) {
			mu.Lock()
			got = append(got, at)
			mu.Unlock()
			clk.Advance(90 * time.Minute) // runs from 10:00 to 11:30, past 11:00
		})
	}()
	clk.Advance(armed(t, clk).Sub(clk.Now()))
	if at := armed(t, clk); !at.Equal(start.Add(150 * time.Minute)) {
		t.Errorf("after a firing that ran to 11:30 the timer is armed for %s, want 12:00", at.Format("15:04"))
	}
	cancel()
	<-done
	if len(got) != 1 {
		t.Errorf("fired %d times, want once", len(got))
	}
}

func TestAScheduleThatNeverFiresIsLoggedAndWaitsForTheContext(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		never := func(time.Time) time.Time { return time.Time{} }
		Loop{Name: "digest", Clock: clock.NewFake(start), Next: never, Log: zerolog.New(&buf)}.Run(ctx, func(context.Context, time.Time) {
			t.Error("a schedule without firings fired")
		})
	}()
	select {
	case <-done:
		t.Fatal("Run returned before the context was done")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	<-done
	if !strings.Contains(buf.String(), "the digest schedule never fires again") {
		t.Errorf("log %q does not say the schedule never fires again", buf.String())
	}
}
