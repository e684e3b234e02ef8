package app_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/internal/kubetest"
)

// A kubernetes resource whose identity lacks the RBAC its mode needs makes /readyz fail, naming
// the verb, resource and namespace that are missing, so an operator reads the fix from the probe.
func TestReadyzNamesTheRBACAKubernetesResourceLacks(t *testing.T) {
	srv := kubetest.Start(t)
	srv.Namespace(t, "payments")
	dir := t.TempDir()
	// bob holds no RBAC at all on this cluster.
	kc := srv.Kubeconfig(t, dir, kubetest.Bob, "prod")
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: prod-k8s
    account: "{{.Email}}"
    adapter:
      type: kubernetes
      kubeconfig: "` + kc + `"
      context: prod
      cluster_role: view
      namespaces: [payments]
    policy: {approvers: [leads], reason_required: false}
`
	status, body := readyz(t, runApp(t, dir, yaml), "prod-k8s")
	if status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz = %d %s, want 503", status, body)
	}
	for _, want := range []string{
		"prod-k8s",
		"patch rolebindings.rbac.authorization.k8s.io in namespace payments",
		`bind clusterroles.rbac.authorization.k8s.io \"view\" in namespace payments`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz does not say %q:\n%s", want, body)
		}
	}
}
