package slapdtest_test

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/accessbot/accessbot/internal/slapdtest"
)

func TestMain(m *testing.M) { slapdtest.Main(m) }

func TestSharedServerHasTheSuffixAndItsOrganizationalUnits(t *testing.T) {
	srv := slapdtest.Shared(t)
	res, err := srv.Admin(t).Search(ldap.NewSearchRequest(slapdtest.Suffix, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=organizationalUnit)", []string{"ou"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	var ous []string
	for _, e := range res.Entries {
		ous = append(ous, e.GetAttributeValue("ou"))
	}
	slices.Sort(ous)
	if !slices.Equal(ous, []string{"groups", "people", "services"}) {
		t.Fatalf("organizational units = %v, want groups, people, services", ous)
	}
	if slapdtest.Shared(t) != srv {
		t.Error("Shared started a second server")
	}
}

func TestPeopleBindWithTheirPasswordAndEntriesGoAwayWithTheirTest(t *testing.T) {
	srv := slapdtest.Shared(t)
	var dn string
	t.Run("inner", func(t *testing.T) {
		dn = srv.AddPerson(t, "alice", "alice-pw")
		if _, err := srv.Bind(t, dn, "alice-pw"); err != nil {
			t.Fatalf("bind as alice: %v", err)
		}
		if _, err := srv.Bind(t, dn, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Fatalf("bind with a wrong password = %v, want invalid credentials", err)
		}
	})
	res, err := srv.Admin(t).Search(ldap.NewSearchRequest(slapdtest.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
		0, 10, false, "(uid=alice)", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 0 {
		t.Fatalf("%s survived the end of its test", dn)
	}
}

func TestGroupsOfEachKindHoldTheirMembers(t *testing.T) {
	srv := slapdtest.Shared(t)
	alice := srv.AddPerson(t, "alice2", "")
	for _, tt := range []struct {
		class, attr, member string
	}{
		{"groupOfNames", "member", alice},
		{"groupOfUniqueNames", "uniqueMember", alice},
		{"posixGroup", "memberUid", "alice2"},
	} {
		dn := srv.AddGroup(t, "g-"+tt.class, tt.class, tt.member)
		if got := srv.Members(t, dn, tt.attr); !slices.Equal(got, []string{tt.member}) {
			t.Errorf("%s %s = %v, want [%s]", tt.class, tt.attr, got, tt.member)
		}
	}
}

func TestSetAccessChangesTheRulesUntilTheTestEnds(t *testing.T) {
	srv := slapdtest.Start(t)
	dn := srv.AddPerson(t, "bob", "bob-pw")
	readPeople := func(t *testing.T) int {
		conn, err := srv.Bind(t, dn, "bob-pw")
		if err != nil {
			t.Fatalf("bind as bob: %v", err)
		}
		res, err := conn.Search(ldap.NewSearchRequest(slapdtest.PeopleDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			0, 10, false, "(objectClass=*)", nil, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Fatal(err)
		}
		if res == nil {
			return 0
		}
		return len(res.Entries)
	}
	if n := readPeople(t); n != 1 {
		t.Fatalf("with the default rules bob reads %d people, want 1", n)
	}
	t.Run("restricted", func(t *testing.T) {
		srv.SetAccess(t, "to attrs=userPassword by anonymous auth by * none", "to * by * none")
		if n := readPeople(t); n != 0 {
			t.Fatalf("with 'to * by * none' bob reads %d people, want 0", n)
		}
	})
	if n := readPeople(t); n != 1 {
		t.Fatalf("after the test the default rules are not back: bob reads %d people", n)
	}
}

func TestRestartKeepsTheData(t *testing.T) {
	srv := slapdtest.Start(t)
	dn := srv.AddPerson(t, "carol", "carol-pw")
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Bind(t, dn, "carol-pw"); err != nil {
		t.Fatalf("bind after restart: %v", err)
	}
}

func TestTLSServerSpeaksLDAPSAndStartTLSWithItsCA(t *testing.T) {
	srv := slapdtest.StartWith(t, slapdtest.Options{TLS: true})
	if srv.TLS == nil || srv.LDAPSURL == "" {
		t.Fatal("a TLS server has no TLS files or ldaps URL")
	}
	conn, err := ldap.DialURL(srv.LDAPSURL, ldap.DialWithTLSConfig(srv.ClientTLS()))
	if err != nil {
		t.Fatalf("dial %s: %v", srv.LDAPSURL, err)
	}
	defer conn.Close()
	if err := conn.Bind(slapdtest.RootDN, srv.RootPassword); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}
	plain, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.StartTLS(srv.ClientTLS()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := plain.Bind(slapdtest.RootDN, srv.RootPassword); err != nil {
		t.Fatalf("bind after StartTLS: %v", err)
	}
	untrusting, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	if err := untrusting.StartTLS(&tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Fatal("StartTLS succeeded without trusting the server's CA")
	}
}
