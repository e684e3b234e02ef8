package tickets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxAnswer bounds a success answer read from a ticket system: one ticket is a few kB.
const MaxAnswer = 1 << 20

// Call sends req with hc and decodes a 2xx JSON answer into out (nil: the body is dropped). Any
// other answer is an *APIError with op, the system's error text as errText reads it from the
// body, and the Retry-After wait of a 429 or 503 relative to now.
func Call(ctx context.Context, hc *http.Client, req *http.Request, op string, out any, errText func([]byte) string, now func() time.Time) error {
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
		ae := &APIError{Op: op, Status: resp.StatusCode, Message: ClipMessage(errText(body))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			ae.RetryAfter = RetryAfter(resp.Header, now())
		}
		return ae
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	return nil
}

// BaseURL checks a ticket system's configured URL: an http(s) URL with a host, without a
// trailing slash. kind and name say which system, in the error.
func BaseURL(kind, name, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s %s: url %q is not an http(s) URL", kind, name, raw)
	}
	return u, nil
}

// NewRequest builds a call of base's path followed by path, with the query q, that asks for
// JSON; body, when not nil, is sent as JSON. The caller adds its authentication.
func NewRequest(method string, base *url.URL, path string, q url.Values, body any) (*http.Request, error) {
	u := *base
	u.Path = base.Path + path
	u.RawQuery = q.Encode()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	req, err := http.NewRequest(method, u.String(), &buf)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}
