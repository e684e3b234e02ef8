package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/github/githubtest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// clock is the adapter's and the fake's clock: a wait moves it on at once and is recorded, so a
// rate limit's hour passes in microseconds and a test can say how long the adapter waited.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	return nil
}

func (c *clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// The GitHub App of the tests.
const (
	appID          = 424242
	installationID = 777
)

// appKey is the App's key, made once: RSA key generation is slow.
var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func keyPEM(k *rsa.PrivateKey) Secret {
	return Secret(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// env is a fake and an adapter against it, on one clock.
type env struct {
	srv   *githubtest.Server
	a     *Adapter
	clock *clock
}

// newEnv starts a fake and an adapter in mode, authenticated as the App (app) or with a
// personal access token. perms, when set, are the App installation's permissions; mutate
// changes the adapter's config.
func newEnv(t testing.TB, mode string, app bool, perms map[string]string, mutate func(*Config)) *env {
	t.Helper()
	c := newClock()
	o := githubtest.Options{Now: c.Now, Permissions: perms}
	cfg := NewConfig()
	cfg.Mode = mode
	if mode == ModeTeam {
		cfg.Org, cfg.Team = githubtest.Org, githubtest.Team
	} else {
		cfg.Repositories = []string{githubtest.Repo1, githubtest.Repo2}
	}
	if app {
		o.AppID, o.InstallationID, o.PublicKey = appID, installationID, &appKey().PublicKey
		cfg.AppID, cfg.InstallationID, cfg.PrivateKey = appID, installationID, keyPEM(appKey())
	} else {
		cfg.Auth, cfg.Token = AuthToken, githubtest.Token
	}
	srv := githubtest.New(t, o)
	cfg.APIURL = srv.URL
	if mutate != nil {
		mutate(cfg)
	}
	a, err := New(*cfg, zerolog.Nop(), Options{Now: c.Now, Wait: c.Wait})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, a: a, clock: c}
}

func runConformance(t *testing.T, e *env, mode string) {
	e.srv.SetPageSize(2) // several pages once a few subtests have granted
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: e.a,
		Lister:  true,
		Subject: func(name string) adapters.Subject {
			login := strings.ReplaceAll(strings.ToLower(name), "_", "-")
			e.srv.AddOrgMember(login)
			return adapters.Subject{ID: login + "@example.com", Email: login + "@example.com", Account: login}
		},
		Has: func(t *testing.T, s adapters.Subject, _ string) bool {
			if mode == ModeTeam {
				_, state := e.srv.Membership(s.Account)
				return state == "active"
			}
			return e.srv.Collaborator(githubtest.Repo1, s.Account) != "" && e.srv.Collaborator(githubtest.Repo2, s.Account) != ""
		},
		Count: func(t *testing.T, s adapters.Subject) int {
			if mode == ModeTeam {
				_, state := e.srv.Membership(s.Account)
				return map[bool]int{true: 1}[state != ""]
			}
			n := len(slices.DeleteFunc(e.srv.Invitations(githubtest.Repo1), func(l string) bool { return l != s.Account }))
			if e.srv.Collaborator(githubtest.Repo1, s.Account) != "" {
				n++
			}
			return n
		},
	})
}

func TestTheTeamModeAsAnAppPassesTheConformanceKit(t *testing.T) {
	e := newEnv(t, ModeTeam, true, nil, nil)
	runConformance(t, e, ModeTeam)
	// One installation token for the whole run: it is cached until near its expiry.
	if n := e.srv.CallCount("POST /app/installations/{installation_id}/access_tokens"); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	for _, c := range e.srv.Calls() {
		if c.Auth != "installation" && c.Auth != "jwt" {
			t.Errorf("call %s authenticated as %q", c.Op, c.Auth)
		}
	}
}

func TestTheRepositoryModeWithATokenPassesTheConformanceKit(t *testing.T) {
	e := newEnv(t, ModeRepository, false, nil, nil)
	runConformance(t, e, ModeRepository)
	for _, c := range e.srv.Calls() {
		if c.Auth != "pat" {
			t.Errorf("call %s authenticated as %q, want the token", c.Op, c.Auth)
		}
	}
}

func TestTheRepositoryModeAsAnAppPassesTheConformanceKit(t *testing.T) {
	e := newEnv(t, ModeRepository, true, nil, nil)
	runConformance(t, e, ModeRepository)
}

// harness is a grants harness whose prod-db resource is the adapter, alice's account her login.
func harness(t *testing.T, a adapters.Adapter, retry *grants.RetryPolicy) *gt.Harness {
	t.Helper()
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "github", a
	r.Accounts = map[string]string{gt.Alice.ID: "alice"}
	o := gt.Options{Resources: []*grants.Resource{r}}
	if retry != nil {
		o.Scheduler.Retry = *retry
	}
	return gt.New(t, o)
}

// Alice is a member of the team, or a collaborator on both repositories, while her grant is
// active, and not once the scheduler has revoked it at expiry.
func TestAliceHasTheAccessDuringTheGrantAndNotAfterItsExpiry(t *testing.T) {
	for _, mode := range []string{ModeTeam, ModeRepository} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode, true, nil, nil)
			e.srv.AddOrgMember("alice")
			h := harness(t, e.a, nil)
			has := func() bool {
				if mode == ModeTeam {
					role, state := e.srv.Membership("alice")
					return role == "member" && state == "active"
				}
				return e.srv.Collaborator(githubtest.Repo1, "alice") == "push" && e.srv.Collaborator(githubtest.Repo2, "alice") == "push"
			}
			g := h.ActiveGrant(time.Hour)
			if !has() {
				t.Fatalf("alice lacks the access during grant %s", g.ID)
			}
			h.Advance(time.Hour + time.Minute)
			h.RunDue()
			if st := h.StoredGrant(g.ID); st.State != grants.GrantRevoked {
				t.Fatalf("grant is %s after its expiry, want revoked (last error %q)", st.State, st.LastError)
			}
			if has() || e.srv.TeamSize() != 0 || e.srv.Collaborator(githubtest.Repo1, "alice") != "" {
				t.Fatal("alice keeps access after expiry")
			}
		})
	}
}

// An outage of GitHub is retried by the adapter, then by the scheduler, and ends in
// revoke_failed; the access goes once GitHub answers again.
func TestARemovalThatKeepsFailingEndsInRevokeFailed(t *testing.T) {
	e := newEnv(t, ModeTeam, false, nil, nil)
	e.srv.AddOrgMember("alice")
	policy := grants.RetryPolicy{Initial: time.Second, Max: 4 * time.Second, Attempts: 3, Slow: time.Hour, Jitter: 0.2}
	h := harness(t, e.a, &policy)
	g := h.ActiveGrant(time.Hour)
	const op = "DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}"
	e.srv.Inject(githubtest.Fault{Op: op, Times: -1, Status: 502, Message: "Server Error"})

	h.Clock.Set(g.ExpiresAt)
	for range 3 {
		h.RunDue()
		h.Clock.Set(h.StoredGrant(g.ID).NextAttemptAt)
	}
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantRevokeFailed || s.Attempts != 3 || !strings.Contains(s.LastError, "502: Server Error") {
		t.Fatalf("after 3 failed revocations: %s, %d attempts, %q", s.State, s.Attempts, s.LastError)
	}
	if n := e.srv.CallCount(op); n != 3*4 {
		t.Errorf("%d removals reached the fake, want 12 (max_attempts 4, three times)", n)
	}
	if w := e.clock.Waits(); len(w) < 3 || w[0] != 500*time.Millisecond || w[1] != time.Second || w[2] != 2*time.Second {
		t.Errorf("waits between tries = %v, want 0.5s, 1s, 2s", w)
	}
	if _, state := e.srv.Membership("alice"); state != "active" {
		t.Fatal("the membership went although every removal failed")
	}
	e.srv.ClearFaults()
	h.Clock.Set(s.NextAttemptAt)
	h.RunDue()
	if s = h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("after GitHub recovered: %s (%q)", s.State, s.LastError)
	}
	if _, state := e.srv.Membership("alice"); state != "" {
		t.Fatal("alice is still in the team")
	}
}

// Access alice had before accessbot is standing access: her request is refused, nothing is
// granted, and so nothing ever removes it.
func TestStandingAccessIsNeverRemoved(t *testing.T) {
	tests := []struct {
		name  string
		mode  string
		setup func(*githubtest.Server)
		kept  func(*githubtest.Server) bool
	}{
		{name: "a team member", mode: ModeTeam,
			setup: func(s *githubtest.Server) { s.SetTeamMember("alice", "member") },
			kept: func(s *githubtest.Server) bool {
				r, st := s.Membership("alice")
				return r == "member" && st == "active"
			}},
		{name: "a team maintainer when the grant gives member", mode: ModeTeam,
			setup: func(s *githubtest.Server) { s.SetTeamMember("alice", "maintainer") },
			kept:  func(s *githubtest.Server) bool { r, _ := s.Membership("alice"); return r == "maintainer" }},
		{name: "a direct collaborator with a lower permission on one repository", mode: ModeRepository,
			setup: func(s *githubtest.Server) { s.SetCollaborator(githubtest.Repo2, "alice", "pull") },
			kept:  func(s *githubtest.Server) bool { return s.Collaborator(githubtest.Repo2, "alice") == "pull" }},
		{name: "an admin of both repositories", mode: ModeRepository,
			setup: func(s *githubtest.Server) {
				s.SetCollaborator(githubtest.Repo1, "alice", "admin")
				s.SetCollaborator(githubtest.Repo2, "alice", "admin")
			},
			kept: func(s *githubtest.Server) bool {
				return s.Collaborator(githubtest.Repo1, "alice") == "admin" && s.Collaborator(githubtest.Repo2, "alice") == "admin"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.mode, true, nil, nil)
			e.srv.SetPageSize(1)
			e.srv.AddOrgMember("bob")
			e.srv.AddOrgMember("alice")
			e.srv.SetCollaborator(githubtest.Repo2, "bob", "push") // alice on the second page
			tt.setup(e.srv)
			h := harness(t, e.a, nil)

			_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-1"})
			var ge *grants.Error
			if !errors.As(err, &ge) || ge.Reason != grants.ReasonAlreadyHeld {
				t.Fatalf("request of a standing holder: %v, want already_held", err)
			}
			h.Advance(5 * time.Hour)
			h.RunDue()
			if !tt.kept(e.srv) {
				t.Fatal("the standing access changed")
			}
			for _, c := range e.srv.Calls() {
				if strings.HasPrefix(c.Op, "PUT") || strings.HasPrefix(c.Op, "DELETE") {
					t.Errorf("%s for a refused request", c.Op)
				}
			}
			held, err := e.a.Holds(context.Background(), adapters.Subject{Account: "nobody-known"})
			if err != nil || held {
				t.Fatalf("holds for a login GitHub does not know: %v, %v", held, err)
			}
		})
	}
}

// A grant never lowers what the person has: a maintainer asked for member keeps maintainer, and
// an admin of one repository keeps admin there while push is added on the other; a standing
// member is not raised to maintainer.
func TestAGrantNeverLowersNorRaisesStandingAccess(t *testing.T) {
	e := newEnv(t, ModeRepository, false, nil, nil)
	e.srv.AddOrgMember("alice")
	e.srv.SetCollaborator(githubtest.Repo1, "alice", "admin")
	lease, err := grantAlice(e, "g-admin")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Collaborator(githubtest.Repo1, "alice"); got != "admin" {
		t.Fatalf("alice's admin on %s became %q", githubtest.Repo1, got)
	}
	if got := e.srv.Collaborator(githubtest.Repo2, "alice"); got != "push" {
		t.Fatalf("alice on %s: %q, want push", githubtest.Repo2, got)
	}
	if err := e.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-admin", Subject: adapters.Subject{Account: "alice"}, Data: lease.Data}); err != nil {
		t.Fatal(err)
	}
	if e.srv.Collaborator(githubtest.Repo1, "alice") != "admin" || e.srv.Collaborator(githubtest.Repo2, "alice") != "" {
		t.Fatal("the revoke removed what the grant did not add, or kept what it added")
	}

	m := newEnv(t, ModeTeam, false, nil, func(c *Config) { c.Role = "maintainer" })
	m.srv.AddOrgMember("alice")
	m.srv.SetTeamMember("alice", "member")
	_, err = grantAlice(m, "g-raise")
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "standing member") {
		t.Fatalf("grant of maintainer to a standing member: %v, want a permanent refusal", err)
	}
	if role, _ := m.srv.Membership("alice"); role != "member" {
		t.Fatalf("alice's role became %q", role)
	}
}

// The scan finds a team member or a collaborator added by hand, and alice's access is explained
// by her grant.
func TestTheScanFindsAccessAddedByHand(t *testing.T) {
	for _, mode := range []string{ModeTeam, ModeRepository} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode, true, nil, nil)
			e.srv.AddOrgMember("alice")
			e.srv.AddOrgMember("mallory")
			h := harness(t, e.a, nil)
			sc, err := grants.NewScanner(h.Service, grants.ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h.ActiveGrant(time.Hour)
			if mode == ModeTeam {
				e.srv.SetTeamMember("mallory", "maintainer")
			} else {
				e.srv.SetCollaborator(githubtest.Repo2, "mallory", "admin")
				e.srv.SetCollaborator(githubtest.Repo1, "triager", "triage") // below push: not managed
			}
			rep, err := sc.Scan(h.Ctx, grants.Actor{})
			if err != nil {
				t.Fatal(err)
			}
			if errs := rep.Errors(); len(errs) > 0 {
				t.Fatalf("scan errors: %v", errs)
			}
			var got []string
			for _, f := range rep.Findings() {
				got = append(got, f.Account+"/"+f.Reason)
			}
			if want := []string{"mallory/no_grant"}; !slices.Equal(got, want) {
				t.Errorf("findings = %v, want %v", got, want)
			}
		})
	}
}

func grantAlice(e *env, id string) (adapters.Lease, error) {
	return e.a.Grant(context.Background(), adapters.GrantRequest{
		GrantID: id, Resource: "github", Subject: adapters.Subject{ID: gt.Alice.ID, Account: "alice"},
		Expires: time.Now().Add(time.Hour),
	})
}

// A person not yet in the organization gets an invitation: the team membership is pending (the
// lease says so) or the repository invitation's ID is recorded, and the revoke cancels it, with
// the lease or without it.
func TestAPendingInvitationIsReportedAndCancelledOnRevoke(t *testing.T) {
	for _, withLease := range []bool{true, false} {
		name := map[bool]string{true: "with the lease", false: "without lease data"}[withLease]
		t.Run("team "+name, func(t *testing.T) {
			e := newEnv(t, ModeTeam, true, nil, nil)
			var logged strings.Builder
			a, err := New(e.a.cfg, zerolog.New(&logged), Options{Now: e.clock.Now, Wait: e.clock.Wait})
			if err != nil {
				t.Fatal(err)
			}
			e.a = a
			e.srv.AddUser("alice")
			lease, err := grantAlice(e, "g-invite")
			if err != nil {
				t.Fatal(err)
			}
			if _, state := e.srv.Membership("alice"); state != "pending" || lease.Data[leaseState] != "pending" {
				t.Fatalf("membership %q, lease %v: want pending", state, lease.Data)
			}
			for _, want := range []string{`"level":"warn"`, `"grant_id":"g-invite"`, `"login":"alice"`, "GitHub sent an invitation"} {
				if !strings.Contains(logged.String(), want) {
					t.Errorf("the log does not report the pending invitation (%s): %s", want, logged.String())
				}
			}
			if inv := e.srv.OrgInvitations(); !slices.Equal(inv, []string{"alice"}) {
				t.Fatalf("organization invitations = %v", inv)
			}
			req := adapters.RevokeRequest{GrantID: "g-invite", Subject: adapters.Subject{Account: "alice"}}
			if withLease {
				req.Data = lease.Data
			}
			if err := e.a.Revoke(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if _, state := e.srv.Membership("alice"); state != "" || len(e.srv.OrgInvitations()) != 0 {
				t.Fatalf("after revoke: membership %q, invitations %v", state, e.srv.OrgInvitations())
			}
			// An invitation accepted later finds nothing: alice does not join the organization.
			e.srv.Accept("alice")
			if role, _ := e.srv.Membership("alice"); role != "" || e.srv.IsOrgMember("alice") {
				t.Fatal("alice joined the organization or the team after the revoke")
			}
			if n := e.srv.CallCount("DELETE /orgs/{org}/invitations/{invitation_id}"); n != 1 {
				t.Errorf("%d organization invitation cancellations, want 1", n)
			}
		})
		t.Run("repository "+name, func(t *testing.T) {
			e := newEnv(t, ModeRepository, true, nil, nil)
			e.srv.AddUser("alice")
			lease, err := grantAlice(e, "g-invite")
			if err != nil {
				t.Fatal(err)
			}
			if inv := lease.Data[leaseInvitations]; !strings.Contains(inv, githubtest.Repo1+"=") || !strings.Contains(inv, githubtest.Repo2+"=") {
				t.Fatalf("lease invitations = %q, want one per repository", inv)
			}
			for _, r := range []string{githubtest.Repo1, githubtest.Repo2} {
				if got := e.srv.Invitations(r); !slices.Equal(got, []string{"alice"}) {
					t.Fatalf("invitations to %s = %v", r, got)
				}
			}
			req := adapters.RevokeRequest{GrantID: "g-invite", Subject: adapters.Subject{Account: "alice"}}
			if withLease {
				req.Data = lease.Data
			}
			if err := e.a.Revoke(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			for _, r := range []string{githubtest.Repo1, githubtest.Repo2} {
				if got := e.srv.Invitations(r); len(got) != 0 {
					t.Errorf("invitations to %s after revoke = %v", r, got)
				}
			}
			// An invitation accepted later finds nothing: accepting it now makes no collaborator.
			e.srv.Accept("alice")
			if e.srv.Collaborator(githubtest.Repo1, "alice") != "" {
				t.Fatal("alice became a collaborator after the revoke")
			}
			if n := e.srv.CallCount("DELETE /repos/{owner}/{repo}/invitations/{invitation_id}"); n != 2 {
				t.Errorf("%d invitation cancellations, want 2", n)
			}
		})
	}
}

// A primary rate limit (403 with x-ratelimit-remaining 0) and a secondary one (429 with
// retry-after) are waited out on the injected clock, and the call then succeeds.
func TestRateLimitsAreWaitedOut(t *testing.T) {
	const put = "PUT /orgs/{org}/teams/{team_slug}/memberships/{username}"
	tests := []struct {
		name  string
		fault githubtest.Fault
		wait  time.Duration
	}{
		{name: "a primary limit waits until its reset",
			fault: githubtest.Fault{Op: put, Times: 1, Status: 403, Message: "API rate limit exceeded for installation ID 777.", ResetAfter: 40 * time.Second},
			wait:  40 * time.Second},
		{name: "a secondary limit waits its retry-after",
			fault: githubtest.Fault{Op: put, Times: 1, Status: 429, Message: "You have exceeded a secondary rate limit.", RetryAfter: 30 * time.Second},
			wait:  30 * time.Second},
		{name: "a secondary limit as a 403 waits its retry-after",
			fault: githubtest.Fault{Op: put, Times: 1, Status: 403, Message: "You have exceeded a secondary rate limit.", RetryAfter: 20 * time.Second},
			wait:  20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ModeTeam, false, nil, nil)
			e.srv.AddOrgMember("alice")
			e.srv.Inject(tt.fault)
			if _, err := grantAlice(e, "g-limit"); err != nil {
				t.Fatalf("grant after one rate limit: %v", err)
			}
			if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{tt.wait}) {
				t.Errorf("waits = %v, want %v", w, tt.wait)
			}
			if _, state := e.srv.Membership("alice"); state != "active" {
				t.Fatal("alice is not in the team")
			}
		})
	}
}

// When an answer says no calls are left in the window, the next call waits for the reset first
// and is never refused; a reset later than max_rate_wait is a retryable error naming the wait.
func TestAnExhaustedRateLimitIsWaitedForOrLeftToTheScheduler(t *testing.T) {
	e := newEnv(t, ModeTeam, false, nil, func(c *Config) { c.MaxRateWait = 2 * time.Hour })
	e.srv.AddOrgMember("alice")
	e.srv.SetRateLimit(2) // the grant's read and addition spend the window
	if _, err := grantAlice(e, "g-window"); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-window", Subject: adapters.Subject{Account: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{time.Hour}) {
		t.Errorf("waits = %v, want the hour until the window resets", w)
	}
	for _, c := range e.srv.Calls() {
		if c.Status == http.StatusForbidden {
			t.Errorf("%s was refused", c.Op)
		}
	}

	slow := newEnv(t, ModeTeam, false, nil, nil)
	slow.srv.AddOrgMember("alice")
	slow.srv.Inject(githubtest.Fault{Times: -1, Status: 403, Message: "API rate limit exceeded", ResetAfter: 10 * time.Minute})
	_, err := grantAlice(slow, "g-slow")
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "rate limit resets in 10m0s") {
		t.Fatalf("grant under a 10 minute limit: %v, want a retryable error naming the wait", err)
	}
	if n := len(slow.srv.Calls()); n != 1 {
		t.Errorf("%d calls, want 1: the adapter does not call into an exhausted limit", n)
	}
}

// GitHub's errors keep their kind and carry its message and errors.
func TestGitHubsErrorsKeepTheirKindAndMessage(t *testing.T) {
	const put = "PUT /repos/{owner}/{repo}/collaborators/{username}"
	tests := []struct {
		name      string
		account   string
		fault     *githubtest.Fault
		mutate    func(*Config)
		permanent bool
		says      string
		calls     int
	}{
		{name: "an unknown user is permanent with GitHub's message", account: "nobody", permanent: true, says: `GitHub has no user "nobody": GitHub answered 404: Not Found`, calls: 2},
		{name: "an unknown repository is permanent", account: "alice", permanent: true, says: "repository acme/gone is not found, or the App is not installed on it: GitHub answered 404: Not Found", calls: 2,
			mutate: func(c *Config) { c.Repositories = []string{"acme/gone"} }},
		{name: "an invalid invitation is permanent with GitHub's errors", account: "alice", permanent: true, calls: 2,
			mutate: func(c *Config) { c.Permission = "admin" },
			fault: &githubtest.Fault{Op: put, Times: -1, Status: 422, Message: "Validation Failed",
				Errors: []map[string]string{{"resource": "Repository", "code": "custom", "message": "alice is not allowed to be an outside collaborator"}}},
			says: "422: Validation Failed; alice is not allowed to be an outside collaborator"},
		{name: "a 5xx is retried then retryable", account: "alice", calls: 1 + 4,
			fault: &githubtest.Fault{Op: put, Times: -1, Status: 503, Message: "Service Unavailable"},
			says:  "503: Service Unavailable (after 4 attempts)"},
		{name: "a refused permission is permanent", account: "alice", permanent: true, calls: 2,
			fault: &githubtest.Fault{Op: put, Times: -1, Status: 403, Message: "Resource not accessible by integration"},
			says:  "Resource not accessible by integration"},
		{name: "an account that cannot be a login is refused before any call", account: "../orgs", permanent: true, calls: 0, says: "not a GitHub login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ModeRepository, false, nil, func(c *Config) {
				c.Repositories = []string{githubtest.Repo1}
				if tt.mutate != nil {
					tt.mutate(c)
				}
			})
			e.srv.AddUser("alice")
			if tt.fault != nil {
				e.srv.Inject(*tt.fault)
			}
			_, err := e.a.Grant(context.Background(), adapters.GrantRequest{GrantID: "g-1", Subject: adapters.Subject{Account: tt.account}})
			if err == nil || adapters.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("grant: %v (permanent %v), want permanent %v saying %q", err, adapters.IsPermanent(err), tt.permanent, tt.says)
			}
			if n := len(e.srv.Calls()); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
		})
	}
}

// The calls the adapter makes are those the README's least privilege allows, which the fake
// checks on every call with the App's installation permissions: Members read/write for a team,
// Administration read/write (and Metadata read, which every App has) for repositories.
func TestTheCallsMadeAreTheDocumentedLeastPrivilege(t *testing.T) {
	tests := []struct {
		mode  string
		perms map[string]string
		want  []string
	}{
		{mode: ModeTeam, perms: map[string]string{"members": "write"}, want: []string{
			"DELETE /orgs/{org}/invitations/{invitation_id}",
			"DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}",
			"GET /orgs/{org}/invitations",
			"GET /orgs/{org}/teams/{team_slug}",
			"GET /orgs/{org}/teams/{team_slug}/members",
			"GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
			"POST /app/installations/{installation_id}/access_tokens",
			"PUT /orgs/{org}/teams/{team_slug}/memberships/{username}",
		}},
		{mode: ModeRepository, perms: map[string]string{"administration": "write", "metadata": "read"}, want: []string{
			"DELETE /repos/{owner}/{repo}/collaborators/{username}",
			"DELETE /repos/{owner}/{repo}/invitations/{invitation_id}",
			"GET /repos/{owner}/{repo}",
			"GET /repos/{owner}/{repo}/collaborators",
			"GET /repos/{owner}/{repo}/collaborators/{username}/permission",
			"GET /repos/{owner}/{repo}/invitations",
			"POST /app/installations/{installation_id}/access_tokens",
			"PUT /repos/{owner}/{repo}/collaborators/{username}",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			e := newEnv(t, tt.mode, true, tt.perms, nil)
			e.srv.AddUser("alice")
			ctx := context.Background()
			alice := adapters.Subject{Account: "alice"}
			if _, err := e.a.Holds(ctx, alice); err != nil {
				t.Fatal(err)
			}
			if _, err := grantAlice(e, "g-priv"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.a.List(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.a.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-priv", Subject: alice}); err != nil {
				t.Fatal(err)
			}
			if got := e.srv.Ops(); !slices.Equal(got, tt.want) {
				t.Errorf("ops = %v, want %v", got, tt.want)
			}
			for _, c := range e.srv.Calls() {
				if c.Status == http.StatusForbidden || c.Status == http.StatusUnauthorized {
					t.Errorf("the fake refused %s: %d", c.Op, c.Status)
				}
			}
		})
	}
	// With one permission less, the fake refuses as GitHub does, and the error is permanent.
	e := newEnv(t, ModeTeam, true, map[string]string{"members": "read"}, nil)
	e.srv.AddOrgMember("alice")
	if _, err := grantAlice(e, "g-ro"); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "Resource not accessible by integration") {
		t.Fatalf("grant with Members read only: %v", err)
	}
}

// An installation token GitHub no longer accepts is replaced at the next call; one near its
// expiry is replaced before it is used; a JWT signed by another key is refused permanently.
func TestInstallationTokens(t *testing.T) {
	e := newEnv(t, ModeTeam, true, nil, nil)
	const tokenOp = "POST /app/installations/{installation_id}/access_tokens"
	if err := e.a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv.ExpireTokens()
	if err := e.a.Check(context.Background()); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("check with a revoked token: %v, want GitHub's 401", err)
	}
	if err := e.a.Check(context.Background()); err != nil {
		t.Fatalf("check after the token was replaced: %v", err)
	}
	if n := e.srv.CallCount(tokenOp); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	_ = e.clock.Wait(context.Background(), 56*time.Minute) // within 5 minutes of the hour
	if err := e.a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.CallCount(tokenOp); n != 3 {
		t.Errorf("%d token requests after 56 minutes, want 3", n)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := newEnv(t, ModeTeam, true, nil, func(c *Config) { c.PrivateKey = keyPEM(other) })
	err = f.a.Check(context.Background())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "JSON web token could not be decoded") || strings.Contains(err.Error(), "BEGIN") {
		t.Fatalf("check with a foreign key: %v, want GitHub's 401", err)
	}
}

// A GitHub that cannot be reached is retried max_attempts times, then is a retryable error.
func TestAnUnreachableGitHubIsRetryable(t *testing.T) {
	e := newEnv(t, ModeTeam, false, nil, nil)
	cfg := e.a.cfg
	cfg.APIURL = "http://127.0.0.1:1" // nothing listens on port 1
	a, err := New(cfg, zerolog.Nop(), Options{Now: e.clock.Now, Wait: e.clock.Wait})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Grant(context.Background(), adapters.GrantRequest{GrantID: "g-down", Subject: adapters.Subject{Account: "alice"}})
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("grant against nothing: %v, want retryable after 4 attempts", err)
	}
	if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}) {
		t.Errorf("waits = %v, want 0.5s, 1s, 2s", w)
	}
}
