package googlegroups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/googlegroups/googlegroupstest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

const (
	testGroup = "prod-admins@example.com"
	alice     = "alice@example.com"
	mallory   = "mallory@example.com"
)

// waits records the retries an adapter waited for, without waiting.
type waits struct {
	mu       sync.Mutex
	attempts []int
}

func (w *waits) wait(ctx context.Context, attempt int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts = append(w.attempts, attempt)
	return ctx.Err()
}

func (w *waits) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.attempts)
}

// fake starts the fake with the test group and alice and mallory as users.
func fake(t testing.TB) *googlegroupstest.Server {
	t.Helper()
	f := googlegroupstest.New(t)
	f.AddGroup(testGroup)
	f.AddUser(alice, mallory)
	return f
}

// newAdapter builds the adapter against f with the fake's token and retries that do not wait.
func newAdapter(t testing.TB, f *googlegroupstest.Server, edit func(*Config)) (*Groups, *waits) {
	t.Helper()
	c := NewConfig()
	c.Group, c.Endpoint, c.Timeout = testGroup, f.URL, 10*time.Second
	if edit != nil {
		edit(c)
	}
	g, err := New(*c, zerolog.Nop(), WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: googlegroupstest.Token})))
	if err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	g.Wait = w.wait
	return g, w
}

func grantReq(grantID, account string, expires time.Time) adapters.GrantRequest {
	return adapters.GrantRequest{
		GrantID: grantID, Resource: "prod-admins", Reason: "INC-1",
		Subject: adapters.Subject{ID: account, Email: account, Account: account},
		Start:   time.Now().Add(-time.Second), Expires: expires,
	}
}

func revokeReq(grantID, account string) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: grantID, Resource: "prod-admins", Subject: adapters.Subject{ID: account, Account: account}}
}

// methods lists the API methods of the calls, with their status.
func methods(f *googlegroupstest.Server) []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, fmt.Sprintf("%s %d", c.Method, c.Status))
	}
	return out
}

func TestPassesTheConformanceKit(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: a,
		Lister:  true,
		// The kit's subjects become users of the fake, named by their email.
		Subject: func(name string) adapters.Subject {
			s := adaptertest.Subject(name)
			s.Account = s.Email
			f.AddUser(s.Email)
			return s
		},
		Has: func(t *testing.T, s adapters.Subject, _ string) bool {
			_, ok := f.Member(testGroup, s.Account)
			return ok
		},
		Count: func(t *testing.T, s adapters.Subject) int {
			if _, ok := f.Member(testGroup, s.Account); ok {
				return 1
			}
			return 0
		},
		// The fake's clock is real time here, as the kit needs: Google drops the membership at
		// its expiry.
		NativeExpiry: true,
		ExpiryWait:   3 * time.Second,
	})
}

// The second lock, by the fake's clock: the membership holds until the grant's expiry and is
// gone then, with no call from accessbot.
func TestGoogleDropsTheMembershipAtExpiryWithoutAnyRevoke(t *testing.T) {
	f := fake(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	f.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	a, _ := newAdapter(t, f, nil)
	expires := now.Add(time.Hour)
	req := grantReq("g-second-lock", alice, expires)
	req.Start = now
	if _, err := a.Grant(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	calls := len(f.Calls())
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{now, true},
		{expires.Add(-time.Second), true},
		{expires, false},
		{expires.Add(time.Hour), false},
	} {
		mu.Lock()
		now = c.at
		mu.Unlock()
		if _, got := f.Member(testGroup, alice); got != c.want {
			t.Errorf("at %s alice is a member: %v, want %v", c.at.Format(time.RFC3339), got, c.want)
		}
	}
	if n := len(f.Calls()); n != calls {
		t.Errorf("accessbot made %d calls after the grant, want none", n-calls)
	}
}

// A grant is a lookup of the group (once), a lookup of the person's membership (not there),
// and a create with the MEMBER role expiring at the grant's expiry, to the second.
func TestAGrantCreatesAMembershipExpiringAtTheGrantsExpiry(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	expires := time.Now().Add(time.Hour).Truncate(time.Second).Add(600 * time.Millisecond)
	lease, err := a.Grant(context.Background(), grantReq("g-shape", alice, expires))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"groups.lookup 200", "memberships.lookup 404", "memberships.create 200"}
	if got := methods(f); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	calls := f.Calls()
	if q := calls[0].Query; !strings.Contains(q, "groupKey.id=prod-admins%40example.com") {
		t.Errorf("groups:lookup query %q does not name the group", q)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(calls[2].Body), &sent); err != nil {
		t.Fatal(err)
	}
	wantBody := fmt.Sprintf(`{"preferredMemberKey":{"id":"%s"},"roles":[{"expiryDetail":{"expireTime":"%s"},"name":"MEMBER"}]}`, alice, expires.UTC().Truncate(time.Second).Format(time.RFC3339))
	if got, _ := json.Marshal(sent); string(got) != wantBody {
		t.Errorf("create sent %s, want %s", got, wantBody)
	}
	m, ok := f.Member(testGroup, alice)
	if !ok || !m.Expiry().Equal(expires.Truncate(time.Second)) {
		t.Errorf("membership %+v, want one expiring at %s", m, expires.Truncate(time.Second))
	}
	if lease.Data[leaseMembership] != m.Name || len(lease.Data) != 1 {
		t.Errorf("lease data = %v, want the membership's name %s", lease.Data, m.Name)
	}
	// The group's name is looked up once, not on every call.
	if err := a.Revoke(context.Background(), revokeReq("g-shape", alice)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(methods(f), ","), "groups.lookup"); n != 1 {
		t.Errorf("groups:lookup called %d times, want once", n)
	}
}

// A member added by hand without an expiry is standing access: held, a grant leaves it as it
// is and returns a lease that says so, and neither revoke (with or without the lease) nor
// extend touches it.
func TestAStandingMembershipIsNeverTouched(t *testing.T) {
	f := fake(t)
	f.AddMember(testGroup, mallory, time.Time{}, "MANAGER")
	a, _ := newAdapter(t, f, nil)
	ctx := context.Background()
	held, err := a.Holds(ctx, adapters.Subject{ID: mallory, Account: mallory})
	if err != nil || !held {
		t.Fatalf("Holds(mallory) = %v, %v, want true", held, err)
	}
	if held, err := a.Holds(ctx, adapters.Subject{ID: alice, Account: alice}); err != nil || held {
		t.Fatalf("Holds(alice) = %v, %v, want false", held, err)
	}
	before, _ := f.Member(testGroup, mallory)
	lease, err := a.Grant(ctx, grantReq("g-standing", mallory, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if lease.Data[leaseStanding] != "true" {
		t.Errorf("lease data = %v, want it to say the membership is standing", lease.Data)
	}
	r := revokeReq("g-standing", mallory)
	if err := a.Extend(ctx, r, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Data = lease.Data
	if err := a.Revoke(ctx, r); err != nil {
		t.Fatal(err)
	}
	after, ok := f.Member(testGroup, mallory)
	if !ok || after.Name != before.Name || !after.Expiry().IsZero() || len(after.Roles) != 2 {
		t.Errorf("mallory's standing membership became %+v, want %+v", after, before)
	}
	for _, c := range f.Calls() {
		switch c.Method {
		case "memberships.create", "memberships.delete", "memberships.modifyMembershipRoles":
			t.Errorf("accessbot called %s on a standing membership", c.Method)
		}
	}
}

// Through the grants service, a standing member's request is answered that they hold it.
func TestAStandingMembersRequestIsAnsweredAlreadyHeld(t *testing.T) {
	f := fake(t)
	f.AddMember(testGroup, alice, time.Time{})
	h, _, _ := harness(t, f, gt.Options{})
	_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-2"})
	var ge *grants.Error
	if !errors.As(err, &ge) || ge.Reason != grants.ReasonAlreadyHeld {
		t.Fatalf("request by a standing member = %v, want %s", err, grants.ReasonAlreadyHeld)
	}
}

// Granting again with the same grant ID finds the membership with its expiry and keeps it;
// a later expiry moves it (never earlier).
func TestGrantingAgainKeepsOneMembershipAndNeverShortensIt(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	ctx := context.Background()
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	first, err := a.Grant(ctx, grantReq("g-again", alice, expires))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		expires, want time.Time
	}{
		{expires, expires},
		{expires.Add(-time.Minute), expires},
		{expires.Add(time.Hour), expires.Add(time.Hour)},
	} {
		lease, err := a.Grant(ctx, grantReq("g-again", alice, c.expires))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := f.Member(testGroup, alice)
		if lease.Data[leaseMembership] != first.Data[leaseMembership] || !m.Expiry().Equal(c.want) {
			t.Errorf("grant again until %s: lease %v, expiry %s; want lease %v and expiry %s", c.expires, lease.Data, m.Expiry(), first.Data, c.want)
		}
	}
}

// A create whose answer was lost (Google applied it, accessbot retried) meets 409
// ALREADY_EXISTS: the adapter looks the membership up again and takes it as the grant's.
func TestACreateAnsweredAlreadyExistsIsTheGrantsMembership(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	// Someone (the earlier try) adds the membership with an expiry just before the create.
	f.Fail("memberships.lookup", http.StatusNotFound, 1)
	f.AddMember(testGroup, alice, time.Now().Add(time.Hour))
	if _, err := a.Grant(context.Background(), grantReq("g-409", alice, time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("grant after 409: %v", err)
	}
	got := methods(f)
	if !slices.Contains(got, "memberships.create 409") || got[len(got)-1] != "memberships.get 200" {
		t.Errorf("calls = %v, want a 409 then the membership looked up again", got)
	}
}

// Google may answer a create with an operation that is not done: the grant is retryable, and
// the retry finds the membership Google finished.
func TestAPendingOperationIsRetriedAndThenFound(t *testing.T) {
	f := fake(t)
	f.PendOperations(1)
	a, _ := newAdapter(t, f, nil)
	req := grantReq("g-pending", alice, time.Now().Add(time.Hour))
	_, err := a.Grant(context.Background(), req)
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "not finished") {
		t.Fatalf("grant with a pending operation = %v, want a retryable error", err)
	}
	lease, err := a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := f.Member(testGroup, alice); !ok || lease.Data[leaseMembership] != m.Name {
		t.Errorf("after the retry lease %v, membership %+v", lease.Data, m)
	}
}

// Throttling and unavailability are retried within the call (waiting as told by Wait); when
// they last, the error is retryable so the scheduler tries again later.
func TestThrottlingAndUnavailabilityAreRetriedThenRetryable(t *testing.T) {
	cases := []struct {
		name      string
		method    string
		code      int
		times     int
		wantErr   bool
		wantWaits int
	}{
		{"a throttled lookup", "memberships.lookup", http.StatusTooManyRequests, 2, false, 2},
		{"an unavailable create", "memberships.create", http.StatusServiceUnavailable, 2, false, 2},
		{"a create throttled for longer than max_attempts", "memberships.create", http.StatusTooManyRequests, 10, true, 2},
		{"a group lookup unavailable for longer than max_attempts", "groups.lookup", http.StatusServiceUnavailable, 10, true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fake(t)
			a, w := newAdapter(t, f, func(c *Config) { c.MaxAttempts = 3 })
			f.Fail(tc.method, tc.code, tc.times)
			_, err := a.Grant(context.Background(), grantReq("g-faults", alice, time.Now().Add(time.Hour)))
			if tc.wantErr {
				if err == nil || adapters.IsPermanent(err) {
					t.Fatalf("grant = %v, want a retryable error", err)
				}
				if !strings.Contains(err.Error(), fmt.Sprint(tc.code)) || !strings.Contains(err.Error(), "grant g-faults") {
					t.Errorf("error %q does not name the grant and Google's answer %d", err, tc.code)
				}
			} else if err != nil {
				t.Fatalf("grant through %d faults: %v", tc.times, err)
			}
			if w.count() != tc.wantWaits {
				t.Errorf("waited %d times, want %d", w.count(), tc.wantWaits)
			}
			if _, ok := f.Member(testGroup, alice); ok == tc.wantErr {
				t.Errorf("alice is a member: %v after the faults", ok)
			}
		})
	}
}

// What Google refuses does not change by retrying: the error is permanent, carries Google's
// own words, and nothing was retried.
func TestRefusalsArePermanentWithGooglesMessage(t *testing.T) {
	cases := []struct {
		name    string
		account string
		setup   func(f *googlegroupstest.Server, c *Config)
		says    string
	}{
		{"a person Google does not know", "nobody@example.com", nil, "Member nobody@example.com not found."},
		{"a group Google does not know (or accessbot may not see)", alice, func(_ *googlegroupstest.Server, c *Config) { c.Group = "nope@example.com" }, "Permission denied for resource groups/nope@example.com"},
		{"a token Google does not accept", alice, func(f *googlegroupstest.Server, _ *Config) {
			f.SetToken(googlegroupstest.Token)
		}, "does not accept accessbot's credentials"},
		{"a token with the read-only scope", alice, func(f *googlegroupstest.Server, _ *Config) {
			f.SetToken(googlegroupstest.Token, googlegroupstest.ScopeGroupsReadonly)
		}, "Google refused: Request had insufficient authentication scopes."},
		{"an edition without membership expiry", alice, func(f *googlegroupstest.Server, _ *Config) { f.SetExpirySupported(false) },
			"Google refused the membership's expiry: Membership expiry is not available for this customer's edition. (where the edition has no membership expiry, set expiry: false)"},
		{"a malformed request", alice, func(f *googlegroupstest.Server, _ *Config) { f.Fail("memberships.create", http.StatusBadRequest, 1) }, "Google answered 400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fake(t)
			c := func(*Config) {}
			if tc.setup != nil {
				c = func(cfg *Config) { tc.setup(f, cfg) }
			}
			a, w := newAdapter(t, f, c)
			_, err := a.Grant(context.Background(), grantReq("g-refused", tc.account, time.Now().Add(time.Hour)))
			if err == nil || !adapters.IsPermanent(err) {
				t.Fatalf("grant = %v, want a permanent error", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if w.count() != 0 {
				t.Errorf("retried a refusal %d times", w.count())
			}
		})
	}
}

// With expiry: false (an edition without membership expiry) the membership is made without
// one, and revoked by accessbot; a membership that was there before the grant began is
// standing and stays.
func TestWithoutExpiryTheMembershipIsMadeWithoutOneAndRevoked(t *testing.T) {
	f := fake(t)
	f.SetExpirySupported(false)
	off := false
	a, _ := newAdapter(t, f, func(c *Config) { c.Expiry = &off })
	ctx := context.Background()
	lease, err := a.Grant(ctx, grantReq("g-noexp", alice, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := f.Member(testGroup, alice)
	if !ok || !m.Expiry().IsZero() {
		t.Fatalf("membership %+v, want one without expiry", m)
	}
	if err := a.Extend(ctx, adapters.RevokeRequest{GrantID: "g-noexp", Subject: adapters.Subject{Account: alice}, Data: lease.Data}, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-noexp", Subject: adapters.Subject{Account: alice}, Data: lease.Data}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Member(testGroup, alice); ok {
		t.Error("alice is still a member after the revoke")
	}

	f.AddMember(testGroup, mallory, time.Time{})
	req := grantReq("g-noexp-standing", mallory, time.Now().Add(time.Hour))
	req.Start = time.Now().Add(time.Hour) // the membership was made well before the grant began
	lease, err = a.Grant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject, Data: lease.Data}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Member(testGroup, mallory); !ok {
		t.Error("mallory's standing membership was removed")
	}
}

// An account that is not an email never reaches Google.
func TestAnAccountThatIsNotAnEmailIsRefusedBeforeAnyCall(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	for _, account := range []string{"", "alice", "alice@example.com&memberKey.id=mallory@example.com", "alice@example.com\n", "../x@example.com/"} {
		_, err := a.Grant(context.Background(), grantReq("g-bad", account, time.Now().Add(time.Hour)))
		if err == nil || !adapters.IsPermanent(err) {
			t.Errorf("grant to %q = %v, want a permanent error", account, err)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d calls reached Google", n)
	}
}

// Extend moves the expiry: the membership holds past the old expiry, until the new one. A
// membership Google already dropped is added again.
func TestExtendMovesTheExpiry(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	ctx := context.Background()
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	if _, err := a.Grant(ctx, grantReq("g-ext", alice, expires)); err != nil {
		t.Fatal(err)
	}
	later := expires.Add(2 * time.Hour)
	if err := a.Extend(ctx, revokeReq("g-ext", alice), later); err != nil {
		t.Fatal(err)
	}
	m, _ := f.Member(testGroup, alice)
	if !m.Expiry().Equal(later) {
		t.Errorf("expiry after extend = %s, want %s", m.Expiry(), later)
	}
	var body string
	for _, c := range f.Calls() {
		if c.Method == "memberships.modifyMembershipRoles" {
			body = c.Body
		}
	}
	want := fmt.Sprintf(`{"updateRolesParams":[{"fieldMask":"expiryDetail.expire_time","membershipRole":{"name":"MEMBER","expiryDetail":{"expireTime":"%s"}}}]}`, later.UTC().Format(time.RFC3339))
	if body != want {
		t.Errorf("modifyMembershipRoles sent %s, want %s", body, want)
	}

	if err := a.Revoke(ctx, revokeReq("g-ext", alice)); err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(ctx, revokeReq("g-ext", alice), later); err != nil {
		t.Fatal(err)
	}
	if m, ok := f.Member(testGroup, alice); !ok || !m.Expiry().Equal(later) {
		t.Errorf("after extending a dropped membership: %+v, %v; want it back until %s", m, ok, later)
	}
}

// The lister reads every page and reports every member: with its expiry, or "no expiry";
// memberships whose expiry has passed are not access.
func TestListReadsEveryPage(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	now := time.Now()
	var want []string
	for i := range pageSize + 20 {
		email := fmt.Sprintf("u%03d@example.com", i)
		f.AddMember(testGroup, email, now.Add(time.Hour))
		want = append(want, email)
	}
	f.AddMember(testGroup, mallory, time.Time{}, "OWNER")
	want = append(want, mallory)
	sort.Strings(want)
	list, err := a.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range list {
		got = append(got, x.Account)
		if x.Account == mallory && x.Detail != "member of "+testGroup+" (no expiry), OWNER" {
			t.Errorf("mallory's detail = %q", x.Detail)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("list has %d members, want %d", len(got), len(want))
	}
	if n := strings.Count(strings.Join(methods(f), ","), "memberships.list 200"); n != 2 {
		t.Errorf("%d pages read, want 2", n)
	}
}

// readmeScopes are the OAuth scopes the README's google-groups section lists.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### google-groups\n")
	if !ok {
		t.Fatal("README.md has no ### google-groups section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	return section
}

// With a token carrying exactly the scope the README documents, every operation works, the
// calls need no other scope, and they are only the methods the README lists.
func TestTheBotUsesExactlyTheDocumentedScopeAndMethods(t *testing.T) {
	section := readmeSection(t)
	if !strings.Contains(section, "`"+Scope+"`") {
		t.Fatalf("the README's google-groups section does not name the scope %s", Scope)
	}
	f := fake(t)
	f.SetToken(googlegroupstest.Token, Scope)
	a, _ := newAdapter(t, f, nil)
	ctx := context.Background()
	if err := a.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Grant(ctx, grantReq("g-least", alice, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(ctx, revokeReq("g-least", alice), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.List(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Holds(ctx, adapters.Subject{Account: mallory}); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, revokeReq("g-least", alice)); err != nil {
		t.Fatal(err)
	}
	var used []string
	for _, c := range f.Calls() {
		if c.Status != http.StatusOK && c.Method != "memberships.lookup" {
			t.Errorf("%s answered %d", c.Method, c.Status)
		}
		if c.Scope != googlegroupstest.ScopeGroups && c.Scope != googlegroupstest.ScopeGroupsReadonly {
			t.Errorf("%s needs scope %s", c.Method, c.Scope)
		}
		used = append(used, c.Method)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	for _, m := range used {
		if !strings.Contains(section, "`"+m+"`") {
			t.Errorf("the bot calls %s, which the README does not list", m)
		}
	}
	want := []string{"groups.lookup", "memberships.create", "memberships.delete", "memberships.get", "memberships.list", "memberships.lookup", "memberships.modifyMembershipRoles"}
	if !slices.Equal(used, want) {
		t.Errorf("methods called: %v, want %v", used, want)
	}
}

// harness is a grants harness whose one resource is the adapter against f, on the harness's
// clock (the fake drops expired memberships by it too).
func harness(t *testing.T, f *googlegroupstest.Server, o gt.Options) (*gt.Harness, *Groups, *waits) {
	t.Helper()
	a, w := newAdapter(t, f, nil)
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "google-groups", a
	r.Accounts = map[string]string{gt.Alice.ID: alice}
	o.Resources = []*grants.Resource{r}
	h := gt.New(t, o)
	f.SetClock(h.Clock.Now)
	a.Now = h.Clock.Now
	return h, a, w
}

// Through the grants service and scheduler: alice is a member during the grant; at expiry
// Google has already dropped her, and the scheduler's revoke finds nothing left to do.
func TestMemberDuringTheGrantAndNotAfter(t *testing.T) {
	f := fake(t)
	h, _, _ := harness(t, f, gt.Options{})
	if _, ok := f.Member(testGroup, alice); ok {
		t.Fatal("alice is a member before any grant")
	}
	g := h.ActiveGrant(time.Hour)
	if _, ok := f.Member(testGroup, alice); !ok {
		t.Fatalf("alice is not a member during grant %s", g.ID)
	}
	h.Advance(time.Hour)
	if _, ok := f.Member(testGroup, alice); ok {
		t.Fatal("alice is still a member at expiry, before accessbot did anything")
	}
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("grant is %s after its expiry, want revoked", st)
	}
}

// An outage during the revoke of a grant revoked early sends it to the scheduler's retries and
// then to revoke_failed; once Google answers again the membership is removed.
func TestAnOutageGoesToRetriesAndRevokeFailed(t *testing.T) {
	f := fake(t)
	h, _, w := harness(t, f, gt.Options{Scheduler: grants.SchedulerOptions{Retry: grants.RetryPolicy{Attempts: 2, Initial: time.Minute, Max: time.Minute, Slow: time.Hour, Jitter: -1}}})
	g := h.ActiveGrant(4 * time.Hour)
	f.Fail("memberships.delete", http.StatusServiceUnavailable, 1000)
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	st := h.StoredGrant(g.ID)
	if st.State != grants.GrantRevoking || !strings.Contains(st.LastError, "503") {
		t.Fatalf("after one failed revoke the grant is %s (%q), want revoking with Google's 503", st.State, st.LastError)
	}
	h.Advance(time.Minute)
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevokeFailed {
		t.Fatalf("after two failed revokes the grant is %s, want revoke_failed", st)
	}
	if w.count() == 0 {
		t.Error("the adapter did not retry the 503 within the call")
	}
	if _, ok := f.Member(testGroup, alice); !ok {
		t.Fatal("alice's membership is gone though every delete failed")
	}
	f.ClearFaults()
	h.Advance(time.Hour)
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("once Google answers again the grant is %s, want revoked", st)
	}
	if _, ok := f.Member(testGroup, alice); ok {
		t.Error("alice is still a member after the late revoke")
	}
}

// The standing-access scan reports a member added by hand, with or without an expiry; the
// active grant's membership is not a finding.
func TestTheScanReportsMembersAddedByHand(t *testing.T) {
	f := fake(t)
	f.AddUser("ivan@example.com")
	h, _, _ := harness(t, f, gt.Options{})
	f.AddMember(testGroup, mallory, time.Time{})
	f.AddMember(testGroup, "ivan@example.com", h.Clock.Now().Add(24*time.Hour))
	g := h.ActiveGrant(time.Hour)
	sc, err := grants.NewScanner(h.Service, grants.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sc.Scan(h.Ctx, grants.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if errs := rep.Errors(); len(errs) > 0 {
		t.Fatalf("scan errors: %v", errs)
	}
	var got []string
	for _, x := range rep.Findings() {
		got = append(got, x.Account+"/"+x.Reason)
	}
	sort.Strings(got)
	if want := []string{"ivan@example.com/no_grant", mallory + "/no_grant"}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	if res := rep.Resources[0]; res.Holders != 3 {
		t.Errorf("%d holders, want 3 (alice by grant %s, mallory, ivan)", res.Holders, g.ID)
	}
}

// Application Default Credentials from a service account's key file: the library signs an
// assertion asking for the adapter's one scope, the fake's token endpoint verifies it and
// issues a token with that scope, which every call carries. A key Google does not know is a
// permanent error with Google's words.
func TestApplicationDefaultCredentialsAskForTheGroupsScopeOnly(t *testing.T) {
	f := fake(t)
	f.SetToken(googlegroupstest.Token) // only tokens from the token endpoint
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f.ServiceAccount(t, "accessbot@acme-ops.iam.gserviceaccount.com"))
	c := NewConfig()
	c.Group, c.Endpoint = testGroup, f.URL
	a, err := c.New(adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Grant(context.Background(), grantReq("g-adc", alice, time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("grant with a service account's key: %v", err)
	}
	want := []string{"token 200", "groups.lookup 200", "memberships.lookup 404", "memberships.create 200"}
	if got := methods(f); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if got := f.ScopesAsked(); !slices.Equal(got, []string{Scope}) {
		t.Errorf("the assertion asked for scopes %q, want only %s", got, Scope)
	}

	other := googlegroupstest.New(t)
	path := other.ServiceAccount(t, "accessbot@acme-ops.iam.gserviceaccount.com")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The other fake's key, sent to this fake's token endpoint, which does not know it.
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), other.URL, f.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	a, err = c.New(adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Grant(context.Background(), grantReq("g-adc-2", mallory, time.Now().Add(time.Hour)))
	if err == nil || !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "does not accept accessbot's credentials") || !strings.Contains(err.Error(), "Invalid JWT Signature") {
		t.Fatalf("grant with a key Google does not know = %v, want a permanent error with Google's words", err)
	}
}
