// Package pagerduty asks PagerDuty's REST API v2 who is on call now (GET /oncalls), for the
// on-call approver groups (package oncall). It speaks the two calls it needs over net/http with
// typed structs rather than through github.com/PagerDuty/go-pagerduty: see the README's
// "On-call approvals" for the size measured.
package pagerduty

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

// DefaultAPIURL is PagerDuty's REST API (the EU service account uses the same host).
const DefaultAPIURL = "https://api.pagerduty.com"

const (
	// pageLimit is PagerDuty's largest page.
	pageLimit = 100
	// maxPages bounds one answer: 10,000 on-call entries is far beyond any schedule.
	maxPages = 100
	// maxResponse bounds what is read of one page.
	maxResponse = 4 << 20
	// retryBase is the first wait before retrying a 5xx or network error; it doubles.
	retryBase = 200 * time.Millisecond
	// maxAttempts bounds the tries of one call, whatever the deadline leaves.
	maxAttempts = 4
	accept      = "application/vnd.pagerduty+json;version=2"
)

// Options configure a Client.
type Options struct {
	// APIURL is the REST API's base URL; default DefaultAPIURL.
	APIURL string
	// Token is a read-only REST API key.
	Token oncall.Token
	// HTTP is the client; default one with no timeout of its own (each call has a deadline).
	HTTP *http.Client
	// Wait waits before a retry; default backoff.Sleep. Tests pass one that does not sleep.
	Wait func(ctx context.Context, d time.Duration) error
}

// Client asks PagerDuty who is on call.
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
		return nil, fmt.Errorf("pagerduty api_url %q is not an http(s) URL", o.APIURL)
	}
	if o.Token == "" {
		return nil, errors.New("pagerduty: a REST API key is required")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	if o.Wait == nil {
		o.Wait = backoff.Sleep
	}
	return &Client{base: u, token: o.Token, http: o.HTTP, wait: o.Wait}, nil
}

// oncallsPage is the part of GET /oncalls's answer the client reads.
type oncallsPage struct {
	Oncalls []struct {
		EscalationLevel int `json:"escalation_level"`
		User            struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Name    string `json:"name"`
			Email   string `json:"email"`
			Summary string `json:"summary"`
		} `json:"user"`
	} `json:"oncalls"`
	Limit  int  `json:"limit"`
	Offset int  `json:"offset"`
	More   bool `json:"more"`
}

// OnCall implements oncall.Provider: every page of GET /oncalls for the schedule or the
// escalation policy, with the users' emails (include[]=users). An empty answer is checked
// against the schedule or policy itself, so that one that does not exist is an error
// (oncall.ErrNotFound) rather than a rota nobody is on.
func (c *Client) OnCall(ctx context.Context, t oncall.Target) ([]oncall.Shift, error) {
	filter := "schedule_ids[]"
	if t.Kind == oncall.KindEscalation {
		filter = "escalation_policy_ids[]"
	}
	var out []oncall.Shift
	seen := map[string]bool{}
	for page, offset := 0, 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("pagerduty: more than %d pages of on-calls", maxPages)
		}
		q := url.Values{filter: {t.ID}, "include[]": {"users"}, "limit": {strconv.Itoa(pageLimit)}, "offset": {strconv.Itoa(offset)}}
		var p oncallsPage
		if err := c.get(ctx, "/oncalls", q, &p); err != nil {
			return nil, err
		}
		for _, oc := range p.Oncalls {
			level := oc.EscalationLevel
			if t.Kind == oncall.KindSchedule {
				level = 0
			}
			email := strings.ToLower(strings.TrimSpace(oc.User.Email))
			key := email + "/" + strconv.Itoa(level)
			if email == "" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, oncall.Shift{Email: email, Name: oc.User.Name, Level: level})
		}
		if !p.More || len(p.Oncalls) == 0 {
			break
		}
		offset += len(p.Oncalls)
	}
	if len(out) == 0 {
		if err := c.exists(ctx, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// exists reads the schedule or escalation policy itself: 404 means it does not exist.
func (c *Client) exists(ctx context.Context, t oncall.Target) error {
	path := "/schedules/" + url.PathEscape(t.ID)
	if t.Kind == oncall.KindEscalation {
		path = "/escalation_policies/" + url.PathEscape(t.ID)
	}
	var ignored json.RawMessage
	return c.get(ctx, path, nil, &ignored)
}

// apiError is PagerDuty's error answer: {"error": {"message": ..., "code": ..., "errors": [...]}}.
type apiError struct {
	Status int `json:"-"`
	Detail struct {
		Message string   `json:"message"`
		Code    int      `json:"code"`
		Errors  []string `json:"errors"`
	} `json:"error"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("PagerDuty answered %d", e.Status)
	if e.Detail.Message != "" {
		s += ": " + e.Detail.Message
	}
	if len(e.Detail.Errors) > 0 {
		s += " (" + strings.Join(e.Detail.Errors, "; ") + ")"
	}
	return s
}

// get makes one GET, retrying a 5xx, a network error and a 429 while ctx's deadline leaves
// time for the wait PagerDuty asks for (Retry-After, else ratelimit-reset).
func (c *Client) get(ctx context.Context, path string, q url.Values, into any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	for attempt := 1; ; attempt++ {
		wait, err := c.once(ctx, u.String(), into)
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
func (c *Client) once(ctx context.Context, u string, into any) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return -1, fmt.Errorf("pagerduty: %w", err)
	}
	req.Header.Set("Authorization", "Token token="+c.token.Reveal())
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "accessbot-oncall")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("pagerduty: %w", ctx.Err())
		}
		return retryBase, fmt.Errorf("pagerduty: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return retryBase, fmt.Errorf("pagerduty: read answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, into); err != nil {
			return -1, fmt.Errorf("pagerduty: answer is not JSON: %w", err)
		}
		return 0, nil
	}
	ae := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(body, ae) != nil || ae.Detail.Message == "" {
		ae.Detail.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return -1, oncall.Refused("the PagerDuty token was refused", oncall.ErrUnauthorized, ae)
	case resp.StatusCode == http.StatusForbidden:
		return -1, fmt.Errorf("the PagerDuty token may not read this (it needs read access): %w", ae)
	case resp.StatusCode == http.StatusNotFound:
		return -1, oncall.Refused("PagerDuty has no such schedule or escalation policy", oncall.ErrNotFound, ae)
	case resp.StatusCode == http.StatusTooManyRequests:
		return retryAfter(resp.Header), fmt.Errorf("rate limited by PagerDuty: %w", ae)
	case resp.StatusCode >= 500:
		return retryBase, ae
	}
	return -1, ae
}

// retryAfter is how long a 429 asks to wait: Retry-After, else ratelimit-reset (seconds),
// else a second.
func retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After", "Ratelimit-Reset"} {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Get(k))); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return time.Second
}

var _ oncall.Provider = (*Client)(nil)
