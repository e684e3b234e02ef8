// Package webhook is the "webhook" adapter: it tells an HTTP endpoint of the operator's own about
// each grant, revocation and extension, and the endpoint does the work. Requests are JSON POSTs
// signed with HMAC-SHA256 over a timestamp and the body (see Verify, which receivers can use),
// carry an Idempotency-Key (see IdempotencyKey), and are retried within one call on 5xx answers and network errors.
//
// The receiver's contract: answer 2xx when the access exists (grant, extend) or is gone
// (revoke); 404 to a revoke means it was already gone, which is success; any other 4xx is a
// refusal that retrying will not change; 5xx asks to be called again. A grant's answer may carry
// {"lease": {...}, "secret": {"kind", "label", "value"}}: the lease comes back in the revoke
// request, the secret goes to the requester once.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/backoff"
)

// Header names of a signed request.
const (
	HeaderTimestamp   = "X-Accessbot-Timestamp"
	HeaderSignature   = "X-Accessbot-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// Actions a request carries in its "action" field.
const (
	ActionGrant  = "grant"
	ActionRevoke = "revoke"
	ActionExtend = "extend"
)

const (
	defaultTimeout  = 10 * time.Second
	defaultAttempts = 3
	maxAttempts     = 10
	// maxResponse bounds what is read of an answer: a lease and a secret, not a download.
	maxResponse = 1 << 20
	// maxErrorBody is how much of a refusal's body goes into the error, enough for a message
	// and short enough to keep logs readable.
	maxErrorBody = 200
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "webhook",
		Doc:       "POSTs grant, revoke and extend as signed JSON to an HTTP endpoint",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// SecretKey is the HMAC key. It prints as "[redacted]" with every fmt verb and in JSON, so a
// config dumped into a log line or an error keeps it secret.
type SecretKey string

func (SecretKey) String() string   { return "[redacted]" }
func (SecretKey) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the key.
func (SecretKey) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Config is the webhook adapter's configuration block.
type Config struct {
	// URL receives every POST; http or https.
	URL string `yaml:"url"`
	// Secret is the HMAC-SHA256 key shared with the receiver.
	Secret SecretKey `yaml:"secret"`
	// Timeout bounds each attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Headers are added to every request (an Authorization header for a gateway, say). They may
	// carry credentials and are never logged.
	Headers map[string]string `yaml:"headers"`
	// Retries is the number of attempts within one call, for 5xx answers and network errors. 1
	// means a single attempt; the scheduler retries the call itself later either way.
	Retries int `yaml:"retries"`
	// HealthURL, when set, is fetched with GET by Check and must answer 2xx.
	HealthURL string `yaml:"health_url"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{Timeout: defaultTimeout, Retries: defaultAttempts}
}

// String describes the config without the secret or the header values.
func (c Config) String() string {
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("webhook{url=%s timeout=%s retries=%d headers=%v health_url=%s}",
		redactURL(c.URL), c.Timeout, c.Retries, keys, redactURL(c.HealthURL))
}

// GoString is String, so %#v cannot print the secret either.
func (c Config) GoString() string { return c.String() }

// reserved headers are set by the adapter; letting the config replace them would break signing
// or idempotency.
var reserved = map[string]bool{
	"Content-Type":    true,
	"Content-Length":  true,
	"Host":            true,
	HeaderTimestamp:   true,
	HeaderSignature:   true,
	HeaderIdempotency: true,
}

// Validate checks the values without contacting the receiver.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("url is required")
	}
	if err := checkURL(c.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if c.HealthURL != "" {
		if err := checkURL(c.HealthURL); err != nil {
			return fmt.Errorf("health_url: %w", err)
		}
	}
	if c.Secret == "" {
		return errors.New("secret is required (the HMAC key shared with the receiver)")
	}
	if c.Secret == ExampleSecret && !loopback(c.URL) {
		// Anyone who has read the example config could sign requests to that receiver.
		return errors.New("secret is the example configs' published key, which only a receiver on this machine (127.0.0.1, ::1, localhost) may use: set your own")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %s", c.Timeout)
	}
	if c.Retries < 1 || c.Retries > maxAttempts {
		return fmt.Errorf("retries must be between 1 and %d, got %d", maxAttempts, c.Retries)
	}
	for k, v := range c.Headers {
		if !validHeaderName(k) {
			return fmt.Errorf("headers: %q is not a valid header name", k)
		}
		if reserved[http.CanonicalHeaderKey(k)] {
			return fmt.Errorf("headers: %s is set by accessbot and cannot be configured", http.CanonicalHeaderKey(k))
		}
		// The value is not quoted: it may be a credential.
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("headers: value of %s contains a line break or NUL", k)
		}
	}
	return nil
}

// ExampleSecret is the HMAC key the example configs fall back to when no secret is set, so that
// they run as they are against a receiver on the same machine. It is published, so Validate
// refuses it for any other receiver.
const ExampleSecret = "dev-only-insecure-hmac-key-change-me"

// loopback reports whether raw (a URL Validate has checked) names this machine.
func loopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input, which may hold a token; say only that it failed.
		return errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		// RFC 9110 token characters.
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// redactURL keeps scheme, host and path, and drops user info and query, which may hold
// credentials.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[invalid url]"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// New builds the adapter.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env.Log), nil
}

// Webhook is the adapter. It is safe for concurrent use.
type Webhook struct {
	cfg    Config
	log    zerolog.Logger
	client *http.Client
	// now and backoff are replaced by tests.
	now     func() time.Time
	backoff func(attempt int) time.Duration
}

// New returns a Webhook for a validated config.
func New(cfg Config, log zerolog.Logger) *Webhook {
	return &Webhook{
		cfg: cfg,
		log: log,
		client: &http.Client{
			// A redirect would send the signed body somewhere the operator did not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:     time.Now,
		backoff: delayBeforeRetry,
	}
}

// delayBeforeRetry is the wait after the attempt-th failed attempt of one call: short and
// exponential, half of each delay drawn at random. The calls retry within one adapter call, and
// the scheduler does the long waits.
func delayBeforeRetry(attempt int) time.Duration {
	p := backoff.Policy{Base: 200 * time.Millisecond, Max: 2 * time.Second, Jitter: backoff.Half}
	return p.Delay(attempt, nil)
}

// payload is the JSON body of every POST.
type payload struct {
	Action   string            `json:"action"`
	GrantID  string            `json:"grant_id"`
	Resource string            `json:"resource"`
	Subject  adapters.Subject  `json:"subject"`
	Reason   string            `json:"reason,omitempty"`
	Start    *time.Time        `json:"start,omitempty"`
	Expires  *time.Time        `json:"expires,omitempty"`
	Lease    map[string]string `json:"lease,omitempty"`
}

// answer is what a receiver may return to a grant.
type answer struct {
	Lease  map[string]string `json:"lease"`
	Secret *struct {
		Kind  string `json:"kind"`
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"secret"`
}

// Grant POSTs action "grant".
func (w *Webhook) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	start, expires := req.Start.UTC(), req.Expires.UTC()
	body, status, err := w.call(ctx, payload{
		Action: ActionGrant, GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject,
		Reason: req.Reason, Start: &start, Expires: &expires,
	})
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	if status == http.StatusNotFound {
		return adapters.Lease{}, adapters.Permanentf("grant %s: webhook answered 404 Not Found", req.GrantID)
	}
	lease, err := decodeAnswer(body)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	return lease, nil
}

// decodeAnswer reads a grant's answer: empty or not a JSON object means no lease.
func decodeAnswer(body []byte) (adapters.Lease, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return adapters.Lease{}, nil
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		// The error of encoding/json may quote the body, which may carry the secret.
		return adapters.Lease{}, adapters.Permanentf("decode webhook answer: not the expected JSON object")
	}
	lease := adapters.Lease{Data: a.Lease}
	if a.Secret != nil && a.Secret.Value != "" {
		for k, v := range a.Lease {
			if strings.Contains(v, a.Secret.Value) {
				// Lease data is stored; refusing is better than storing a credential.
				return adapters.Lease{}, adapters.Permanentf("webhook answer carries the secret in lease key %q", k)
			}
		}
		lease.Secret = &adapters.Secret{Kind: a.Secret.Kind, Label: a.Secret.Label, Value: a.Secret.Value}
	}
	return lease, nil
}

// Revoke POSTs action "revoke"; a 404 answer means the access was already gone.
func (w *Webhook) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	_, _, err := w.call(ctx, payload{
		Action: ActionRevoke, GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject,
		Lease: req.Data,
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, err)
	}
	// 404 included: gone is what a revocation wants.
	return nil
}

// Extend POSTs action "extend" with the new expiry.
func (w *Webhook) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	exp := expires.UTC()
	_, status, err := w.call(ctx, payload{
		Action: ActionExtend, GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject,
		Expires: &exp, Lease: req.Data,
	})
	if err != nil {
		return fmt.Errorf("extend %s: %w", req.GrantID, err)
	}
	if status == http.StatusNotFound {
		return adapters.Permanentf("extend %s: webhook answered 404 Not Found: the access is gone", req.GrantID)
	}
	return nil
}

// Check fetches health_url, when configured, and wants a 2xx answer.
func (w *Webhook) Check(ctx context.Context) error {
	if w.cfg.HealthURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.cfg.HealthURL, nil)
	if err != nil {
		return adapters.Permanentf("check webhook %s: build request", redactURL(w.cfg.HealthURL))
	}
	w.sign(req, nil)
	resp, err := w.client.Do(req)
	if err != nil {
		return adapters.Retryablef("check webhook %s: %v", redactURL(w.cfg.HealthURL), transportError(err))
	}
	defer resp.Body.Close()
	snippet := readSnippet(resp.Body)
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("check webhook %s: answered %s: %q", redactURL(w.cfg.HealthURL), resp.Status, snippet)
		if resp.StatusCode >= 500 {
			return adapters.RetryableError(err)
		}
		return adapters.PermanentError(err)
	}
	return nil
}

// call POSTs p, retrying 5xx answers and network errors within the call. It returns the body and
// status of a 2xx answer, or of a 404, which each action judges for itself.
func (w *Webhook) call(ctx context.Context, p payload) ([]byte, int, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, 0, adapters.Permanentf("encode request: %v", err)
	}
	log := w.log.With().Str("grant_id", p.GrantID).Str("action", p.Action).Logger()
	var last error
	for attempt := 1; attempt <= w.cfg.Retries; attempt++ {
		if attempt > 1 {
			if err := backoff.Sleep(ctx, w.backoff(attempt-1)); err != nil {
				return nil, 0, adapters.Retryablef("%w (gave up waiting to retry: %w)", last, err)
			}
		}
		if err := ctx.Err(); err != nil {
			if last != nil {
				return nil, 0, adapters.Retryablef("%w (gave up: %w)", last, err)
			}
			return nil, 0, adapters.RetryableError(fmt.Errorf("post to webhook: %w", err))
		}
		respBody, status, err := w.attempt(ctx, p, body)
		if err == nil {
			return respBody, status, nil
		}
		if adapters.IsPermanent(err) {
			return nil, status, err
		}
		last = err
		log.Debug().Int("attempt", attempt).Int("status", status).Err(err).Msg("webhook attempt failed")
	}
	return nil, 0, adapters.Retryablef("%w (after %d attempts)", last, w.cfg.Retries)
}

// attempt makes one POST. Its errors never include the request body or the headers.
func (w *Webhook) attempt(ctx context.Context, p payload, body []byte) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	target := redactURL(w.cfg.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, 0, adapters.Permanentf("post to webhook %s: build request", target)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotency, IdempotencyKey(p.GrantID, p.Action, p.Expires))
	w.sign(req, body)

	resp, err := w.client.Do(req)
	if err != nil {
		return nil, 0, adapters.Retryablef("post to webhook %s: %v", target, transportError(err))
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, resp.StatusCode, adapters.Retryablef("post to webhook %s: read answer: %v", target, transportError(err))
	}
	switch code := resp.StatusCode; {
	case code/100 == 2, code == http.StatusNotFound:
		return respBody, code, nil
	case code == http.StatusGone && p.Action == ActionRevoke:
		return respBody, http.StatusNotFound, nil
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return nil, code, adapters.Retryablef("post to webhook %s: answered %s: %q", target, resp.Status, snippet(respBody))
	default:
		return nil, code, adapters.Permanentf("post to webhook %s: answered %s: %q", target, resp.Status, snippet(respBody))
	}
}

// IdempotencyKey is the Idempotency-Key of a request: "<grant>:<action>" for a grant and a
// revocation, which happen once per grant, and "<grant>:extend:<new expiry, unix seconds>" for an
// extension, because a grant may be extended several times and a receiver that deduplicates by
// key must not take the second extension for a repeat of the first. Retries of one extension
// carry the same expiry, so they keep the same key. Receivers may call it to check the header.
func IdempotencyKey(grantID, action string, expires *time.Time) string {
	if action == ActionExtend && expires != nil {
		return grantID + ":" + action + ":" + strconv.FormatInt(expires.Unix(), 10)
	}
	return grantID + ":" + action
}

// sign sets the timestamp and signature headers, and the configured headers.
func (w *Webhook) sign(req *http.Request, body []byte) {
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(w.cfg.Secret), ts, body))
}

// Sign returns the signature header value for a timestamp and body: "v1=" and the hex
// HMAC-SHA256 of timestamp + "." + body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrBadTimestamp = errors.New("webhook timestamp is missing, malformed or outside the allowed window")
)

// Verify checks a request's signature the way a receiver should: the timestamp (unix seconds)
// must be within window of now, in either direction, so a captured request cannot be replayed
// later, and signature must be Sign(secret, timestamp, body), compared in constant time.
func Verify(secret []byte, timestamp string, body []byte, signature string, now time.Time, window time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	// Compared both ways rather than as an absolute value: Sub saturates, and the negation of
	// the most negative Duration (any timestamp ~292 years ahead) is itself negative.
	if skew := now.Sub(time.Unix(ts, 0)); skew > window || skew < -window {
		return ErrBadTimestamp
	}
	if !strings.HasPrefix(signature, "v1=") {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return ErrBadSignature
	}
	return nil
}

// transportError strips the *url.Error wrapper, whose message repeats the full URL with any
// token in its query.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timed out: %w", ue.Err)
		}
		return ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

func readSnippet(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	return b
}

func snippet(b []byte) []byte {
	if len(b) > maxErrorBody {
		return b[:maxErrorBody]
	}
	return b
}

var (
	_ adapters.Adapter  = (*Webhook)(nil)
	_ adapters.Extender = (*Webhook)(nil)
	_ adapters.Checker  = (*Webhook)(nil)
	_ adapters.Config   = (*Config)(nil)
)
