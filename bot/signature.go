package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/accessbot/accessbot/internal/clock"
)

// Why a platform refused a signed request. Each platform's package re-exports them
// (slack.ErrStale is ErrStale), so errors.Is answers the same with either name; only the
// signature itself (HMAC for Slack, Ed25519 for Discord) differs by platform.
var (
	ErrMissingSignature = errors.New("missing signature headers")
	ErrMalformed        = errors.New("malformed signature headers")
	ErrStale            = errors.New("timestamp outside the allowed window")
	ErrBadSignature     = errors.New("signature does not match")
	ErrReplayed         = errors.New("signature already used")
)

// DefaultSignatureWindow is how far a signed request's timestamp may be from now, either way,
// as Slack recommends: a captured request is worthless after it.
const DefaultSignatureWindow = 5 * time.Minute

// SignatureWindow returns window, or DefaultSignatureWindow when it is not positive (a
// Verifier's Window left at zero).
func SignatureWindow(window time.Duration) time.Duration {
	if window > 0 {
		return window
	}
	return DefaultSignatureWindow
}

// Now returns clk's time, or the wall clock's when clk is nil (a Verifier's Clock left unset).
func Now(clk clock.Clock) time.Time {
	if clk == nil {
		return time.Now()
	}
	return clk.Now()
}

// CheckTimestamp reads a signed request's timestamp, positive Unix seconds in decimal, and
// checks that it is within window of now, either way (SignatureWindow(window)). It returns the
// timestamp, or ErrMalformed, or an error that wraps ErrStale and says how far off it was.
func CheckTimestamp(tsText string, now time.Time, window time.Duration) (time.Time, error) {
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts <= 0 {
		return time.Time{}, ErrMalformed
	}
	at := time.Unix(ts, 0)
	window = SignatureWindow(window)
	if d := now.Sub(at); d > window || d < -window {
		return time.Time{}, fmt.Errorf("%w: %s off", ErrStale, d.Round(time.Second))
	}
	return at, nil
}

// AcceptOnce is a Verifier's last check: that a request with a good signature was not
// accepted before. It picks the ReplayStore at the first request, so that a Verifier's fields
// can be set after it is made. Its zero value is ready; it is safe for concurrent use.
type AcceptOnce struct {
	once  sync.Once
	store ReplayStore
}

// Check records key, from a request signed at the time at, until that request could no
// longer pass CheckTimestamp, and returns nil the first time, ErrReplayed after, or an error
// wrapping ErrReplayUnchecked when the store could not answer. The store is replay, or when
// that is nil a ReplayCache of this process bounded by maxEntries; both are read at the first
// Check only.
func (a *AcceptOnce) Check(ctx context.Context, replay ReplayStore, maxEntries int, key string,
	now, at time.Time, window time.Duration) error {
	a.once.Do(func() {
		a.store = replay
		if a.store == nil {
			a.store = &ReplayCache{MaxEntries: maxEntries}
		}
	})
	replayed, err := CheckReplay(ctx, a.store, key, now, at.Add(SignatureWindow(window)))
	if err != nil {
		return err
	}
	if replayed {
		return ErrReplayed
	}
	return nil
}
