package kubernetes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/kubetest"
	"github.com/accessbot/accessbot/internal/servertest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// botRBAC is what the tests give accessbot's user: everything both modes need, cluster-wide,
// and bind on the roles the tests use (the Helm chart's tests prove the least-privilege,
// per-namespace version).
const botRBAC = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"accessbot-test"},
"rules":[
 {"apiGroups":["rbac.authorization.k8s.io"],"resources":["rolebindings","clusterrolebindings"],"verbs":["get","list","create","patch","delete"]},
 {"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["bind"],"resourceNames":["kt-reader"]},
 {"apiGroups":[""],"resources":["serviceaccounts"],"verbs":["get","create","patch","delete"]},
 {"apiGroups":[""],"resources":["serviceaccounts/token"],"verbs":["create"]}]}`

// readerRole is the role the tests grant. The bootstrap roles view, edit and admin are
// aggregated: their rules are filled in by kube-controller-manager, which does not run here.
const readerRole = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"kt-reader"},
"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}]}`

const botBinding = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"accessbot-test"},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"accessbot-test"},
"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"accessbot"}]}`

var botOnce sync.Once

// server returns the package's API server with accessbot's user given its RBAC.
func server(t testing.TB) *kubetest.Server {
	t.Helper()
	srv := kubetest.Shared(t)
	botOnce.Do(func() {
		srv.Apply(t, "/apis/rbac.authorization.k8s.io/v1/clusterroles/accessbot-test", []byte(botRBAC))
		srv.Apply(t, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/accessbot-test", []byte(botBinding))
		srv.Apply(t, "/apis/rbac.authorization.k8s.io/v1/clusterroles/kt-reader", []byte(readerRole))
		srv.Namespace(t, defaultTokenNamespace)
	})
	return srv
}

// namespaces makes n namespaces of the test's own.
func namespaces(t testing.TB, srv *kubetest.Server, n int) []string {
	t.Helper()
	suffix := strings.ToLower(servertest.RandomHex(3))
	var out []string
	for i := range n {
		ns := fmt.Sprintf("kt-%s-%d", suffix, i)
		srv.Namespace(t, ns)
		out = append(out, ns)
	}
	return out
}

// newAdapter builds the adapter as user (accessbot, or someone without its RBAC) from a
// kubeconfig file, bound to ClusterRole kt-reader in nss.
func newAdapter(t testing.TB, srv *kubetest.Server, user string, nss []string, mutate func(*Config)) adapters.Adapter {
	t.Helper()
	c := NewConfig()
	c.Kubeconfig = srv.Kubeconfig(t, t.TempDir(), user, "kt")
	c.Context = "kt"
	c.ClusterRole = "kt-reader"
	c.Namespaces = nss
	if mutate != nil {
		mutate(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := c.New(adapters.Env{Resource: "k8s-prod", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return a
}

// bindingHas reads, as the admin, whether the binding named name exists in ns (clusterScope: the
// ClusterRoleBinding) with subject among its subjects.
func bindingHas(t *testing.T, srv *kubetest.Server, ns, name, subject string) bool {
	t.Helper()
	path := "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings/" + name
	if ns == clusterScope {
		path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/" + name
	}
	status, body := srv.Do(t, kubetest.Admin, http.MethodGet, path, nil)
	if status == http.StatusNotFound {
		return false
	}
	if status != http.StatusOK {
		t.Fatalf("get %s: %d %s", path, status, body)
	}
	var rb rbacv1.RoleBinding
	if err := json.Unmarshal(body, &rb); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool { return s.Name == subject })
}

// settled returns what the objects say (bound), once the API server's RBAC authorizer agrees:
// the authorizer learns of a new or deleted binding through a watch, a few milliseconds after
// the write, so an answer taken at once could be the one before. An authorizer that never agrees
// fails the test.
func settled(t *testing.T, bound bool, authorized func() bool) bool {
	t.Helper()
	gt.Eventually(t, 5*time.Second, fmt.Sprintf("RBAC to say %v, as the bindings do", bound), func() bool { return authorized() == bound })
	return bound
}

// canListPods asks RBAC whether the user (in groups) may list pods in every namespace of nss.
func canListPods(t *testing.T, srv *kubetest.Server, user string, groups []string, nss []string) bool {
	t.Helper()
	for _, ns := range nss {
		if !srv.Can(t, user, groups, "list", "pods", ns) {
			return false
		}
	}
	return true
}

func TestBindingModePassesTheConformanceKit(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 2)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: newAdapter(t, srv, kubetest.Bot, nss, nil),
		Lister:  true,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			bound := true
			for _, ns := range nss {
				bound = bound && bindingHas(t, srv, ns, namePrefix+grantID, s.Account)
			}
			return settled(t, bound, func() bool { return canListPods(t, srv, s.Account, nil, nss) })
		},
		// One grant is one binding per namespace: count those of the first.
		Count: func(t *testing.T, s adapters.Subject) int {
			return countBindings(t, srv, nss[0], s.Account)
		},
	})
}

func TestClusterWideBindingPassesTheConformanceKit(t *testing.T) {
	srv := server(t)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: newAdapter(t, srv, kubetest.Bot, nil, func(c *Config) { c.SubjectKind = KindGroup }),
		Lister:  true,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			// Bound as a Group: a user in that group may list pods anywhere.
			return settled(t, bindingHas(t, srv, clusterScope, namePrefix+grantID, s.Account), func() bool {
				return srv.Can(t, "someone", []string{s.Account}, "list", "pods", "default")
			})
		},
	})
}

// withoutExtend hides Extend: a token-mode grant cannot be extended by design (its expiry is
// signed into the token), which TestATokenGrantCannotBeExtended proves; the kit's extend test
// is for adapters that can.
type withoutExtend struct {
	adapters.Adapter
	adapters.Lister
	adapters.Checker
}

func TestTokenModePassesTheConformanceKit(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	a := newAdapter(t, srv, kubetest.Bot, nss, func(c *Config) { c.Mode = ModeToken })
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: withoutExtend{a, a.(adapters.Lister), a.(adapters.Checker)},
		Lister:  true,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			name := namePrefix + grantID
			status, _ := srv.Do(t, kubetest.Admin, http.MethodGet, "/api/v1/namespaces/"+defaultTokenNamespace+"/serviceaccounts/"+name, nil)
			bound := status == http.StatusOK && bindingHas(t, srv, nss[0], name, name)
			sa := "system:serviceaccount:" + defaultTokenNamespace + ":" + name
			return settled(t, bound, func() bool { return canListPods(t, srv, sa, []string{"system:serviceaccounts"}, nss) })
		},
	})
}

// The person's own credentials, against the real API server: refused before the grant, allowed
// during it, refused after the scheduler revokes it at expiry, and again after an early revoke.
func TestAPersonIsRefusedBeforeAllowedDuringAndRefusedAfterExpiryAndRevoke(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	pods := "/api/v1/namespaces/" + nss[0] + "/pods"
	listPods := func() int {
		status, _ := srv.Do(t, kubetest.Alice, http.MethodGet, pods, nil)
		return status
	}
	// The authorizer sees a binding's write through a watch, milliseconds later: each change is
	// waited for, bounded, rather than read at once.
	becomes := func(want int, what string) {
		t.Helper()
		gt.Eventually(t, 5*time.Second, what, func() bool { return listPods() == want })
	}
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "kubernetes", newAdapter(t, srv, kubetest.Bot, nss, nil)
	r.Accounts = map[string]string{gt.Alice.ID: kubetest.Alice}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})

	if got := listPods(); got != http.StatusForbidden {
		t.Fatalf("before any grant alice lists pods: %d, want 403", got)
	}
	g := h.ActiveGrant(time.Hour)
	becomes(http.StatusOK, "alice to list pods during grant "+g.ID)
	h.Advance(time.Hour + time.Minute)
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("grant is %s after its expiry, want revoked", st)
	}
	becomes(http.StatusForbidden, "alice to be refused after grant "+g.ID+" expired")

	g2 := h.ActiveGrant(time.Hour)
	becomes(http.StatusOK, "alice to list pods during grant "+g2.ID)
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g2.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	becomes(http.StatusForbidden, "alice to be refused after revoking grant "+g2.ID+" early")
}

// tokenOf reads the bearer token out of a kubeconfig.
func tokenOf(t *testing.T, kubeconfig string) string {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		t.Fatalf("the kubeconfig does not load: %v\n%s", err, kubeconfig)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		t.Fatalf("the kubeconfig's current context %q is not in it", cfg.CurrentContext)
	}
	return cfg.AuthInfos[ctx.AuthInfo].Token
}

// The token is the second lock: it carries the grant's expiry itself, and deleting the grant's
// ServiceAccount ends it at once.
func TestATokenIsRefusedAtOnceWhenItsGrantIsRevoked(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	a := newAdapter(t, srv, kubetest.Bot, nss, func(c *Config) { c.Mode = ModeToken })
	now := time.Now()
	req := adapters.GrantRequest{
		GrantID: "g-tok" + strings.ToLower(servertest.RandomHex(3)), Resource: "k8s-prod",
		Subject: adapters.Subject{ID: kubetest.Alice, Email: kubetest.Alice, Account: kubetest.Alice},
		Start:   now, Expires: now.Add(2 * time.Hour),
	}
	lease, err := a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if lease.Secret == nil || lease.Secret.Kind != SecretKind {
		t.Fatalf("token grant returned secret %v, want a kubeconfig", lease.Secret)
	}
	token := tokenOf(t, lease.Secret.Value)
	for k, v := range lease.Data {
		if strings.Contains(v, token) {
			t.Fatalf("lease data %s holds the token", k)
		}
	}
	// The kubeconfig's namespace is the grant's, and the token works there.
	pods := "/api/v1/namespaces/" + nss[0] + "/pods"
	gt.Eventually(t, 5*time.Second, "the granted token to list pods", func() bool {
		status, _ := srv.DoToken(t, token, http.MethodGet, pods, nil)
		return status == http.StatusOK
	})
	if status, _ := srv.DoToken(t, token, http.MethodGet, "/api/v1/namespaces/kube-system/secrets", nil); status != http.StatusForbidden {
		t.Fatalf("the granted token reads secrets in kube-system: %d, want 403", status)
	}
	// The token's own expiry is the grant's, to the second (the API server rounds nothing up
	// above ten minutes).
	exp := jwtExpiry(t, token)
	if d := exp.Sub(req.Expires); d < -5*time.Second || d > 5*time.Second {
		t.Fatalf("token expires %s, the grant %s", exp, req.Expires)
	}

	if err := a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}); err != nil {
		t.Fatal(err)
	}
	// Refused at once: the bindings are gone, which the authorizer sees within milliseconds. The
	// token itself stops authenticating once the API server's cache of token authentications
	// (ten seconds for a success) has let it go.
	gt.Eventually(t, 2*time.Second, "the revoked grant's token to be refused", func() bool {
		status, _ := srv.DoToken(t, token, http.MethodGet, pods, nil)
		return status == http.StatusForbidden || status == http.StatusUnauthorized
	})
	gt.Eventually(t, 20*time.Second, "the revoked grant's token to stop authenticating (401)", func() bool {
		status, _ := srv.DoToken(t, token, http.MethodGet, pods, nil)
		return status == http.StatusUnauthorized
	})
}

// jwtExpiry reads a JWT's exp claim (the API server has verified the signature already).
func jwtExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("the token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return time.Unix(claims.Exp, 0)
}

func TestATokenGrantCannotBeExtended(t *testing.T) {
	srv := server(t)
	a := newAdapter(t, srv, kubetest.Bot, nil, func(c *Config) { c.Mode = ModeToken })
	err := a.(adapters.Extender).Extend(context.Background(), adapters.RevokeRequest{GrantID: "g-x"}, time.Now().Add(time.Hour))
	if !errors.Is(err, ErrCannotExtend) || !adapters.IsPermanent(err) {
		t.Fatalf("extend: %v, want a permanent ErrCannotExtend", err)
	}
}

// getBinding reads a RoleBinding as the admin.
func getBinding(t *testing.T, srv *kubetest.Server, ns, name string) rbacv1.RoleBinding {
	t.Helper()
	status, body := srv.Do(t, kubetest.Admin, http.MethodGet, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings/"+name, nil)
	if status != http.StatusOK {
		t.Fatalf("get RoleBinding %s/%s: %d %s", ns, name, status, body)
	}
	var rb rbacv1.RoleBinding
	if err := json.Unmarshal(body, &rb); err != nil {
		t.Fatal(err)
	}
	return rb
}

// Each grant's binding names the grant, and says whose it is and until when; a rerun of the
// grant changes nothing, and an extension moves only the expiry.
func TestABindingCarriesItsGrantAndARerunChangesNothing(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	a := newAdapter(t, srv, kubetest.Bot, nss, nil)
	expires := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	req := adapters.GrantRequest{
		GrantID: "g-labels" + strings.ToLower(servertest.RandomHex(2)), Resource: "k8s-prod",
		Subject: adapters.Subject{ID: "alice@example.com", Account: kubetest.Alice}, Expires: expires,
	}
	lease, err := a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	name := namePrefix + req.GrantID
	rb := getBinding(t, srv, nss[0], name)
	want := map[string]string{LabelManagedBy: "accessbot", LabelGrant: req.GrantID, LabelResource: "k8s-prod"}
	for k, v := range want {
		if rb.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, rb.Labels[k], v)
		}
	}
	wantAnn := map[string]string{
		AnnotationGrant: req.GrantID, AnnotationResource: "k8s-prod", AnnotationPerson: "alice@example.com",
		AnnotationAccount: kubetest.Alice, AnnotationExpires: "2031-01-02T03:04:05Z",
	}
	for k, v := range wantAnn {
		if rb.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rb.Annotations[k], v)
		}
	}
	if rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != "kt-reader" {
		t.Errorf("roleRef = %+v", rb.RoleRef)
	}
	if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "User" || rb.Subjects[0].Name != kubetest.Alice {
		t.Errorf("subjects = %+v", rb.Subjects)
	}
	if !slices.ContainsFunc(rb.ManagedFields, func(f metav1.ManagedFieldsEntry) bool { return f.Manager == fieldManager }) {
		t.Errorf("no managed fields of %q: %+v", fieldManager, rb.ManagedFields)
	}

	if _, err := a.Grant(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if again := getBinding(t, srv, nss[0], name); again.ResourceVersion != rb.ResourceVersion {
		t.Errorf("a rerun of the grant wrote the binding again (resourceVersion %s -> %s)", rb.ResourceVersion, again.ResourceVersion)
	}

	later := expires.Add(90 * time.Minute)
	rr := adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
	if err := a.(adapters.Extender).Extend(context.Background(), rr, later); err != nil {
		t.Fatal(err)
	}
	ext := getBinding(t, srv, nss[0], name)
	if got := ext.Annotations[AnnotationExpires]; got != "2031-01-02T04:34:05Z" {
		t.Errorf("after extend the expiry annotation is %q", got)
	}
	if ext.UID != rb.UID {
		t.Error("extend replaced the binding instead of updating it")
	}
	if err := a.Revoke(context.Background(), rr); err != nil {
		t.Fatal(err)
	}
	if status, _ := srv.Do(t, kubetest.Admin, http.MethodGet, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+nss[0]+"/rolebindings/"+name, nil); status != http.StatusNotFound {
		t.Fatalf("after revoke the binding answers %d, want 404", status)
	}
}

// countBindings counts the RoleBindings in ns with account among their subjects.
func countBindings(t *testing.T, srv *kubetest.Server, ns, account string) int {
	t.Helper()
	status, body := srv.Do(t, kubetest.Admin, http.MethodGet, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings", nil)
	if status != http.StatusOK {
		t.Fatalf("list RoleBindings in %s: %d %s", ns, status, body)
	}
	var list rbacv1.RoleBindingList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rb := range list.Items {
		if slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool { return s.Name == account }) {
			n++
		}
	}
	return n
}

// A binding of the resource's role made by hand is a finding of the standing-access scan, even
// one for a person who holds an active grant; the binding of an active grant is not, and a
// binding of another role is not listed.
func TestAHandMadeBindingIsAScanFinding(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	ns := nss[0]
	handMade := func(name, role, user string) {
		srv.Apply(t, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings/"+name, []byte(`{
			"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"`+name+`","namespace":"`+ns+`"},
			"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"`+role+`"},
			"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"`+user+`"}]}`))
	}
	handMade("mallory-reader", "kt-reader", "mallory@example.com")
	handMade("ivan-edit", "edit", "ivan@example.com")
	// alice's own grant must not explain a binding someone made for her by hand.
	handMade("alice-by-hand", "kt-reader", kubetest.Alice)

	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "kubernetes", newAdapter(t, srv, kubetest.Bot, nss, nil)
	r.Accounts = map[string]string{gt.Alice.ID: kubetest.Alice}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	g := h.ActiveGrant(time.Hour)
	t.Cleanup(func() {
		if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err == nil {
			h.RunDue()
		}
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
	for _, f := range rep.Findings() {
		got = append(got, f.Account+"/"+f.Reason)
	}
	if want := []string{kubetest.Alice + "/no_grant", "mallory@example.com/no_grant"}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	if res := rep.Resources[0]; res.Holders != 3 {
		t.Errorf("%d holders, want 3 (alice by her grant and by hand, mallory by hand; ivan holds another role)", res.Holders)
	}
}

// Without the RBAC it needs, the adapter says at start which verb on which resource where is
// missing, and a grant fails permanently with the API server's refusal.
func TestCheckNamesWhatRBACIsMissing(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	ok := newAdapter(t, srv, kubetest.Bot, nss, func(c *Config) { c.Mode = ModeToken })
	if err := ok.(adapters.Checker).Check(context.Background()); err != nil {
		t.Fatalf("check with the RBAC it needs: %v", err)
	}
	// bob has no RBAC at all.
	a := newAdapter(t, srv, kubetest.Bob, nss, func(c *Config) { c.Mode = ModeToken })
	err := a.(adapters.Checker).Check(context.Background())
	if err == nil || !adapters.IsPermanent(err) {
		t.Fatalf("check without RBAC: %v, want a permanent error", err)
	}
	for _, want := range []string{
		"patch rolebindings.rbac.authorization.k8s.io in namespace " + nss[0],
		`bind clusterroles.rbac.authorization.k8s.io "kt-reader" in namespace ` + nss[0],
		"create serviceaccounts/token in namespace " + defaultTokenNamespace,
		"delete serviceaccounts in namespace " + defaultTokenNamespace,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("check error does not name %q:\n%v", want, err)
		}
	}
	_, err = a.Grant(context.Background(), adapters.GrantRequest{
		GrantID: "g-nope", Resource: "k8s-prod", Subject: adapters.Subject{Account: kubetest.Alice}, Expires: time.Now().Add(time.Hour),
	})
	if err == nil || !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("grant without RBAC: %v, want a permanent error quoting the refusal", err)
	}
}
