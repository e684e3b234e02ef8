package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"a cluster role in namespaces", func(c *Config) { c.ClusterRole, c.Namespaces = "view", []string{"payments"} }, ""},
		{"a cluster role cluster-wide", func(c *Config) { c.ClusterRole = "view" }, ""},
		{"a role in namespaces, token mode", func(c *Config) { c.Role, c.Namespaces, c.Mode = "reader", []string{"a", "b"}, ModeToken }, ""},
		{"no role", func(c *Config) {}, "set role"},
		{"both roles", func(c *Config) { c.Role, c.ClusterRole, c.Namespaces = "a", "b", []string{"x"} }, "not both"},
		{"a namespaced role without namespaces", func(c *Config) { c.Role = "reader" }, "list the namespaces"},
		{"a role name with a slash", func(c *Config) { c.ClusterRole = "view/../admin" }, "not a Kubernetes object name"},
		{"an upper-case namespace", func(c *Config) { c.ClusterRole, c.Namespaces = "view", []string{"Payments"} }, "not a namespace name"},
		{"a namespace listed twice", func(c *Config) { c.ClusterRole, c.Namespaces = "view", []string{"a", "a"} }, "listed twice"},
		{"an unknown mode", func(c *Config) { c.ClusterRole, c.Mode = "view", "certificate" }, `mode "certificate"`},
		{"an unknown subject kind", func(c *Config) { c.ClusterRole, c.SubjectKind = "view", "ServiceAccount" }, "subject_kind"},
		{"a group in token mode", func(c *Config) { c.ClusterRole, c.Mode, c.SubjectKind = "view", ModeToken, KindGroup }, "binding mode"},
		{"a bad token namespace", func(c *Config) {
			c.ClusterRole, c.Mode, c.ServiceAccountNamespace = "view", ModeToken, "no_underscores"
		}, "service_account_namespace"},
		{"a kubeconfig server in binding mode", func(c *Config) { c.ClusterRole, c.KubeconfigServer = "view", "https://k8s.example.com" }, "for token mode"},
		{"a plain-HTTP kubeconfig server", func(c *Config) {
			c.ClusterRole, c.Mode, c.KubeconfigServer = "view", ModeToken, "http://k8s.example.com"
		}, "https://"},
		{"no timeout", func(c *Config) { c.ClusterRole, c.Timeout = "view", 0 }, "timeout"},
		{"no rate", func(c *Config) { c.ClusterRole, c.QPS = "view", 0 }, "qps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			tc.mutate(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("config accepted, want an error saying %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// Building the adapter reads the kubeconfig but never contacts the cluster; a missing file or
// context says which.
func TestNewReadsTheKubeconfigWithoutContactingTheCluster(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://192.0.2.1:6443"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: prod, context: {cluster: c, user: u}}]
current-context: prod
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	c.ClusterRole, c.Kubeconfig = "view", kc
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err != nil {
		t.Fatalf("new with a kubeconfig whose server is unreachable: %v", err)
	}
	c.Context = "staging"
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "staging") {
		t.Fatalf("new with a context the file lacks: %v, want an error naming it", err)
	}
	c.Context, c.Kubeconfig = "", filepath.Join(dir, "missing")
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("new with a missing kubeconfig: %v, want an error naming the file", err)
	}
}

// Lease data has been through a database: what does not parse as a binding is dropped, so a
// revoke never deletes outside the adapter's names.
func TestParseBindingsKeepsOnlyWellFormedEntries(t *testing.T) {
	got := parseBindings("payments/accessbot-g-1,*/accessbot-g-1,../x/y,bad/Upper,ns/a/b,,nons")
	want := []binding{{"payments", "accessbot-g-1"}, {clusterScope, "accessbot-g-1"}}
	if len(got) != len(want) {
		t.Fatalf("parseBindings = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parseBindings = %v, want %v", got, want)
		}
	}
}

func TestAnAccountThatCannotNameASubjectIsRefused(t *testing.T) {
	for _, acc := range []string{"", strings.Repeat("a", 300), "alice\nbob"} {
		if err := checkAccount(acc); err == nil || !adapters.IsPermanent(err) {
			t.Errorf("checkAccount(%q) = %v, want a permanent error", acc, err)
		}
	}
	if err := checkAccount("oidc:alice@example.com"); err != nil {
		t.Errorf("a prefixed OIDC user name is refused: %v", err)
	}
}

// A grant ID that cannot name a Kubernetes object is refused before any request.
func TestAGrantIDThatCannotNameAnObjectIsRefused(t *testing.T) {
	for _, id := range []string{"G-Upper", "g_under", "g-" + strings.Repeat("x", 60)} {
		if _, err := objectName(id); err == nil || !adapters.IsPermanent(err) {
			t.Errorf("objectName(%q) = %v, want a permanent error", id, err)
		}
	}
	if name, err := objectName("g-abc234xyz7"); err != nil || name != "accessbot-g-abc234xyz7" {
		t.Errorf("objectName of an accessbot grant ID = %q, %v", name, err)
	}
}
