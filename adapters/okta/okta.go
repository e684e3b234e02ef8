// Package okta is the adapter for Okta groups: a grant adds the person's Okta user to one
// configured group, a revoke removes them, and the scan lists the group's members. Group
// membership is how most SSO apps are assigned, so one group can stand for admin rights in Okta
// itself (through a group's admin role) or for any app the group is assigned to.
//
// Okta keeps no note of who added a member or why, so the adapter cannot tell its own membership
// from one made by hand. It relies on Holds (adapters.Holder): a request from a person already in
// the group is refused before a grant exists, so standing membership is never removed. A member
// added by hand between a request and its approval is taken for the grant's own, because a grant
// retried after a crash must find its own membership and remove it at expiry (see the README).
//
// The adapter speaks Okta's Management API over net/http (client.go says why not the SDK),
// authenticated by an API token or by OAuth 2.0 for a service app with a private-key JWT, and
// honours Okta's rate limits (X-Rate-Limit-Remaining and -Reset, 429) with an injectable clock.
package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ratelimit"

	"github.com/accessbot/accessbot/internal/backoff"
)

// Lease data keys.
const (
	leaseUserID  = "user_id"
	leaseGroupID = "group_id"
)

// errNoUser is wrapped when Okta has no user by the account name.
var errNoUser = errors.New("no such Okta user")

func init() {
	adapters.Register(adapters.Type{
		Name:      "okta",
		Doc:       "adds the person's Okta user to a group for the grant",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter. It does not contact Okta.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env.Log, Options{})
}

// Options are what a test or a benchmark replaces; the zero value is production.
type Options struct {
	// HTTPClient, when set, is the client every call uses.
	HTTPClient *http.Client
	// Now and Wait are the clock of rate-limit and retry waits: the current time, and a wait of
	// d that ends early with the context. time.Now and a timer when nil.
	Now  func() time.Time
	Wait func(ctx context.Context, d time.Duration) error
}

// Adapter adds people to one Okta group. It is safe for concurrent use.
type Adapter struct {
	cfg Config
	log zerolog.Logger
	api *client
}

// New returns the adapter for cfg.
func New(cfg Config, log zerolog.Logger, o Options) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c := &client{
		base: strings.TrimSuffix(cfg.OrgURL, "/"), http: hc, cfg: &cfg,
		now: o.Now, wait: o.Wait, attempts: cfg.MaxAttempts,
		limit: ratelimit.Hold{Who: "Okta"},
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.wait == nil {
		c.wait = backoff.Sleep
	}
	return &Adapter{cfg: cfg, log: log, api: c}, nil
}

func (a *Adapter) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.Timeout)
}

// checkAccount refuses an account name Okta could not hold, before it reaches a URL.
func (a *Adapter) checkAccount(account string) error {
	if account == "" {
		return adapters.Permanentf("the account name is empty: set the resource's account template to the person's Okta %s", a.cfg.UserLookup)
	}
	if len(account) > maxAccountLength {
		return adapters.Permanentf("account name of %d bytes is longer than Okta's %d", len(account), maxAccountLength)
	}
	for _, r := range account {
		if unicode.IsControl(r) || r == '/' {
			return adapters.Permanentf("account name %q has a character an Okta login cannot", account)
		}
	}
	if a.cfg.UserLookup == LookupEmail && !emailRe().MatchString(account) {
		return adapters.Permanentf("account name %q is not an email address", account)
	}
	return nil
}

// classify gives an API error its kind: 400, 401, 403 and 404 are permanent (a wrong request,
// credential or admin role will not change by retrying), everything else retryable.
func classify(what string, err error) error {
	var ae *apiError
	var te *tokenError
	switch {
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return adapters.PermanentError(fmt.Errorf("%s: %w", what, err))
		}
	case errors.As(err, &te):
		if te.status == http.StatusBadRequest || te.status == http.StatusUnauthorized || te.status == http.StatusForbidden {
			return adapters.PermanentError(fmt.Errorf("%s: %w", what, err))
		}
	}
	return adapters.RetryableError(fmt.Errorf("%s: %w", what, err))
}

// isStatus reports whether err is Okta's answer with status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// findUser returns the Okta user the account name names, or an error wrapping errNoUser.
func (a *Adapter) findUser(ctx context.Context, account string) (user, error) {
	if err := a.checkAccount(account); err != nil {
		return user{}, err
	}
	var u user
	if a.cfg.UserLookup == LookupLogin {
		_, err := a.api.do(ctx, http.MethodGet, "/api/v1/users/"+url.PathEscape(account), &u)
		if isStatus(err, http.StatusNotFound) {
			return user{}, adapters.PermanentError(fmt.Errorf("find Okta user %q: %w", account, errNoUser))
		}
		if err != nil {
			return user{}, classify(fmt.Sprintf("find Okta user %q", account), err)
		}
	} else {
		var found []user
		q := url.Values{"search": {`profile.email eq "` + account + `"`}, "limit": {"2"}}
		if _, err := a.api.do(ctx, http.MethodGet, "/api/v1/users?"+q.Encode(), &found); err != nil {
			return user{}, classify(fmt.Sprintf("find the Okta user with email %q", account), err)
		}
		switch len(found) {
		case 0:
			return user{}, adapters.PermanentError(fmt.Errorf("find the Okta user with email %q: %w", account, errNoUser))
		case 1:
			u = found[0]
		default:
			return user{}, adapters.Permanentf("more than one Okta user has email %q: set user_lookup: login", account)
		}
	}
	if !userIDRe().MatchString(u.ID) {
		return user{}, adapters.Permanentf("Okta answered user ID %q for %q, which is not an Okta user ID", u.ID, account)
	}
	return u, nil
}

// membership is the path of the user's membership of the configured group.
func (a *Adapter) membership(userID string) string {
	return "/api/v1/groups/" + a.cfg.GroupID + "/users/" + userID
}

// Grant adds the person's user to the group. Adding a member is idempotent at Okta, so a
// second call for the same grant succeeds the same way.
func (a *Adapter) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	u, err := a.findUser(ctx, req.Subject.Account)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	if _, err := a.api.do(ctx, http.MethodPut, a.membership(u.ID), nil); err != nil {
		return adapters.Lease{}, classify(fmt.Sprintf("grant %s: add Okta user %s to group %s", req.GrantID, u.ID, a.cfg.GroupID), err)
	}
	return adapters.Lease{Data: map[string]string{leaseUserID: u.ID, leaseGroupID: a.cfg.GroupID}}, nil
}

// Revoke removes the person's user from the group. It works without lease data (the user is
// found again by the account name); a user or membership that is gone is done.
func (a *Adapter) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	userID := req.Data[leaseUserID]
	if !userIDRe().MatchString(userID) || req.Data[leaseGroupID] != a.cfg.GroupID {
		u, err := a.findUser(ctx, req.Subject.Account)
		if errors.Is(err, errNoUser) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("revoke %s: %w", req.GrantID, err)
		}
		userID = u.ID
	}
	_, err := a.api.do(ctx, http.MethodDelete, a.membership(userID), nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return classify(fmt.Sprintf("revoke %s: remove Okta user %s from group %s", req.GrantID, userID, a.cfg.GroupID), err)
	}
	return nil
}

// members pages through the group's members, calling f for each.
func (a *Adapter) members(ctx context.Context, f func(user) bool) error {
	path := "/api/v1/groups/" + a.cfg.GroupID + "/users?limit=" + strconv.Itoa(a.cfg.PageSize)
	for path != "" {
		var page []user
		h, err := a.api.do(ctx, http.MethodGet, path, &page)
		if err != nil {
			return classify(fmt.Sprintf("list the members of Okta group %s", a.cfg.GroupID), err)
		}
		for _, u := range page {
			if !f(u) {
				return nil
			}
		}
		if path, err = a.api.nextLink(h); err != nil {
			return adapters.PermanentError(fmt.Errorf("list the members of Okta group %s: %w", a.cfg.GroupID, err))
		}
	}
	return nil
}

// Holds reports whether the person's user is a member of the group already. A person Okta does
// not know holds nothing.
func (a *Adapter) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	u, err := a.findUser(ctx, s.Account)
	if errors.Is(err, errNoUser) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	held := false
	err = a.members(ctx, func(m user) bool {
		held = m.ID == u.ID
		return !held
	})
	return held, err
}

// List returns the group's members, each named as a grant's account would be (login or email).
func (a *Adapter) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var out []adapters.Access
	err := a.members(ctx, func(m user) bool {
		name := m.Profile.Login
		if a.cfg.UserLookup == LookupEmail {
			name = m.Profile.Email
		}
		out = append(out, adapters.Access{Account: name, Detail: "member of Okta group " + a.cfg.GroupID})
		return true
	})
	return out, err
}

// Check reads the group, which proves the org URL, the credential and the group in one call.
func (a *Adapter) Check(ctx context.Context) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var g group
	if _, err := a.api.do(ctx, http.MethodGet, "/api/v1/groups/"+a.cfg.GroupID, &g); err != nil {
		return classify("read Okta group "+a.cfg.GroupID, err)
	}
	return nil
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Lister  = (*Adapter)(nil)
	_ adapters.Holder  = (*Adapter)(nil)
	_ adapters.Checker = (*Adapter)(nil)
)
