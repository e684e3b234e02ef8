package bot_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

var inboundT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// newAnswerer returns an Answerer of strings on clk, logging into logs.
func newAnswerer(clk clock.Clock, logs *bytes.Buffer) *bot.Answerer[string] {
	return &bot.Answerer[string]{
		Budget: 2500 * time.Millisecond, LateTimeout: time.Minute, Clock: clk,
		Log: zerolog.New(logs), What: "a test request",
		Failed: func() string { return "sorry" },
	}
}

func TestAResultWithinTheBudgetIsTheAnswer(t *testing.T) {
	var logs bytes.Buffer
	a := newAnswerer(clock.NewFake(inboundT0), &logs)
	late := false
	got, inTime := a.Answer(context.Background(), func(context.Context) string { return "done" },
		func(context.Context, string) { late = true })
	a.Wait()
	if got != "done" || !inTime {
		t.Errorf("Answer = %q, %v; want the work's result in time", got, inTime)
	}
	if late {
		t.Error("the late step ran for a result that was in time")
	}
}

func TestASlowResultIsAcknowledgedAndDeliveredLate(t *testing.T) {
	var logs bytes.Buffer
	// The work cannot finish before release, so the budget (on the wall clock, a millisecond)
	// runs out first however the goroutines are scheduled.
	a := newAnswerer(clock.Real{}, &logs)
	a.Budget = time.Millisecond
	release := make(chan struct{})
	var delivered string
	var lateCtxLive bool
	got, inTime := a.Answer(context.Background(),
		func(context.Context) string { <-release; return "slow" },
		func(ctx context.Context, result string) { delivered, lateCtxLive = result, ctx.Err() == nil })
	if got != "" || inTime {
		t.Errorf("Answer = %q, %v; want an acknowledgement (zero, false)", got, inTime)
	}
	close(release)
	a.Wait()
	if delivered != "slow" || !lateCtxLive {
		t.Errorf("late step got %q (context live %v), want the work's result on a live context", delivered, lateCtxLive)
	}
}

func TestTheWorkOutlivesTheRequestsContext(t *testing.T) {
	var logs bytes.Buffer
	a := newAnswerer(clock.NewFake(inboundT0), &logs)
	ctx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	var workErr error
	go func() {
		<-started
		cancel()
	}()
	_, inTime := a.Answer(ctx, func(wctx context.Context) string {
		close(started)
		<-release
		workErr = wctx.Err()
		return "after"
	}, nil)
	if inTime {
		t.Error("Answer waited for the work after the request's context ended")
	}
	close(release)
	a.Wait()
	if workErr != nil {
		t.Errorf("the work's context ended with the request's: %v", workErr)
	}
}

func TestAPanicBecomesTheFailedAnswerAndALogLine(t *testing.T) {
	var logs bytes.Buffer
	a := newAnswerer(clock.NewFake(inboundT0), &logs)
	got, inTime := a.Answer(context.Background(), func(context.Context) string { panic("handler bug") }, nil)
	a.Wait()
	if got != "sorry" || !inTime {
		t.Errorf("Answer = %q, %v; want the Failed answer in time", got, inTime)
	}
	if line := logs.String(); !strings.Contains(line, "panic while handling a test request") || !strings.Contains(line, "handler bug") {
		t.Errorf("log = %s, want the panic and what was handled", line)
	}
}

func TestWaitWaitsForEveryGo(t *testing.T) {
	var logs bytes.Buffer
	a := newAnswerer(clock.NewFake(inboundT0), &logs)
	var n atomic.Int32
	for range 10 {
		a.Go(func() {
			time.Sleep(time.Millisecond)
			n.Add(1)
		})
	}
	a.Wait()
	if got := n.Load(); got != 10 {
		t.Errorf("Wait returned after %d of 10", got)
	}
}
