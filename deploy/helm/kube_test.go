package helm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// The namespaces the values files under ci/ name, which the chart does not create: the tests make
// them as a cluster's operator would.
var targetNamespaces = []string{"team-a", "team-b", "accessbot-grants"}

// resourcePath is where the API server serves one kind the chart renders.
type resourcePath struct {
	prefix     string // "/api/v1" or "/apis/<group>/<version>"
	plural     string
	namespaced bool
}

// kinds are the kinds the chart renders, by apiVersion and kind, but the ServiceMonitor (the
// Prometheus Operator's CRD, which a bare API server does not have).
var kinds = map[string]resourcePath{
	"v1/ConfigMap":                                    {"/api/v1", "configmaps", true},
	"v1/Service":                                      {"/api/v1", "services", true},
	"v1/ServiceAccount":                               {"/api/v1", "serviceaccounts", true},
	"v1/PersistentVolumeClaim":                        {"/api/v1", "persistentvolumeclaims", true},
	"apps/v1/Deployment":                              {"/apis/apps/v1", "deployments", true},
	"policy/v1/PodDisruptionBudget":                   {"/apis/policy/v1", "poddisruptionbudgets", true},
	"rbac.authorization.k8s.io/v1/Role":               {"/apis/rbac.authorization.k8s.io/v1", "roles", true},
	"rbac.authorization.k8s.io/v1/RoleBinding":        {"/apis/rbac.authorization.k8s.io/v1", "rolebindings", true},
	"rbac.authorization.k8s.io/v1/ClusterRole":        {"/apis/rbac.authorization.k8s.io/v1", "clusterroles", false},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": {"/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", false},
}

// objectPath returns the URL path of o on the API server, failing t for a kind the test does not
// know or a namespaced object the chart left without a namespace.
func objectPath(t *testing.T, o object) string {
	t.Helper()
	k, ok := kinds[o.APIVersion+"/"+o.Kind]
	if !ok {
		t.Fatalf("the chart renders %s %s, which the test cannot send: add it to kinds", o.APIVersion, o.Kind)
	}
	if !k.namespaced {
		if o.Metadata.Namespace != "" {
			t.Fatalf("cluster-scoped %s %s has namespace %s", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
		return k.prefix + "/" + k.plural + "/" + o.Metadata.Name
	}
	if o.Metadata.Namespace == "" {
		// kubectl and helm fill it in; `helm template | kubectl apply -n other` would not.
		t.Fatalf("%s %s has no namespace: the chart writes metadata.namespace on every namespaced object", o.Kind, o.Metadata.Name)
	}
	return k.prefix + "/namespaces/" + o.Metadata.Namespace + "/" + k.plural + "/" + o.Metadata.Name
}

// isCRD reports whether o's kind comes from a CRD a bare API server lacks.
func isCRD(o object) bool { return strings.HasPrefix(o.APIVersion, "monitoring.coreos.com/") }

// applied is the API server's answer to an apply.
type applied struct {
	status int
	body   []byte
	// warnings are the Warning headers: Pod Security admission's, among others.
	warnings []string
}

// serverApply sends o to the API server with server-side apply as the admin (dryRun: nothing is
// stored).
func serverApply(t *testing.T, srv *kubetest.Server, o object, dryRun bool) applied {
	t.Helper()
	body, err := json.Marshal(o.raw)
	if err != nil {
		t.Fatal(err)
	}
	q := "?fieldManager=accessbot-helm-test&force=true"
	if dryRun {
		q += "&dryRun=All"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, srv.URL+objectPath(t, o)+q, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token(kubetest.Admin))
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAData)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("apply %s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return applied{status: resp.StatusCode, body: b, warnings: resp.Header.Values("Warning")}
}

// namespaces makes the release's namespace and the adapter's target namespaces, for real. The
// release's namespace enforces the restricted Pod Security Standard and warns of what breaks it:
// the API server's Pod Security admission checks the Deployment's pod template against it.
func namespaces(t *testing.T, srv *kubetest.Server) {
	t.Helper()
	srv.Apply(t, "/api/v1/namespaces/"+releaseNS, []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+releaseNS+`","labels":{`+
		`"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/warn":"restricted"}}}`))
	for _, ns := range targetNamespaces {
		srv.Namespace(t, ns)
	}
}

func TestTheAPIServerAcceptsEveryObjectTheChartRendersAndItsPodMeetsTheRestrictedStandard(t *testing.T) {
	srv := kubetest.Shared(t)
	namespaces(t, srv)
	cases := append(valuesCases(t), valuesCase{name: "existing-configmap-postgres", set: []string{"existingConfigMap=mine", "storage.driver=postgres", "replicaCount=2"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := template(t, c.args()...)
			sent, skipped := 0, 0
			for _, o := range m.objects {
				if isCRD(o) {
					skipped++
					continue
				}
				a := serverApply(t, srv, o, true)
				if a.status/100 != 2 {
					t.Errorf("the API server refuses %s %s: %d %s", o.Kind, o.Metadata.Name, a.status, a.body)
				}
				if len(a.warnings) != 0 {
					t.Errorf("the API server warns of %s %s: %q", o.Kind, o.Metadata.Name, a.warnings)
				}
				sent++
			}
			if want := len(m.all("ServiceMonitor")); skipped != want {
				t.Errorf("skipped %d objects, want only the %d ServiceMonitors", skipped, want)
			}
			t.Logf("%d objects accepted in a server-side dry run, %d ServiceMonitors not sent (no CRD)", sent, skipped)
		})
	}
}

// The dry run is a real check: the API server refuses a Deployment it would refuse for real, and
// Pod Security admission warns of one that breaks the restricted standard.
func TestTheDryRunRefusesWhatTheAPIServerWouldRefuse(t *testing.T) {
	srv := kubetest.Shared(t)
	namespaces(t, srv)
	d := template(t).one(t, "Deployment")
	spec := d.raw["spec"].(map[string]any)
	pod := spec["template"].(map[string]any)["spec"].(map[string]any)
	ctr := pod["containers"].([]any)[0].(map[string]any)
	// Pod Security admission warns of a pod template that breaks the restricted standard.
	delete(ctr["securityContext"].(map[string]any), "allowPrivilegeEscalation")
	a := serverApply(t, srv, d, true)
	if a.status/100 != 2 || len(a.warnings) == 0 || !strings.Contains(strings.Join(a.warnings, " "), "allowPrivilegeEscalation") {
		t.Fatalf("a Deployment that may escalate privileges: %d, warnings %q; want it accepted with a warning naming allowPrivilegeEscalation", a.status, a.warnings)
	}
	ctr["ports"] = []any{map[string]any{"name": "http", "containerPort": 70000}}
	a = serverApply(t, srv, d, true)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(string(a.body), "containerPort") {
		t.Fatalf("a Deployment with container port 70000: %d %s, want 422 naming containerPort", a.status, a.body)
	}
}

// review asks the API server, as the admin, whether user in groups may do verb on
// group/resource[/subresource] named name in namespace (empty: cluster-wide): a
// SubjectAccessReview with what srv.Can leaves out, the name (bind is granted by name) and the
// subresource (serviceaccounts/token).
func review(t *testing.T, srv *kubetest.Server, user string, groups []string, verb, group, resource, subresource, name, namespace string) bool {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "authorization.k8s.io/v1",
		"kind":       "SubjectAccessReview",
		"spec": map[string]any{
			"user":   user,
			"groups": groups,
			"resourceAttributes": map[string]any{
				"verb": verb, "group": group, "resource": resource, "subresource": subresource,
				"name": name, "namespace": namespace,
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	status, body := srv.Do(t, kubetest.Admin, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", strings.NewReader(string(b)))
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("SubjectAccessReview: %d %s", status, body)
	}
	var out struct {
		Status struct {
			Allowed bool `json:"allowed"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return out.Status.Allowed
}

// serviceAccountToken asks the TokenRequest API, as the admin, for a token of the chart's
// ServiceAccount, as the kubelet would mount in its pods.
func serviceAccountToken(t *testing.T, srv *kubetest.Server) string {
	t.Helper()
	req := `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}`
	status, body := srv.Do(t, kubetest.Admin, http.MethodPost, "/api/v1/namespaces/"+releaseNS+"/serviceaccounts/"+serviceAccount+"/token", strings.NewReader(req))
	if status != http.StatusCreated {
		t.Fatalf("TokenRequest for the chart's ServiceAccount: %d %s", status, body)
	}
	var out struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Status.Token == "" {
		t.Fatalf("TokenRequest: no token in %s (%v)", body, err)
	}
	return out.Status.Token
}

// roleBindingJSON is a RoleBinding in namespace of role (kind Role or ClusterRole) to Alice.
func roleBindingJSON(name, namespace, kind, role string) string {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1",
		"kind":       "RoleBinding",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"roleRef":    map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
		"subjects":   []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": kubetest.Alice}},
	})
	return string(b)
}

// installRBAC applies, for real, the ServiceAccount and the RBAC the chart renders for the
// kubernetes adapter (namespaced, cluster-wide and mode token at once, from
// ci/kubernetes-rbac-values.yaml), beside a Role the adapter may bind (app-debugger in team-a:
// get and list pods) and a ClusterRole it may not; it returns a token of the chart's
// ServiceAccount, as the kubelet would mount in the pod.
func installRBAC(t *testing.T, srv *kubetest.Server) string {
	t.Helper()
	namespaces(t, srv)
	m := template(t, "--values", "accessbot/ci/kubernetes-rbac-values.yaml", "--set", "kubernetesAdapter.clusterWide=true")
	srv.Apply(t, "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles/app-debugger", []byte(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",`+
		`"metadata":{"name":"app-debugger","namespace":"team-a"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}]}`))
	srv.Apply(t, "/apis/rbac.authorization.k8s.io/v1/clusterroles/helm-test-secret-reader", []byte(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",`+
		`"metadata":{"name":"helm-test-secret-reader"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}]}`))
	applied := 0
	for _, o := range m.objects {
		switch o.Kind {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
			if a := serverApply(t, srv, o, false); a.status/100 != 2 {
				t.Fatalf("apply %s %s/%s: %d %s", o.Kind, o.Metadata.Namespace, o.Metadata.Name, a.status, a.body)
			}
			applied++
		}
	}
	if applied != 9 { // the ServiceAccount, 3 Roles and RoleBindings, a ClusterRole and its binding
		t.Fatalf("applied %d RBAC objects, want 9", applied)
	}
	// The API server's RBAC authorizer reads from its informer cache, which sees the bindings a
	// moment after they are written: wait until it sees each of them.
	user, groups := chartServiceAccount()
	gt.Eventually(t, 10*time.Second, "the API server to see the chart's bindings", func() bool {
		return review(t, srv, user, groups, "patch", "rbac.authorization.k8s.io", "rolebindings", "", "", "team-a") &&
			review(t, srv, user, groups, "patch", "rbac.authorization.k8s.io", "rolebindings", "", "", "team-b") &&
			review(t, srv, user, groups, "patch", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", "") &&
			review(t, srv, user, groups, "create", "", "serviceaccounts", "token", "x", "accessbot-grants")
	})
	return serviceAccountToken(t, srv)
}

// chartServiceAccount is the user name and groups the API server gives the chart's
// ServiceAccount.
func chartServiceAccount() (string, []string) {
	return "system:serviceaccount:" + releaseNS + ":" + serviceAccount,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNS, "system:authenticated"}
}

func TestTheChartsRBACLetsItsServiceAccountDoExactlyWhatTheAdapterNeeds(t *testing.T) {
	srv := kubetest.Shared(t)
	token := installRBAC(t, srv)

	user, groups := chartServiceAccount()
	const rbac = "rbac.authorization.k8s.io"
	cases := []struct {
		verb, group, resource, sub, name, ns string
		want                                 bool
	}{
		// RoleBindings in the listed namespaces, with the verbs the adapter uses and no other.
		{"get", rbac, "rolebindings", "", "", "team-a", true},
		{"list", rbac, "rolebindings", "", "", "team-a", true},
		{"create", rbac, "rolebindings", "", "", "team-a", true},
		{"patch", rbac, "rolebindings", "", "", "team-b", true},
		{"delete", rbac, "rolebindings", "", "", "team-b", true},
		{"update", rbac, "rolebindings", "", "", "team-a", false},
		{"deletecollection", rbac, "rolebindings", "", "", "team-a", false},
		{"watch", rbac, "rolebindings", "", "", "team-a", false},
		{"patch", rbac, "rolebindings", "", "", "default", false},
		{"create", rbac, "rolebindings", "", "", releaseNS, false},
		{"list", rbac, "rolebindings", "", "", "", false},
		// Binding the listed roles, by name, where it may make bindings.
		{"bind", rbac, "roles", "", "app-debugger", "team-a", true},
		{"bind", rbac, "roles", "", "other-role", "team-a", false},
		{"bind", rbac, "roles", "", "app-debugger", "default", false},
		{"bind", rbac, "clusterroles", "", "view", "team-b", true},
		{"bind", rbac, "clusterroles", "", "edit", "team-a", true},
		{"bind", rbac, "clusterroles", "", "admin", "team-a", false},
		{"bind", rbac, "clusterroles", "", "cluster-admin", "team-a", false},
		// clusterWide's ClusterRoleBinding lets it bind view and edit in any namespace; it still
		// makes no RoleBinding outside the listed namespaces (above, and with its token below).
		{"bind", rbac, "clusterroles", "", "edit", "default", true},
		{"escalate", rbac, "roles", "", "app-debugger", "team-a", false},
		{"create", rbac, "roles", "", "", "team-a", false},
		// Cluster-wide: ClusterRoleBindings of the listed ClusterRoles (edit is namespaced only
		// here, since clusterRoles is [view, edit] and clusterWide binds both).
		{"get", rbac, "clusterrolebindings", "", "", "", true},
		{"list", rbac, "clusterrolebindings", "", "", "", true},
		{"create", rbac, "clusterrolebindings", "", "", "", true},
		{"patch", rbac, "clusterrolebindings", "", "", "", true},
		{"delete", rbac, "clusterrolebindings", "", "", "", true},
		{"update", rbac, "clusterrolebindings", "", "", "", false},
		{"bind", rbac, "clusterroles", "", "view", "", true},
		{"bind", rbac, "clusterroles", "", "cluster-admin", "", false},
		{"escalate", rbac, "clusterroles", "", "view", "", false},
		{"create", rbac, "clusterroles", "", "", "", false},
		// Mode token: ServiceAccounts and their tokens in the grants' namespace alone.
		{"create", "", "serviceaccounts", "", "", "accessbot-grants", true},
		{"get", "", "serviceaccounts", "", "", "accessbot-grants", true},
		{"patch", "", "serviceaccounts", "", "", "accessbot-grants", true},
		{"delete", "", "serviceaccounts", "", "", "accessbot-grants", true},
		{"list", "", "serviceaccounts", "", "", "accessbot-grants", false},
		{"create", "", "serviceaccounts", "token", "grant-1", "accessbot-grants", true},
		{"create", "", "serviceaccounts", "token", "grant-1", "team-a", false},
		{"create", "", "serviceaccounts", "token", serviceAccount, releaseNS, false},
		{"create", "", "serviceaccounts", "", "", "team-a", false},
		// Nothing else.
		{"get", "", "secrets", "", "", "team-a", false},
		{"list", "", "secrets", "", "", "accessbot-grants", false},
		{"create", "", "pods", "", "", "team-a", false},
		{"impersonate", "", "users", "", "", "", false},
		{"create", "certificates.k8s.io", "certificatesigningrequests", "", "", "", false},
	}
	for _, c := range cases {
		what := c.verb + " " + c.resource
		if c.sub != "" {
			what += "/" + c.sub
		}
		if c.name != "" {
			what += " " + c.name
		}
		if got := review(t, srv, user, groups, c.verb, c.group, c.resource, c.sub, c.name, c.ns); got != c.want {
			t.Errorf("the chart's ServiceAccount may %s in %q: %v, want %v", what, c.ns, got, c.want)
		}
	}
	// srv.Can, kubetest's own review (no name), agrees on the plain verbs.
	if !srv.Can(t, user, groups, "patch", "rolebindings.rbac.authorization.k8s.io", "team-a") {
		t.Error("kubetest's SubjectAccessReview says the ServiceAccount may not patch rolebindings in team-a")
	}
	if srv.Can(t, user, groups, "patch", "rolebindings.rbac.authorization.k8s.io", "default") {
		t.Error("kubetest's SubjectAccessReview says the ServiceAccount may patch rolebindings in default")
	}

	// And with its own token, as the adapter in the pod: the API server's escalation check lets
	// it bind what it may bind, and nothing more.
	for _, c := range []struct {
		ns, kind, role string
		want           int
	}{
		{"team-a", "ClusterRole", "view", http.StatusCreated},
		{"team-a", "Role", "app-debugger", http.StatusCreated},
		{"team-a", "ClusterRole", "cluster-admin", http.StatusForbidden},
		// Not admin: without a controller manager, the aggregated bootstrap ClusterRoles (admin,
		// edit, view) have no rules yet, and binding an empty role escalates nothing.
		{"team-b", "ClusterRole", "helm-test-secret-reader", http.StatusForbidden},
		{"default", "ClusterRole", "view", http.StatusForbidden},
	} {
		name := "helm-test-" + strings.ToLower(c.kind) + "-" + c.role
		status, body := srv.DoToken(t, token, http.MethodPost, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+c.ns+"/rolebindings", strings.NewReader(roleBindingJSON(name, c.ns, c.kind, c.role)))
		if status != c.want {
			t.Errorf("the ServiceAccount binds %s %s to a person in %s: %d %s, want %d", c.kind, c.role, c.ns, status, body, c.want)
		}
		if status == http.StatusCreated {
			if status, body := srv.DoToken(t, token, http.MethodDelete, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+c.ns+"/rolebindings/"+name, nil); status != http.StatusOK {
				t.Errorf("the ServiceAccount deletes the RoleBinding it made: %d %s", status, body)
			}
		}
	}
}
