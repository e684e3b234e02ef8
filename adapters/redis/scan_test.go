package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/redistest"
)

// Against a real Redis, through the standing-privilege scan: a user made by hand with the
// resource's rules (or more) is a finding; a user with less is not listed; the bot's own user is
// not listed; an ignored user is counted, not reported; the user of accessbot's own active grant
// is explained by the grant.
func TestScanFindsAHandMadeUserHoldingTheResourcesRules(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	srv.AddUser(t, "scan-mallory", "pw-scan-mallory-1", grantRules...)
	srv.AddUser(t, "scan-root", "pw-scan-root-1", "+@all", "~*")
	srv.AddUser(t, "scan-ivan", "pw-scan-ivan-1", grantRules...)
	srv.AddUser(t, "scan-ursula", "pw-scan-ursula-1", "~app:*", "+get", "+ping")

	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "redis", a
	r.Accounts = map[string]string{gt.Alice.ID: "alice"}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	// The test server's admin user holds everything: expected standing access, as an operator
	// would list it.
	sc, err := grants.NewScanner(h.Service, grants.ScanOptions{Ignore: map[string][]string{
		"prod-db": {"admin", "scan-ivan"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	g := h.ActiveGrant(time.Hour)
	t.Cleanup(func() {
		if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err == nil {
			h.RunDue()
		}
	})
	name, err := a.UserName("alice", g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !userExists(t, srv, name) {
		t.Fatal("the grant made no user")
	}

	rep, err := sc.Scan(h.Ctx, grants.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if errs := rep.Errors(); len(errs) > 0 {
		t.Fatalf("scan errors: %v", errs)
	}
	var got []string
	for _, f := range rep.Findings() {
		got = append(got, f.Account+"/"+f.Reason)
	}
	if want := []string{"scan-mallory/no_grant", "scan-root/no_grant"}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	// alice's grant, mallory, root, and admin and ivan ignored; ursula and the bot are not
	// holders.
	if res := rep.Resources[0]; res.Holders != 5 || res.Ignored != 2 {
		t.Errorf("%d holders, %d ignored; want 5 (alice, scan-mallory, scan-root, admin, scan-ivan) and 2", res.Holders, res.Ignored)
	}
}
