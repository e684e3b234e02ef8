package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/accessbot/accessbot/internal/httplink"
	"github.com/accessbot/accessbot/internal/ratelimit"
)

// The adapter speaks the few REST calls it needs itself, over net/http, rather than through
// github.com/google/go-github: its Client holds every GitHub service, so using one links the
// methods of all, in every accessbot process whether or not a github resource is configured
// (measured: 2.67 MB of binary and about 0.3 MB idle, against 90 KB and nothing measurable for
// this client; BENCHMARKS.md, "4. Memory"). The App authentication, the rate-limit waits on an
// injected clock and the paging would be needed with the SDK too. The App's JWT is signed with
// go-jose, which accessbot links already for OIDC, instead of adding ghinstallation.

const (
	// maxResponse bounds what is read of one answer: a page of 100 collaborators is well under it.
	maxResponse = 8 << 20
	// maxErrorText bounds the text of an answer that is not GitHub's error JSON.
	maxErrorText = 200
	userAgent    = "accessbot-github"
	apiVersion   = "2022-11-28"
	// jwtLifetime is how long the App's JWT is valid; GitHub accepts at most ten minutes.
	jwtLifetime = 9 * time.Minute
	// jwtBackdate is how far iat is set in the past, for clock drift, as GitHub advises.
	jwtBackdate = time.Minute
	// tokenMargin is how long before its expiry an installation token is replaced.
	tokenMargin = 5 * time.Minute
	// retryBase is the first wait before retrying a 5xx or network error; it doubles.
	retryBase = 500 * time.Millisecond
)

// apiError is GitHub's error answer: {"message", "documentation_url", "errors"}. An answer that
// is not that JSON (a proxy's page) becomes an apiError with the start of its text as message.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	DocURL  string `json:"documentation_url"`
	Errors  []struct {
		Resource string `json:"resource"`
		Field    string `json:"field"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	} `json:"errors"`
	// rateLimited says the answer was a primary or secondary rate limit.
	rateLimited bool
}

// Error says the status, GitHub's message and each of its errors.
func (e *apiError) Error() string {
	s := fmt.Sprintf("GitHub answered %d", e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	for _, d := range e.Errors {
		switch {
		case d.Message != "":
			s += "; " + d.Message
		case d.Code != "":
			s += fmt.Sprintf("; %s %s %s", d.Resource, d.Field, d.Code)
		}
	}
	return s
}

// client calls GitHub's REST API with one credential, honouring its rate limits.
type client struct {
	base     string // the API URL, without a final slash
	http     *http.Client
	cfg      *Config
	now      func() time.Time
	wait     func(ctx context.Context, d time.Duration) error
	attempts int

	// limit holds every call until the rate limit of the last answer that had none left resets
	// (or its retry-after ends).
	limit ratelimit.Hold

	// tokenMu guards the installation token and is held while a new one is fetched, so that
	// concurrent calls wait for one fetch. noteLimit may hold the rate limit during a fetch.
	tokenMu     sync.Mutex
	token       string
	tokenExpiry time.Time
}

// waitForLimit waits until a rate limit reported exhausted has reset, if within max_rate_wait.
func (c *client) waitForLimit(ctx context.Context) error {
	return c.limit.Wait(ctx, c.now(), c.cfg.MaxRateWait, c.wait)
}

// noteLimit records an answer's rate-limit headers and reports whether the answer is a refusal
// for a rate limit. GitHub's secondary limits answer 403 or 429 with retry-after (seconds); the
// primary limit answers 403 or 429 with x-ratelimit-remaining 0 and x-ratelimit-reset, a Unix
// time in GitHub's clock, read against the answer's Date so a skewed local clock waits as long
// as GitHub means. A 429 without either header waits a minute, as GitHub's documentation
// advises.
func (c *client) noteLimit(status int, h http.Header) bool {
	refused := status == http.StatusForbidden || status == http.StatusTooManyRequests
	now := c.now()
	var until time.Time
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err == nil && ra >= 0 && refused {
		until = now.Add(time.Duration(ra) * time.Second)
	} else if h.Get("X-Ratelimit-Remaining") == "0" {
		reset, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
		if err != nil {
			until = now.Add(time.Minute)
		} else {
			until = ratelimit.ResetAt(now, reset, h.Get("Date"))
		}
	} else if status == http.StatusTooManyRequests {
		until = now.Add(time.Minute)
	} else {
		return false
	}
	if !until.After(now) {
		// A retry-after of 0: GitHub's limits have one-second resolution.
		until = now.Add(time.Second)
	}
	c.limit.Until(until)
	return refused
}

// do calls method path (with query), sending body as JSON when not nil, and decodes a 2xx body
// into out (if not nil). It waits out rate limits within max_rate_wait and retries them, 5xx
// and network errors up to max_attempts times; any other status is an *apiError. It returns
// the status and the headers (the Link header pages).
func (c *client) do(ctx context.Context, method, path string, body, out any) (int, http.Header, error) {
	var last error
	for attempt := 0; attempt < c.attempts; attempt++ {
		// A rate limit is waited out by waitForLimit; anything else backs off.
		if attempt > 0 && !isRateLimit(last) {
			if err := c.wait(ctx, retryBase<<(attempt-1)); err != nil {
				return 0, nil, fmt.Errorf("%w (after: %w)", err, last)
			}
		}
		if err := c.waitForLimit(ctx); err != nil {
			if last != nil {
				return 0, nil, fmt.Errorf("%w (after: %w)", err, last)
			}
			return 0, nil, err
		}
		status, h, retry, err := c.once(ctx, method, path, body, out)
		if err == nil || !retry {
			return status, h, err
		}
		last = err
	}
	return 0, nil, fmt.Errorf("%w (after %d attempts)", last, c.attempts)
}

func isRateLimit(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.rateLimited
}

// once makes one call. retry says whether another attempt may succeed.
func (c *client) once(ctx context.Context, method, path string, body, out any) (status int, h http.Header, retry bool, err error) {
	auth, err := c.authorization(ctx)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return 0, nil, ae.rateLimited || ae.Status >= 500, err
		}
		return 0, nil, ctx.Err() == nil, err
	}
	// The token request may have spent the rate limit.
	if err := c.waitForLimit(ctx); err != nil {
		return 0, nil, false, err
	}
	ans, data, err := c.send(ctx, method, c.base+path, auth, body)
	if err != nil {
		return 0, nil, ctx.Err() == nil, err
	}
	limited := c.noteLimit(ans.status, ans.header)
	switch {
	case limited:
		e := parseError(ans.status, data)
		e.rateLimited = true
		return 0, nil, true, e
	case ans.status == http.StatusUnauthorized && c.cfg.Auth == AuthApp:
		// The installation token may have been revoked: fetch a new one next time.
		c.tokenMu.Lock()
		c.token = ""
		c.tokenMu.Unlock()
		return 0, nil, false, parseError(ans.status, data)
	case ans.status >= 500:
		return 0, nil, true, parseError(ans.status, data)
	case ans.status < 200 || ans.status > 299:
		return 0, nil, false, parseError(ans.status, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, nil, false, fmt.Errorf("decode the answer: %w", err)
		}
	}
	return ans.status, ans.header, false, nil
}

// send makes one HTTP request and reads its answer, bounded.
// answer is what send keeps of a response: its body is read and closed by then.
type answer struct {
	status int
	header http.Header
}

func (c *client) send(ctx context.Context, method, u, auth string, body any) (answer, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, nil, fmt.Errorf("encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return answer{}, nil, fmt.Errorf("build the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", auth)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return answer{}, nil, fmt.Errorf("read the answer: %w", err)
	}
	if len(data) > maxResponse {
		return answer{}, nil, fmt.Errorf("the answer is larger than %d bytes", maxResponse)
	}
	return answer{status: resp.StatusCode, header: resp.Header}, data, nil
}

// parseError reads GitHub's error answer, or makes one from a status and a body that is not.
func parseError(status int, body []byte) *apiError {
	e := &apiError{}
	if err := json.Unmarshal(body, e); err != nil || e.Message == "" {
		text := strings.TrimSpace(string(body))
		if len(text) > maxErrorText {
			text = text[:maxErrorText] + "..."
		}
		e = &apiError{Message: strings.ToValidUTF8(text, "?")}
	}
	e.Status = status
	return e
}

// authorization returns the Authorization header's value: the personal access token, or an
// installation token, fetched when there is none or it ends within tokenMargin.
func (c *client) authorization(ctx context.Context) (string, error) {
	if c.cfg.Auth == AuthToken {
		return "Bearer " + string(c.cfg.Token), nil
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token != "" && c.now().Before(c.tokenExpiry.Add(-tokenMargin)) {
		return "Bearer " + c.token, nil
	}
	tok, expiry, err := c.fetchToken(ctx)
	if err != nil {
		return "", fmt.Errorf("get an installation token: %w", err)
	}
	c.token, c.tokenExpiry = tok, expiry
	return "Bearer " + tok, nil
}

// fetchToken asks for an installation access token with the App's JWT. c.tokenMu is held.
func (c *client) fetchToken(ctx context.Context) (string, time.Time, error) {
	jwt, err := c.appJWT()
	if err != nil {
		return "", time.Time{}, err
	}
	u := c.base + "/app/installations/" + strconv.FormatInt(c.cfg.InstallationID, 10) + "/access_tokens"
	ans, data, err := c.send(ctx, http.MethodPost, u, "Bearer "+jwt, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	if c.noteLimit(ans.status, ans.header) {
		e := parseError(ans.status, data)
		e.rateLimited = true
		return "", time.Time{}, e
	}
	if ans.status != http.StatusCreated {
		return "", time.Time{}, parseError(ans.status, data)
	}
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.Token == "" {
		return "", time.Time{}, errors.New("GitHub's answer has no installation token")
	}
	return tok.Token, tok.ExpiresAt, nil
}

// appJWT signs the App's JWT: RS256, iss the app ID, issued a minute ago for clock drift,
// expiring within GitHub's ten minutes.
func (c *client) appJWT() (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: c.cfg.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("sign the app's JWT: %w", err)
	}
	now := c.now()
	claims, err := json.Marshal(map[string]any{
		"iss": strconv.FormatInt(c.cfg.AppID, 10),
		"iat": now.Add(-jwtBackdate).Unix(),
		"exp": now.Add(jwtLifetime).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("sign the app's JWT: %w", err)
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign the app's JWT: %w", err)
	}
	return jws.CompactSerialize()
}

// nextLink returns the path and query of the answer's next page under the API, or "" at the last.
func (c *client) nextLink(h http.Header) (string, error) { return httplink.Next(h, c.base, "the API") }
