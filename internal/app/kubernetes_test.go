package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
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
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, zerolog.Nop(), app.Options{Clock: clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)), Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	var status int
	var body string
	// The checks run in the background once the server is up.
	gt.Eventually(t, 30*time.Second, "/readyz to report the kubernetes resource's check", func() bool {
		resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return strings.Contains(body, "prod-k8s")
	})
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
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
