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

	"github.com/accessbot/accessbot/adapters/googlegroups/googlegroupstest"
	"github.com/accessbot/accessbot/config"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
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
	gt.Eventually(t, 30*time.Second, "/readyz to report the missing group", func() bool {
		resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return strings.Contains(body, "missing-group")
	})
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
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
