package bot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/internal/clock"
)

// This file holds the plumbing that every platform with an HTTP endpoint wraps around the
// handler the same way: read and verify a request, then answer it within the seconds the
// platform waits, or acknowledge it and let the work finish.

// InternalErrorText is what a person is told when handling their request failed on our side
// (a panic): there is nothing they did wrong, and nothing more to say.
const InternalErrorText = "Something went wrong on our side. Try again, and tell your admins if it keeps happening."

// SignatureVerifier checks an inbound request's signature against its body (Slack's HMAC,
// Discord's Ed25519). Verify returns nil only for a request the platform signed, fresh and not
// seen before; an error that wraps ErrReplayUnchecked means a signed request whose replay check
// could not be made.
type SignatureVerifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) error
}

// ReadVerified reads r's body, at most maxBody bytes, and checks its signature with v. A
// request that fails has been answered and ok is false: 413 or 400 when the body cannot be
// read, 401 when the signature is refused, which failures records, and 503 when the replay
// store could not be asked (fail closed: the request is not handled). Nothing of a refused
// request is parsed, so forged input never reaches a parser.
func ReadVerified(w http.ResponseWriter, r *http.Request, maxBody int64, v SignatureVerifier, failures *AuthFailures) (body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "cannot read request", http.StatusBadRequest)
		return nil, false
	}
	if err := v.Verify(r.Context(), r.Header, body); err != nil {
		if errors.Is(err, ErrReplayUnchecked) {
			failures.log.Error().Err(err).Str("path", r.URL.Path).Msg("refused a signed request: its replay check failed")
			http.Error(w, "cannot check the request now; try again", http.StatusServiceUnavailable)
			return nil, false
		}
		failures.Record(r.Context(), r, err)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// Answerer runs a platform's handling of inbound requests, each producing a T, within the time
// the platform waits for an answer: a result ready within Budget is the answer; otherwise the
// platform is acknowledged at once (Slack's "working on it", Discord's deferred response) and
// the result is delivered late, when it comes. Work runs on its own goroutine, where a panic
// would end the process, so a panic becomes a logged error and the Failed result.
//
// Set the fields before the first Answer and do not copy an Answerer after it. It is safe for
// concurrent use.
type Answerer[T any] struct {
	// Budget is how long Answer waits for a result before the platform is acknowledged.
	Budget time.Duration
	// LateTimeout bounds the work, and the late delivery of its result, from its start.
	LateTimeout time.Duration
	// Clock times the budget (the wall clock when nil).
	Clock clock.Clock
	// Log receives panics.
	Log zerolog.Logger
	// What names a request in the log line of a panic: "a Slack request".
	What string
	// Failed is the result of work that panicked: a generic error answer (the zero T when nil).
	Failed func() T

	wg sync.WaitGroup
}

// Answer runs work on a context detached from ctx (a request's context ends with its answer),
// bounded by LateTimeout. When work finishes within Budget, and before ctx ends, Answer
// returns its result and true. Otherwise it returns false at once, for the caller to
// acknowledge the platform, and late, when not nil, receives work's result when it finishes,
// on the same context.
func (a *Answerer[T]) Answer(ctx context.Context, work func(context.Context) T, late func(context.Context, T)) (T, bool) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.LateTimeout)
	done := make(chan T, 1)
	a.Go(func() { done <- a.safely(wctx, work) })
	clk := a.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	timer := clk.NewTimer(a.Budget)
	defer timer.Stop()
	select {
	case result := <-done:
		cancel()
		return result, true
	case <-timer.C():
	case <-ctx.Done():
	}
	a.Go(func() {
		defer cancel()
		result := <-done
		if late != nil {
			late(wctx, result)
		}
	})
	var zero T
	return zero, false
}

// Go runs f on its own goroutine, which Wait waits for: for a platform's other work that goes
// on after its caller returns (answering over a websocket).
func (a *Answerer[T]) Go(f func()) { a.wg.Go(f) }

// Wait blocks until the work still running after its acknowledgement, and every Go, is done.
func (a *Answerer[T]) Wait() { a.wg.Wait() }

// safely runs work, turning a panic into the Failed result.
func (a *Answerer[T]) safely(ctx context.Context, work func(context.Context) T) (result T) {
	defer func() {
		if p := recover(); p != nil {
			a.Log.Error().Interface("panic", p).Str("stack", string(debug.Stack())).Msg("panic while handling " + a.What)
			if a.Failed != nil {
				result = a.Failed()
			}
		}
	}()
	return work(ctx)
}
