// Package ghdevice proves a person's GitHub login with GitHub's OAuth 2.0 device authorization
// flow, as GitHub documents it for GitHub Apps and OAuth Apps: POST /login/device/code gives a
// user code for the person to enter at GitHub; POST /login/oauth/access_token is polled, at the
// interval GitHub asks for, until the person approves (a user token), declines, or the code
// expires; GET /user with the token says whose it is. The token answers that one call and is
// dropped: it is never returned, stored or logged, and neither is the device code.
//
// No client secret is needed: the device flow is for clients that cannot keep one.
package ghdevice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/backoff"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ident"
)

// GrantType is the grant_type of the device flow's token request (RFC 8628).
const GrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Errors of Await: what the person did, or did not do, at GitHub.
var (
	// ErrExpired: the code expired before the person entered it (GitHub's expired_token, or
	// accessbot's own deadline).
	ErrExpired = errors.New("the GitHub code expired before it was entered")
	// ErrDenied: the person declined the authorization at GitHub (access_denied).
	ErrDenied = errors.New("the authorization was declined at GitHub")
)

// Client runs the device flow against one GitHub (github.com, or a GitHub Enterprise Server).
type Client struct {
	// ClientID is the App's client ID, device flow enabled.
	ClientID string
	// OAuthURL serves /login/device/code and /login/oauth/access_token ("https://github.com");
	// APIURL serves /user ("https://api.github.com").
	OAuthURL, APIURL string
	// HTTP makes the calls; a client with a 15 s timeout when nil.
	HTTP *http.Client
	// Clock reads the time of the deadline; the wall clock when nil.
	Clock clock.Clock
	// Wait waits between polls; backoff.Sleep when nil. Tests pass one that returns at once.
	Wait func(ctx context.Context, d time.Duration) error
}

// Code is a started flow: what the person is shown, and the device code that polls for it.
type Code struct {
	// UserCode is what the person types at VerificationURI ("WDJB-MJHT").
	UserCode        string
	VerificationURI string
	// ExpiresAt is when GitHub stops accepting the code; Interval the least time between polls.
	ExpiresAt time.Time
	Interval  time.Duration
	// Device is the device code that polls for the token. It prints redacted, and so does a
	// Code printed whole.
	Device Secret
}

// User is the GitHub account that approved: its login as GitHub spells it and its numeric ID.
type User struct {
	Login string
	ID    int64
}

// Secret holds a device code or a token; it prints redacted, so no log line or error can carry
// one by mistake.
type Secret struct{ v string }

// String implements fmt.Stringer, redacted.
func (Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer, redacted.
func (Secret) GoString() string { return "[redacted]" }

// MarshalText implements encoding.TextMarshaler, redacted.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// maxBody bounds what is read of an answer.
const maxBody = 64 << 10

// slowDownStep is what GitHub adds to the interval with each slow_down.
const slowDownStep = 5 * time.Second

// defaultInterval is RFC 8628's, when GitHub names none.
const defaultInterval = 5 * time.Second

var (
	userCode = ident.New(`^[A-Z0-9]{4}-?[A-Z0-9]{4}$|^[A-Za-z0-9-]{4,20}$`, `^[A-Z0-9]{4}-?[A-Z0-9]{4}$|^[A-Za-z0-9-]+$`, 4, 20)
	login    = ident.New(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`, `^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`, 1, 39)
)

func (c *Client) now() time.Time {
	if c.Clock == nil {
		return time.Now()
	}
	return c.Clock.Now()
}

func (c *Client) http() *http.Client {
	if c.HTTP == nil {
		return &http.Client{Timeout: 15 * time.Second}
	}
	return c.HTTP
}

// oauthAnswer is the JSON of both device-flow endpoints: a success's fields, or an error.
type oauthAnswer struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
	AccessToken     string `json:"access_token"`
	Error           string `json:"error"`
	Description     string `json:"error_description"`
	// status is the HTTP status, for errors.
	status string
}

// Start asks GitHub for a code for the person to enter.
func (c *Client) Start(ctx context.Context) (Code, error) {
	a, err := c.post(ctx, "/login/device/code", url.Values{"client_id": {c.ClientID}})
	if err != nil {
		return Code{}, fmt.Errorf("start GitHub's device flow: %w", err)
	}
	if a.Error != "" {
		return Code{}, fmt.Errorf("start GitHub's device flow: GitHub answered %s, %s: %s", a.status, a.Error, a.Description)
	}
	u, err := url.Parse(a.VerificationURI)
	switch {
	case a.DeviceCode == "" || a.ExpiresIn <= 0:
		return Code{}, errors.New("start GitHub's device flow: the answer has no device code or expiry")
	case !userCode.MatchString(a.UserCode):
		return Code{}, fmt.Errorf("start GitHub's device flow: %q is not a user code", a.UserCode)
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return Code{}, fmt.Errorf("start GitHub's device flow: %q is not a verification URL", a.VerificationURI)
	}
	interval := time.Duration(a.Interval) * time.Second
	if interval <= 0 {
		interval = defaultInterval
	}
	return Code{
		UserCode: a.UserCode, VerificationURI: a.VerificationURI,
		ExpiresAt: c.now().Add(time.Duration(a.ExpiresIn) * time.Second), Interval: interval,
		Device: Secret{a.DeviceCode},
	}, nil
}

// Await polls until the person approves, declines (ErrDenied) or the code expires
// (ErrExpired, also when ctx's deadline or the code's passes first), and returns the GitHub
// account that approved. It honours the interval and adds to it on each slow_down.
func (c *Client) Await(ctx context.Context, code Code) (User, error) {
	wait := c.Wait
	if wait == nil {
		wait = backoff.Sleep
	}
	interval := code.Interval
	for {
		if !c.now().Add(interval).Before(code.ExpiresAt) {
			return User{}, ErrExpired
		}
		if err := wait(ctx, interval); err != nil {
			return User{}, fmt.Errorf("wait for the GitHub authorization: %w", err)
		}
		a, err := c.post(ctx, "/login/oauth/access_token", url.Values{
			"client_id": {c.ClientID}, "device_code": {code.Device.v}, "grant_type": {GrantType},
		})
		if err != nil {
			return User{}, fmt.Errorf("poll for the GitHub authorization: %w", err)
		}
		switch a.Error {
		case "":
			if a.AccessToken == "" {
				return User{}, errors.New("poll for the GitHub authorization: the answer has neither a token nor an error")
			}
			return c.user(ctx, Secret{a.AccessToken})
		case "authorization_pending":
			continue
		case "slow_down":
			// GitHub's answer names the new interval; at least the documented 5 s more.
			interval = max(interval+slowDownStep, time.Duration(a.Interval)*time.Second)
		case "expired_token":
			return User{}, ErrExpired
		case "access_denied":
			return User{}, ErrDenied
		default:
			// incorrect_client_credentials, device_flow_disabled, unsupported_grant_type,
			// incorrect_device_code: accessbot's setup, not the person.
			return User{}, fmt.Errorf("poll for the GitHub authorization: GitHub answered %s: %s", a.Error, a.Description)
		}
	}
}

// post sends a form to the OAuth host and reads its JSON answer. GitHub answers the device
// flow's errors with 200 and an error field; another status is read the same way when its body
// has one.
func (c *Client) post(ctx context.Context, path string, form url.Values) (oauthAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.OAuthURL, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return oauthAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return oauthAnswer{}, err
	}
	defer resp.Body.Close()
	var a oauthAnswer
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return oauthAnswer{}, fmt.Errorf("read GitHub's answer: %w", err)
	}
	if err := json.Unmarshal(body, &a); err != nil || (resp.StatusCode != http.StatusOK && a.Error == "") {
		return oauthAnswer{}, fmt.Errorf("GitHub answered %s to POST %s", resp.Status, path)
	}
	a.status = resp.Status
	return a, nil
}

// user asks GitHub whose token it is. The token is used for this call only.
func (c *Client) user(ctx context.Context, token Secret) (User, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.APIURL, "/")+"/user", nil)
	if err != nil {
		return User{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token.v)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := c.http().Do(req)
	if err != nil {
		return User{}, fmt.Errorf("read the GitHub user: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return User{}, fmt.Errorf("read the GitHub user: GitHub answered %s to GET /user", resp.Status)
	}
	var u struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&u); err != nil {
		return User{}, fmt.Errorf("read the GitHub user: %w", err)
	}
	if !login.MatchString(u.Login) || u.ID <= 0 {
		return User{}, fmt.Errorf("read the GitHub user: %q (ID %d) is not a GitHub login", u.Login, u.ID)
	}
	return User{Login: u.Login, ID: u.ID}, nil
}
