package helm

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/kubernetes"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/kubetest"
)

// serviceAccountKubeconfig writes a kubeconfig that authenticates with token, as the in-cluster
// config of the chart's pod does, and returns its path; its context is "chart".
func serviceAccountKubeconfig(t *testing.T, srv *kubetest.Server, token string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "chart",
		"clusters":        []any{map[string]any{"name": "kubetest", "cluster": map[string]any{"server": srv.URL, "certificate-authority-data": srv.CAData}}},
		"users":           []any{map[string]any{"name": "chart", "user": map[string]any{"token": token}}},
		"contexts":        []any{map[string]any{"name": "chart", "context": map[string]any{"cluster": "kubetest", "user": "chart"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "chart.kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// chartAdapter builds the kubernetes adapter as the chart's ServiceAccount with mutate applied
// to its config.
func chartAdapter(t *testing.T, kubeconfig string, mutate func(*kubernetes.Config)) adapters.Adapter {
	t.Helper()
	c := kubernetes.NewConfig()
	c.Kubeconfig, c.Context = kubeconfig, "chart"
	mutate(c)
	a, err := c.New(adapters.Env{Resource: "k8s-chart", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("build the adapter: %v", err)
	}
	return a
}

// The chart's RBAC and the adapter's own start-up check agree: every configuration the values
// allow passes the check, and one the values do not allow fails it, naming what is missing.
func TestTheKubernetesAdapterAsTheChartsServiceAccountPassesItsOwnCheckExactlyWhereTheValuesAllow(t *testing.T) {
	srv := kubetest.Shared(t)
	kubeconfig := serviceAccountKubeconfig(t, srv, installRBAC(t, srv))
	cases := []struct {
		name    string
		mutate  func(*kubernetes.Config)
		missing string // in the check's error; empty: it passes
	}{
		{name: "binding a listed Role in the listed namespaces", mutate: func(c *kubernetes.Config) {
			c.Role, c.Namespaces = "app-debugger", []string{"team-a", "team-b"}
		}},
		{name: "binding a listed ClusterRole in a listed namespace", mutate: func(c *kubernetes.Config) {
			c.ClusterRole, c.Namespaces = "view", []string{"team-a"}
		}},
		{name: "binding a listed ClusterRole cluster-wide", mutate: func(c *kubernetes.Config) { c.ClusterRole = "view" }},
		{name: "mode token with a listed ClusterRole", mutate: func(c *kubernetes.Config) {
			c.Mode, c.ClusterRole, c.Namespaces = kubernetes.ModeToken, "edit", []string{"team-b"}
		}},
		{name: "a ClusterRole the values do not list", mutate: func(c *kubernetes.Config) {
			c.ClusterRole, c.Namespaces = "cluster-admin", []string{"team-a"}
		}, missing: `bind clusterroles.rbac.authorization.k8s.io "cluster-admin" in namespace team-a`},
		{name: "a namespace the values do not list", mutate: func(c *kubernetes.Config) {
			c.Role, c.Namespaces = "app-debugger", []string{"default"}
		}, missing: "create rolebindings.rbac.authorization.k8s.io in namespace default"},
		{name: "mode token with its ServiceAccounts elsewhere", mutate: func(c *kubernetes.Config) {
			c.Mode, c.ClusterRole, c.Namespaces, c.ServiceAccountNamespace = kubernetes.ModeToken, "view", []string{"team-a"}, "team-b"
		}, missing: "create serviceaccounts/token in namespace team-b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := chartAdapter(t, kubeconfig, c.mutate)
			checker, ok := a.(adapters.Checker)
			if !ok {
				t.Fatal("the kubernetes adapter has no Check")
			}
			err := checker.Check(context.Background())
			switch {
			case c.missing == "" && err != nil:
				t.Fatalf("the adapter's check fails as the chart's ServiceAccount: %v", err)
			case c.missing != "" && (err == nil || !strings.Contains(err.Error(), c.missing)):
				t.Fatalf("the adapter's check: %v; want it to name %q", err, c.missing)
			}
		})
	}
}

// As the chart's ServiceAccount, the adapter grants and revokes for real in both modes.
func TestTheKubernetesAdapterAsTheChartsServiceAccountGrantsAndRevokes(t *testing.T) {
	srv := kubetest.Shared(t)
	kubeconfig := serviceAccountKubeconfig(t, srv, installRBAC(t, srv))
	alice := adapters.Subject{ID: kubetest.Alice, Email: kubetest.Alice, Account: kubetest.Alice}
	for _, mode := range []string{kubernetes.ModeBinding, kubernetes.ModeToken} {
		t.Run(mode, func(t *testing.T) {
			a := chartAdapter(t, kubeconfig, func(c *kubernetes.Config) {
				c.Mode, c.Role, c.Namespaces = mode, "app-debugger", []string{"team-a"}
			})
			now := time.Now()
			req := adapters.GrantRequest{GrantID: "g-helm-" + mode, Resource: "k8s-chart", Subject: alice, Start: now, Expires: now.Add(time.Hour)}
			lease, err := a.Grant(context.Background(), req)
			if err != nil {
				t.Fatalf("grant as the chart's ServiceAccount: %v", err)
			}
			// Who holds the access: Alice herself, or the grant's ServiceAccount.
			user, groups, saPath := kubetest.Alice, []string(nil), ""
			if mode == kubernetes.ModeToken {
				// The lease names it namespace/name.
				ns, name, ok := strings.Cut(lease.Data["service_account"], "/")
				if !ok || ns != "accessbot-grants" {
					t.Fatalf("token grant lease %v names no ServiceAccount in accessbot-grants", lease.Data)
				}
				user, groups = "system:serviceaccount:"+ns+":"+name, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
				saPath = "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name
			}
			// The API server's RBAC authorizer reads bindings from its informer cache, which
			// sees a new or deleted binding a moment after the write.
			gt.Eventually(t, 10*time.Second, user+" to be allowed to list pods in team-a during the grant", func() bool {
				return srv.Can(t, user, groups, "list", "pods", "team-a")
			})
			if err := a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: alice, Data: lease.Data}); err != nil {
				t.Fatalf("revoke as the chart's ServiceAccount: %v", err)
			}
			gt.Eventually(t, 10*time.Second, user+" to be refused pods in team-a after the revocation", func() bool {
				return !srv.Can(t, user, groups, "list", "pods", "team-a")
			})
			if saPath != "" {
				status, _ := srv.Do(t, kubetest.Admin, http.MethodGet, saPath, nil)
				if status != http.StatusNotFound {
					t.Fatalf("the grant's ServiceAccount after the revocation: %d, want 404", status)
				}
			}
		})
	}
}
