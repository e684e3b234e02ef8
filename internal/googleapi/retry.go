package googleapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/accessbot/accessbot/internal/backoff"
)

// IsTransient reports whether Google's answer says to try again: 429 RESOURCE_EXHAUSTED or a
// 5xx.
func IsTransient(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && (ge.Code == http.StatusTooManyRequests || ge.Code >= 500)
}

// Retry calls call until it succeeds, fails with an answer that is not transient, or has been
// tried maxAttempts times, waiting with wait (attempt from 1) between tries.
func Retry(ctx context.Context, maxAttempts int, wait func(ctx context.Context, attempt int) error, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := call(ctx)
		if err == nil || !IsTransient(err) || attempt >= maxAttempts {
			return err
		}
		if werr := wait(ctx, attempt); werr != nil {
			return fmt.Errorf("%w (waiting to retry: %w)", err, werr)
		}
	}
}

// delays is the backoff between tries: 0.5 s doubling to 16 s, with 20% jitter.
var delays = backoff.Policy{Base: 500 * time.Millisecond, Max: 16 * time.Second, Jitter: backoff.Spread(0.2)}

// Backoff sleeps the delay before the try after the attempt-th failure, or returns the
// context's error.
func Backoff(ctx context.Context, attempt int) error {
	return backoff.Sleep(ctx, delays.Delay(attempt, nil))
}

// DefaultClient returns an HTTP client that authenticates with Google's Application Default
// Credentials for scope. The token source keeps the context it is built with for fetching
// tokens later, so it gets one that outlives ctx, carrying an HTTP client whose timeout bounds
// each token fetch (the calls' own contexts do not reach it).
func DefaultClient(ctx context.Context, scope string, timeout time.Duration) (*http.Client, error) {
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, &http.Client{Timeout: timeout})
	creds, err := google.FindDefaultCredentials(tctx, scope)
	if err != nil {
		return nil, fmt.Errorf("find Google's Application Default Credentials: %w", err)
	}
	return oauth2.NewClient(tctx, creds.TokenSource), nil
}

// TokenSourceClient returns an HTTP client that authenticates with ts's tokens.
func TokenSourceClient(ts oauth2.TokenSource) *http.Client {
	return &http.Client{Transport: &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, ts)}}
}
