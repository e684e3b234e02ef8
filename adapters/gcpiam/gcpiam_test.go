package gcpiam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
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
	"github.com/accessbot/accessbot/adapters/gcpiam/gcpiamtest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

const (
	testProject = "projects/accessbot-test"
	testRole    = "roles/viewer"
	alice       = "alice@example.com"
	mallory     = "mallory@example.com"
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

// fake starts the fake with the test project, folder and organization and with alice and
// mallory as users.
func fake(t testing.TB) *gcpiamtest.Server {
	t.Helper()
	f := gcpiamtest.New(t)
	for _, r := range []string{testProject, "folders/1234567890", "organizations/987654321"} {
		f.AddResource(r)
	}
	f.AddPrincipal("user:"+alice, "user:"+mallory)
	return f
}

// newAdapter builds the adapter against f with a static token and retries that do not wait.
func newAdapter(t testing.TB, f *gcpiamtest.Server, edit func(*Config)) (*GCP, *waits) {
	t.Helper()
	c := NewConfig()
	c.Resource, c.Role, c.Endpoint, c.Timeout = testProject, testRole, f.URL, 10*time.Second
	if edit != nil {
		edit(c)
	}
	g, err := New(*c, zerolog.Nop(), WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: gcpiamtest.Token})))
	if err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	g.Wait = w.wait
	return g, w
}

func grantReq(grantID, account string, expires time.Time) adapters.GrantRequest {
	return adapters.GrantRequest{
		GrantID: grantID, Resource: "gcp-prod", Reason: "INC-1",
		Subject: adapters.Subject{ID: account, Email: account, Account: account},
		Start:   expires.Add(-time.Hour), Expires: expires,
	}
}

func revokeReq(grantID, account string) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: grantID, Resource: "gcp-prod", Subject: adapters.Subject{ID: account, Account: account}}
}

// hasGrantBinding reports whether the policy holds the grant's binding naming member.
func hasGrantBinding(p gcpiamtest.Policy, grantID, member string) bool {
	for _, b := range p.Bindings {
		if b.Condition != nil && b.Condition.Title == Title(grantID) && slices.Contains(b.Members, member) {
			return true
		}
	}
	return false
}

func TestPassesTheConformanceKit(t *testing.T) {
	for _, resource := range []string{testProject, "folders/1234567890", "organizations/987654321"} {
		t.Run(resource, func(t *testing.T) {
			f := fake(t)
			a, _ := newAdapter(t, f, func(c *Config) { c.Resource = resource })
			adaptertest.Run(t, adaptertest.Harness{
				Adapter: a,
				Lister:  true,
				// The kit's subjects become Google users of the fake, named by their email.
				Subject: func(name string) adapters.Subject {
					s := adaptertest.Subject(name)
					s.Account = s.Email
					f.AddPrincipal("user:" + s.Email)
					return s
				},
				Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
					return hasGrantBinding(f.Policy(resource), grantID, "user:"+s.Account) && f.Has(resource, "user:"+s.Account, testRole)
				},
				Count: func(t *testing.T, s adapters.Subject) int { return f.Count(resource, "user:"+s.Account, testRole) },
				// The condition ends the access at Google by the fake's clock, which here is
				// real time, as the kit needs.
				Usable: func(t *testing.T, s adapters.Subject, _ string) bool {
					return f.Has(resource, "user:"+s.Account, testRole)
				},
				NativeExpiry: resource == testProject,
				ExpiryWait:   3 * time.Second,
			})
		})
	}
}

// The second lock, by the fake's clock: access holds until the grant's expiry and ends then,
// with no call from accessbot.
func TestGoogleEndsAccessAtExpiryWithoutAnyRevoke(t *testing.T) {
	f := fake(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	f.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	a, _ := newAdapter(t, f, nil)
	expires := now.Add(time.Hour)
	if _, err := a.Grant(context.Background(), grantReq("g-second-lock", alice, expires)); err != nil {
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
		if got := f.Has(testProject, "user:"+alice, testRole); got != c.want {
			t.Errorf("at %s alice has %s: %v, want %v", c.at.Format(time.RFC3339), testRole, got, c.want)
		}
	}
	if n := len(f.Calls()); n != calls {
		t.Errorf("accessbot made %d calls after the grant, want none", n-calls)
	}
}

// The binding is written as Google needs it for a condition: read and written as version 3,
// with the etag read, titled with the grant and ending at its expiry.
func TestAGrantIsAVersion3ConditionalBindingWrittenWithTheEtagRead(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	before := f.Policy(testProject)
	expires := time.Date(2031, 1, 2, 3, 4, 5, 600, time.UTC)
	lease, err := a.Grant(context.Background(), grantReq("g-shape", alice, expires))
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 2 || calls[0].Method != "getIamPolicy" || calls[1].Method != "setIamPolicy" {
		t.Fatalf("calls = %+v, want getIamPolicy then setIamPolicy", calls)
	}
	if calls[0].RequestedVersion != 3 {
		t.Errorf("getIamPolicy asked for version %d, want 3", calls[0].RequestedVersion)
	}
	sent := calls[1].Sent
	if sent.Version != 3 || sent.Etag != before.Etag {
		t.Errorf("setIamPolicy sent version %d etag %q, want 3 and the etag read %q", sent.Version, sent.Etag, before.Etag)
	}
	want := gcpiamtest.Binding{Role: testRole, Members: []string{"user:" + alice}, Condition: &gcpiamtest.Expr{
		Title:       "accessbot g-shape",
		Description: "accessbot grant g-shape of gcp-prod to " + alice,
		Expression:  `request.time < timestamp("2031-01-02T03:04:05Z")`,
	}}
	if len(sent.Bindings) != 1 || !equalBinding(sent.Bindings[0], want) {
		t.Errorf("bindings sent = %s, want [%s]", show(sent.Bindings), show(want))
	}
	wantLease := map[string]string{"role": testRole, "member": "user:" + alice, "condition_title": "accessbot g-shape"}
	if fmt.Sprint(lease.Data) != fmt.Sprint(wantLease) {
		t.Errorf("lease data = %v, want %v", lease.Data, wantLease)
	}
}

func equalBinding(a, b gcpiamtest.Binding) bool { return show(a) == show(b) }

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// otherWriters are bindings accessbot did not make, all of which must come through every
// change byte for byte.
func otherWriters() []gcpiamtest.Binding {
	return []gcpiamtest.Binding{
		{Role: testRole, Members: []string{"user:" + alice, "user:" + mallory}},
		{Role: testRole, Members: []string{"user:" + alice}, Condition: &gcpiamtest.Expr{Title: "office hours", Expression: `request.time > timestamp("2020-01-01T00:00:00Z")`}},
		{Role: "roles/editor", Members: []string{"user:" + mallory}},
	}
}

// Another writer changes the policy between accessbot's read and its write, in every
// operation: the write is refused as stale, accessbot reads again and applies its own change
// on top, and the other writer's change survives.
func TestAConcurrentWritersChangeSurvivesEveryOperation(t *testing.T) {
	expires := time.Now().Add(time.Hour)
	ops := []struct {
		name string
		run  func(a *GCP) error
		// ours says whether the grant's binding is there afterwards.
		ours bool
	}{
		{"grant", func(a *GCP) error {
			_, err := a.Grant(context.Background(), grantReq("g-race", alice, expires))
			return err
		}, true},
		{"extend", func(a *GCP) error {
			return a.Extend(context.Background(), revokeReq("g-race", alice), expires.Add(time.Hour))
		}, true},
		{"revoke", func(a *GCP) error { return a.Revoke(context.Background(), revokeReq("g-race", alice)) }, false},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			f := fake(t)
			a, w := newAdapter(t, f, nil)
			if op.name != "grant" {
				if _, err := a.Grant(context.Background(), grantReq("g-race", alice, expires)); err != nil {
					t.Fatal(err)
				}
			}
			f.Modify(testProject, func(p *gcpiamtest.Policy) { p.Bindings = append(p.Bindings, otherWriters()[:2]...) })
			raced := false
			f.BeforeSet(func(resource string) {
				if raced {
					return
				}
				raced = true
				f.Modify(resource, func(p *gcpiamtest.Policy) {
					// The other writer adds a binding and removes mallory from one of its own.
					p.Bindings = append(p.Bindings, otherWriters()[2])
					for i := range p.Bindings {
						if p.Bindings[i].Condition == nil && p.Bindings[i].Role == testRole {
							p.Bindings[i].Members = []string{"user:" + alice}
						}
					}
				})
			})
			if err := op.run(a); err != nil {
				t.Fatalf("%s with a concurrent writer: %v", op.name, err)
			}
			statuses := []int{}
			for _, c := range f.Calls() {
				if c.Method == "setIamPolicy" {
					statuses = append(statuses, c.Status)
				}
			}
			if !raced || !slices.Contains(statuses, http.StatusConflict) || statuses[len(statuses)-1] != http.StatusOK {
				t.Fatalf("setIamPolicy answers %v: want a 409 for the stale etag, then a 200", statuses)
			}
			if w.count() != 1 {
				t.Errorf("waited %d times before starting over, want 1", w.count())
			}
			p := f.Policy(testProject)
			var others []gcpiamtest.Binding
			for _, b := range p.Bindings {
				if b.Condition == nil || !strings.HasPrefix(b.Condition.Title, TitlePrefix) {
					others = append(others, b)
				}
			}
			want := otherWriters()
			want[0].Members = []string{"user:" + alice}
			want = append(want[:2], want[2])
			if show(others) != show(want) {
				t.Errorf("the other writer's bindings are\n%s\nwant\n%s", show(others), show(want))
			}
			if got := hasGrantBinding(p, "g-race", "user:"+alice); got != op.ours {
				t.Errorf("the grant's binding is there: %v, want %v", got, op.ours)
			}
		})
	}
}

// Many grants on one policy at once: each read-modify-write that loses a race starts over,
// and every grant lands.
func TestConcurrentGrantsOnOnePolicyAllLand(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, func(c *Config) { c.MaxAttempts = 20 })
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Grant(context.Background(), grantReq(fmt.Sprintf("g-many-%d", i), alice, time.Now().Add(time.Hour)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p := f.Policy(testProject)
	for i := range n {
		if !hasGrantBinding(p, fmt.Sprintf("g-many-%d", i), "user:"+alice) {
			t.Errorf("grant g-many-%d is missing from the policy", i)
		}
	}
}

// A revoke takes away only the grant's own binding: the same person's standing binding of the
// same role, made by someone else, stays (that access is not accessbot's to take).
func TestRevokeLeavesThePersonsOtherBindingsOfTheRole(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	f.Modify(testProject, func(p *gcpiamtest.Policy) {
		p.Bindings = otherWriters()
		p.AuditConfigs = json.RawMessage(`[{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"}]}]`)
	})
	before := f.Policy(testProject)
	if _, err := a.Grant(context.Background(), grantReq("g-keep", alice, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(context.Background(), revokeReq("g-keep", alice)); err != nil {
		t.Fatal(err)
	}
	after := f.Policy(testProject)
	if show(after.Bindings) != show(before.Bindings) || string(after.AuditConfigs) != string(before.AuditConfigs) {
		t.Errorf("after grant and revoke the policy is\n%s\nwant as before\n%s", show(after), show(before))
	}
	if !f.Has(testProject, "user:"+alice, testRole) {
		t.Error("alice lost her standing binding of the role")
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
		{"a throttled read", "getIamPolicy", http.StatusTooManyRequests, 2, false, 2},
		{"an unavailable write", "setIamPolicy", http.StatusServiceUnavailable, 2, false, 2},
		{"a write throttled for longer than max_attempts", "setIamPolicy", http.StatusTooManyRequests, 10, true, 2},
		{"a read unavailable for longer than max_attempts", "getIamPolicy", http.StatusServiceUnavailable, 10, true, 2},
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
				if w.count() != tc.wantWaits {
					t.Errorf("waited %d times, want %d (max_attempts 3)", w.count(), tc.wantWaits)
				}
				return
			}
			if err != nil {
				t.Fatalf("grant through %d faults: %v", tc.times, err)
			}
			if w.count() != tc.wantWaits {
				t.Errorf("waited %d times, want %d", w.count(), tc.wantWaits)
			}
			if !f.Has(testProject, "user:"+alice, testRole) {
				t.Error("no access after the faults were retried")
			}
		})
	}
}

// What Google refuses does not change by retrying: the error is permanent and carries Google's
// own words.
func TestRefusalsArePermanentWithGooglesMessage(t *testing.T) {
	cases := []struct {
		name    string
		account string
		setup   func(f *gcpiamtest.Server, c *Config)
		says    string
	}{
		{"an account Google does not know", "nobody@example.com", nil, "User nobody@example.com does not exist."},
		{"a role the resource does not support", alice, func(_ *gcpiamtest.Server, c *Config) { c.Role = "roles/made.up" }, "Role roles/made.up is not supported for this resource."},
		{"no permission to write the policy", alice, func(f *gcpiamtest.Server, _ *Config) {
			f.SetPermissions("resourcemanager.projects.getIamPolicy")
		}, "Permission 'resourcemanager.projects.setIamPolicy' denied on resource"},
		{"a project that does not exist", alice, func(_ *gcpiamtest.Server, c *Config) { c.Resource = "projects/no-such-project" }, "Permission 'resourcemanager.projects.getIamPolicy' denied"},
		{"a token Google does not accept", alice, func(f *gcpiamtest.Server, _ *Config) { f.SetToken("another-token") }, "does not accept accessbot's credentials"},
		{"a malformed request", alice, func(f *gcpiamtest.Server, _ *Config) { f.Fail("setIamPolicy", http.StatusBadRequest, 1) }, "Google answered 400"},
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

// An account that is not an email never reaches Google.
func TestAnAccountThatIsNotAnEmailIsRefusedBeforeAnyCall(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	for _, account := range []string{"", "alice", "alice@example.com,user:mallory@example.com", "alice@example.com\n", "group:x@example.com"} {
		_, err := a.Grant(context.Background(), grantReq("g-bad", account, time.Now().Add(time.Hour)))
		if err == nil || !adapters.IsPermanent(err) {
			t.Errorf("grant to %q = %v, want a permanent error", account, err)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d calls reached Google", n)
	}
}

// A group member mode binds group:<email>.
func TestGroupModeBindsTheGroup(t *testing.T) {
	f := fake(t)
	f.AddPrincipal("group:sre@example.com")
	a, _ := newAdapter(t, f, func(c *Config) { c.Member = MemberGroup })
	if _, err := a.Grant(context.Background(), grantReq("g-group", "sre@example.com", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if !f.Has(testProject, "group:sre@example.com", testRole) {
		t.Error("the group does not hold the role")
	}
	list, err := a.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Account != "sre@example.com" || list[0].GrantID != "g-group" {
		t.Errorf("list = %+v, want the group by its email with its grant", list)
	}
}

// Extend moves the condition: access holds past the old expiry, until the new one.
func TestExtendMovesTheConditionsExpiry(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	if _, err := a.Grant(context.Background(), grantReq("g-ext", alice, expires)); err != nil {
		t.Fatal(err)
	}
	later := expires.Add(2 * time.Hour)
	if err := a.Extend(context.Background(), revokeReq("g-ext", alice), later); err != nil {
		t.Fatal(err)
	}
	member := "user:" + alice
	if !f.HasAt(testProject, member, testRole, expires.Add(time.Minute)) || f.HasAt(testProject, member, testRole, later) {
		t.Errorf("after extending to %s the condition is %s", later, show(f.Policy(testProject).Bindings))
	}
	if n := f.Count(testProject, member, testRole); n != 1 {
		t.Errorf("%d bindings after extend, want the one, changed", n)
	}
}

// The lister reports every member of every binding of the role: accessbot's with their grant,
// the rest (unconditional, or under another condition) without; accessbot's bindings that have
// already ended at Google are not access.
func TestListReportsEveryBindingOfTheRole(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	now := time.Now()
	if _, err := a.Grant(context.Background(), grantReq("g-live", alice, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Grant(context.Background(), grantReq("g-ended", mallory, now.Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	f.Modify(testProject, func(p *gcpiamtest.Policy) { p.Bindings = append(p.Bindings, otherWriters()...) })
	list, err := a.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range list {
		got = append(got, x.Account+"|"+x.GrantID)
	}
	sort.Strings(got)
	want := []string{alice + "|", alice + "|", alice + "|g-live", mallory + "|"}
	if !slices.Equal(got, want) {
		t.Errorf("list = %v, want %v", got, want)
	}
}

func TestCheckNamesTheMissingPermissions(t *testing.T) {
	for _, resource := range []string{testProject, "folders/1234567890", "organizations/987654321"} {
		t.Run(resource, func(t *testing.T) {
			f := fake(t)
			a, _ := newAdapter(t, f, func(c *Config) { c.Resource = resource })
			if err := a.Check(context.Background()); err != nil {
				t.Fatalf("check with every permission: %v", err)
			}
			kind, _, _ := strings.Cut(resource, "/")
			f.SetPermissions("resourcemanager." + kind + ".getIamPolicy")
			err := a.Check(context.Background())
			if err == nil || !adapters.IsPermanent(err) {
				t.Fatalf("check without setIamPolicy = %v, want a permanent error", err)
			}
			if want := "resourcemanager." + kind + ".setIamPolicy on " + resource; !strings.Contains(err.Error(), want) {
				t.Errorf("check error %q does not name %q", err, want)
			}
			if strings.Contains(err.Error(), "getIamPolicy") {
				t.Errorf("check error %q names a permission accessbot has", err)
			}
		})
	}
}

// readmePermissions are the permissions the README's gcp-iam section lists for accessbot's
// custom role on a project.
func readmePermissions(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### gcp-iam\n")
	if !ok {
		t.Fatal("README.md has no ### gcp-iam section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	perms := regexp.MustCompile(`resourcemanager\.projects\.[A-Za-z]+`).FindAllString(section, -1)
	slices.Sort(perms)
	return slices.Compact(perms)
}

// With exactly the permissions the README documents, every operation works, and the
// permissions its calls needed are exactly those: least privilege, checked against the fake's
// record of every call.
func TestTheBotUsesExactlyTheDocumentedPermissions(t *testing.T) {
	documented := readmePermissions(t)
	if !slices.Equal(documented, Permissions("projects")) {
		t.Fatalf("README lists %v, the adapter checks %v", documented, Permissions("projects"))
	}
	f := fake(t)
	f.SetPermissions(documented...)
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
	if err := a.Revoke(ctx, revokeReq("g-least", alice)); err != nil {
		t.Fatal(err)
	}
	var used, methods []string
	for _, c := range f.Calls() {
		if c.Status != http.StatusOK {
			t.Errorf("%s answered %d", c.Method, c.Status)
		}
		if c.Permission != "" {
			used = append(used, c.Permission)
		}
		methods = append(methods, c.Method)
	}
	slices.Sort(used)
	slices.Sort(methods)
	if used = slices.Compact(used); !slices.Equal(used, documented) {
		t.Errorf("the calls needed %v, the README documents %v", used, documented)
	}
	if methods = slices.Compact(methods); !slices.Equal(methods, []string{"getIamPolicy", "setIamPolicy", "testIamPermissions"}) {
		t.Errorf("methods called: %v", methods)
	}
}

// harness is a grants harness whose one resource is the adapter against f, on the harness's
// clock (the fake evaluates conditions by it too).
func harness(t *testing.T, f *gcpiamtest.Server, o gt.Options) (*gt.Harness, *GCP, *waits) {
	t.Helper()
	a, w := newAdapter(t, f, nil)
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "gcp-iam", a
	r.Accounts = map[string]string{gt.Alice.ID: alice}
	o.Resources = []*grants.Resource{r}
	h := gt.New(t, o)
	f.SetClock(h.Clock.Now)
	a.Now = h.Clock.Now
	return h, a, w
}

// Through the grants service and scheduler: alice holds the role during the grant; at expiry
// Google has already ended it by the condition, and the scheduler's revoke removes the binding.
func TestAccessDuringTheGrantAndNotAfterExpiry(t *testing.T) {
	f := fake(t)
	h, _, _ := harness(t, f, gt.Options{})
	member := "user:" + alice
	if f.Has(testProject, member, testRole) {
		t.Fatal("alice has the role before any grant")
	}
	g := h.ActiveGrant(time.Hour)
	if !f.Has(testProject, member, testRole) {
		t.Fatalf("alice lacks the role during grant %s", g.ID)
	}
	h.Advance(time.Hour)
	if f.Has(testProject, member, testRole) {
		t.Fatal("alice still has the role at expiry, before accessbot did anything")
	}
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("grant is %s after its expiry, want revoked", st)
	}
	if n := f.Count(testProject, member, testRole); n != 0 {
		t.Errorf("%d bindings of alice remain after the revoke", n)
	}
}

// A setIamPolicy that keeps failing sends the revoke to the scheduler's retries and then to
// revoke_failed; the condition has ended the access at Google all the while, and once Google
// answers again the binding is removed.
func TestAFailingSetIamPolicyGoesToRetriesAndRevokeFailed(t *testing.T) {
	f := fake(t)
	h, _, w := harness(t, f, gt.Options{Scheduler: grants.SchedulerOptions{Retry: grants.RetryPolicy{Attempts: 2, Initial: time.Minute, Max: time.Minute, Slow: time.Hour, Jitter: -1}}})
	g := h.ActiveGrant(time.Hour)
	f.Fail("setIamPolicy", http.StatusServiceUnavailable, 1000)
	h.Advance(time.Hour)
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
	if f.Has(testProject, "user:"+alice, testRole) {
		t.Error("alice has the role after expiry while the revoke fails")
	}
	f.ClearFaults()
	h.Advance(time.Hour)
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("once Google answers again the grant is %s, want revoked", st)
	}
	if n := f.Count(testProject, "user:"+alice, testRole); n != 0 {
		t.Errorf("%d bindings remain after the late revoke", n)
	}
}

// The standing-access scan reports an unconditional binding of the role, and one under a
// condition accessbot did not write; the active grant's binding and another role's are not
// findings.
func TestTheScanReportsBindingsNoGrantExplains(t *testing.T) {
	f := fake(t)
	f.AddPrincipal("user:ivan@example.com", "user:trent@example.com")
	f.Modify(testProject, func(p *gcpiamtest.Policy) {
		p.Bindings = []gcpiamtest.Binding{
			{Role: testRole, Members: []string{"user:" + mallory}},
			{Role: testRole, Members: []string{"user:ivan@example.com"}, Condition: &gcpiamtest.Expr{Title: "temporary", Expression: `request.time < timestamp("2099-01-01T00:00:00Z")`}},
			{Role: "roles/editor", Members: []string{"user:trent@example.com"}},
		}
	})
	h, _, _ := harness(t, f, gt.Options{})
	g := h.ActiveGrant(time.Hour)
	// Someone else's binding for alice beside her grant's: her grant does not explain it.
	f.Modify(testProject, func(p *gcpiamtest.Policy) {
		p.Bindings = append(p.Bindings, gcpiamtest.Binding{Role: testRole, Members: []string{"user:" + alice},
			Condition: &gcpiamtest.Expr{Title: "break-fix", Expression: `request.time < timestamp("2099-01-01T00:00:00Z")`}})
	})
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
	if want := []string{alice + "/no_grant", "ivan@example.com/no_grant", mallory + "/no_grant"}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	if res := rep.Resources[0]; res.Holders != 4 {
		t.Errorf("%d holders, want 4 (alice by grant %s and by someone else's binding, mallory, ivan)", res.Holders, g.ID)
	}
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
}

// A standing, unconditional binding of the role is access the person holds without accessbot:
// the request is answered that they have it already. A binding under someone else's condition,
// or accessbot's own, is not.
func TestAStandingBindingIsHeldAndAConditionalOneIsNot(t *testing.T) {
	f := fake(t)
	f.AddPrincipal("user:ivan@example.com")
	a, _ := newAdapter(t, f, nil)
	f.Modify(testProject, func(p *gcpiamtest.Policy) {
		p.Bindings = []gcpiamtest.Binding{
			{Role: testRole, Members: []string{"user:" + mallory}},
			{Role: "roles/editor", Members: []string{"user:" + alice}},
			{Role: testRole, Members: []string{"user:ivan@example.com"}, Condition: &gcpiamtest.Expr{Title: "temporary", Expression: `request.time < timestamp("2099-01-01T00:00:00Z")`}},
		}
	})
	if _, err := a.Grant(context.Background(), grantReq("g-held", alice, time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		account string
		want    bool
	}{{mallory, true}, {alice, false}, {"ivan@example.com", false}} {
		got, err := a.Holds(context.Background(), adapters.Subject{ID: c.account, Account: c.account})
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Holds(%s) = %v, want %v", c.account, got, c.want)
		}
	}

	h, _, _ := harness(t, f, gt.Options{})
	h.Resources[0].Accounts[gt.Alice.ID] = mallory
	_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-2"})
	var ge *grants.Error
	if !errors.As(err, &ge) || ge.Reason != grants.ReasonAlreadyHeld {
		t.Fatalf("request by someone with a standing binding = %v, want %s", err, grants.ReasonAlreadyHeld)
	}
}

// A grant ID that could not title a condition never reaches Google.
func TestAGrantIDThatCannotTitleAConditionIsRefused(t *testing.T) {
	f := fake(t)
	a, _ := newAdapter(t, f, nil)
	for _, id := range []string{"", "g\"quoted", "g 1", strings.Repeat("g", 81)} {
		if _, err := a.Grant(context.Background(), grantReq(id, alice, time.Now().Add(time.Hour))); err == nil || !adapters.IsPermanent(err) {
			t.Errorf("grant %q = %v, want a permanent error", id, err)
		}
		if err := a.Revoke(context.Background(), revokeReq(id, alice)); err == nil || !adapters.IsPermanent(err) {
			t.Errorf("revoke %q = %v, want a permanent error", id, err)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d calls reached Google", n)
	}
}

// Application Default Credentials from a service account's key file: the library signs an
// assertion with the key, the fake's token endpoint verifies it and issues the token the API
// calls carry. A key Google does not know is a permanent error.
func TestApplicationDefaultCredentialsFromAServiceAccountKey(t *testing.T) {
	f := fake(t)
	f.SetToken("")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f.ServiceAccount(t, "accessbot@acme-ops.iam.gserviceaccount.com"))
	c := NewConfig()
	c.Resource, c.Role, c.Endpoint = testProject, testRole, f.URL
	a, err := c.New(adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Grant(context.Background(), grantReq("g-adc", alice, time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("grant with a service account's key: %v", err)
	}
	var methods []string
	for _, c := range f.Calls() {
		methods = append(methods, fmt.Sprintf("%s %d", c.Method, c.Status))
	}
	if want := []string{"token 200", "getIamPolicy 200", "setIamPolicy 200"}; !slices.Equal(methods, want) {
		t.Errorf("calls = %v, want %v", methods, want)
	}

	other := gcpiamtest.New(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", other.ServiceAccount(t, "accessbot@acme-ops.iam.gserviceaccount.com"))
	// The key file names the other fake's token endpoint: point it at this one, whose keys
	// it is not.
	b, err := os.ReadFile(os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"), []byte(strings.ReplaceAll(string(b), other.URL, f.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = c.New(adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Grant(context.Background(), grantReq("g-adc-2", alice, time.Now().Add(time.Hour)))
	if err == nil || !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "does not accept accessbot's credentials") || !strings.Contains(err.Error(), "Invalid JWT Signature") {
		t.Fatalf("grant with a key Google does not know = %v, want a permanent error with Google's words", err)
	}
}
