package oncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/backoff"
)

const (
	// retryBase is the first wait before retrying a 5xx or a network error; it doubles.
	retryBase = 200 * time.Millisecond
	// maxAttempts bounds the tries of one call, whatever the deadline leaves.
	maxAttempts = 4
)

// ClientOptions configure a provider's client (package pagerduty, package opsgenie).
type ClientOptions struct {
	// APIURL is the API's base URL; default the provider's DefaultAPIURL.
	APIURL string
	// Token is the provider's read-only API key.
	Token Token
	// HTTP is the client; default one with no timeout of its own (each call has a deadline).
	HTTP *http.Client
	// Wait waits before a retry; default backoff.Sleep. Tests pass one that does not sleep.
	Wait func(ctx context.Context, d time.Duration) error
}

// API is what a provider's client tells APIClient about its REST API; the rest of the calls
// (the URL checks, the retries, the reading of the answer, what each status means) are the
// same for every provider and live in APIClient.
type API struct {
	// Name prefixes errors ("pagerduty"): the lower-case name used in the config.
	Name string
	// Service is the provider's name in sentences for people ("PagerDuty").
	Service string
	// DefaultURL is the base URL used when ClientOptions.APIURL is empty.
	DefaultURL string
	// NoToken is the error when ClientOptions.Token is empty ("a REST API key is required").
	NoToken string
	// Authorization is the Authorization header before the token ("Token token=").
	Authorization string
	// Accept is the Accept header.
	Accept string
	// MaxResponse bounds what is read of one answer.
	MaxResponse int64
	// ResetHeader is the header a 429 names its wait in (seconds) when Retry-After is absent.
	ResetHeader string
	// Unauthorized, Forbidden and NotFound say to people what a 401, a 403 and a 404 mean.
	Unauthorized, Forbidden, NotFound string
	// Error reads the provider's error answer of a status; text is the start of the body, for
	// an answer that is not the provider's error JSON.
	Error func(status int, body []byte, text string) error
}

// APIClient makes the GET calls of a provider's client: with its token, retrying a 5xx, a
// network error and a 429 while the caller's deadline leaves time for the wait.
type APIClient struct {
	api   API
	base  *url.URL
	token Token
	http  *http.Client
	wait  func(context.Context, time.Duration) error
}

// NewAPIClient checks o and fills in its defaults; it makes no call.
func NewAPIClient(api API, o ClientOptions) (*APIClient, error) {
	if o.APIURL == "" {
		o.APIURL = api.DefaultURL
	}
	u, err := url.Parse(strings.TrimSuffix(o.APIURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s api_url %q is not an http(s) URL", api.Name, o.APIURL)
	}
	if o.Token == "" {
		return nil, errors.New(api.Name + ": " + api.NoToken)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.Wait == nil {
		o.Wait = backoff.Sleep
	}
	return &APIClient{api: api, base: u, token: o.Token, http: o.HTTP, wait: o.Wait}, nil
}

// URL is the API's base URL with path and the query q. rawPath is path escaped, for a path
// with a name in it that may hold a slash or a space; "" leaves the escaping to net/url.
func (c *APIClient) URL(path, rawPath string, q url.Values) string {
	u := *c.base
	u.Path += path
	if rawPath != "" {
		u.RawPath = c.base.EscapedPath() + rawPath
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Get makes one GET of u and decodes the 200 answer into into, retrying a 5xx, a network error
// and a 429 while ctx's deadline leaves time for the wait the provider asks for.
func (c *APIClient) Get(ctx context.Context, u string, into any) error {
	for attempt := 1; ; attempt++ {
		wait, err := c.once(ctx, u, into)
		if err == nil {
			return nil
		}
		if wait < 0 || attempt == maxAttempts {
			return err
		}
		if wait == retryBase {
			wait <<= attempt - 1
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		if werr := c.wait(ctx, wait); werr != nil {
			return fmt.Errorf("%w (waiting to retry: %w)", err, werr)
		}
	}
}

// once makes one call. wait >= 0 says the error is worth retrying after that long.
func (c *APIClient) once(ctx context.Context, u string, into any) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", c.api.Name, err)
	}
	req.Header.Set("Authorization", c.api.Authorization+c.token.Reveal())
	req.Header.Set("Accept", c.api.Accept)
	req.Header.Set("User-Agent", "accessbot-oncall")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("%s: %w", c.api.Name, ctx.Err())
		}
		return retryBase, fmt.Errorf("%s: %w", c.api.Name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.api.MaxResponse))
	if err != nil {
		return retryBase, fmt.Errorf("%s: read answer: %w", c.api.Name, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, into); err != nil {
			return -1, fmt.Errorf("%s: answer is not JSON: %w", c.api.Name, err)
		}
		return 0, nil
	}
	ae := c.api.Error(resp.StatusCode, body, strings.TrimSpace(string(body[:min(len(body), 200)])))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return -1, Refused(c.api.Unauthorized, ErrUnauthorized, ae)
	case resp.StatusCode == http.StatusForbidden:
		return -1, fmt.Errorf("%s: %w", c.api.Forbidden, ae)
	case resp.StatusCode == http.StatusNotFound:
		return -1, Refused(c.api.NotFound, ErrNotFound, ae)
	case resp.StatusCode == http.StatusTooManyRequests:
		return c.retryAfter(resp.Header), fmt.Errorf("rate limited by %s: %w", c.api.Service, ae)
	case resp.StatusCode >= 500:
		return retryBase, ae
	}
	return -1, ae
}

// retryAfter is how long a 429 asks to wait: Retry-After, else the provider's reset header
// (seconds), else a second.
func (c *APIClient) retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After", c.api.ResetHeader} {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Get(k))); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return time.Second
}
