package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/dextest"
)

// The whole path as wired: an Approve click on a step_up: oidc resource answers with a link to
// this accessbot's /stepup/start; the browser logs in at Dex; /stepup/callback records the
// approval, and the grant follows.
func TestAStepUpApprovalThroughTheWiredApp(t *testing.T) {
	var mux atomic.Pointer[http.ServeMux]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := mux.Load(); m != nil {
			m.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	dex := dextest.Start(t, dextest.Options{RedirectURI: srv.URL + "/stepup/callback",
		Users: []dextest.User{{Email: "bob@example.com", Password: "bob-pw"}}})

	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: prod-db
    adapter: {type: exec, command: /bin/true}
    step_up: oidc
    policy:
      approvers: [leads]
oidc:
  issuer: "` + dex.Issuer + `"
  client_id: "` + dex.ClientID + `"
  client_secret: "${OIDC_SECRET}"
  redirect_url: "` + srv.URL + `/stepup/callback"
  auth_time_from_iat: true
`
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(k string) (string, bool) {
		if k == "OIDC_SECRET" {
			return dex.ClientSecret, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mux.Store(a.Mux())

	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice", Platform: "web", PlatformID: "alice"}
	bob := grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Name: "Bob", Platform: "web", PlatformID: "bob"}
	out, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	reply := a.Bot.Act(ctx, bob, bot.Action{ID: bot.ActionApprove, Value: out.Request.ID})
	if reply.View == nil || !reply.Private {
		t.Fatalf("the click answered %+v", reply)
	}
	link := regexp.MustCompile(`https?://\S+/stepup/start\?s=\S+`).FindString(reply.View.Text)
	if !strings.HasPrefix(link, srv.URL+"/stepup/start?s=") {
		t.Fatalf("no step-up link in %q", reply.View.Text)
	}
	browser := dextest.Browser(srv.URL + "/stepup/callback")
	cb, err := dextest.Login(ctx, browser, link, "bob@example.com", "bob-pw")
	if err != nil {
		t.Fatalf("log in at Dex: %v\n%s", err, dex.Log())
	}
	resp, err := browser.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "is recorded") {
		t.Fatalf("callback answered %d: %s", resp.StatusCode, page)
	}
	req, err := a.Service.GetRequest(ctx, out.Request.ID)
	if err != nil || req.State != grants.RequestApproved {
		t.Fatalf("request %+v, %v; want approved", req.State, err)
	}
	var approved []audit.Event
	if err := a.DB.ScanAudit(ctx, audit.Filter{}, func(e audit.Event) error {
		if e.Type == audit.ReviewApproved {
			approved = append(approved, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(approved) != 1 || approved[0].Data[audit.KeyStepUpIssuer] != dex.Issuer || approved[0].Data[audit.KeyStepUpSubject] == "" {
		t.Errorf("review.approved = %+v", approved)
	}
}
