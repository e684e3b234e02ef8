package tickets

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/internal/clock"
)

// WebhookPath is the route of a system's webhook: POST /tickets/<name>/webhook.
func WebhookPath(system string) string { return "/tickets/" + system + "/webhook" }

// Headers of the webhooks. Jira signs the body with the webhook's secret as
// "X-Hub-Signature: sha256=<hex HMAC-SHA256>"; ServiceNow has no webhook of its own, so its
// business rule (README) signs "<timestamp>.<body>" the same way under X-Accessbot-Signature,
// with the Unix seconds in X-Accessbot-Timestamp.
const (
	JiraSignatureHeader = "X-Hub-Signature"
	SignatureHeader     = "X-Accessbot-Signature"
	TimestampHeader     = "X-Accessbot-Timestamp"
	maxWebhookBody      = 1 << 20
	webhookWindow       = 5 * time.Minute
	webhookCheckTimeout = 10 * time.Second
)

// FailureRecorder records a refused webhook (bot.AuthFailures: a log line and an auth.failed
// audit event, rate-capped).
type FailureRecorder interface {
	Record(ctx context.Context, r *http.Request, reason error)
}

// Webhook is the handler of one system's webhook. A request whose signature does not verify,
// whose timestamp is outside five minutes, or that was seen already (a replay) is refused and
// recorded; a verified one names a ticket, which the Closer reads through the API: the payload
// says which ticket to read again, never whether it is closed.
type Webhook struct {
	system  System
	secret  []byte
	closer  *Closer
	refused FailureRecorder
	clock   clock.Clock

	mu   sync.Mutex
	seen map[string]time.Time // signature → when it is forgotten
}

// NewWebhook returns the webhook handler of sys.
func NewWebhook(sys System, secret []byte, c *Closer, refused FailureRecorder, clk clock.Clock) *Webhook {
	return &Webhook{system: sys, secret: secret, closer: c, refused: refused, clock: clk, seen: map[string]time.Time{}}
}

// ServeHTTP implements http.Handler.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body too large or unreadable", http.StatusBadRequest)
		return
	}
	key, err := h.verify(r, body)
	if err != nil {
		h.refused.Record(r.Context(), r, err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if key == "" {
		// A verified event about something else (a comment, a project): nothing to read.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), webhookCheckTimeout)
	defer cancel()
	if _, err := h.closer.CheckTicket(ctx, h.system.Name(), key); err != nil {
		h.closer.log.Warn().Err(err).Str("ticket", key).Msg("webhook: ticket re-check failed; the periodic check will try again")
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks the signature, the time and that the delivery is new, and returns the ticket key
// the payload names ("" for none).
func (h *Webhook) verify(r *http.Request, body []byte) (string, error) {
	now := h.clock.Now()
	var sig string
	var at time.Time
	switch h.system.Kind() {
	case KindJira:
		sig = r.Header.Get(JiraSignatureHeader)
		if !h.valid(sig, body) {
			return "", errors.New("jira webhook: bad or missing " + JiraSignatureHeader)
		}
		var p struct {
			Timestamp int64 `json:"timestamp"`
			Issue     struct {
				Key string `json:"key"`
			} `json:"issue"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return "", fmt.Errorf("jira webhook: signed body is not JSON: %w", err)
		}
		at = time.UnixMilli(p.Timestamp)
		if err := h.fresh(sig, at, now); err != nil {
			return "", err
		}
		return h.key(p.Issue.Key), nil
	default:
		sig = r.Header.Get(SignatureHeader)
		ts, err := strconv.ParseInt(r.Header.Get(TimestampHeader), 10, 64)
		if err != nil {
			return "", errors.New("webhook: missing or bad " + TimestampHeader)
		}
		signed := append([]byte(strconv.FormatInt(ts, 10)+"."), body...)
		if !h.valid(sig, signed) {
			return "", errors.New("webhook: bad or missing " + SignatureHeader)
		}
		if err := h.fresh(sig, time.Unix(ts, 0), now); err != nil {
			return "", err
		}
		var p struct {
			Number string `json:"number"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return "", fmt.Errorf("webhook: signed body is not JSON: %w", err)
		}
		return h.key(p.Number), nil
	}
}

// valid compares "sha256=<hex>" with the HMAC of msg, in constant time.
func (h *Webhook) valid(sig string, msg []byte) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || len(h.secret) == 0 {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, h.secret)
	m.Write(msg)
	return hmac.Equal(got, m.Sum(nil))
}

// fresh refuses a delivery from outside the window around now, or one already seen in it.
func (h *Webhook) fresh(sig string, at, now time.Time) error {
	if d := now.Sub(at); d > webhookWindow || d < -webhookWindow {
		return fmt.Errorf("webhook: timestamp %s is outside %s of now", at.UTC().Format(time.RFC3339), webhookWindow)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s, until := range h.seen {
		if now.After(until) {
			delete(h.seen, s)
		}
	}
	if _, dup := h.seen[sig]; dup {
		return errors.New("webhook: a replayed delivery")
	}
	h.seen[sig] = now.Add(2 * webhookWindow)
	return nil
}

// key returns k when it is a key of a ticket the system's policies could have named ("" when
// not: nothing of accessbot's can be tied to it, and the system is not asked).
func (h *Webhook) key(k string) string {
	k = strings.TrimSpace(k)
	if !ValidKey(k) || !h.closer.lookup.keyOf(h.system.Name(), k) {
		return ""
	}
	return k
}
