package awsidc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/awsidc/awsidctest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// accounts are the AWS accounts the tests' resource assigns in.
var accounts = []string{"111111111111", "222222222222"}

// pollClock is the polling's clock: a wait moves it on at once, so a poll_timeout of minutes
// passes in microseconds.
type pollClock struct {
	mu    sync.Mutex
	now   time.Time
	waits int
}

func (c *pollClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *pollClock) Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits++
	return nil
}

// noBackoff is the SDK retryer's backoff in tests: retry at once, counting the retries.
type noBackoff struct{ n atomic.Int64 }

func (b *noBackoff) BackoffDelay(int, error) (time.Duration, error) {
	b.n.Add(1)
	return 0, nil
}

// testConfig is a config against the fake.
func testConfig(srv *awsidctest.Server) *Config {
	c := NewConfig()
	c.Region = awsidctest.Region
	c.InstanceARN = awsidctest.InstanceARN
	c.IdentityStoreID = awsidctest.IdentityStoreID
	c.PermissionSetARN = awsidctest.PermissionSetARN
	c.AccountIDs = accounts
	c.Endpoint = srv.URL
	c.PollInterval = time.Second
	c.PollTimeout = 30 * time.Second
	c.Timeout = time.Minute
	return c
}

type testAdapter struct {
	*Adapter
	clock   *pollClock
	backoff *noBackoff
}

// newAdapter builds the adapter against srv with the test credentials, the polling clock and
// no backoff between the SDK's retries.
func newAdapter(t testing.TB, srv *awsidctest.Server, mutate func(*Config)) testAdapter {
	t.Helper()
	c := testConfig(srv)
	if mutate != nil {
		mutate(c)
	}
	clk, bo := &pollClock{now: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}, &noBackoff{}
	a, err := New(context.Background(), *c, zerolog.Nop(), Options{
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return awsidctest.Credentials(), nil }),
		Backoff:     bo,
		Now:         clk.Now,
		Wait:        clk.Wait,
	})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return testAdapter{a, clk, bo}
}

// users makes the fake's users for account names (emails), once each.
type users struct {
	srv *awsidctest.Server
	mu  sync.Mutex
	ids map[string]string
}

func (u *users) id(email string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if id, ok := u.ids[email]; ok {
		return id
	}
	name, _, _ := strings.Cut(email, "@")
	id := u.srv.AddUser(name, email).ID
	u.ids[email] = id
	return id
}

func assignment(account, principalType, id string) awsidctest.Assignment {
	return awsidctest.Assignment{Account: account, PermissionSetARN: awsidctest.PermissionSetARN, PrincipalType: principalType, PrincipalID: id}
}

// hasEverywhere asks the fake whether the principal has the permission set in every account.
func hasEverywhere(srv *awsidctest.Server, principalType, id string) bool {
	for _, acct := range accounts {
		if !srv.Has(assignment(acct, principalType, id)) {
			return false
		}
	}
	return true
}

func TestUserModePassesTheConformanceKit(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	srv.SetPageSize(2) // several pages once a few subtests have granted
	u := &users{srv: srv, ids: map[string]string{}}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: newAdapter(t, srv, nil),
		Lister:  true,
		Subject: func(name string) adapters.Subject {
			email := strings.ToLower(name) + "@example.com"
			u.id(email)
			return adapters.Subject{ID: email, Email: email, Account: email}
		},
		Has: func(t *testing.T, s adapters.Subject, _ string) bool {
			return hasEverywhere(srv, "USER", u.id(s.Account))
		},
		Count: func(t *testing.T, s adapters.Subject) int {
			n := 0
			for _, a := range srv.Assignments() {
				if a.PrincipalID == u.id(s.Account) && a.Account == accounts[0] {
					n++
				}
			}
			return n
		},
	})
	if refused := srv.Refused(); len(refused) > 0 {
		t.Errorf("the fake refused signatures: %v", refused)
	}
}

func TestGroupModePassesTheConformanceKit(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	var mu sync.Mutex
	groups := map[string]string{}
	group := func(name string) string {
		mu.Lock()
		defer mu.Unlock()
		if id, ok := groups[name]; ok {
			return id
		}
		groups[name] = srv.AddGroup(name).ID
		return groups[name]
	}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: newAdapter(t, srv, func(c *Config) { c.Principal = PrincipalGroup }),
		Lister:  true,
		Subject: func(name string) adapters.Subject {
			s := adaptertest.Subject(name)
			s.Account = "team-" + s.Account
			group(s.Account)
			return s
		},
		Has: func(t *testing.T, s adapters.Subject, _ string) bool {
			return hasEverywhere(srv, "GROUP", group(s.Account))
		},
		// List has one entry per account; a grant twice must still be one assignment in each.
		Count: func(t *testing.T, s adapters.Subject) int {
			n := 0
			for _, a := range srv.Assignments() {
				if a.PrincipalID == group(s.Account) && a.Account == accounts[0] {
					n++
				}
			}
			return n
		},
	})
}

// The assignment exists at the fake while the grant is active, and not once the scheduler has
// revoked it at expiry; the adapter polled each request to its end.
func TestAccessExistsDuringTheGrantAndNotAfterItsExpiry(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	srv.SetInProgress(3)
	alice := srv.AddUser("alice", gt.Alice.Email)
	a := newAdapter(t, srv, nil)
	h := harness(t, a.Adapter, nil)

	if hasEverywhere(srv, "USER", alice.ID) {
		t.Fatal("alice has the permission set before any grant")
	}
	g := h.ActiveGrant(time.Hour)
	if !hasEverywhere(srv, "USER", alice.ID) {
		t.Fatalf("alice lacks the permission set during grant %s: %v", g.ID, srv.Assignments())
	}
	if g.LeaseData[leasePrincipalID] != alice.ID || g.LeaseData[leaseAccounts] != strings.Join(accounts, ",") {
		t.Errorf("lease data = %v", g.LeaseData)
	}
	// Four status checks per request (three IN_PROGRESS, then SUCCEEDED), one request per account.
	if n := srv.CallCount("DescribeAccountAssignmentCreationStatus"); n != 4*len(accounts) {
		t.Errorf("%d creation status checks, want %d", n, 4*len(accounts))
	}
	h.Advance(time.Hour + time.Minute)
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("grant is %s after its expiry, want revoked (last error %q)", st, h.StoredGrant(g.ID).LastError)
	}
	if got := srv.Assignments(); len(got) != 0 {
		t.Fatalf("assignments left after expiry: %v", got)
	}
	if n := srv.CallCount("DescribeAccountAssignmentDeletionStatus"); n != 4*len(accounts) {
		t.Errorf("%d deletion status checks, want %d", n, 4*len(accounts))
	}
	if polls, waited := a.PollStats(); polls != int64(8*len(accounts)) || waited <= 0 {
		t.Errorf("poll stats: %d polls, %s waited", polls, waited)
	}
}

// harness is a grants harness whose prod-db resource is the adapter, alice's account her email.
func harness(t *testing.T, a adapters.Adapter, retry *grants.RetryPolicy) *gt.Harness {
	t.Helper()
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "aws-identity-center", a
	r.Accounts = map[string]string{gt.Alice.ID: gt.Alice.Email}
	o := gt.Options{Resources: []*grants.Resource{r}}
	if retry != nil {
		o.Scheduler.Retry = *retry
	}
	return gt.New(t, o)
}

// approve requests and approves a grant for alice and runs the scheduler once.
func approve(t *testing.T, h *gt.Harness) grants.Grant {
	t.Helper()
	out := h.Approve(gt.Bob, h.Request(gt.Alice, "prod-db", time.Hour, "INC-1 fixing the index").Request.ID)
	if out.Grant == nil {
		t.Fatal("the approval made no grant")
	}
	h.RunDue()
	return h.StoredGrant(out.Grant.ID)
}

// A creation that AWS fails for a passing reason goes to the scheduler's retries, and the next
// attempt makes the grant.
func TestAFailedCreationIsRetriedByTheScheduler(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	h := harness(t, newAdapter(t, srv, nil).Adapter, nil)
	srv.FailCreations("Received a 500 status error: Internal failure, please try again later.")

	g := approve(t, h)
	if g.State != grants.GrantActivating || g.Attempts != 1 || !strings.Contains(g.LastError, "Internal failure") {
		t.Fatalf("after a failed creation: %s, %d attempts, last error %q", g.State, g.Attempts, g.LastError)
	}
	h.Clock.Set(g.NextAttemptAt)
	h.RunDue()
	if g = h.StoredGrant(g.ID); g.State != grants.GrantActive {
		t.Fatalf("after the retry: %s (%q)", g.State, g.LastError)
	}
	if !hasEverywhere(srv, "USER", alice.ID) {
		t.Fatal("the retried grant made no assignments")
	}
}

// A creation AWS fails because the request is wrong fails the grant for good, and the
// assignment the grant made in the first account is taken back: a failed grant is never revoked.
func TestACreationFailedForAWrongRequestFailsTheGrantAndLeavesNothing(t *testing.T) {
	srv := awsidctest.New(t, accounts[0]) // the second account is not in the organization
	srv.AddUser("alice", gt.Alice.Email)
	h := harness(t, newAdapter(t, srv, nil).Adapter, nil)

	g := approve(t, h)
	if g.State != grants.GrantFailed || !strings.Contains(g.LastError, "not a member of the organization") {
		t.Fatalf("grant is %s (%q), want failed with AWS's reason", g.State, g.LastError)
	}
	if got := srv.Assignments(); len(got) != 0 {
		t.Fatalf("a failed grant left assignments: %v", got)
	}
}

// A request AWS keeps in progress past poll_timeout is a retryable error; once AWS has finished
// it, the scheduler's next attempt finds the assignment and the grant is active.
func TestASlowCreationTimesOutAndIsRetriedByTheScheduler(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	a := newAdapter(t, srv, func(c *Config) { c.PollTimeout = 10 * time.Second })
	h := harness(t, a.Adapter, nil)
	srv.SetInProgress(1000)

	g := approve(t, h)
	if g.State != grants.GrantActivating || g.Attempts != 1 || !strings.Contains(g.LastError, "still in progress after 10s") {
		t.Fatalf("after a slow creation: %s, %d attempts, last error %q", g.State, g.Attempts, g.LastError)
	}
	// Waits of 250ms, 500ms, then 1s up to the timeout: 12 checks in 10s of the polling clock.
	if n := srv.CallCount("DescribeAccountAssignmentCreationStatus"); n != 12 {
		t.Errorf("%d status checks before giving up, want 12", n)
	}
	srv.Settle()
	srv.SetInProgress(0)
	h.Clock.Set(g.NextAttemptAt)
	h.RunDue()
	if g = h.StoredGrant(g.ID); g.State != grants.GrantActive {
		t.Fatalf("after the retry: %s (%q)", g.State, g.LastError)
	}
	if !hasEverywhere(srv, "USER", alice.ID) {
		t.Fatal("the retried grant made no assignments")
	}
}

// A deletion that keeps failing ends in revoke_failed (alerted, retried slowly), and the access
// goes once AWS answers again.
func TestARevocationThatKeepsFailingEndsInRevokeFailed(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	policy := grants.RetryPolicy{Initial: time.Second, Max: 4 * time.Second, Attempts: 3, Slow: time.Hour, Jitter: 0.2}
	h := harness(t, newAdapter(t, srv, nil).Adapter, &policy)
	g := h.ActiveGrant(time.Hour)
	srv.Inject(awsidctest.Fault{Op: "DeleteAccountAssignment", Times: -1, Code: "InternalServerException", Status: 500, Message: "An internal error occurred"})

	h.Clock.Set(g.ExpiresAt)
	for range 3 {
		h.RunDue()
		h.Clock.Set(h.StoredGrant(g.ID).NextAttemptAt)
	}
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantRevokeFailed || s.Attempts != 3 || !strings.Contains(s.LastError, "InternalServerException") {
		t.Fatalf("after 3 failed revocations: %s, %d attempts, %q", s.State, s.Attempts, s.LastError)
	}
	if !hasEverywhere(srv, "USER", alice.ID) {
		t.Fatal("the assignments went although every deletion failed")
	}
	srv.ClearFaults()
	h.Clock.Set(s.NextAttemptAt)
	h.RunDue()
	if s = h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("after AWS recovered: %s (%q)", s.State, s.LastError)
	}
	if got := srv.Assignments(); len(got) != 0 {
		t.Fatalf("assignments left: %v", got)
	}
}

// An assignment alice had before accessbot is standing access: her request is refused, nothing is
// granted, and so nothing ever revokes it.
func TestAStandingAssignmentIsNeverRevoked(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	standing := assignment(accounts[1], "USER", alice.ID)
	srv.Assign(standing)
	a := newAdapter(t, srv, nil)
	h := harness(t, a.Adapter, nil)

	_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-1"})
	var ge *grants.Error
	if !errors.As(err, &ge) || ge.Reason != grants.ReasonAlreadyHeld {
		t.Fatalf("request with a standing assignment: %v, want already_held", err)
	}
	h.Advance(5 * time.Hour)
	h.RunDue()
	if !srv.Has(standing) {
		t.Fatal("the standing assignment is gone")
	}
	if n := srv.CallCount("DeleteAccountAssignment") + srv.CallCount("CreateAccountAssignment"); n != 0 {
		t.Fatalf("%d assignment changes for a refused request", n)
	}
	// Someone else's, made in a group, is not alice's.
	held, err := a.Holds(context.Background(), adapters.Subject{ID: gt.Dave.ID, Account: gt.Dave.Email})
	if err != nil || held {
		t.Fatalf("holds for a person the identity store does not know: %v, %v", held, err)
	}
}

// The scan finds an assignment made by hand, named as a grant's account would be, and the one
// of alice's active grant is explained by her grant.
func TestTheScanFindsAHandMadeAssignment(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	srv.AddUser("alice", gt.Alice.Email)
	mallory := srv.AddUser("mallory", "mallory@example.com")
	ops := srv.AddGroup("ops")
	srv.Assign(assignment(accounts[0], "USER", mallory.ID))
	srv.Assign(assignment(accounts[1], "GROUP", ops.ID))
	h := harness(t, newAdapter(t, srv, nil).Adapter, nil)
	sc, err := grants.NewScanner(h.Service, grants.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.ActiveGrant(time.Hour)

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
	want := []string{"group:ops/no_grant", "mallory@example.com/no_grant"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

// Throttling is the SDK's to wait out: a call throttled twice succeeds on its third attempt
// with no error for the scheduler, and one throttled on every attempt becomes a retryable error
// that says so.
func TestThrottlingIsRetriedByTheSDKAndThenIsRetryable(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	srv.AddUser("alice", gt.Alice.Email)
	a := newAdapter(t, srv, func(c *Config) { c.MaxAttempts = 4 })
	req := adapters.GrantRequest{GrantID: "g-throttled", Resource: "prod-db", Subject: adapters.Subject{ID: gt.Alice.ID, Account: gt.Alice.Email}, Expires: time.Now().Add(time.Hour)}

	srv.Inject(awsidctest.Fault{Op: "CreateAccountAssignment", Times: 2, Code: "ThrottlingException", Message: "Rate exceeded"})
	if _, err := a.Grant(context.Background(), req); err != nil {
		t.Fatalf("grant throttled twice: %v", err)
	}
	if n := srv.CallCount("CreateAccountAssignment"); n != 2+len(accounts) {
		t.Errorf("%d creations reached the fake, want %d", n, 2+len(accounts))
	}
	if n := a.backoff.n.Load(); n != 2 {
		t.Errorf("the injected backoff was asked %d times, want 2", n)
	}

	srv.Inject(awsidctest.Fault{Op: "DeleteAccountAssignment", Times: -1, Code: "ThrottlingException", Message: "Rate exceeded"})
	err := a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject})
	if err == nil || adapters.IsPermanent(err) {
		t.Fatalf("revoke throttled on every attempt: %v, want a retryable error", err)
	}
	for _, want := range []string{"ThrottlingException", "after 4 attempts", "Rate exceeded", "account " + accounts[0]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := srv.CallCount("DeleteAccountAssignment"); n != 4 {
		t.Errorf("%d deletions reached the fake, want 4 (max_attempts)", n)
	}
}

// AWS's errors keep their kind: what retrying cannot fix is permanent, with AWS's words.
func TestErrorKindsFollowAWSsAnswer(t *testing.T) {
	cases := []struct {
		name      string
		fault     awsidctest.Fault
		permanent bool
		says      string
	}{
		{"an access denied", awsidctest.Fault{Code: "AccessDeniedException", Message: "User is not authorized to perform sso:CreateAccountAssignment"}, true, "IAM policy in the README"},
		{"a validation error", awsidctest.Fault{Code: "ValidationException", Message: "bad input"}, true, "ValidationException: bad input"},
		{"a quota", awsidctest.Fault{Code: "ServiceQuotaExceededException", Message: "quota"}, true, "ServiceQuotaExceededException"},
		{"a conflict", awsidctest.Fault{Code: "ConflictException", Message: "in progress"}, false, "ConflictException"},
		{"an internal error", awsidctest.Fault{Code: "InternalServerException", Status: 500, Message: "oops"}, false, "InternalServerException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := awsidctest.New(t, accounts...)
			srv.AddUser("alice", gt.Alice.Email)
			a := newAdapter(t, srv, func(c *Config) { c.MaxAttempts = 2 })
			tc.fault.Op, tc.fault.Times = "CreateAccountAssignment", -1
			srv.Inject(tc.fault)
			_, err := a.Grant(context.Background(), adapters.GrantRequest{GrantID: "g-x", Subject: adapters.Subject{Account: gt.Alice.Email}, Expires: time.Now().Add(time.Hour)})
			if err == nil {
				t.Fatal("grant succeeded through a failing API")
			}
			if adapters.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", adapters.IsPermanent(err), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// FAILED reasons: a wrong request is permanent, anything else retryable.
func TestAFailureReasonDecidesTheKind(t *testing.T) {
	for _, tc := range []struct {
		reason    string
		permanent bool
	}{
		{"The specified principal does not exist.", true},
		{"The account 123456789012 is not a member of the organization of this instance.", true},
		{"Request failed: the permission set's inline policy exceeds the maximum size.", true},
		{"Access denied to the target account.", true},
		{"Received a 500 status error: Internal failure.", false},
		{"Rate exceeded", false},
		{"", false},
	} {
		if got := adapters.IsPermanent(failed("assign", tc.reason)); got != tc.permanent {
			t.Errorf("reason %q: permanent = %v, want %v", tc.reason, got, tc.permanent)
		}
	}
}

// Every request is signed; the fake (as AWS) refuses a signature made with another secret, and
// the adapter's error says whose credentials to check.
func TestARequestSignedWithTheWrongSecretIsRefused(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	srv.AddUser("alice", gt.Alice.Email)
	c := testConfig(srv)
	a, err := New(context.Background(), *c, zerolog.Nop(), Options{
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: awsidctest.AccessKeyID, SecretAccessKey: "not-the-secret"}, nil
		}),
		Backoff: retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Check(context.Background())
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "InvalidSignatureException") || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("check with the wrong secret: %v", err)
	}
	if len(srv.Calls()) != 0 || len(srv.Refused()) == 0 {
		t.Fatalf("calls %v, refused %v: want none answered, one refused", srv.Calls(), srv.Refused())
	}
}

// The standard credential chain: keys from the environment sign requests the fake accepts.
func TestCredentialsComeFromTheStandardChain(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", awsidctest.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsidctest.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ad, err := testConfig(srv).New(adapters.Env{Resource: "aws-prod", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.(adapters.Checker).Check(context.Background()); err != nil {
		t.Fatalf("check with keys from the environment: %v", err)
	}
	if n := srv.CallCount("DescribePermissionSet"); n != 1 {
		t.Fatalf("%d DescribePermissionSet calls reached the fake, want 1", n)
	}
}

// A grant that timed out polling leaves a creation AWS has not finished. A revoke then finds no
// assignment to delete, but must not call that done: the creation would make it afterwards. It
// is retried until AWS is through, and then deletes it.
func TestARevokeWaitsForACreationStillInProgress(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	srv.SetPageSize(1) // the in-progress creations come a page at a time
	a := newAdapter(t, srv, func(c *Config) { c.PollTimeout = 5 * time.Second })
	s := adapters.Subject{ID: gt.Alice.ID, Account: gt.Alice.Email}
	srv.SetInProgress(1000)
	_, err := a.Grant(context.Background(), adapters.GrantRequest{GrantID: "g-slow", Subject: s, Expires: time.Now().Add(time.Hour)})
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "still in progress") {
		t.Fatalf("grant against a slow AWS: %v, want a retryable timeout", err)
	}

	err = a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-slow", Subject: s})
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "still creating") {
		t.Fatalf("revoke while the creation is in progress: %v, want a retryable error", err)
	}
	srv.Settle() // AWS finishes the creation in the background
	if !srv.Has(assignment(accounts[0], "USER", alice.ID)) {
		t.Fatal("the settled creation made no assignment")
	}
	srv.SetInProgress(0)
	if err := a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-slow", Subject: s}); err != nil {
		t.Fatalf("revoke after AWS finished: %v", err)
	}
	if got := srv.Assignments(); len(got) != 0 {
		t.Fatalf("assignments left: %v", got)
	}
}

// The fake refuses what AWS refuses, with AWS's error codes, so the adapter's tests meet the
// answers the real API gives: a malformed account or principal ID, an unknown principal or
// permission set, an unknown user by name, an account outside the organization (asynchronously).
func TestTheFakeRefusesWhatAWSRefuses(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	a := newAdapter(t, srv, nil)
	ctx := context.Background()
	create := func(account, ps, typ, id string) error {
		_, err := a.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
			InstanceArn: aws.String(awsidctest.InstanceARN), PermissionSetArn: aws.String(ps),
			PrincipalType: types.PrincipalType(typ), PrincipalId: aws.String(id),
			TargetId: aws.String(account), TargetType: types.TargetTypeAwsAccount,
		})
		return err
	}
	otherPS := "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-ffffffffffffffff"
	unknownID := "9067600000-00000000-0000-4000-8000-00000000ffff"
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"a malformed account ID", create("12345", awsidctest.PermissionSetARN, "USER", alice.ID), "ValidationException"},
		{"a malformed principal ID", create(accounts[0], awsidctest.PermissionSetARN, "USER", "alice"), "ValidationException"},
		{"an unknown principal", create(accounts[0], awsidctest.PermissionSetARN, "USER", unknownID), "ResourceNotFoundException"},
		{"a group ID given as a user's", create(accounts[0], awsidctest.PermissionSetARN, "GROUP", alice.ID), "ResourceNotFoundException"},
		{"an unknown permission set", create(accounts[0], otherPS, "USER", alice.ID), "ResourceNotFoundException"},
	} {
		if !isCode(tc.err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, tc.err, tc.code)
		}
	}
	if len(srv.Assignments()) != 0 {
		t.Fatalf("a refused creation made an assignment: %v", srv.Assignments())
	}

	// An unknown person's grant fails for good, naming whom the identity store lacks.
	_, err := a.Grant(ctx, adapters.GrantRequest{GrantID: "g-nobody", Subject: adapters.Subject{Account: "nobody@example.com"}, Expires: time.Now().Add(time.Hour)})
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), `find user "nobody@example.com" in identity store d-0123456789`) {
		t.Fatalf("grant for a person the identity store lacks: %v", err)
	}
	// ... and revoking for them is done: nobody holds nothing.
	if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-nobody", Subject: adapters.Subject{Account: "nobody@example.com"}}); err != nil {
		t.Fatalf("revoke for a person the identity store lacks: %v", err)
	}
}

// lostAnswer makes the assignments at AWS and then loses the answer, as a crash or a cut
// connection between AWS and accessbot's database would: the grant has no lease data.
type lostAnswer struct{ *Adapter }

func (l lostAnswer) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	if _, err := l.Adapter.Grant(ctx, req); err != nil {
		return adapters.Lease{}, err
	}
	return adapters.Lease{}, adapters.Retryablef("the connection was lost before the answer arrived")
}

// Access made at AWS whose answer never reached the database is not untracked: the grant row
// written before the call is revoked at its expiry, from the account name alone.
func TestAssignmentsWhoseAnswerWasLostAreRevokedAtExpiry(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", gt.Alice.Email)
	h := harness(t, lostAnswer{newAdapter(t, srv, nil).Adapter}, nil)

	g := approve(t, h)
	if g.State != grants.GrantActivating || len(g.LeaseData) != 0 {
		t.Fatalf("after a lost answer: %s with lease %v", g.State, g.LeaseData)
	}
	if !hasEverywhere(srv, "USER", alice.ID) {
		t.Fatal("the assignments were not made at AWS")
	}
	h.Clock.Set(g.ExpiresAt.Add(time.Minute))
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("grant is %s after its expiry (%q), want revoked", s.State, s.LastError)
	}
	if got := srv.Assignments(); len(got) != 0 {
		t.Fatalf("assignments left after expiry: %v", got)
	}
}

// A deletion AWS fails because the assignment is gone is done; one it fails for a passing reason
// is retryable, and the assignment is still there to delete next time.
func TestAFailedDeletionIsDoneOnlyWhenTheAssignmentIsGone(t *testing.T) {
	srv := awsidctest.New(t, accounts[0])
	alice := srv.AddUser("alice", gt.Alice.Email)
	a := newAdapter(t, srv, func(c *Config) { c.AccountIDs = accounts[:1] })
	s := adapters.Subject{ID: gt.Alice.ID, Account: gt.Alice.Email}
	ctx := context.Background()
	grant := func() adapters.Lease {
		t.Helper()
		lease, err := a.Grant(ctx, adapters.GrantRequest{GrantID: "g-del", Subject: s, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return lease
	}
	lease := grant()

	srv.FailDeletions("Received a 500 status error: Internal failure.")
	err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-del", Subject: s, Data: lease.Data})
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "AWS failed the request: Received a 500") {
		t.Fatalf("revoke with a deletion failed by AWS: %v, want a retryable error with AWS's reason", err)
	}
	if !srv.Has(assignment(accounts[0], "USER", alice.ID)) {
		t.Fatal("the assignment went although its deletion failed")
	}
	if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-del", Subject: s, Data: lease.Data}); err != nil {
		t.Fatalf("revoke again: %v", err)
	}

	// Deleted by someone else while accessbot's own request was queued, AWS fails that one as
	// not existing: AWS's word is taken (the fake, told to fail it so, keeps its own copy).
	lease = grant()
	srv.FailDeletions("The account assignment does not exist.")
	if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-del", Subject: s, Data: lease.Data}); err != nil {
		t.Fatalf("revoke whose deletion failed as not existing: %v, want done", err)
	}
}
