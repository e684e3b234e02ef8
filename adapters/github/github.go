// Package github is the adapter for GitHub: in mode team a grant makes the person a member (or
// maintainer) of one team of an organization; in mode repository it makes them a direct
// collaborator, with one permission, on each configured repository. A revoke removes that
// again, and the scan lists the team's members or the repositories' direct collaborators.
//
// The person's GitHub login is their account name, from the resource's accounts map or account
// template; it is validated as a login before it reaches a URL. A person who is not yet in the
// organization cannot be added at once: GitHub sends an invitation instead (a pending team
// membership, or a repository invitation). The adapter says so in its log and its lease, and
// cancels the invitation on revoke.
//
// GitHub keeps no note of who added a member or a collaborator, so the adapter cannot tell its
// own access from access given by hand. It relies on Holds (adapters.Holder): a person who
// already has the access is refused before a grant exists, so standing access is never removed;
// it never lowers a role or permission the person has (it leaves it and removes nothing it did
// not add); and access given by hand between a request and its approval is taken for the grant's
// own, because a grant retried after a crash must find its own access and remove it at expiry.
//
// The adapter speaks GitHub's REST API over net/http (client.go says why not go-github),
// authenticated as a GitHub App installation or with a fine-grained personal access token, and
// honours GitHub's primary and secondary rate limits with an injectable clock.
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ratelimit"

	"github.com/accessbot/accessbot/internal/backoff"
)

// Lease data keys.
const (
	// leaseState is the team membership's state after the grant: "active" or "pending".
	leaseState = "state"
	// leaseRepos are the repositories the grant added the person to, comma separated.
	leaseRepos = "repositories"
	// leaseInvitations are the repository invitations the grant made: "owner/repo=id,...".
	leaseInvitations = "invitations"
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "github",
		Doc:       "adds the person to a GitHub team, or as a collaborator on repositories, for the grant",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter. It does not contact GitHub.
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

// Adapter grants team membership or repository permissions. It is safe for concurrent use.
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
		base: strings.TrimSuffix(cfg.APIURL, "/"), http: hc, cfg: &cfg,
		now: o.Now, wait: o.Wait, attempts: cfg.MaxAttempts,
		limit: ratelimit.Hold{Who: "GitHub"},
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

// checkLogin refuses an account name that cannot be a GitHub login, before it reaches a URL.
func checkLogin(account string) error {
	if account == "" {
		return adapters.Permanentf("the account name is empty: map the person to their GitHub login in the resource's accounts")
	}
	if !validLogin(account) {
		return adapters.Permanentf("account name %q is not a GitHub login", account)
	}
	return nil
}

// classify gives an API error its kind: 400, 401, 403 (not a rate limit), 404 and 422 are
// permanent (a wrong request, credential, permission, user or invitation will not change by
// retrying), everything else retryable.
func classify(what string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) && !ae.rateLimited {
		switch ae.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity:
			return adapters.PermanentError(fmt.Errorf("%s: %w", what, err))
		}
	}
	return adapters.RetryableError(fmt.Errorf("%s: %w", what, err))
}

// isStatus reports whether err is GitHub's answer with status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// teamPath is the team's path below the API URL.
func (a *Adapter) teamPath() string {
	return "/orgs/" + a.cfg.Org + "/teams/" + a.cfg.Team
}

// membership is GitHub's team membership object.
type membership struct {
	Role  string `json:"role"`
	State string `json:"state"`
}

// teamMembership reads the person's membership of the team; ok is false when there is none.
func (a *Adapter) teamMembership(ctx context.Context, login string) (m membership, ok bool, err error) {
	_, _, err = a.api.do(ctx, http.MethodGet, a.teamPath()+"/memberships/"+login, nil, &m)
	if isStatus(err, http.StatusNotFound) {
		return membership{}, false, nil
	}
	if err != nil {
		return membership{}, false, classify(fmt.Sprintf("read %s's membership of team %s/%s", login, a.cfg.Org, a.cfg.Team), err)
	}
	return m, true, nil
}

// Grant gives the access. In mode team it adds the person to the team with the configured role
// (a membership the person has already, with that role or a higher one, is left as it is); in
// mode repository it adds them as a direct collaborator on each repository where they have less
// than the configured permission. Both are idempotent at GitHub, so a second call for the same
// grant succeeds the same way.
func (a *Adapter) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	login := req.Subject.Account
	if err := checkLogin(login); err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	if a.cfg.Mode == ModeTeam {
		return a.grantTeam(ctx, req.GrantID, login)
	}
	return a.grantRepositories(ctx, req.GrantID, login)
}

func (a *Adapter) grantTeam(ctx context.Context, grantID, login string) (adapters.Lease, error) {
	team := a.cfg.Org + "/" + a.cfg.Team
	m, ok, err := a.teamMembership(ctx, login)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", grantID, err)
	}
	switch {
	case ok && rank(teamRoles, m.Role) >= rank(teamRoles, a.cfg.Role):
		// The grant's own membership (a retry), or one given by hand since the request.
	case ok && m.State == "active":
		return adapters.Lease{}, adapters.Permanentf("grant %s: %s is a standing %s of team %s; accessbot does not raise a standing membership to %s, because revoking would remove it", grantID, login, m.Role, team, a.cfg.Role)
	default:
		_, _, err = a.api.do(ctx, http.MethodPut, a.teamPath()+"/memberships/"+login, map[string]string{"role": a.cfg.Role}, &m)
		if err != nil {
			return adapters.Lease{}, classify(fmt.Sprintf("grant %s: add %s to team %s", grantID, login, team), err)
		}
	}
	if m.State == "pending" {
		a.log.Warn().Str("grant_id", grantID).Str("login", login).Str("team", team).
			Msg("github: the person is not in the organization yet; GitHub sent an invitation, and the team membership is pending until they accept it")
	}
	return adapters.Lease{Data: map[string]string{leaseState: m.State}}, nil
}

// invitation is the part of GitHub's repository invitation the adapter reads.
type invitation struct {
	ID      int64 `json:"id"`
	Invitee struct {
		Login string `json:"login"`
	} `json:"invitee"`
}

// permissionOf reads the person's permission on the repository (through any affiliation).
func (a *Adapter) permissionOf(ctx context.Context, r repoName, login string) (string, error) {
	var ans struct {
		Permission string `json:"permission"`
		RoleName   string `json:"role_name"`
	}
	_, _, err := a.api.do(ctx, http.MethodGet, "/repos/"+r.String()+"/collaborators/"+login+"/permission", nil, &ans)
	if err != nil {
		return "", classify(fmt.Sprintf("read %s's permission on %s", login, r), err)
	}
	if permissionRank(ans.RoleName) >= 0 {
		return ans.RoleName, nil
	}
	return ans.Permission, nil
}

func (a *Adapter) grantRepositories(ctx context.Context, grantID, login string) (adapters.Lease, error) {
	var added, invites []string
	for _, r := range a.cfg.repos {
		have, err := a.permissionOf(ctx, r, login)
		if isStatus(err, http.StatusNotFound) {
			// GitHub answers the same 404 for an unknown user and an unknown (or hidden)
			// repository: reading the repository tells which.
			var ae *apiError
			errors.As(err, &ae)
			if a.repoExists(ctx, r) {
				return adapters.Lease{}, adapters.PermanentError(fmt.Errorf("grant %s: GitHub has no user %q: %w", grantID, login, ae))
			}
			return adapters.Lease{}, adapters.PermanentError(fmt.Errorf("grant %s: repository %s is not found, or the App is not installed on it: %w", grantID, r, ae))
		}
		if err != nil {
			return adapters.Lease{}, fmt.Errorf("grant %s: %w", grantID, err)
		}
		if permissionRank(have) > permissionRank(a.cfg.Permission) {
			// Never lowered: the person keeps their higher permission, and nothing is added.
			continue
		}
		var inv invitation
		status, _, err := a.api.do(ctx, http.MethodPut, "/repos/"+r.String()+"/collaborators/"+login, map[string]string{"permission": a.cfg.Permission}, &inv)
		if err != nil {
			return adapters.Lease{}, classify(fmt.Sprintf("grant %s: add %s to %s with %s", grantID, login, r, a.cfg.Permission), err)
		}
		added = append(added, r.String())
		if status == http.StatusCreated && inv.ID > 0 {
			invites = append(invites, r.String()+"="+strconv.FormatInt(inv.ID, 10))
			a.log.Warn().Str("grant_id", grantID).Str("login", login).Str("repository", r.String()).
				Msg("github: the person is not a member of the organization; GitHub sent a repository invitation, and the access starts when they accept it")
		}
	}
	return adapters.Lease{Data: map[string]string{leaseRepos: strings.Join(added, ","), leaseInvitations: strings.Join(invites, ",")}}, nil
}

// Revoke removes the access. It works without lease data (in mode repository it then removes
// the person from every configured repository, and cancels their invitations); a membership,
// collaborator or invitation that is gone is done.
func (a *Adapter) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	login := req.Subject.Account
	if err := checkLogin(login); err != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, err)
	}
	if a.cfg.Mode == ModeTeam {
		return a.revokeTeam(ctx, req)
	}
	repos, invites := a.cfg.repos, map[string]int64{}
	if req.Data != nil {
		repos = nil
		for _, s := range strings.Split(req.Data[leaseRepos], ",") {
			if i := slices.IndexFunc(a.cfg.repos, func(r repoName) bool { return r.String() == s }); i >= 0 {
				repos = append(repos, a.cfg.repos[i])
			}
		}
		for _, s := range strings.Split(req.Data[leaseInvitations], ",") {
			r, id, _ := strings.Cut(s, "=")
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
				invites[r] = n
			}
		}
	}
	for _, r := range repos {
		if err := a.revokeRepository(ctx, req, r, invites[r.String()]); err != nil {
			return err
		}
	}
	return nil
}

// revokeTeam deletes the person's team membership and, when it was pending (the grant's lease
// says so, or without lease data the membership is pending now), cancels the organization
// invitation it came with: GitHub does not document that deleting the membership withdraws it,
// and an invitation accepted later would make the person a member of the organization.
func (a *Adapter) revokeTeam(ctx context.Context, req adapters.RevokeRequest) error {
	login, team := req.Subject.Account, a.cfg.Org+"/"+a.cfg.Team
	pending := req.Data[leaseState] == "pending"
	if req.Data == nil {
		m, ok, err := a.teamMembership(ctx, login)
		if err != nil {
			return fmt.Errorf("revoke %s: %w", req.GrantID, err)
		}
		pending = ok && m.State == "pending"
	}
	_, _, err := a.api.do(ctx, http.MethodDelete, a.teamPath()+"/memberships/"+login, nil, nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return classify(fmt.Sprintf("revoke %s: remove %s from team %s", req.GrantID, login, team), err)
	}
	if !pending {
		return nil
	}
	var ids []int64
	err = a.pages(ctx, "/orgs/"+a.cfg.Org+"/invitations", func(raw []byte) error {
		var page []struct {
			ID    int64  `json:"id"`
			Login string `json:"login"`
		}
		if err := decode(raw, &page); err != nil {
			return err
		}
		for _, inv := range page {
			if strings.EqualFold(inv.Login, login) {
				ids = append(ids, inv.ID)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke %s: list the invitations to %s: %w", req.GrantID, a.cfg.Org, err)
	}
	for _, id := range ids {
		_, _, err := a.api.do(ctx, http.MethodDelete, "/orgs/"+a.cfg.Org+"/invitations/"+strconv.FormatInt(id, 10), nil, nil)
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return classify(fmt.Sprintf("revoke %s: cancel %s's invitation %d to %s", req.GrantID, login, id, a.cfg.Org), err)
		}
	}
	return nil
}

// revokeRepository cancels the person's invitation to r (the lease's, or any found when the
// lease has none) and removes them as a direct collaborator.
func (a *Adapter) revokeRepository(ctx context.Context, req adapters.RevokeRequest, r repoName, inviteID int64) error {
	login := req.Subject.Account
	ids := []int64{}
	if inviteID > 0 {
		ids = append(ids, inviteID)
	} else if req.Data == nil {
		err := a.pages(ctx, "/repos/"+r.String()+"/invitations", func(raw []byte) error {
			var page []invitation
			if err := decode(raw, &page); err != nil {
				return err
			}
			for _, inv := range page {
				if strings.EqualFold(inv.Invitee.Login, login) {
					ids = append(ids, inv.ID)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("revoke %s: list the invitations of %s: %w", req.GrantID, r, err)
		}
	}
	for _, id := range ids {
		_, _, err := a.api.do(ctx, http.MethodDelete, "/repos/"+r.String()+"/invitations/"+strconv.FormatInt(id, 10), nil, nil)
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return classify(fmt.Sprintf("revoke %s: cancel %s's invitation %d to %s", req.GrantID, login, id, r), err)
		}
	}
	_, _, err := a.api.do(ctx, http.MethodDelete, "/repos/"+r.String()+"/collaborators/"+login, nil, nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return classify(fmt.Sprintf("revoke %s: remove %s from %s", req.GrantID, login, r), err)
	}
	return nil
}

// decode reads one list page.
func decode(raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return adapters.Permanentf("decode GitHub's list: %v", err)
	}
	return nil
}

// pages calls GET path with per_page and each following page of its Link header, handing each
// page's JSON to f.
func (a *Adapter) pages(ctx context.Context, path string, f func(raw []byte) error) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := path + sep + "per_page=" + strconv.Itoa(a.cfg.PageSize)
	for next != "" {
		var raw json.RawMessage
		_, h, err := a.api.do(ctx, http.MethodGet, next, nil, &raw)
		if err != nil {
			return classify("GET "+path, err)
		}
		if err := f(raw); err != nil {
			return err
		}
		if next, err = a.api.nextLink(h); err != nil {
			return adapters.PermanentError(fmt.Errorf("GET %s: %w", path, err))
		}
	}
	return nil
}

// collaborator is the part of GitHub's collaborator object the adapter reads.
type collaborator struct {
	Login    string `json:"login"`
	RoleName string `json:"role_name"`
}

// directCollaborators pages through r's direct collaborators, calling f for each.
func (a *Adapter) directCollaborators(ctx context.Context, r repoName, f func(collaborator)) error {
	err := a.pages(ctx, "/repos/"+r.String()+"/collaborators?affiliation=direct", func(raw []byte) error {
		var page []collaborator
		if err := decode(raw, &page); err != nil {
			return err
		}
		for _, c := range page {
			f(c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the direct collaborators of %s: %w", r, err)
	}
	return nil
}

// Holds reports whether the person has the access already, by other means than a grant. In
// mode team: an active membership with the configured role or a higher one. In mode repository:
// at least the configured permission on every repository, or any direct collaboration on one of
// them (a standing collaborator whose permission a grant would raise, and its revoke remove).
// A login GitHub does not know holds nothing.
func (a *Adapter) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	login := s.Account
	if err := checkLogin(login); err != nil {
		return false, err
	}
	if a.cfg.Mode == ModeTeam {
		m, ok, err := a.teamMembership(ctx, login)
		return ok && m.State == "active" && rank(teamRoles, m.Role) >= rank(teamRoles, a.cfg.Role), err
	}
	all := true
	for _, r := range a.cfg.repos {
		have, err := a.permissionOf(ctx, r, login)
		if isStatus(err, http.StatusNotFound) && a.repoExists(ctx, r) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		all = all && permissionRank(have) >= permissionRank(a.cfg.Permission)
		direct := false
		if err := a.directCollaborators(ctx, r, func(c collaborator) {
			direct = direct || strings.EqualFold(c.Login, login)
		}); err != nil {
			return false, err
		}
		if direct {
			return true, nil
		}
	}
	return all, nil
}

// repoExists tells an unknown user's 404 from an unknown repository's.
func (a *Adapter) repoExists(ctx context.Context, r repoName) bool {
	_, _, err := a.api.do(ctx, http.MethodGet, "/repos/"+r.String(), nil, nil)
	return err == nil
}

// List returns the access that exists: the team's members with the managed role or a higher
// one, or the repositories' direct collaborators with at least the managed permission.
func (a *Adapter) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	var out []adapters.Access
	if a.cfg.Mode == ModeTeam {
		for _, role := range slices.Backward(teamRoles) {
			if rank(teamRoles, role) < rank(teamRoles, a.cfg.Role) {
				continue
			}
			detail := role + " of GitHub team " + a.cfg.Org + "/" + a.cfg.Team
			err := a.pages(ctx, a.teamPath()+"/members?role="+role, func(raw []byte) error {
				var page []collaborator
				if err := decode(raw, &page); err != nil {
					return err
				}
				for _, m := range page {
					out = append(out, adapters.Access{Account: m.Login, Detail: detail})
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("list the %ss of team %s/%s: %w", role, a.cfg.Org, a.cfg.Team, err)
			}
		}
		return out, nil
	}
	for _, r := range a.cfg.repos {
		err := a.directCollaborators(ctx, r, func(c collaborator) {
			if permissionRank(c.RoleName) >= permissionRank(a.cfg.Permission) {
				out = append(out, adapters.Access{Account: c.Login, Detail: c.RoleName + " on GitHub repository " + r.String()})
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Check reads the team or each repository, which proves the API URL, the credential and the
// names in as few calls.
func (a *Adapter) Check(ctx context.Context) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	if a.cfg.Mode == ModeTeam {
		if _, _, err := a.api.do(ctx, http.MethodGet, a.teamPath(), nil, nil); err != nil {
			return classify("read team "+a.cfg.Org+"/"+a.cfg.Team, err)
		}
		return nil
	}
	for _, r := range a.cfg.repos {
		if _, _, err := a.api.do(ctx, http.MethodGet, "/repos/"+r.String(), nil, nil); err != nil {
			return classify("read repository "+r.String(), err)
		}
	}
	return nil
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Lister  = (*Adapter)(nil)
	_ adapters.Holder  = (*Adapter)(nil)
	_ adapters.Checker = (*Adapter)(nil)
)
