package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	"github.com/accessbot/accessbot/adapters/okta/oktatest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// clock is the adapter's and the fake's clock: a wait moves it on at once and is recorded, so a
// rate limit's minute passes in microseconds and a test can say how long the adapter waited.
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

// env is a fake and an adapter against it, on one clock.
type env struct {
	srv   *oktatest.Server
	a     *Adapter
	clock *clock
}

// newEnv starts a fake and an adapter using an API token; oauth switches both to a service app
// with a private key. mutate changes the adapter's config.
func newEnv(t testing.TB, oauth bool, mutate func(*Config)) *env {
	t.Helper()
	c := newClock()
	o := oktatest.Options{Now: c.Now}
	cfg := NewConfig()
	cfg.GroupID = oktatest.GroupID
	cfg.APIToken = oktatest.Token
	if oauth {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		o.ClientID, o.PublicKey = "0oaaccessbot0000001", &key.PublicKey
		cfg.Auth, cfg.APIToken, cfg.ClientID = AuthPrivateKey, "", o.ClientID
		cfg.PrivateKey = Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		cfg.KeyID = "test-key"
	}
	srv := oktatest.New(t, o)
	cfg.OrgURL = srv.URL
	if mutate != nil {
		mutate(cfg)
	}
	a, err := New(*cfg, zerolog.Nop(), Options{Now: c.Now, Wait: c.Wait})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, a: a, clock: c}
}

// users makes each subject's Okta user once, by login and email.
type users struct {
	mu  sync.Mutex
	srv *oktatest.Server
	ids map[string]string
}

func (u *users) id(email string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ids == nil {
		u.ids = map[string]string{}
	}
	if id, ok := u.ids[email]; ok {
		return id
	}
	u.ids[email] = u.srv.AddUser(email, email).ID
	return u.ids[email]
}

func runConformance(t *testing.T, e *env) {
	e.srv.SetPageSize(2) // several pages once a few subtests have granted
	u := &users{srv: e.srv}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: e.a,
		Lister:  true,
		Subject: func(name string) adapters.Subject {
			email := strings.ToLower(name) + "@example.com"
			u.id(email)
			return adapters.Subject{ID: email, Email: email, Account: email}
		},
		Has: func(t *testing.T, s adapters.Subject, _ string) bool {
			return e.srv.IsMember(oktatest.GroupID, u.id(s.Account))
		},
		Count: func(t *testing.T, s adapters.Subject) int {
			n := 0
			for _, id := range e.srv.Members(oktatest.GroupID) {
				if id == u.id(s.Account) {
					n++
				}
			}
			return n
		},
	})
}

func TestTheAdapterWithAnAPITokenPassesTheConformanceKit(t *testing.T) {
	e := newEnv(t, false, nil)
	runConformance(t, e)
	for _, c := range e.srv.Calls() {
		if c.Auth != "SSWS" {
			t.Errorf("call %s authenticated with %q, want SSWS", c.Op, c.Auth)
		}
	}
}

func TestTheAdapterWithAPrivateKeyAndEmailLookupPassesTheConformanceKit(t *testing.T) {
	e := newEnv(t, true, func(c *Config) { c.UserLookup = LookupEmail })
	runConformance(t, e)
	// One access token for the whole run: it is cached until near its expiry.
	if n := e.srv.CallCount("POST /oauth2/v1/token"); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	for _, c := range e.srv.Calls() {
		if c.Status == http.StatusUnauthorized || c.Status == http.StatusForbidden {
			t.Errorf("the fake refused %s: %d", c.Op, c.Status)
		}
	}
}

// harness is a grants harness whose prod-db resource is the adapter, alice's account her email.
func harness(t *testing.T, a adapters.Adapter, retry *grants.RetryPolicy) *gt.Harness {
	t.Helper()
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "okta", a
	r.Accounts = map[string]string{gt.Alice.ID: gt.Alice.Email}
	o := gt.Options{Resources: []*grants.Resource{r}}
	if retry != nil {
		o.Scheduler.Retry = *retry
	}
	return gt.New(t, o)
}

// Alice is a member of the group while her grant is active, and not once the scheduler has
// revoked it at expiry.
func TestAliceIsAMemberDuringTheGrantAndNotAfterItsExpiry(t *testing.T) {
	e := newEnv(t, false, nil)
	alice := e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	h := harness(t, e.a, nil)

	g := h.ActiveGrant(time.Hour)
	if !e.srv.IsMember(oktatest.GroupID, alice.ID) {
		t.Fatalf("alice is not in the group during grant %s", g.ID)
	}
	if g.LeaseData[leaseUserID] != alice.ID || g.LeaseData[leaseGroupID] != oktatest.GroupID {
		t.Errorf("lease data = %v", g.LeaseData)
	}
	h.Advance(time.Hour + time.Minute)
	h.RunDue()
	if st := h.StoredGrant(g.ID); st.State != grants.GrantRevoked {
		t.Fatalf("grant is %s after its expiry, want revoked (last error %q)", st.State, st.LastError)
	}
	if m := e.srv.Members(oktatest.GroupID); len(m) != 0 {
		t.Fatalf("members left after expiry: %v", m)
	}
}

// An outage of Okta's membership calls is retried by the adapter, then by the scheduler, and
// ends in revoke_failed; the membership goes once Okta answers again.
func TestARemovalThatKeepsFailingEndsInRevokeFailed(t *testing.T) {
	e := newEnv(t, false, nil)
	alice := e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	policy := grants.RetryPolicy{Initial: time.Second, Max: 4 * time.Second, Attempts: 3, Slow: time.Hour, Jitter: 0.2}
	h := harness(t, e.a, &policy)
	g := h.ActiveGrant(time.Hour)
	const op = "DELETE /api/v1/groups/{groupId}/users/{userId}"
	e.srv.Inject(oktatest.Fault{Op: op, Times: -1, Status: 503, Code: "E0000009", Summary: "Internal Server Error"})

	h.Clock.Set(g.ExpiresAt)
	for range 3 {
		h.RunDue()
		h.Clock.Set(h.StoredGrant(g.ID).NextAttemptAt)
	}
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantRevokeFailed || s.Attempts != 3 || !strings.Contains(s.LastError, "E0000009") {
		t.Fatalf("after 3 failed revocations: %s, %d attempts, %q", s.State, s.Attempts, s.LastError)
	}
	// max_attempts (4) tries per revocation, backing off 0.5s, 1s, 2s on the adapter's clock.
	if n := e.srv.CallCount(op); n != 3*4 {
		t.Errorf("%d removals reached the fake, want 12", n)
	}
	if w := e.clock.Waits(); len(w) < 3 || w[0] != 500*time.Millisecond || w[1] != time.Second || w[2] != 2*time.Second {
		t.Errorf("waits between tries = %v, want 0.5s, 1s, 2s", w)
	}
	if !e.srv.IsMember(oktatest.GroupID, alice.ID) {
		t.Fatal("the membership went although every removal failed")
	}
	e.srv.ClearFaults()
	h.Clock.Set(s.NextAttemptAt)
	h.RunDue()
	if s = h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("after Okta recovered: %s (%q)", s.State, s.LastError)
	}
	if e.srv.IsMember(oktatest.GroupID, alice.ID) {
		t.Fatal("alice is still in the group")
	}
}

// Membership alice had before accessbot is standing access: her request is refused, nothing is
// granted, and so nothing ever removes it.
func TestAStandingMemberIsNeverRemoved(t *testing.T) {
	e := newEnv(t, false, nil)
	e.srv.SetPageSize(1)
	bob := e.srv.AddUser("bob@example.com", "bob@example.com")
	alice := e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	e.srv.AddMember(oktatest.GroupID, bob.ID)
	e.srv.AddMember(oktatest.GroupID, alice.ID) // on the second page
	h := harness(t, e.a, nil)

	_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-1"})
	var ge *grants.Error
	if !errors.As(err, &ge) || ge.Reason != grants.ReasonAlreadyHeld {
		t.Fatalf("request of a standing member: %v, want already_held", err)
	}
	h.Advance(5 * time.Hour)
	h.RunDue()
	if !e.srv.IsMember(oktatest.GroupID, alice.ID) {
		t.Fatal("the standing membership is gone")
	}
	if n := e.srv.CallCount("PUT /api/v1/groups/{groupId}/users/{userId}") + e.srv.CallCount("DELETE /api/v1/groups/{groupId}/users/{userId}"); n != 0 {
		t.Fatalf("%d membership changes for a refused request", n)
	}
	held, err := e.a.Holds(context.Background(), adapters.Subject{ID: gt.Dave.ID, Account: gt.Dave.Email})
	if err != nil || held {
		t.Fatalf("holds for a person Okta does not know: %v, %v", held, err)
	}
}

// The scan finds a member added by hand, and alice's membership is explained by her grant.
func TestTheScanFindsAMemberAddedByHand(t *testing.T) {
	e := newEnv(t, false, nil)
	e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	mallory := e.srv.AddUser("mallory@example.com", "mallory@example.com")
	h := harness(t, e.a, nil)
	sc, err := grants.NewScanner(h.Service, grants.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.ActiveGrant(time.Hour)
	e.srv.AddMember(oktatest.GroupID, mallory.ID)

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
	if want := []string{"mallory@example.com/no_grant"}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

func grantAlice(t *testing.T, e *env, id string) (adapters.Lease, error) {
	t.Helper()
	return e.a.Grant(context.Background(), adapters.GrantRequest{
		GrantID: id, Resource: "okta-admins", Subject: adapters.Subject{ID: gt.Alice.ID, Account: gt.Alice.Email},
		Expires: time.Now().Add(time.Hour),
	})
}

// A 429 is waited out until the reset Okta gives, on the injected clock, and the call then
// succeeds with no error for the scheduler.
func TestA429IsWaitedOutUntilItsReset(t *testing.T) {
	e := newEnv(t, false, nil)
	alice := e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	e.srv.Inject(oktatest.Fault{Op: "PUT /api/v1/groups/{groupId}/users/{userId}", Times: 1, Status: 429,
		Code: "E0000047", Summary: "API call exceeded rate limit due to too many requests.", RetryAfter: 30 * time.Second})

	if _, err := grantAlice(t, e, "g-429"); err != nil {
		t.Fatalf("grant after one 429: %v", err)
	}
	if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{30 * time.Second}) {
		t.Errorf("waits = %v, want the 30s until the reset", w)
	}
	if !e.srv.IsMember(oktatest.GroupID, alice.ID) {
		t.Fatal("alice is not in the group")
	}
}

// When an answer says no calls are left in the window, the next call waits for the reset first
// and is never refused.
func TestAnExhaustedRateLimitIsWaitedForBeforeTheNextCall(t *testing.T) {
	e := newEnv(t, false, nil)
	e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	e.srv.SetRateLimit(2) // the grant's lookup and addition spend the window

	lease, err := grantAlice(t, e, "g-limit")
	if err != nil {
		t.Fatal(err)
	}
	if w := e.clock.Waits(); len(w) != 0 {
		t.Fatalf("the grant waited %v within its limit", w)
	}
	if err := e.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-limit", Subject: adapters.Subject{Account: gt.Alice.Email}, Data: lease.Data}); err != nil {
		t.Fatal(err)
	}
	if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{time.Minute}) {
		t.Errorf("waits = %v, want the minute until the window resets", w)
	}
	for _, c := range e.srv.Calls() {
		if c.Status == http.StatusTooManyRequests {
			t.Errorf("%s was refused with 429", c.Op)
		}
	}
}

// A rate limit that resets later than max_rate_wait is not waited for: the call fails
// retryably, saying so, and the scheduler tries again later.
func TestARateLimitResettingAfterMaxRateWaitIsRetryable(t *testing.T) {
	e := newEnv(t, false, nil)
	e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	e.srv.Inject(oktatest.Fault{Times: -1, Status: 429, Code: "E0000047", Summary: "API call exceeded rate limit due to too many requests.", RetryAfter: 10 * time.Minute})

	_, err := grantAlice(t, e, "g-slow-limit")
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "rate limit resets in 10m0s") {
		t.Fatalf("grant under a 10 minute limit: %v, want a retryable error naming the wait", err)
	}
	if n := len(e.srv.Calls()); n != 1 {
		t.Errorf("%d calls, want 1: the adapter does not call into an exhausted limit", n)
	}
}

// Okta's errors keep their kind and carry its errorSummary.
func TestOktasErrorsKeepTheirKindAndSummary(t *testing.T) {
	const put = "PUT /api/v1/groups/{groupId}/users/{userId}"
	tests := []struct {
		name      string
		account   string
		fault     *oktatest.Fault
		permanent bool
		says      string
		calls     int
	}{
		{name: "an unknown user is permanent", account: "nobody@example.com", permanent: true, says: "no such Okta user", calls: 1},
		{name: "a 403 is permanent with Okta's summary", account: gt.Alice.Email, permanent: true, calls: 2,
			fault: &oktatest.Fault{Op: put, Times: -1, Status: 403, Code: "E0000006", Summary: "You do not have permission to perform the requested action"},
			says:  "E0000006: You do not have permission"},
		{name: "a 400 is permanent with Okta's summary", account: gt.Alice.Email, permanent: true, calls: 2,
			fault: &oktatest.Fault{Op: put, Times: -1, Status: 400, Code: "E0000001", Summary: "Api validation failed: groupId"},
			says:  "Api validation failed"},
		{name: "a 5xx is retried then retryable", account: gt.Alice.Email, calls: 1 + 4,
			fault: &oktatest.Fault{Op: put, Times: -1, Status: 500, Code: "E0000009", Summary: "Internal Server Error"},
			says:  "Internal Server Error (after 4 attempts)"},
		{name: "an account that cannot be a login is refused before any call", account: "../groups", permanent: true, calls: 0, says: "has a character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, nil)
			e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
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

// The calls the adapter makes are those the README's least privilege allows: reading users, and
// reading and changing the one group's membership (Okta's Group Membership Admin role scoped to
// the group, or the two OAuth scopes, with which the fake checks every call).
func TestTheCallsMadeAreTheDocumentedLeastPrivilege(t *testing.T) {
	for _, lookup := range []string{LookupLogin, LookupEmail} {
		t.Run(lookup, func(t *testing.T) {
			e := newEnv(t, true, func(c *Config) { c.UserLookup = lookup })
			e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
			ctx := context.Background()
			_, err := grantAlice(t, e, "g-priv")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.a.Holds(ctx, adapters.Subject{Account: gt.Alice.Email}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.a.List(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.a.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-priv", Subject: adapters.Subject{Account: gt.Alice.Email}}); err != nil {
				t.Fatal(err)
			}
			find := "GET /api/v1/users/{id}"
			if lookup == LookupEmail {
				find = "GET /api/v1/users"
			}
			want := []string{
				"DELETE /api/v1/groups/{groupId}/users/{userId}",
				"GET /api/v1/groups/{groupId}",
				"GET /api/v1/groups/{groupId}/users",
				find,
				"POST /oauth2/v1/token",
				"PUT /api/v1/groups/{groupId}/users/{userId}",
			}
			slices.Sort(want)
			if got := e.srv.Ops(); !slices.Equal(got, want) {
				t.Errorf("ops = %v, want %v", got, want)
			}
			for _, c := range e.srv.Calls() {
				if c.Op != "POST /oauth2/v1/token" && !strings.Contains(c.Path, oktatest.GroupID) && !strings.HasPrefix(c.Op, "GET /api/v1/users") {
					t.Errorf("%s touches another group than the configured one", c.Path)
				}
			}
		})
	}
}

// An access token Okta no longer accepts is replaced at the next call, and a credential Okta
// refuses is a permanent error that names no secret.
func TestCredentialsOktaRefuses(t *testing.T) {
	e := newEnv(t, true, nil)
	e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	if err := e.a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv.ExpireTokens()
	err := e.a.Check(context.Background())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "E0000011") {
		t.Fatalf("check with a revoked token: %v, want Okta's 401", err)
	}
	if err := e.a.Check(context.Background()); err != nil {
		t.Fatalf("check after the token was replaced: %v", err)
	}
	if n := e.srv.CallCount("POST /oauth2/v1/token"); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}

	wrong := newEnv(t, false, func(c *Config) { c.APIToken = "not-the-token" })
	err = wrong.a.Check(context.Background())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "Invalid token provided") || strings.Contains(err.Error(), "not-the-token") {
		t.Fatalf("check with a wrong API token: %v", err)
	}
}

// The fake refuses an assertion signed by another key than the app's.
func TestAnAssertionSignedByAnotherKeyIsRefused(t *testing.T) {
	e := newEnv(t, true, nil)
	other := newEnv(t, true, func(c *Config) {})
	// other's adapter, pointed at e's fake: same client ID, different key.
	cfg := other.a.cfg
	cfg.OrgURL = e.srv.URL
	a, err := New(cfg, zerolog.Nop(), Options{Now: e.clock.Now, Wait: e.clock.Wait})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Check(context.Background())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("check with a foreign key: %v, want invalid_client", err)
	}
}

// The token request counts against the rate limit too: when it spends the window, the next
// call waits for the reset, and a token endpoint that fails for a moment is tried again.
func TestTheTokenRequestHonoursTheRateLimitAndIsRetried(t *testing.T) {
	e := newEnv(t, true, nil)
	alice := e.srv.AddUser(gt.Alice.Email, gt.Alice.Email)
	e.srv.SetRateLimit(1) // one call per minute: the token, then the lookup, then the addition
	e.srv.Inject(oktatest.Fault{Op: "POST /oauth2/v1/token", Times: 1, Status: 503, Code: "E0000009", Summary: "Internal Server Error"})

	done := make(chan error, 1)
	go func() { _, err := grantAlice(t, e, "g-token-limit"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("grant: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the grant hangs")
	}
	// The 503 spends the first window; the backoff (0.5s) does not reach its reset, so the token
	// request waits for it, and the lookup and the addition each wait for the next.
	want := []time.Duration{500 * time.Millisecond, time.Minute - 500*time.Millisecond, time.Minute, time.Minute}
	if w := e.clock.Waits(); !slices.Equal(w, want) {
		t.Errorf("waits = %v, want %v", w, want)
	}
	if n := e.srv.CallCount("POST /oauth2/v1/token"); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	for _, c := range e.srv.Calls() {
		if c.Status == http.StatusTooManyRequests {
			t.Errorf("%s was refused with 429", c.Op)
		}
	}
	if !e.srv.IsMember(oktatest.GroupID, alice.ID) {
		t.Fatal("alice is not in the group")
	}
}
