package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

// The headers Slack signs its requests with.
const (
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	HeaderSignature = "X-Slack-Signature"
)

// Why a request was refused. Verify wraps one of these.
var (
	ErrMissingSignature = bot.ErrMissingSignature
	ErrMalformed        = bot.ErrMalformed
	ErrStale            = bot.ErrStale
	ErrBadSignature     = bot.ErrBadSignature
	ErrReplayed         = bot.ErrReplayed
	ErrNoSecret         = errors.New("no signing secret configured")
)

// DefaultWindow is how far a request's timestamp may be from now, as Slack recommends.
const DefaultWindow = bot.DefaultSignatureWindow

// DefaultReplayEntries bounds the replay cache. Only requests with a valid signature enter it,
// so only Slack's own traffic fills it: 50,000 entries is more than 150 requests a second for
// the whole window.
const DefaultReplayEntries = bot.DefaultReplayEntries

// Verifier checks Slack's request signatures: HMAC-SHA256 with the signing secret over
// "v0:" + timestamp + ":" + body, a timestamp within Window of now, and each signature accepted
// once. Its zero value with Secret set is ready to use (set the other fields before the first
// Verify); it is safe for concurrent use.
type Verifier struct {
	// Secret is the app's signing secret.
	Secret []byte
	// Window is how far the timestamp may be from now, either way (DefaultWindow when 0).
	Window time.Duration
	// Clock tells the time (the wall clock when nil).
	Clock clock.Clock
	// MaxEntries bounds the replay cache of this process (DefaultReplayEntries when 0), when
	// Replay is nil. When it is full the oldest entry is dropped: a replay of that request
	// would then pass, which only matters past MaxEntries signed requests within one Window.
	MaxEntries int
	// Replay remembers the accepted signatures; replicas share one (the database's) so that
	// the deployment accepts a request once. Nil: a cache in this process.
	Replay bot.ReplayStore

	// accepted remembers the accepted signatures in Replay, or a cache of this process.
	accepted bot.AcceptOnce
}

// NewVerifier returns a Verifier for the signing secret.
func NewVerifier(secret string, clk clock.Clock) *Verifier {
	return &Verifier{Secret: []byte(secret), Clock: clk}
}

// Verify checks the signature headers against body. It returns nil only for a request signed
// with the secret, fresh, and not seen before; the error wraps one of the Err* values, or
// bot.ErrReplayUnchecked when the replay store could not answer (the request is refused). It
// never includes the body or the expected signature in the error.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	if len(v.Secret) == 0 {
		return ErrNoSecret
	}
	tsText, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if tsText == "" || sig == "" {
		return ErrMissingSignature
	}
	if !strings.HasPrefix(sig, "v0=") {
		return ErrMalformed
	}
	now := bot.Now(v.Clock)
	at, err := bot.CheckTimestamp(tsText, now, v.Window)
	if err != nil {
		return err
	}
	want := sign(v.Secret, tsText, body)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return ErrBadSignature
	}
	// The key names the platform: replicas may share one store for Slack and Discord.
	return v.accepted.Check(ctx, v.Replay, v.MaxEntries, "slack:"+sig, now, at, v.Window)
}

// sign returns the X-Slack-Signature value for body sent at timestamp ts, as Slack computes it.
func sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}
