package app_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/adapters/gcpiam/gcpiamtest"
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
	status, body := readyz(t, runApp(t, dir, yaml), "gcp-prod")
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
}
