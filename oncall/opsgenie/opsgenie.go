// Package opsgenie asks Opsgenie's Who is On Call API who is on call now for a schedule (GET
// /v2/schedules/{name}/on-calls?scheduleIdentifierType=name&flat=true), for the on-call
// approver groups (package oncall), over net/http with typed structs.
package opsgenie

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
	"github.com/accessbot/accessbot/oncall"
)

// API base URLs: Opsgenie's US instance, and its EU instance.
const (
	DefaultAPIURL = "https://api.opsgenie.com"
	EUAPIURL      = "https://api.eu.opsgenie.com"
)

const (
	maxResponse = 1 << 20
	retryBase   = 200 * time.Millisecond
	maxAttempts = 4
)

// Options configure a Client.
type Options struct {
	// APIURL is the API's base URL; default DefaultAPIURL (EUAPIURL for the EU instance).
	APIURL string
	// Token is an API integration's key with Read access only.
	Token oncall.Token
	HTTP  *http.Client
	// Wait waits before a retry; default backoff.Sleep.
	Wait func(ctx context.Context, d time.Duration) error
}

// Client asks Opsgenie who is on call.
type Client struct {
	base  *url.URL
	token oncall.Token
	http  *http.Client
	wait  func(context.Context, time.Duration) error
}

// New builds a Client; it makes no call.
func New(o Options) (*Client, error) {
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(strings.TrimSuffix(o.APIURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("opsgenie api_url %q is not an http(s) URL", o.APIURL)
	}
	if o.Token == "" {
		return nil, errors.New("opsgenie: an API key is required")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.Wait == nil {
		o.Wait = backoff.Sleep
	}
	return &Client{base: u, token: o.Token, http: o.HTTP, wait: o.Wait}, nil
}

// onCalls is the answer of Get On Calls with flat=true.
type onCalls struct {
	Data struct {
		Parent struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"_parent"`
		// OnCallRecipients are the usernames (emails) of the people on call.
		OnCallRecipients []string `json:"onCallRecipients"`
	} `json:"data"`
	RequestID string `json:"requestId"`
}

// apiError is Opsgenie's error answer: {"message": ..., "took": ..., "requestId": ...}.
type apiError struct {
	Status    int    `json:"-"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("Opsgenie answered %d", e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// OnCall implements oncall.Provider for opsgenie:schedule/<name> rotas. Opsgenie usernames
// are the people's emails.
func (c *Client) OnCall(ctx context.Context, t oncall.Target) ([]oncall.Shift, error) {
	if t.Kind != oncall.KindSchedule {
		return nil, fmt.Errorf("opsgenie: %s is not a schedule", t)
	}
	u := *c.base
	u.Path += "/v2/schedules/" + t.ID + "/on-calls"
	u.RawPath = c.base.EscapedPath() + "/v2/schedules/" + url.PathEscape(t.ID) + "/on-calls"
	u.RawQuery = url.Values{"scheduleIdentifierType": {"name"}, "flat": {"true"}}.Encode()
	var oc onCalls
	if err := c.get(ctx, u.String(), &oc); err != nil {
		return nil, err
	}
	var out []oncall.Shift
	seen := map[string]bool{}
	for _, r := range oc.Data.OnCallRecipients {
		email := strings.ToLower(strings.TrimSpace(r))
		if email == "" || seen[email] || !strings.Contains(email, "@") {
			continue
		}
		seen[email] = true
		out = append(out, oncall.Shift{Email: email})
	}
	return out, nil
}

// get makes one GET, retrying a 5xx, a network error and a 429 while the deadline leaves time.
func (c *Client) get(ctx context.Context, u string, into any) error {
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

func (c *Client) once(ctx context.Context, u string, into any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return -1, fmt.Errorf("opsgenie: %w", err)
	}
	req.Header.Set("Authorization", "GenieKey "+c.token.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "accessbot-oncall")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("opsgenie: %w", ctx.Err())
		}
		return retryBase, fmt.Errorf("opsgenie: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return retryBase, fmt.Errorf("opsgenie: read answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, into); err != nil {
			return -1, fmt.Errorf("opsgenie: answer is not JSON: %w", err)
		}
		return 0, nil
	}
	ae := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(body, ae) != nil || ae.Message == "" {
		ae.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return -1, oncall.Refused("the Opsgenie API key was refused", oncall.ErrUnauthorized, ae)
	case resp.StatusCode == http.StatusForbidden:
		return -1, fmt.Errorf("the Opsgenie API key may not read this schedule (an API integration not restricted to a team, with Read access): %w", ae)
	case resp.StatusCode == http.StatusNotFound:
		return -1, oncall.Refused("Opsgenie has no such schedule", oncall.ErrNotFound, ae)
	case resp.StatusCode == http.StatusTooManyRequests:
		return retryAfter(resp.Header), fmt.Errorf("rate limited by Opsgenie: %w", ae)
	case resp.StatusCode >= 500:
		return retryBase, ae
	}
	return -1, ae
}

// retryAfter is how long a 429 asks to wait: Retry-After, else X-RateLimit-Period-In-Sec (the
// window Opsgenie throttles over), else a second.
func retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After", "X-RateLimit-Period-In-Sec"} {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Get(k))); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return time.Second
}

var _ oncall.Provider = (*Client)(nil)
