package mysql_test

import (
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// Against a real MariaDB, through the standing-privilege scan: a user made by hand with the
// resource's privileges is a finding; a user with other privileges is not listed; the bot's own
// login is not listed; an ignored user is counted, not reported; the user of accessbot's own
// active grant is explained by the grant.
func TestScanFindsAHandMadeUserWithTheResourcesPrivileges(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withGrants)
	hand := func(name string, grants ...string) string {
		user := name + "_" + e.sfx
		e.exec(t, "CREATE USER '"+user+"'@'%'")
		e.track("'" + user + "'@'%'")
		for _, g := range grants {
			e.exec(t, "GRANT "+g+" TO '"+user+"'@'%'")
		}
		return user
	}
	mallory := hand("mallory", "SELECT ON `"+e.db+"`.*", "INSERT ON `"+e.db+"`.orders")
	ivan := hand("ivan", "SELECT ON `"+e.db+"`.*")
	hand("ursula", "UPDATE ON `"+e.db+"`.customers")

	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "mysql", a
	alice := "alice_" + e.sfx
	r.Accounts = map[string]string{gt.Alice.ID: alice}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	// The test server's installation accounts hold every privilege: expected standing access,
	// as an operator would list them.
	sc, err := grants.NewScanner(h.Service, grants.ScanOptions{Ignore: map[string][]string{
		"prod-db": {"root", "mysql", "mariadb.sys", "ivan_*"},
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
	if !e.userExists(t, userName(t, alice, g.ID)) {
		t.Fatalf("the grant made no user")
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
	if want := []string{mallory + "/no_grant"}; !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	res := rep.Resources[0]
	if res.Ignored < 2 {
		t.Errorf("%d ignored holders, want at least root and %s", res.Ignored, ivan)
	}
	// alice's grant, mallory, and the ignored ones; ursula and the bot are not holders.
	if want := 2 + res.Ignored; res.Holders != want {
		t.Errorf("%d holders, want %d (alice, mallory and %d ignored)", res.Holders, want, res.Ignored)
	}
}
