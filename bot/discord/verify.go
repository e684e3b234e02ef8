package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

// The headers Discord signs its interaction requests with.
const (
	HeaderSignature = "X-Signature-Ed25519"
	HeaderTimestamp = "X-Signature-Timestamp"
)

// Why a request was refused. Verify returns or wraps one of these.
var (
	ErrMissingSignature = errors.New("missing signature headers")
	ErrMalformed        = errors.New("malformed signature headers")
	ErrStale            = errors.New("timestamp outside the allowed window")
	ErrBadSignature     = errors.New("signature does not match")
	ErrReplayed         = errors.New("signature already used")
	ErrNoKey            = errors.New("no public key configured")
)

// DefaultWindow is how far a request's timestamp may be from now.
const DefaultWindow = 5 * time.Minute

// DefaultReplayEntries bounds the replay cache. Only requests with a valid signature enter it,
// so only Discord's own traffic fills it.
const DefaultReplayEntries = bot.DefaultReplayEntries

// ParsePublicKey reads the application's public key as the Developer Portal shows it (hex).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("discord: the public key is not %d hex-encoded bytes", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Verifier checks Discord's interaction signatures: Ed25519 with the application's public key
// over timestamp + body, a timestamp within Window of now, and each signature accepted once.
// Discord sends requests with bad signatures on purpose to check that they are refused. Set its
// fields before the first Verify; it is safe for concurrent use.
type Verifier struct {
	// Key is the application's public key.
	Key ed25519.PublicKey
	// Window is how far the timestamp may be from now, either way (DefaultWindow when 0).
	Window time.Duration
	// Clock tells the time (the wall clock when nil).
	Clock clock.Clock
	// MaxEntries bounds the replay cache of this process (DefaultReplayEntries when 0), when
	// Replay is nil; when full, the oldest entry goes.
	MaxEntries int
	// Replay remembers the accepted signatures; replicas share one (the database's) so that
	// the deployment accepts a request once. Nil: a cache in this process.
	Replay bot.ReplayStore

	replayOnce sync.Once
	// replay is Replay, or the cache of this process, set at the first Verify.
	replay bot.ReplayStore
}

// Verify checks the signature headers against body. It returns nil only for a request signed
// with the application's key, fresh, and not seen before; the error is or wraps one of the
// Err* values, or bot.ErrReplayUnchecked when the replay store could not answer (the request
// is refused), and never includes the body or the signature.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	if len(v.Key) != ed25519.PublicKeySize {
		return ErrNoKey
	}
	sigHex, tsText := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sigHex == "" || tsText == "" {
		return ErrMissingSignature
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrMalformed
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts <= 0 {
		return ErrMalformed
	}
	now := v.now()
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > v.window() || d < -v.window() {
		return fmt.Errorf("%w: %s off", ErrStale, d.Round(time.Second))
	}
	msg := make([]byte, 0, len(tsText)+len(body))
	msg = append(append(msg, tsText...), body...)
	if !ed25519.Verify(v.Key, msg, sig) {
		return ErrBadSignature
	}
	// The key is the signature in lower-case hex, however it was written, and names the
	// platform: replicas may share one store for Slack and Discord.
	replayed, err := bot.CheckReplay(ctx, v.replayStore(), "discord:"+hex.EncodeToString(sig), now, at.Add(v.window()))
	if err != nil {
		return err
	}
	if replayed {
		return ErrReplayed
	}
	return nil
}

// replayStore returns Replay, or else a cache of this process bounded by MaxEntries, chosen
// at its first use.
func (v *Verifier) replayStore() bot.ReplayStore {
	v.replayOnce.Do(func() {
		v.replay = v.Replay
		if v.replay == nil {
			v.replay = &bot.ReplayCache{MaxEntries: v.MaxEntries}
		}
	})
	return v.replay
}

func (v *Verifier) window() time.Duration {
	if v.Window > 0 {
		return v.Window
	}
	return DefaultWindow
}

func (v *Verifier) now() time.Time {
	if v.Clock == nil {
		return time.Now()
	}
	return v.Clock.Now()
}
