package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
)

const testSecret = "hmac-key-that-must-never-leak-7f3a"

// receiver is a webhook target as an operator would write one: it checks the signature with
// Verify and keeps the access it was asked to grant in a map.
type receiver struct {
	t      *testing.T
	secret []byte

	mu       sync.Mutex
	access   map[string]adapters.Subject // by grant ID
	requests []recorded
	// fail, when set, answers a request instead of the normal handling, for injecting faults.
	fail func(w http.ResponseWriter, r *http.Request, n int) bool
}

type recorded struct {
	header http.Header
	body   payload
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, secret: []byte(testSecret), access: map[string]adapters.Subject{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := Verify(rc.secret, r.Header.Get(HeaderTimestamp), body, r.Header.Get(HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/health" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.requests = append(rc.requests, recorded{header: r.Header.Clone(), body: p})
	n := len(rc.requests)
	fail := rc.fail
	rc.mu.Unlock()
	if fail != nil && fail(w, r, n) {
		return
	}
	if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
		http.Error(w, "content type "+got, http.StatusUnsupportedMediaType)
		return
	}
	if got, want := r.Header.Get(HeaderIdempotency), IdempotencyKey(p.GrantID, p.Action, p.Expires); got != want {
		http.Error(w, "idempotency key "+got, http.StatusBadRequest)
		return
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch p.Action {
	case ActionGrant:
		rc.access[p.GrantID] = p.Subject
		pw := make([]byte, 12)
		_, _ = rand.Read(pw)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"lease":  map[string]string{"account": p.Subject.Account},
			"secret": map[string]string{"kind": "password", "label": "password for " + p.Subject.Account, "value": hex.EncodeToString(pw)},
		})
	case ActionRevoke:
		if _, ok := rc.access[p.GrantID]; !ok {
			http.NotFound(w, r)
			return
		}
		delete(rc.access, p.GrantID)
	case ActionExtend:
		if _, ok := rc.access[p.GrantID]; !ok {
			http.NotFound(w, r)
			return
		}
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (rc *receiver) has(s adapters.Subject, grantID string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	got, ok := rc.access[grantID]
	return ok && got.Account == s.Account
}

func (rc *receiver) count(s adapters.Subject) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, got := range rc.access {
		if got.Account == s.Account {
			n++
		}
	}
	return n
}

func (rc *receiver) seen() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.requests...)
}

func (rc *receiver) setFail(f func(w http.ResponseWriter, r *http.Request, n int) bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.fail = f
}

// newWebhook builds the adapter through its registered type, as the config loader does, with
// a backoff short enough for tests.
func newWebhook(t *testing.T, url string, edit func(*Config)) *Webhook {
	t.Helper()
	typ, ok := adapters.Lookup("webhook")
	if !ok {
		t.Fatal("webhook is not registered")
	}
	cfg := typ.NewConfig().(*Config)
	cfg.URL = url
	cfg.Secret = testSecret
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: "test", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	w := a.(*Webhook)
	w.backoff = func(int) time.Duration { return time.Millisecond }
	return w
}

func grantRequest(id string) adapters.GrantRequest {
	now := time.Now().Truncate(time.Second)
	return adapters.GrantRequest{
		GrantID:  id,
		Resource: "billing-api",
		Subject:  adapters.Subject{ID: "ann@example.com", Email: "ann@example.com", Account: "ann"},
		Reason:   "confidential-reason-INC-42",
		Start:    now,
		Expires:  now.Add(time.Hour),
	}
}

func TestWebhookPassesTheConformanceKit(t *testing.T) {
	rc, srv := newReceiver(t)
	w := newWebhook(t, srv.URL+"/hook", func(c *Config) { c.HealthURL = srv.URL + "/health" })
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: w,
		Has:     func(t *testing.T, s adapters.Subject, grantID string) bool { return rc.has(s, grantID) },
		Count:   func(t *testing.T, s adapters.Subject) int { return rc.count(s) },
	})
}

func TestWebhookSendsTheDocumentedRequest(t *testing.T) {
	rc, srv := newReceiver(t)
	w := newWebhook(t, srv.URL+"/hook", func(c *Config) { c.Headers = map[string]string{"Authorization": "Bearer gateway-token"} })
	req := grantRequest("g-doc")

	lease, err := w.Grant(context.Background(), req)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if lease.Data["account"] != "ann" || lease.Secret == nil || lease.Secret.Kind != "password" || lease.Secret.Value == "" {
		t.Fatalf("lease = %+v, secret %v; want account ann and a password", lease.Data, lease.Secret)
	}
	if err := w.Extend(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject, Data: lease.Data}, req.Expires.Add(time.Hour)); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if err := w.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}); err != nil {
		t.Fatalf("revoke: %v", err)
	}

	seen := rc.seen()
	if len(seen) != 3 {
		t.Fatalf("receiver saw %d requests, want 3", len(seen))
	}
	for i, want := range []string{ActionGrant, ActionExtend, ActionRevoke} {
		got := seen[i]
		if got.body.Action != want {
			t.Errorf("request %d action = %q, want %q", i, got.body.Action, want)
		}
		if got.header.Get("Authorization") != "Bearer gateway-token" {
			t.Errorf("request %d lacks the configured header", i)
		}
		wantKey := "g-doc:" + want
		if want == ActionExtend {
			wantKey += ":" + strconv.FormatInt(req.Expires.Add(time.Hour).Unix(), 10)
		}
		if got.header.Get(HeaderIdempotency) != wantKey {
			t.Errorf("request %d idempotency key = %q, want %q", i, got.header.Get(HeaderIdempotency), wantKey)
		}
	}
	g := seen[0].body
	if g.GrantID != "g-doc" || g.Resource != "billing-api" || g.Subject != req.Subject || g.Reason != req.Reason ||
		g.Start == nil || !g.Start.Equal(req.Start) || g.Expires == nil || !g.Expires.Equal(req.Expires) || g.Lease != nil {
		t.Errorf("grant body = %+v, want the grant request's fields and no lease", g)
	}
	if e := seen[1].body; e.Expires == nil || !e.Expires.Equal(req.Expires.Add(time.Hour)) || e.Lease["account"] != "ann" {
		t.Errorf("extend body = %+v, want the new expiry and the lease", e)
	}
	if r := seen[2].body; r.Lease["account"] != "ann" || r.Subject != req.Subject {
		t.Errorf("revoke body = %+v, want the lease and subject", r)
	}
}

// A receiver that deduplicates by Idempotency-Key (as the header invites) used to drop every
// extension after the first, because each was keyed "<grant>:extend".
func TestWebhookKeysEachExtensionByItsOwnExpiry(t *testing.T) {
	rc, srv := newReceiver(t)
	// The receiver fails the first attempt of the second extension, so that extension is
	// delivered twice: the repeat must carry the same key as its first attempt.
	rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	w := newWebhook(t, srv.URL, nil)
	req := grantRequest("g-ext")
	lease, err := w.Grant(context.Background(), req)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	rr := adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
	first, second := req.Expires.Add(time.Hour), req.Expires.Add(2*time.Hour)
	if err := w.Extend(context.Background(), rr, first); err != nil {
		t.Fatalf("first extend: %v", err)
	}
	if err := w.Extend(context.Background(), rr, second); err != nil {
		t.Fatalf("second extend: %v", err)
	}

	seen := rc.seen()
	if len(seen) != 4 {
		t.Fatalf("receiver saw %d requests, want grant, extend, extend refused, extend again", len(seen))
	}
	keys := make([]string, len(seen))
	for i, r := range seen {
		keys[i] = r.header.Get(HeaderIdempotency)
	}
	if keys[1] == keys[2] {
		t.Errorf("two extensions share the key %q; a deduplicating receiver drops the second", keys[1])
	}
	if keys[2] != keys[3] {
		t.Errorf("a repeated delivery of one extension changed its key: %q then %q", keys[2], keys[3])
	}
	wantFirst := "g-ext:extend:" + strconv.FormatInt(first.Unix(), 10)
	wantSecond := "g-ext:extend:" + strconv.FormatInt(second.Unix(), 10)
	if keys[1] != wantFirst || keys[3] != wantSecond {
		t.Errorf("extension keys = %q, %q; want %q, %q", keys[1], keys[3], wantFirst, wantSecond)
	}
}

func TestWebhookRetriesAFiveHundredThenSucceeds(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	w := newWebhook(t, srv.URL, nil)

	if _, err := w.Grant(context.Background(), grantRequest("g-retry")); err != nil {
		t.Fatalf("grant: %v", err)
	}
	seen := rc.seen()
	if len(seen) != 3 {
		t.Fatalf("receiver saw %d attempts, want 3", len(seen))
	}
	for _, r := range seen {
		if r.header.Get(HeaderIdempotency) != "g-retry:grant" {
			t.Errorf("attempt idempotency key = %q, want the same key on every attempt", r.header.Get(HeaderIdempotency))
		}
	}
	if !rc.has(grantRequest("").Subject, "g-retry") {
		t.Error("access not recorded after the successful attempt")
	}
}

func TestWebhookFailures(t *testing.T) {
	longBody := strings.Repeat("x", 1000)
	tests := []struct {
		name     string
		answer   func(w http.ResponseWriter, r *http.Request)
		retries  int
		timeout  time.Duration
		wantKind adapters.Kind
		attempts int
		contains []string
	}{
		{
			name: "a 5xx on every attempt is retryable after all attempts",
			answer: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down for maintenance", http.StatusBadGateway)
			},
			retries:  3,
			wantKind: adapters.Retryable,
			attempts: 3,
			contains: []string{"502", "down for maintenance", "after 3 attempts"},
		},
		{
			name: "a 400 is permanent at once with the answer's body",
			answer: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "unknown account ann", http.StatusBadRequest)
			},
			retries:  3,
			wantKind: adapters.Permanent,
			attempts: 1,
			contains: []string{"400", "unknown account ann"},
		},
		{
			name:     "a 403 is permanent",
			answer:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) },
			retries:  3,
			wantKind: adapters.Permanent,
			attempts: 1,
			contains: []string{"403"},
		},
		{
			name:     "a 429 is retried",
			answer:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) },
			retries:  2,
			wantKind: adapters.Retryable,
			attempts: 2,
			contains: []string{"429"},
		},
		{
			name: "an attempt that times out is retryable",
			answer: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done() // hang until the client gives up
			},
			retries:  2,
			timeout:  50 * time.Millisecond,
			wantKind: adapters.Retryable,
			attempts: 2,
			contains: []string{"timed out"},
		},
		{
			name: "a redirect is not followed",
			answer: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
			},
			retries:  3,
			wantKind: adapters.Permanent,
			attempts: 1,
			contains: []string{"307"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, srv := newReceiver(t)
			rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool { tt.answer(w, r); return true })
			w := newWebhook(t, srv.URL+"/hook?token=query-token-secret", func(c *Config) {
				c.Retries = tt.retries
				if tt.timeout > 0 {
					c.Timeout = tt.timeout
				}
			})

			_, err := w.Grant(context.Background(), grantRequest("g-fail"))
			if err == nil {
				t.Fatal("grant succeeded, want an error")
			}
			if got := adapters.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s (err: %v)", got, tt.wantKind, err)
			}
			if got := len(rc.seen()); got != tt.attempts {
				t.Errorf("receiver saw %d attempts, want %d", got, tt.attempts)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			assertNoLeak(t, err)
		})
	}

	t.Run("a refusal's body is cut to 200 bytes", func(t *testing.T) {
		rc, srv := newReceiver(t)
		rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
			http.Error(w, longBody, http.StatusUnprocessableEntity)
			return true
		})
		_, err := newWebhook(t, srv.URL, nil).Grant(context.Background(), grantRequest("g-long"))
		if !strings.Contains(err.Error(), strings.Repeat("x", 200)) || strings.Contains(err.Error(), strings.Repeat("x", 201)) {
			t.Errorf("error carries %d bytes of the body, want exactly 200: %v", strings.Count(err.Error(), "x"), err)
		}
	})

	t.Run("an unreachable receiver is retryable", func(t *testing.T) {
		_, srv := newReceiver(t)
		url := srv.URL + "/hook?token=query-token-secret"
		srv.Close()
		_, err := newWebhook(t, url, nil).Grant(context.Background(), grantRequest("g-down"))
		if err == nil || adapters.KindOf(err) != adapters.Retryable {
			t.Fatalf("err = %v, want a retryable error", err)
		}
		assertNoLeak(t, err)
	})
}

// assertNoLeak checks that an error names neither the HMAC key, nor a token in the URL, nor the
// request body's reason.
func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	for _, secret := range []string{testSecret, "query-token-secret", "confidential-reason-INC-42"} {
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
}

func TestWebhookRevokeTreatsNotFoundAsGone(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			rc, srv := newReceiver(t)
			rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool { w.WriteHeader(status); return true })
			err := newWebhook(t, srv.URL, nil).Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-gone"})
			if err != nil {
				t.Fatalf("revoke: %v, want nil for an answer that says the access is gone", err)
			}
		})
	}
}

func TestWebhookGrantAnsweredNotFoundIsPermanent(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool { http.NotFound(w, r); return true })
	_, err := newWebhook(t, srv.URL, nil).Grant(context.Background(), grantRequest("g-404"))
	if !adapters.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
}

func TestWebhookRefusesAnAnswerThatPutsTheSecretInTheLease(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		_, _ = io.WriteString(w, `{"lease":{"pw":"hunter2-long"},"secret":{"kind":"password","value":"hunter2-long"}}`)
		return true
	})
	_, err := newWebhook(t, srv.URL, nil).Grant(context.Background(), grantRequest("g-leak"))
	if !adapters.IsPermanent(err) || strings.Contains(err.Error(), "hunter2-long") {
		t.Fatalf("err = %v, want a permanent error that does not quote the secret", err)
	}
}

func TestWebhookStopsRetryingWhenTheContextEnds(t *testing.T) {
	rc, srv := newReceiver(t)
	rc.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	})
	w := newWebhook(t, srv.URL, func(c *Config) { c.Retries = 5 })
	w.backoff = func(int) time.Duration { return time.Hour }

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := w.Grant(ctx, grantRequest("g-ctx")); done <- err }()
	select {
	case err := <-done:
		if adapters.KindOf(err) != adapters.Retryable || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want retryable wrapping the deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("grant kept waiting for its backoff after the context ended")
	}
	if got := len(rc.seen()); got != 1 {
		t.Errorf("receiver saw %d attempts, want 1", got)
	}
}

func TestWebhookCheck(t *testing.T) {
	_, srv := newReceiver(t)
	if err := newWebhook(t, srv.URL, nil).Check(context.Background()); err != nil {
		t.Errorf("check without health_url: %v, want nil", err)
	}
	if err := newWebhook(t, srv.URL, func(c *Config) { c.HealthURL = srv.URL + "/health" }).Check(context.Background()); err != nil {
		t.Errorf("check of a healthy, signature-checking receiver: %v", err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer broken.Close()
	err := newWebhook(t, srv.URL, func(c *Config) { c.HealthURL = broken.URL }).Check(context.Background())
	if err == nil || adapters.KindOf(err) != adapters.Retryable {
		t.Errorf("check of a 503 health URL: %v, want a retryable error", err)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte(testSecret)
	now := time.Unix(1_700_000_000, 0)
	ts := "1700000000"
	body := []byte(`{"action":"grant","grant_id":"g-1"}`)
	good := Sign(secret, ts, body)

	tests := []struct {
		name      string
		secret    []byte
		timestamp string
		body      []byte
		signature string
		now       time.Time
		want      error
	}{
		{"a signature over timestamp and body verifies", secret, ts, body, good, now, nil},
		{"a timestamp within the window verifies", secret, ts, body, good, now.Add(4 * time.Minute), nil},
		{"a tampered body is refused", secret, ts, []byte(`{"action":"grant","grant_id":"g-2"}`), good, now, ErrBadSignature},
		{"another secret is refused", []byte("other"), ts, body, good, now, ErrBadSignature},
		{"a changed timestamp is refused", secret, "1700000001", body, good, now, ErrBadSignature},
		{"a signature without its version is refused", secret, ts, body, strings.TrimPrefix(good, "v1="), now, ErrBadSignature},
		{"an empty signature is refused", secret, ts, body, "", now, ErrBadSignature},
		{"an old timestamp is refused", secret, ts, body, good, now.Add(10 * time.Minute), ErrBadTimestamp},
		{"a timestamp from the future is refused", secret, ts, body, good, now.Add(-10 * time.Minute), ErrBadTimestamp},
		{"a malformed timestamp is refused", secret, "yesterday", body, good, now, ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.timestamp, tt.body, tt.signature, tt.now, 5*time.Minute)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignatureIsHMACOverTimestampDotBody(t *testing.T) {
	// Known answer, computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
	got := Sign([]byte("key"), "1700000000", []byte("{}"))
	want := "v1=" + knownHMAC
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestConfigNeverPrintsTheSecret(t *testing.T) {
	cfg := NewConfig()
	cfg.URL = "https://hooks.example.com/access?token=url-token"
	cfg.Secret = testSecret
	cfg.Headers = map[string]string{"Authorization": "Bearer header-token"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{cfg, *cfg, cfg.Secret} {
			out := fmt.Sprintf(format, v)
			for _, secret := range []string{testSecret, "url-token", "header-token"} {
				if strings.Contains(out, secret) {
					t.Errorf("Sprintf(%q, %T) = %s, leaks %q", format, v, out, secret)
				}
			}
		}
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), testSecret) {
		t.Errorf("JSON of the config leaks the secret: %s", out)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	typ, ok := adapters.Lookup("webhook")
	if !ok {
		t.Fatal("webhook is not registered")
	}
	def := typ.NewConfig().(*Config)
	if def.Timeout != 10*time.Second || def.Retries != 3 {
		t.Errorf("defaults = timeout %s, retries %d; want 10s and 3", def.Timeout, def.Retries)
	}

	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"a complete config is valid", func(c *Config) {}, ""},
		{"a missing url is refused", func(c *Config) { c.URL = "" }, "url is required"},
		{"a non-http url is refused", func(c *Config) { c.URL = "ftp://example.com/x" }, "scheme"},
		{"a url without host is refused", func(c *Config) { c.URL = "https:///x" }, "no host"},
		{"a missing secret is refused", func(c *Config) { c.Secret = "" }, "secret is required"},
		{"a zero timeout is refused", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"zero retries are refused", func(c *Config) { c.Retries = 0 }, "retries"},
		{"a bad health url is refused", func(c *Config) { c.HealthURL = "mailto:x@example.com" }, "health_url"},
		{"a reserved header is refused", func(c *Config) { c.Headers = map[string]string{"x-accessbot-signature": "v1=0"} }, "set by accessbot"},
		{"a bad header name is refused", func(c *Config) { c.Headers = map[string]string{"bad name": "v"} }, "valid header name"},
		{"a header value with a line break is refused", func(c *Config) { c.Headers = map[string]string{"X-A": "a\r\nX-B: b"} }, "line break"},
		{"the example configs' published key is refused for a remote receiver", func(c *Config) { c.Secret = ExampleSecret }, "published key"},
		{"the example configs' published key is taken for a receiver on 127.0.0.1", func(c *Config) { c.Secret, c.URL = ExampleSecret, "http://127.0.0.1:9999/prod-db" }, ""},
		{"the example configs' published key is taken for a receiver on localhost", func(c *Config) { c.Secret, c.URL = ExampleSecret, "http://localhost:9999/x" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig()
			cfg.URL = "https://hooks.example.com/access"
			cfg.Secret = testSecret
			tt.edit(cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

const knownHMAC = "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"

func TestConfigDecodesFromYAMLKeys(t *testing.T) {
	src := `
url: https://hooks.example.com/access
secret: s3cret-key
timeout: 5s
headers: {Authorization: Bearer t}
retries: 2
health_url: https://hooks.example.com/health
`
	cfg := NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := Config{URL: "https://hooks.example.com/access", Secret: "s3cret-key", Timeout: 5 * time.Second,
		Headers: map[string]string{"Authorization": "Bearer t"}, Retries: 2, HealthURL: "https://hooks.example.com/health"}
	if cfg.URL != want.URL || cfg.Secret != want.Secret || cfg.Timeout != want.Timeout || cfg.Retries != want.Retries ||
		cfg.HealthURL != want.HealthURL || cfg.Headers["Authorization"] != "Bearer t" {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}
