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

	"github.com/accessbot/accessbot/adapters/gcpiam/gcpiamtest"
	"github.com/accessbot/accessbot/config"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
)

// A gcp-iam resource whose Google identity (Application Default Credentials: a service
// account's key file, exchanged for a token at the fake's token endpoint) lacks
// setIamPolicy makes /readyz fail, naming the permission and the resource.
func TestReadyzNamesThePermissionAGCPResourcesIdentityLacks(t *testing.T) {
	f := gcpiamtest.New(t)
	f.AddResource("projects/acme-prod")
	f.SetToken("") // only tokens from the token endpoint
	f.SetPermissions("resourcemanager.projects.getIamPolicy")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f.ServiceAccount(t, "accessbot@acme-ops.iam.gserviceaccount.com"))
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: gcp-prod
    account: "{{.Email}}"
    adapter:
      type: gcp-iam
      resource: projects/acme-prod
      role: roles/viewer
      endpoint: "` + f.URL + `"
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
	gt.Eventually(t, 30*time.Second, "/readyz to report the gcp-iam resource's check", func() bool {
		resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return strings.Contains(body, "gcp-prod")
	})
	if status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz = %d %s, want 503", status, body)
	}
	for _, want := range []string{"gcp-prod", "lacks resourcemanager.projects.setIamPolicy on projects/acme-prod"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz does not say %q:\n%s", want, body)
		}
	}
	var exchanged bool
	for _, c := range f.Calls() {
		if c.Method == "token" && c.Status == http.StatusOK {
			exchanged = true
		}
	}
	if !exchanged {
		t.Errorf("accessbot never exchanged its service account's signed assertion for a token: %+v", f.Calls())
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
