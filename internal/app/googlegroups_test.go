package app_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/adapters/googlegroups/googlegroupstest"
)

// A google-groups resource decodes from the config file, gets its credentials from
// Application Default Credentials (a service account's key file, exchanged at the fake's token
// endpoint), and /readyz reports it: ready when the group exists, failing with Google's words
// when it does not.
func TestReadyzChecksAGoogleGroupsResource(t *testing.T) {
	f := googlegroupstest.New(t)
	f.AddGroup("prod-admins@example.com")
	f.SetToken(googlegroupstest.Token) // only tokens from the token endpoint
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f.ServiceAccount(t, "accessbot@acme-ops.iam.gserviceaccount.com"))
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: prod-admins
    account: "{{.Email}}"
    adapter:
      type: google-groups
      group: prod-admins@example.com
      expiry: true
      endpoint: "` + f.URL + `"
      timeout: 10s
      max_attempts: 2
    policy: {approvers: [leads], reason_required: false}
  - name: missing-group
    account: "{{.Email}}"
    adapter:
      type: google-groups
      group: no-such-group@example.com
      endpoint: "` + f.URL + `"
    policy: {approvers: [leads], reason_required: false}
`
	status, body := readyz(t, runApp(t, dir, yaml), "missing-group")
	if status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz = %d %s, want 503", status, body)
	}
	for _, want := range []string{`{"name":"adapter:prod-admins","ok":true}`, `"adapter:missing-group","ok":false`, "look up the group no-such-group@example.com", "Permission denied for resource groups/no-such-group@example.com"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz does not say %q:\n%s", want, body)
		}
	}
	var listed, exchanged bool
	for _, c := range f.Calls() {
		exchanged = exchanged || c.Method == "token" && c.Status == http.StatusOK
		listed = listed || c.Method == "memberships.list" && c.Status == http.StatusOK
	}
	if !exchanged || !listed {
		t.Errorf("accessbot exchanged its key for a token: %v; read prod-admins' members: %v (%+v)", exchanged, listed, f.Calls())
	}
}
