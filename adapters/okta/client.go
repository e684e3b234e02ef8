package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"

	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessbot/accessbot/internal/httplink"
	"github.com/accessbot/accessbot/internal/ratelimit"
)

// The adapter speaks the few Management API calls it needs itself, over net/http, rather than
// through github.com/okta/okta-sdk-golang/v5: the SDK's one client links every Okta API (about
// 16 MB of binary), in every accessbot process whether or not an okta resource is configured
// (BENCHMARKS.md, "4. Memory"). The JWT client assertion is signed with go-jose, which accessbot
// links already for OIDC.

const (
	// maxResponse bounds what is read of one answer: a page of 1,000 users is well under it.
	maxResponse = 8 << 20
	// maxErrorText bounds the text of an answer that is not Okta's error JSON.
	maxErrorText = 200
	userAgent    = "accessbot-okta"
	// assertionLifetime is how long a client assertion is valid; Okta accepts at most an hour.
	assertionLifetime = 5 * time.Minute
	// tokenMargin is how long before its expiry an access token is replaced.
	tokenMargin = time.Minute
	// retryBase is the first wait before retrying a 5xx or network error; it doubles.
	retryBase = 500 * time.Millisecond
)

// user is the part of Okta's User object the adapter reads.
type user struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Profile struct {
		Login string `json:"login"`
		Email string `json:"email"`
	} `json:"profile"`
}

// group is the part of Okta's Group object the adapter reads.
type group struct {
	ID      string `json:"id"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

// apiError is Okta's error answer. An answer that is not that JSON (a proxy's page) becomes an
// apiError with the start of its text as the summary.
type apiError struct {
	// Status is the HTTP status.
	Status int `json:"-"`
	// Code is Okta's error code (E0000007 not found, E0000006 forbidden, E0000047 rate limit).
	Code    string `json:"errorCode"`
	Summary string `json:"errorSummary"`
	ID      string `json:"errorId"`
	Causes  []struct {
		Summary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

// Error says the status, Okta's code and summary, and its causes.
func (e *apiError) Error() string {
	s := fmt.Sprintf("Okta answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Summary != "" {
		s += ": " + e.Summary
	}
	for _, c := range e.Causes {
		s += "; " + c.Summary
	}
	return s
}

// client calls one Okta org's Management API with one credential, honouring its rate limits.
type client struct {
	base     string // the org URL, without a final slash
	http     *http.Client
	cfg      *Config
	now      func() time.Time
	wait     func(ctx context.Context, d time.Duration) error
	attempts int

	// limit holds every call until the rate limit of the last answer that had none left resets.
	limit ratelimit.Hold

	// tokenMu guards the OAuth access token (auth private_key) and its end, and is held while a
	// new one is fetched, so that concurrent calls wait for one fetch instead of making many.
	// noteLimit may hold the rate limit during a fetch.
	tokenMu     sync.Mutex
	token       string
	tokenExpiry time.Time
}

// waitForLimit waits until the rate limit reported exhausted has reset, if it is within max_rate_wait.
func (c *client) waitForLimit(ctx context.Context) error {
	return c.limit.Wait(ctx, c.now(), c.cfg.MaxRateWait, c.wait)
}

// noteLimit records the rate-limit headers of an answer. X-Rate-Limit-Reset is a Unix time in
// Okta's clock; it is read against the answer's Date, so a skewed local clock waits as long as
// Okta means. exhausted forces a wait (a 429) even when the remaining count is missing.
func (c *client) noteLimit(h http.Header, exhausted bool) {
	reset, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil {
		if exhausted {
			// No reset given: wait a second, as Okta's limits are per minute and this is the least.
			c.limit.Until(c.now().Add(time.Second))
		}
		return
	}
	remaining, err := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	if !exhausted && (err != nil || remaining > 0) {
		return
	}
	c.limit.Until(ratelimit.ResetAt(c.now(), reset, h.Get("Date")))
}

// do calls method path (with query) and decodes a 2xx body into out (if not nil). It waits out
// rate limits within max_rate_wait and retries 429s, 5xx and network errors up to max_attempts
// times; any other status is returned as an *apiError. It returns the answer's Link header for
// paging.
func (c *client) do(ctx context.Context, method, path string, out any) (http.Header, error) {
	var last error
	for attempt := 0; attempt < c.attempts; attempt++ {
		// A 429 is waited out by waitForLimit, until the reset Okta gave; anything else backs off.
		if attempt > 0 && !isStatus(last, http.StatusTooManyRequests) {
			if err := c.wait(ctx, retryBase<<(attempt-1)); err != nil {
				return nil, fmt.Errorf("%w (after: %w)", err, last)
			}
		}
		if err := c.waitForLimit(ctx); err != nil {
			return nil, err
		}
		h, retry, err := c.once(ctx, method, path, out)
		if err == nil || !retry {
			return h, err
		}
		last = err
	}
	return nil, fmt.Errorf("%w (after %d attempts)", last, c.attempts)
}

// once makes one call. retry says whether another attempt may succeed.
func (c *client) once(ctx context.Context, method, path string, out any) (h http.Header, retry bool, err error) {
	auth, err := c.authorization(ctx)
	if err != nil {
		// The token endpoint's refusal stays; its 429, 5xx or a network error may pass.
		var te *tokenError
		return nil, !errors.As(err, &te) && ctx.Err() == nil, err
	}
	// The token request may have spent the rate limit.
	if err := c.waitForLimit(ctx); err != nil {
		return nil, false, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, false, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", auth)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, true, fmt.Errorf("read the answer: %w", err)
	}
	if len(data) > maxResponse {
		return nil, false, fmt.Errorf("the answer is larger than %d bytes", maxResponse)
	}
	c.noteLimit(resp.Header, resp.StatusCode == http.StatusTooManyRequests)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.cfg.Auth == AuthPrivateKey:
		// The access token may have been revoked or expired early: fetch a new one next time.
		c.tokenMu.Lock()
		c.token = ""
		c.tokenMu.Unlock()
		return nil, false, parseError(resp.StatusCode, data)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, true, parseError(resp.StatusCode, data)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, false, parseError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, false, fmt.Errorf("decode the answer: %w", err)
		}
	}
	return resp.Header, false, nil
}

// parseError reads Okta's error answer, or makes one from a status and a body that is not.
func parseError(status int, body []byte) *apiError {
	e := &apiError{}
	if err := json.Unmarshal(body, e); err != nil || (e.Code == "" && e.Summary == "") {
		text := strings.TrimSpace(string(body))
		if len(text) > maxErrorText {
			text = text[:maxErrorText] + "..."
		}
		e = &apiError{Summary: strings.ToValidUTF8(text, "?")}
	}
	e.Status = status
	return e
}

// authorization returns the Authorization header's value.
func (c *client) authorization(ctx context.Context) (string, error) {
	if c.cfg.Auth == AuthAPIToken {
		return "SSWS " + string(c.cfg.APIToken), nil
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token != "" && c.now().Before(c.tokenExpiry.Add(-tokenMargin)) {
		return "Bearer " + c.token, nil
	}
	tok, expiry, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	c.token, c.tokenExpiry = tok, expiry
	return "Bearer " + tok, nil
}

// tokenAnswer is the token endpoint's answer, success or error.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// tokenError is the token endpoint's refusal.
type tokenError struct {
	status int
	answer tokenAnswer
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("Okta's token endpoint answered %d %s: %s", e.status, e.answer.Error, e.answer.Description)
}

// fetchToken makes a client credentials grant with a signed client assertion. c.tokenMu is held.
func (c *client) fetchToken(ctx context.Context) (string, time.Time, error) {
	endpoint := c.base + "/oauth2/v1/token"
	assertion, err := c.assertion(endpoint)
	if err != nil {
		return "", time.Time{}, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {strings.Join(Scopes, " ")},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("build the token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get an access token: %w", err)
	}
	defer resp.Body.Close()
	var ans tokenAnswer
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get an access token: read the answer: %w", err)
	}
	c.noteLimit(resp.Header, resp.StatusCode == http.StatusTooManyRequests)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return "", time.Time{}, parseError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		return "", time.Time{}, fmt.Errorf("get an access token: Okta answered %d with what is not JSON", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || ans.AccessToken == "" {
		return "", time.Time{}, &tokenError{status: resp.StatusCode, answer: ans}
	}
	return ans.AccessToken, c.now().Add(time.Duration(ans.ExpiresIn) * time.Second), nil
}

// assertion signs the client assertion for the token endpoint: the app is issuer and subject,
// the endpoint the audience, with a fresh jti so that Okta's replay check accepts it.
func (c *client) assertion(audience string) (string, error) {
	alg := jose.RS256
	if _, ok := c.cfg.signer.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	key := jose.SigningKey{Algorithm: alg, Key: c.cfg.signer}
	if c.cfg.KeyID != "" {
		key.Key = jose.JSONWebKey{Key: c.cfg.signer, KeyID: c.cfg.KeyID, Algorithm: string(alg)}
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	now := c.now()
	claims, err := json.Marshal(map[string]any{
		"iss": c.cfg.ClientID, "sub": c.cfg.ClientID, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(assertionLifetime).Unix(), "jti": hex.EncodeToString(jti),
	})
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// nextLink returns the path and query of the answer's next page under the API, or "" at the last.
func (c *client) nextLink(h http.Header) (string, error) { return httplink.Next(h, c.base, "the org") }
