package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
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
	ErrMissingSignature = bot.ErrMissingSignature
	ErrMalformed        = bot.ErrMalformed
	ErrStale            = bot.ErrStale
	ErrBadSignature     = bot.ErrBadSignature
	ErrReplayed         = bot.ErrReplayed
	ErrNoKey            = errors.New("no public key configured")
)

// DefaultWindow is how far a request's timestamp may be from now.
const DefaultWindow = bot.DefaultSignatureWindow

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

	// accepted remembers the accepted signatures in Replay, or a cache of this process.
	accepted bot.AcceptOnce
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
	now := bot.Now(v.Clock)
	at, err := bot.CheckTimestamp(tsText, now, v.Window)
	if err != nil {
		return err
	}
	msg := make([]byte, 0, len(tsText)+len(body))
	msg = append(append(msg, tsText...), body...)
	if !ed25519.Verify(v.Key, msg, sig) {
		return ErrBadSignature
	}
	// The key is the signature in lower-case hex, however it was written, and names the
	// platform: replicas may share one store for Slack and Discord.
	return v.accepted.Check(ctx, v.Replay, v.MaxEntries, "discord:"+hex.EncodeToString(sig), now, at, v.Window)
}
