package bot_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

var inboundT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// newAnswerer returns an Answerer of strings on a fake clock, logging into logs.
func newAnswerer(clk clock.Clock, logs *bytes.Buffer) *bot.Answerer[string] {
	return &bot.Answerer[string]{
		Budget: 2500 * time.Millisecond, LateTimeout: time.Minute, Clock: clk,
		Log: zerolog.New(logs), What: "a test request",
		Failed: func() string { return "sorry" },
	}
}

// waitForTimer waits until a goroutine has armed a timer on clk.
func waitForTimer(t *testing.T, clk *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the budget timer was never armed")
		}
		time.Sleep(time.Millisecond)
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
	clk := clock.NewFake(inboundT0)
	a := newAnswerer(clk, &logs)
	release := make(chan struct{})
	var mu sync.Mutex
	var delivered string
	var lateCtxLive bool
	type answer struct {
		result string
		inTime bool
	}
	answered := make(chan answer, 1)
	go func() {
		got, inTime := a.Answer(context.Background(),
			func(context.Context) string { <-release; return "slow" },
			func(ctx context.Context, result string) {
				mu.Lock()
				defer mu.Unlock()
				delivered, lateCtxLive = result, ctx.Err() == nil
			})
		answered <- answer{got, inTime}
	}()
	waitForTimer(t, clk)
	clk.Advance(2500 * time.Millisecond)
	if got := <-answered; got.result != "" || got.inTime {
		t.Errorf("Answer = %q, %v; want an acknowledgement (zero, false)", got.result, got.inTime)
	}
	close(release)
	a.Wait()
	mu.Lock()
	defer mu.Unlock()
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
	var mu sync.Mutex
	n := 0
	for range 10 {
		a.Go(func() {
			time.Sleep(time.Millisecond)
			mu.Lock()
			n++
			mu.Unlock()
		})
	}
	a.Wait()
	if n != 10 {
		t.Errorf("Wait returned after %d of 10", n)
	}
}

// verifierFunc is a bot.SignatureVerifier from a function.
type verifierFunc func(http.Header, []byte) error

func (f verifierFunc) Verify(h http.Header, body []byte) error { return f(h, body) }

// auditRecorder is a bot.AuditLog that keeps the events.
type auditRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *auditRecorder) AppendAudit(_ context.Context, e audit.Event) (audit.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return e, nil
}

func TestReadVerified(t *testing.T) {
	errForged := errors.New("signature does not match")
	accept := verifierFunc(func(http.Header, []byte) error { return nil })
	refuse := verifierFunc(func(http.Header, []byte) error { return errForged })
	tests := []struct {
		name     string
		body     string
		verifier bot.SignatureVerifier
		status   int
		audited  int
	}{
		{"a signed request's body is returned", "text=list", accept, http.StatusOK, 0},
		{"a refused signature is answered 401 and recorded", "text=list", refuse, http.StatusUnauthorized, 1},
		{"a body over the limit is answered 413 and not verified", strings.Repeat("x", 65), refuse, http.StatusRequestEntityTooLarge, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &auditRecorder{}
			failures := bot.NewAuthFailures("test", log, clock.NewFake(inboundT0), zerolog.Nop())
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/test/commands", strings.NewReader(tt.body))
			body, ok := bot.ReadVerified(w, r, 64, tt.verifier, failures)
			if ok != (tt.status == http.StatusOK) || w.Code != tt.status {
				t.Fatalf("ReadVerified ok %v, status %d; want status %d", ok, w.Code, tt.status)
			}
			if ok && string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if len(log.events) != tt.audited {
				t.Errorf("%d auth.failed events, want %d", len(log.events), tt.audited)
			}
		})
	}
}
