// Package googlegroups is the adapter for Google Groups: a grant is a membership of one group,
// through the Cloud Identity Groups v1 REST API. Apps assigned by group (SSO), Google Cloud
// roles bound to the group and shared drives follow the membership.
//
// Each grant's membership carries a MEMBER role whose expiry is the grant's, so Google itself
// removes the person at expiry even when accessbot is down (the second lock; the editions that
// have membership expiry are named in the README). A membership has no field that could name
// the grant, so the expiry is what marks accessbot's memberships: one without an expiry is
// standing access (adapters.Holder), which accessbot never grants over and never removes.
package googlegroups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/googleapi"
)

const (
	// Scope is the one OAuth scope the adapter asks for: reading and changing groups and
	// their memberships.
	Scope = "https://www.googleapis.com/auth/cloud-identity.groups"

	leaseMembership = "membership"
	leaseStanding   = "standing"

	// ownedSlack is how long before a grant's start a membership without an expiry may have
	// been made and still count as the grant's own (expiry: false only), for Google's and
	// accessbot's clocks to differ.
	ownedSlack = time.Minute
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "google-groups",
		Doc:       "adds the person to a Google group (Cloud Identity Groups API) with a membership expiry at the grant's",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter. It contacts nothing: the credentials (Application Default
// Credentials) are found and the group looked up on first use.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env.Log)
}

// Groups is the adapter. It is safe for concurrent use.
type Groups struct {
	cfg Config
	log zerolog.Logger

	mu         sync.Mutex
	httpClient *http.Client
	svc        *restClient
	// group is the group's resource name, looked up once.
	group string

	// Now returns the current time; time.Now unless a test replaces it before first use. The
	// lister uses it to leave out memberships whose expiry has passed.
	Now func() time.Time
	// Wait waits before the next try after the attempt-th failure (from 1), or returns the
	// context's error. Tests replace it before first use so that retries take no time.
	Wait func(ctx context.Context, attempt int) error
}

// Option changes how New builds the adapter.
type Option func(*Groups)

// WithHTTPClient makes the adapter call Google through hc, which must add the credentials
// itself, instead of finding Application Default Credentials.
func WithHTTPClient(hc *http.Client) Option {
	return func(g *Groups) { g.httpClient = hc }
}

// WithTokenSource makes the adapter authenticate with ts's tokens.
func WithTokenSource(ts oauth2.TokenSource) Option {
	return WithHTTPClient(googleapi.TokenSourceClient(ts))
}

// New returns the adapter for cfg.
func New(cfg Config, log zerolog.Logger, opts ...Option) (*Groups, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Groups{cfg: cfg, log: log, Now: time.Now}
	for _, o := range opts {
		o(g)
	}
	g.Wait = googleapi.Backoff
	return g, nil
}

// service returns the REST client and the group's resource name, building the one and looking
// up the other on first use.
func (g *Groups) service(ctx context.Context) (*restClient, string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.svc == nil {
		hc := g.httpClient
		if hc == nil {
			var err error
			if hc, err = googleapi.DefaultClient(ctx, Scope, g.cfg.Timeout); err != nil {
				return nil, "", adapters.RetryableError(err)
			}
		}
		g.svc = newRESTClient(g.cfg.Endpoint, hc)
	}
	if g.group == "" {
		var name string
		err := g.retrying(ctx, func(ctx context.Context) error {
			var err error
			name, err = g.svc.lookupGroup(ctx, g.cfg.Group)
			return err
		})
		if err != nil {
			return nil, "", classify("look up the group "+g.cfg.Group, err)
		}
		g.group = name
	}
	return g.svc, g.group, nil
}

func (g *Groups) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.Timeout)
}

// account checks the person's email, which names them to Google.
func account(s adapters.Subject) (string, error) {
	a := s.Account
	if a == "" {
		return "", adapters.Permanentf("the person has no Google account email for this resource (set the resource's account template)")
	}
	if len(a) > maxAccount || !emailRE().MatchString(a) {
		return "", adapters.Permanentf("account %q is not an email address, which is how Google names a group member", a)
	}
	return a, nil
}

// expireTime is how an expiry is sent: RFC 3339 in UTC to the second, earlier rather than later.
func expireTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// expiryOf returns the MEMBER role's expiry, if the membership has one.
func expiryOf(m *membership) (time.Time, bool) {
	r := m.memberRole()
	if r == nil || r.ExpiryDetail == nil || r.ExpiryDetail.ExpireTime == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, r.ExpiryDetail.ExpireTime)
	return t, err == nil
}

// find returns the person's membership of the group, or nil when there is none.
func (g *Groups) find(ctx context.Context, svc *restClient, group, email string) (*membership, error) {
	var name string
	err := g.retrying(ctx, func(ctx context.Context) error {
		var err error
		name, err = svc.lookupMembership(ctx, group, email)
		return err
	})
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m *membership
	err = g.retrying(ctx, func(ctx context.Context) error {
		var err error
		m, err = svc.getMembership(ctx, name)
		return err
	})
	if isStatus(err, http.StatusNotFound) {
		// Removed between the two calls (Google's own expiry, or someone else).
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.Name == "" {
		m.Name = name
	}
	return m, nil
}

// standing reports whether an existing membership is access accessbot did not give: with
// expiry on, one without an expiry; with expiry off, one made before the grant began.
func (g *Groups) standing(m *membership, start time.Time) bool {
	if _, ok := expiryOf(m); ok {
		return false
	}
	if g.cfg.expires() {
		return true
	}
	created, err := time.Parse(time.RFC3339Nano, m.CreateTime)
	return start.IsZero() || err != nil || created.Before(start.Add(-ownedSlack))
}

// Grant adds the person to the group with the grant's expiry. A membership that is there
// already is the grant's when it has an expiry (a repeated Grant; the expiry is moved later if
// need be), and standing access, left as it is, when it has none.
func (g *Groups) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	email, err := account(req.Subject)
	if err != nil {
		return adapters.Lease{}, err
	}
	doing := "grant " + req.GrantID + ": add " + email + " to " + g.cfg.Group
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, group, err := g.service(ctx)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	// Two rounds at most: a create answered 409 ALREADY_EXISTS (an earlier try that Google
	// applied though its answer was lost, or a membership added meanwhile) goes back to the
	// lookup once.
	for round := 1; ; round++ {
		m, err := g.find(ctx, svc, group, email)
		if err != nil {
			return adapters.Lease{}, classify(doing, err)
		}
		if m != nil {
			return g.adopt(ctx, svc, doing, m, req)
		}
		m, err = g.create(ctx, svc, group, email, req.Expires)
		if isStatus(err, http.StatusConflict) && round < 2 {
			continue
		}
		if err != nil {
			return adapters.Lease{}, classify(doing, err)
		}
		g.log.Debug().Str("grant_id", req.GrantID).Str("group", g.cfg.Group).Msg("membership added")
		if m == nil {
			// Google accepted the create but has not finished it: the grant is retried,
			// and the retry finds the membership or creates it.
			return adapters.Lease{}, adapters.Retryablef("%s: Google has not finished adding the membership yet", doing)
		}
		return adapters.Lease{Data: map[string]string{leaseMembership: m.Name}}, nil
	}
}

// adopt is Grant's answer for a membership that exists already.
func (g *Groups) adopt(ctx context.Context, svc *restClient, doing string, m *membership, req adapters.GrantRequest) (adapters.Lease, error) {
	if g.standing(m, req.Start) {
		g.log.Info().Str("grant_id", req.GrantID).Str("group", g.cfg.Group).Msg("the person is a standing member of the group; left as it is")
		return adapters.Lease{Data: map[string]string{leaseMembership: m.Name, leaseStanding: "true"}}, nil
	}
	if until, ok := expiryOf(m); ok && until.Before(req.Expires.Truncate(time.Second)) {
		if err := g.setExpiry(ctx, svc, m.Name, req.Expires); err != nil {
			return adapters.Lease{}, classify(doing+": move the expiry of the existing membership", err)
		}
	}
	return adapters.Lease{Data: map[string]string{leaseMembership: m.Name}}, nil
}

// create adds the membership and returns it, or nil when Google's operation is not done yet.
func (g *Groups) create(ctx context.Context, svc *restClient, group, email string, expires time.Time) (*membership, error) {
	role := membershipRole{Name: roleMember}
	if g.cfg.expires() {
		role.ExpiryDetail = &expiryDetail{ExpireTime: expireTime(expires)}
	}
	in := &membership{PreferredMemberKey: entityKey{ID: email}, Roles: []membershipRole{role}}
	var op *operation
	err := g.retrying(ctx, func(ctx context.Context) error {
		var err error
		op, err = svc.createMembership(ctx, group, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !op.Done {
		return nil, nil
	}
	if err := operationError(op); err != nil {
		return nil, err
	}
	var out membership
	if err := json.Unmarshal(op.Response, &out); err != nil || !membershipNameRE().MatchString(out.Name) {
		return nil, fmt.Errorf("memberships.create: Google's operation did not return the membership")
	}
	return &out, nil
}

// setExpiry moves a membership's expiry.
func (g *Groups) setExpiry(ctx context.Context, svc *restClient, name string, expires time.Time) error {
	return g.retrying(ctx, func(ctx context.Context) error {
		_, err := svc.setExpiry(ctx, name, expireTime(expires))
		return err
	})
}

// Revoke removes the person's membership, unless it is standing access (no expiry, or the lease
// says so). A membership already gone (Google's own expiry) is success. Without lease data
// the membership is found by the person's email.
func (g *Groups) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	if req.Data[leaseStanding] == "true" {
		return nil
	}
	email, err := account(req.Subject)
	if err != nil {
		return err
	}
	doing := "revoke grant " + req.GrantID + ": remove " + email + " from " + g.cfg.Group
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, group, err := g.service(ctx)
	if err != nil {
		return fmt.Errorf("revoke grant %s: %w", req.GrantID, err)
	}
	m, err := g.find(ctx, svc, group, email)
	if err != nil {
		return classify(doing, err)
	}
	if m == nil {
		return nil
	}
	if _, ok := expiryOf(m); !ok && !g.madeWithoutExpiry(req, m) {
		g.log.Info().Str("grant_id", req.GrantID).Str("group", g.cfg.Group).Msg("the membership is standing access; left as it is")
		return nil
	}
	var op *operation
	err = g.retrying(ctx, func(ctx context.Context) error {
		var err error
		op, err = svc.deleteMembership(ctx, m.Name)
		return err
	})
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return classify(doing, err)
	}
	if err := operationError(op); err != nil && !isStatus(err, http.StatusNotFound) {
		return classify(doing, err)
	}
	return nil
}

// madeWithoutExpiry reports whether a membership without an expiry is the grant's own: never
// with expiry on (accessbot's memberships all have one); with expiry off, when the lease names
// it, or when there is no lease data (a crash between the grant and its lease), where
// accessbot cannot tell and removes it, since the request was checked for a standing
// membership (Holds) before it was granted.
func (g *Groups) madeWithoutExpiry(req adapters.RevokeRequest, m *membership) bool {
	if g.cfg.expires() {
		return false
	}
	return req.Data == nil || req.Data[leaseMembership] == m.Name
}

// Extend moves the membership's expiry. A membership that is missing (Google removed it at
// the old expiry before the extension arrived) is added again: the grant is active.
func (g *Groups) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	if req.Data[leaseStanding] == "true" || !g.cfg.expires() {
		return nil
	}
	email, err := account(req.Subject)
	if err != nil {
		return err
	}
	doing := "extend grant " + req.GrantID + " of " + email + " in " + g.cfg.Group
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, group, err := g.service(ctx)
	if err != nil {
		return fmt.Errorf("extend grant %s: %w", req.GrantID, err)
	}
	m, err := g.find(ctx, svc, group, email)
	if err != nil {
		return classify(doing, err)
	}
	if m == nil {
		if _, err := g.create(ctx, svc, group, email, expires); err != nil {
			return classify(doing+": add the membership again", err)
		}
		return nil
	}
	if _, ok := expiryOf(m); !ok {
		return nil
	}
	return classify(doing, g.setExpiry(ctx, svc, m.Name, expires))
}

// List returns the group's members: each with its expiry, or "no expiry" for standing
// members. Memberships whose expiry has passed are left out: Google is removing them. Google
// cannot say which grant made a membership, so the scan matches them to grants by account.
func (g *Groups) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, group, err := g.service(ctx)
	if err != nil {
		return nil, err
	}
	now := g.Now()
	var out []adapters.Access
	token := ""
	for {
		var page *listMembershipsResponse
		err := g.retrying(ctx, func(ctx context.Context) error {
			var err error
			page, err = svc.listMemberships(ctx, group, token)
			return err
		})
		if err != nil {
			return nil, classify("list the members of "+g.cfg.Group, err)
		}
		for i := range page.Memberships {
			m := &page.Memberships[i]
			detail := "member of " + g.cfg.Group
			if until, ok := expiryOf(m); ok {
				if !now.Before(until) {
					continue
				}
				detail += " until " + until.UTC().Format(time.RFC3339)
			} else {
				detail += " (no expiry)"
			}
			var roles []string
			for _, r := range m.Roles {
				if r.Name != roleMember {
					roles = append(roles, r.Name)
				}
			}
			if len(roles) > 0 {
				detail += ", " + strings.Join(roles, ", ")
			}
			out = append(out, adapters.Access{Account: m.PreferredMemberKey.ID, Detail: detail})
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, nil
}

// Holds reports whether the person is a member of the group without an expiry: standing
// access, which a grant would add nothing to and a revoke never touches. With expiry off every
// membership counts, since none carries an expiry.
func (g *Groups) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	email, err := account(s)
	if err != nil {
		return false, err
	}
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, group, err := g.service(ctx)
	if err != nil {
		return false, err
	}
	m, err := g.find(ctx, svc, group, email)
	if err != nil {
		return false, classify("check for a standing membership of "+email+" in "+g.cfg.Group, err)
	}
	if m == nil {
		return false, nil
	}
	_, expiring := expiryOf(m)
	return !expiring, nil
}

// Check looks the group up and reads one page of its members: the calls that fail when the
// credentials, the scope or the admin role are missing.
func (g *Groups) Check(ctx context.Context) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, group, err := g.service(ctx)
	if err != nil {
		return err
	}
	err = g.retrying(ctx, func(ctx context.Context) error {
		_, err := svc.listMemberships(ctx, group, "")
		return err
	})
	return classify("read the members of "+g.cfg.Group, err)
}

// retrying calls call until it succeeds, fails with anything but a transient answer (429,
// 5xx), or has been tried MaxAttempts times.
func (g *Groups) retrying(ctx context.Context, call func(context.Context) error) error {
	return googleapi.Retry(ctx, g.cfg.MaxAttempts, g.Wait, call)
}

// classify wraps err with what was being done and marks it retryable or permanent: Google's
// refusals (400, 401, 403, 404, 409) will not change by retrying; throttling, unavailability
// and network errors may.
func classify(doing string, err error) error {
	if err == nil {
		return nil
	}
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		return adapters.Permanentf("%s: Google does not accept accessbot's credentials: %s", doing, strings.TrimSpace(string(re.Body)))
	}
	var ge *googleError
	if !errors.As(err, &ge) {
		return adapters.RetryableError(fmt.Errorf("%s: %w", doing, err))
	}
	msg := ge.Message
	if msg == "" {
		msg = http.StatusText(ge.Code)
	}
	switch {
	case ge.Code == http.StatusUnauthorized:
		return adapters.Permanentf("%s: Google does not accept accessbot's credentials: %s", doing, msg)
	case ge.Code == http.StatusForbidden:
		return adapters.Permanentf("%s: Google refused: %s", doing, msg)
	case ge.Code == http.StatusNotFound:
		return adapters.Permanentf("%s: Google does not know it: %s", doing, msg)
	case ge.Code == http.StatusTooManyRequests, ge.Code >= 500:
		return adapters.Retryablef("%s: Google answered %d, still after retrying: %s", doing, ge.Code, msg)
	case ge.Code == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "expir"):
		return adapters.Permanentf("%s: Google refused the membership's expiry: %s (where the edition has no membership expiry, set expiry: false)", doing, msg)
	}
	return adapters.Permanentf("%s: Google answered %d: %s", doing, ge.Code, msg)
}

var (
	_ adapters.Adapter  = (*Groups)(nil)
	_ adapters.Lister   = (*Groups)(nil)
	_ adapters.Extender = (*Groups)(nil)
	_ adapters.Checker  = (*Groups)(nil)
	_ adapters.Holder   = (*Groups)(nil)
)
