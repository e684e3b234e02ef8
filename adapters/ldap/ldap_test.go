package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/internal/slapdtest"
)

func TestMain(m *testing.M) { slapdtest.Main(m) }

const (
	botPassword = "bot-password-that-must-never-leak-5d1e"
	userDN      = "uid={{.Account}}," + slapdtest.PeopleDN
	userFilter  = "(&(objectClass=inetOrgPerson)(uid={{.Account}}))"
	placeholder = "cn=placeholder," + slapdtest.GroupsDN
)

const passwordRule = "to attrs=userPassword by anonymous auth by * none"

// leastAccess are the olcAccess rules a bot needs and nothing more: write on the member
// attribute of its group and on description, where grants are counted (Grant, Revoke, which
// read both first), read on the group entry and its object classes (every call), and, for user_search, read on the people entries and search on the attributes its
// filter uses (uid, objectClass). "by * break" lets
// the rules that follow apply to everyone else.
func leastAccess(bot, group, attr string, search bool) []string {
	by := fmt.Sprintf("by dn.exact=%q", bot)
	rules := []string{
		fmt.Sprintf("to dn.base=%q attrs=%s,description %s write by * break", group, attr, by),
		fmt.Sprintf("to dn.base=%q attrs=entry,objectClass %s read by * break", group, by),
	}
	if search {
		rules = append(rules,
			fmt.Sprintf("to dn.subtree=%q attrs=entry %s read by * break", slapdtest.PeopleDN, by),
			fmt.Sprintf("to dn.one=%q attrs=uid,objectClass %s search by * break", slapdtest.PeopleDN, by))
	}
	return rules
}

// people adds directory entries for the kit's subjects, once each, for as long as t runs.
type people struct {
	t     *testing.T
	srv   *slapdtest.Server
	mu    sync.Mutex
	added map[string]bool
}

func (p *people) subject(name string) adapters.Subject {
	s := adaptertest.Subject(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.added[s.Account] {
		p.srv.AddPerson(p.t, s.Account, "")
		p.added[s.Account] = true
	}
	return s
}

func newAdapter(t testing.TB, cfg *Config) *LDAP {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: "directory", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return a.(*LDAP)
}

func baseConfig(srv *slapdtest.Server, bot, group string) *Config {
	cfg := NewConfig()
	cfg.URL = srv.URL
	cfg.BindDN = bot
	cfg.BindPassword = botPassword
	cfg.GroupDN = group
	cfg.UserDN = userDN
	cfg.Timeout = 5 * time.Second
	return cfg
}

// isMember asks the directory, as its root, whether value is in attr of group: a search with the
// value in the filter, as a client checking membership would make.
func isMember(t *testing.T, srv *slapdtest.Server, group, attr, value string) bool {
	t.Helper()
	res, err := srv.Admin(t).Search(goldap.NewSearchRequest(group, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, fmt.Sprintf("(%s=%s)", attr, goldap.EscapeFilter(value)), []string{"1.1"}, nil))
	if err != nil {
		t.Fatalf("search %s for %s=%s: %v", group, attr, value, err)
	}
	return len(res.Entries) == 1
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestLDAPPassesTheConformanceKit(t *testing.T) {
	srv := slapdtest.Shared(t)
	for _, tt := range []struct {
		name, class, attr string
		search            bool
	}{
		{"groupOfNames with a DN template", "groupOfNames", "member", false},
		{"groupOfUniqueNames with a user search", "groupOfUniqueNames", "uniqueMember", true},
		{"posixGroup with memberUid", "posixGroup", "memberUid", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bot := srv.AddService(t, "accessbot-"+tt.attr, botPassword)
			var seed []string
			if tt.attr != "memberUid" {
				seed = []string{placeholder}
			}
			group := srv.AddGroup(t, "kit-"+tt.attr, tt.class, seed...)
			srv.SetAccess(t, append(append([]string{passwordRule}, leastAccess(bot, group, tt.attr, tt.search)...), "to * by * none")...)

			cfg := baseConfig(srv, bot, group)
			cfg.MemberAttribute = tt.attr
			switch {
			case tt.attr == "memberUid":
				cfg.UserDN = ""
			case tt.search:
				cfg.UserDN = ""
				cfg.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: userFilter}
				cfg.PlaceholderMember = placeholder
			default:
				cfg.PlaceholderMember = placeholder
			}
			a := newAdapter(t, cfg)
			p := &people{t: t, srv: srv, added: map[string]bool{}}
			value := func(s adapters.Subject) string {
				if tt.attr == "memberUid" {
					return s.Account
				}
				return slapdtest.PersonDN(s.Account)
			}
			adaptertest.Run(t, adaptertest.Harness{
				Adapter:  a,
				Resource: "directory", // the adapter's own name: List reports this resource's grants
				Subject:  p.subject,
				Has: func(t *testing.T, s adapters.Subject, _ string) bool {
					return isMember(t, srv, group, tt.attr, value(s))
				},
				Lister: true,
			})
		})
	}
}

func grantRequest(account, grantID string) adapters.GrantRequest {
	now := time.Now()
	return adapters.GrantRequest{
		GrantID: grantID, Resource: "directory", Reason: "test",
		Subject: adapters.Subject{ID: account + "@example.com", Email: account + "@example.com", Account: account},
		Start:   now, Expires: now.Add(time.Hour),
	}
}

func revokeRequest(req adapters.GrantRequest, lease adapters.Lease) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
}

// The bot needs read on the group entry and write on member and description (where grants are
// counted) and nothing else.
func TestABotWithTheLeastAccessCanGrantAndRevoke(t *testing.T) {
	srv := slapdtest.Start(t)
	bot := srv.AddService(t, "accessbot", botPassword)
	alice := srv.AddPerson(t, "alice", "")
	standing := srv.AddPerson(t, "standing", "")
	group := srv.AddGroup(t, "ops", "groupOfNames", standing)
	other := srv.AddGroup(t, "other", "groupOfNames", standing)
	writeMember := fmt.Sprintf("to dn.base=%q attrs=member by dn.exact=%q write by * none", group, bot)
	srv.SetAccess(t, passwordRule, writeMember, "to * by * none")
	a := newAdapter(t, baseConfig(srv, bot, group))

	t.Run("write on member alone is not enough: grants are counted on the group", func(t *testing.T) {
		if _, err := a.Grant(ctx(t), grantRequest("alice", "g-blind")); !adapters.IsPermanent(err) {
			t.Fatalf("grant without read on the group = %v, want a permanent error", err)
		}
		if _, err := a.List(ctx(t)); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "may not read") {
			t.Fatalf("list without read on the entry = %v, want a permanent error saying the bot may not read the group", err)
		}
	})

	srv.SetAccess(t, append(append([]string{passwordRule}, leastAccess(bot, group, "member", false)...), "to * by * none")...)
	req := grantRequest("alice", "g-least")
	lease, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatalf("grant with the least access: %v", err)
	}
	if !isMember(t, srv, group, "member", alice) {
		t.Fatal("alice is not a member after the grant")
	}
	if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
		t.Fatalf("revoke with the least access: %v", err)
	}
	if isMember(t, srv, group, "member", alice) {
		t.Fatal("alice is still a member after the revoke")
	}

	t.Run("nothing else is writable", func(t *testing.T) {
		conn, err := srv.Bind(t, bot, botPassword)
		if err != nil {
			t.Fatal(err)
		}
		for _, mod := range []*goldap.ModifyRequest{
			func() *goldap.ModifyRequest {
				m := goldap.NewModifyRequest(group, nil)
				m.Add("owner", []string{alice})
				return m
			}(),
			func() *goldap.ModifyRequest {
				m := goldap.NewModifyRequest(other, nil)
				m.Add("member", []string{alice})
				return m
			}(),
		} {
			if err := conn.Modify(mod); !goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights) {
				t.Errorf("modify %s %s as the bot = %v, want insufficient access", mod.DN, mod.Changes[0].Modification.Type, err)
			}
		}
	})

	t.Run("check and list work with the least access", func(t *testing.T) {
		if err := a.Check(ctx(t)); err != nil {
			t.Fatalf("check with the least access: %v", err)
		}
		list, err := a.List(ctx(t))
		if err != nil {
			t.Fatalf("list with the least access: %v", err)
		}
		if len(list) != 1 || list[0].Account != "standing" || list[0].GrantID != "" {
			t.Fatalf("list = %+v, want the standing member", list)
		}
	})

	t.Run("a user search needs read on people and search on the filter's attributes", func(t *testing.T) {
		cfg := baseConfig(srv, bot, group)
		cfg.UserDN = ""
		cfg.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: userFilter}
		s := newAdapter(t, cfg)
		srv.SetAccess(t, append(append([]string{passwordRule}, leastAccess(bot, group, "member", false)...), "to * by * none")...)
		if _, err := s.Grant(ctx(t), grantRequest("alice", "g-search")); !adapters.IsPermanent(err) {
			t.Fatalf("grant by search without access to people = %v, want permanent", err)
		}
		srv.SetAccess(t, append(append([]string{passwordRule}, leastAccess(bot, group, "member", true)...), "to * by * none")...)
		req := grantRequest("alice", "g-search")
		lease, err := s.Grant(ctx(t), req)
		if err != nil {
			t.Fatalf("grant by search with the least access: %v", err)
		}
		if err := s.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
			t.Fatal(err)
		}
	})
}

// rootConfig is a config whose bot is the directory's root, for tests about something else than
// access rules.
func rootConfig(srv *slapdtest.Server, group string) *Config {
	cfg := baseConfig(srv, slapdtest.RootDN, group)
	cfg.BindPassword = Password(srv.RootPassword)
	return cfg
}

func TestInjectionAttemptsAreRefusedBeforeReachingTheDirectory(t *testing.T) {
	srv := slapdtest.Shared(t)
	standing := srv.AddPerson(t, "standing2", "")
	group := srv.AddGroup(t, "inject", "groupOfNames", standing)
	srv.AddPerson(t, "x", "")
	template := newAdapter(t, rootConfig(srv, group))
	searchCfg := rootConfig(srv, group)
	searchCfg.UserDN = ""
	searchCfg.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: userFilter}
	search := newAdapter(t, searchCfg)
	uidCfg := rootConfig(srv, srv.AddGroup(t, "inject-posix", "posixGroup"))
	uidCfg.UserDN, uidCfg.MemberAttribute = "", "memberUid"
	uid := newAdapter(t, uidCfg)

	accounts := []string{"x)(uid=*", "*", ",dc=evil", "x,dc=evil", "x,ou=people,dc=example,dc=org", "uid=x", "x+cn=y",
		"x;y", `x\2c`, "x\x00", " x", "#x", "x y", "(x)", "x\n", ""}
	for _, a := range []*LDAP{template, search, uid} {
		for _, account := range accounts {
			_, err := a.Grant(ctx(t), grantRequest(account, "g-inject"))
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "not a valid directory account") {
				t.Errorf("%s: grant for account %q = %v, want a permanent refusal of the account", a.attr, account, err)
			}
			err = a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: "g-inject", Subject: adapters.Subject{Account: account}})
			if !adapters.IsPermanent(err) {
				t.Errorf("%s: revoke for account %q = %v, want permanent", a.attr, account, err)
			}
		}
	}
	if got := srv.Members(t, group, "member"); !slices.Equal(got, []string{standing}) {
		t.Fatalf("members after injection attempts = %v, want only %s", got, standing)
	}
}

func TestValuesPutIntoTemplatesAreEscaped(t *testing.T) {
	dnt, err := newDNTemplate("uid={{.Account}},ou=people,dc=example,dc=org")
	if err != nil {
		t.Fatal(err)
	}
	for account, want := range map[string]string{
		",dc=evil":    `uid=\,dc=evil,ou=people,dc=example,dc=org`,
		"x+cn=admin":  `uid=x\+cn=admin,ou=people,dc=example,dc=org`,
		"#x":          `uid=\#x,ou=people,dc=example,dc=org`,
		`a\,b`:        `uid=a\\\,b,ou=people,dc=example,dc=org`,
		"jane.doe-99": `uid=jane.doe-99,ou=people,dc=example,dc=org`,
	} {
		got, err := dnt.dn(adapters.Subject{Account: account})
		if err != nil {
			t.Errorf("dn for %q: %v", account, err)
			continue
		}
		if got != want {
			t.Errorf("dn for %q = %s, want %s", account, got, want)
		}
		if back, ok := dnt.account(got); !ok || back != account {
			t.Errorf("account read back from %s = %q, %t; want %q", got, back, ok, account)
		}
	}

	ft, err := newFilterTemplate("(|(uid={{.Account}})(mail={{.Email}}))")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ft.render(adapters.Subject{Account: "x)(uid=*", Email: "*)(objectClass=*"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `(|(uid=x\29\28uid=\2a)(mail=\2a\29\28objectClass=\2a))`; got != want {
		t.Errorf("filter = %s, want %s", got, want)
	}
}

func TestASearchByEmailWithAWildcardMatchesNobody(t *testing.T) {
	srv := slapdtest.Shared(t)
	srv.AddPerson(t, "wild1", "")
	srv.AddPerson(t, "wild2", "")
	group := srv.AddGroup(t, "wild", "groupOfNames", placeholder)
	cfg := rootConfig(srv, group)
	cfg.UserDN = ""
	cfg.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: "(mail={{.Email}})"}
	a := newAdapter(t, cfg)
	req := grantRequest("wild1", "g-wild")
	req.Subject.Email = "wild*"
	if _, err := a.Grant(ctx(t), req); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "no entry matches") {
		t.Fatalf("grant with email %q = %v, want a permanent 'no entry matches' (the * must be a literal)", req.Subject.Email, err)
	}
	req.Subject.Email = "wild1@example.com"
	if _, err := a.Grant(ctx(t), req); err != nil {
		t.Fatalf("grant with the real email: %v", err)
	}
	if !isMember(t, srv, group, "member", slapdtest.PersonDN("wild1")) {
		t.Fatal("wild1 is not a member")
	}
}

func TestUserSearchNeedsExactlyOneEntry(t *testing.T) {
	srv := slapdtest.Shared(t)
	group := srv.AddGroup(t, "one", "groupOfNames", placeholder)
	for _, uid := range []string{"twin1", "twin2"} {
		srv.AddEntry(t, slapdtest.PersonDN(uid), map[string][]string{
			"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {"twin"}, "sn": {"twin"},
		})
	}
	cfg := rootConfig(srv, group)
	cfg.UserDN = ""
	cfg.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: "(cn={{.Account}})"}
	a := newAdapter(t, cfg)
	if _, err := a.Grant(ctx(t), grantRequest("twin", "g-twins")); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "more than one") {
		t.Errorf("grant matching two people = %v, want a permanent 'more than one'", err)
	}
	if _, err := a.Grant(ctx(t), grantRequest("nobody", "g-nobody")); !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "no entry matches") {
		t.Errorf("grant matching nobody = %v, want a permanent 'no entry matches'", err)
	}
	if got := srv.Members(t, group, "member"); !slices.Equal(got, []string{placeholder}) {
		t.Errorf("members = %v, want only the placeholder", got)
	}
}

func TestRevokeByLeaseWorksAfterThePersonLeftTheDirectory(t *testing.T) {
	srv := slapdtest.Shared(t)
	group := srv.AddGroup(t, "leaver", "groupOfNames", placeholder)
	cfg := rootConfig(srv, group)
	cfg.UserDN = ""
	cfg.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: userFilter}
	a := newAdapter(t, cfg)

	var req adapters.GrantRequest
	var lease adapters.Lease
	t.Run("grant while the person exists", func(t *testing.T) {
		srv.AddPerson(t, "leaver", "")
		req = grantRequest("leaver", "g-leaver")
		var err error
		if lease, err = a.Grant(ctx(t), req); err != nil {
			t.Fatal(err)
		}
	})
	dn := slapdtest.PersonDN("leaver")
	if !isMember(t, srv, group, "member", dn) {
		t.Fatal("the leaver is not a member")
	}
	if err := a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject}); err != nil {
		t.Fatalf("revoke without lease data for a person the search cannot find = %v, want nil", err)
	}
	if !isMember(t, srv, group, "member", dn) {
		t.Fatal("revoke without lease data removed a member it could not identify")
	}
	if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
		t.Fatalf("revoke with lease data: %v", err)
	}
	if isMember(t, srv, group, "member", dn) {
		t.Fatal("the leaver's DN is still in the group after a revoke with the lease")
	}
}

func TestRemovingTheLastMember(t *testing.T) {
	srv := slapdtest.Shared(t)
	dn := srv.AddPerson(t, "last", "")
	// lastMember makes a group whose only member is "last", through a grant: the group starts
	// with a seed member (the schema wants one), the grant adds "last", the seed is taken out.
	lastMember := func(t *testing.T, name, class, attr string, edit func(*Config)) (*LDAP, string, adapters.GrantRequest, adapters.Lease) {
		seed := srv.AddPerson(t, "seed-"+name, "")
		group := srv.AddGroup(t, name, class, seed)
		cfg := rootConfig(srv, group)
		cfg.MemberAttribute = attr
		if edit != nil {
			edit(cfg)
		}
		a := newAdapter(t, cfg)
		req := grantRequest("last", "g-last")
		lease, err := a.Grant(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		mod := goldap.NewModifyRequest(group, nil)
		mod.Delete(attr, []string{seed})
		if err := srv.Admin(t).Modify(mod); err != nil {
			t.Fatal(err)
		}
		return a, group, req, lease
	}
	for _, tt := range []struct{ class, attr string }{{"groupOfNames", "member"}, {"groupOfUniqueNames", "uniqueMember"}} {
		t.Run(tt.class+" without a placeholder fails with a clear permanent error", func(t *testing.T) {
			a, group, req, lease := lastMember(t, "solo-"+tt.attr, tt.class, tt.attr, nil)
			err := a.Revoke(ctx(t), revokeRequest(req, lease))
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "placeholder_member") {
				t.Fatalf("revoke of the last member = %v, want a permanent error naming placeholder_member", err)
			}
			if !isMember(t, srv, group, tt.attr, dn) {
				t.Fatal("the member is gone although the revoke failed")
			}
		})
		t.Run(tt.class+" with a placeholder swaps it in", func(t *testing.T) {
			a, group, req, lease := lastMember(t, "solo2-"+tt.attr, tt.class, tt.attr, func(c *Config) { c.PlaceholderMember = placeholder })
			if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
				t.Fatal(err)
			}
			if got := srv.Members(t, group, tt.attr); !slices.Equal(got, []string{placeholder}) {
				t.Fatalf("members = %v, want only the placeholder", got)
			}
			if list, err := a.List(ctx(t)); err != nil || len(list) != 0 {
				t.Fatalf("list = %+v, %v; want nothing (the placeholder is not access)", list, err)
			}
			// Granting again leaves the placeholder where it is: it is harmless and keeps the
			// next revoke from needing it again.
			if _, err := a.Grant(ctx(t), grantRequest("last", "g-last2")); err != nil {
				t.Fatal(err)
			}
			if got := srv.Members(t, group, tt.attr); len(got) != 2 {
				t.Fatalf("members after a new grant = %v, want the placeholder and the person", got)
			}
		})
	}
}

// Two resources share one group. Revoking one grant used to remove the person while the other
// grant still needed the membership.
func TestGrantsThatShareAGroupAreCounted(t *testing.T) {
	srv := slapdtest.Shared(t)
	bot := srv.AddService(t, "accessbot-shared", botPassword)
	person := srv.AddPerson(t, "shared-user", "")
	group := srv.AddGroup(t, "shared", "groupOfNames", placeholder)
	srv.SetAccess(t, append(append([]string{passwordRule}, leastAccess(bot, group, "member", false)...), "to * by * none")...)
	cfg := baseConfig(srv, bot, group)
	cfg.PlaceholderMember = placeholder
	first := newAdapter(t, cfg)
	other, err := cfg.New(adapters.Env{Resource: "directory-too", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	second := other.(*LDAP)

	one, two := grantRequest("shared-user", "g-shared-1"), grantRequest("shared-user", "g-shared-2")
	two.Resource = "directory-too"
	oneLease, err := first.Grant(ctx(t), one)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := second.Holds(ctx(t), two.Subject); err != nil || held {
		t.Fatalf("holds = %v, %v: a membership held through a grant counted as standing", held, err)
	}
	if _, err := second.Grant(ctx(t), two); err != nil {
		t.Fatal(err)
	}
	if err := first.Revoke(ctx(t), revokeRequest(one, oneLease)); err != nil {
		t.Fatal(err)
	}
	if !isMember(t, srv, group, "member", person) {
		t.Fatal("revoking the first grant removed the membership the second grant still needs")
	}
	// Each resource's scan reports its own grants.
	list, err := second.List(ctx(t))
	if err != nil || len(list) != 1 || list[0].GrantID != two.GrantID {
		t.Fatalf("list of the second resource = %+v, %v; want the member under the second grant", list, err)
	}
	if list, err := first.List(ctx(t)); err != nil || len(list) != 0 {
		t.Fatalf("list of the first resource = %+v, %v; want nothing (the other resource's grant holds the member)", list, err)
	}
	// The second revocation comes without lease data (a crash before it was stored): the hold
	// on the group is enough.
	if err := second.Revoke(ctx(t), revokeRequest(two, adapters.Lease{})); err != nil {
		t.Fatal(err)
	}
	if isMember(t, srv, group, "member", person) {
		t.Fatal("the person is still a member after the last grant ended")
	}
}

// Two grants racing on one group, from two adapters (two resources): the counter on the group
// makes one of two changes from the same reading fail and retry, so no hold is lost.
func TestConcurrentGrantsAndRevokesOnOneGroupLoseNoHold(t *testing.T) {
	srv := slapdtest.Shared(t)
	group := srv.AddGroup(t, "race", "groupOfNames", placeholder)
	cfg := rootConfig(srv, group)
	cfg.PlaceholderMember = placeholder
	a := newAdapter(t, cfg)
	srv.AddPerson(t, "racer", "")
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Grant(ctx(t), grantRequest("racer", fmt.Sprintf("g-race-%d", i)))
			errs <- err
		}()
	}
	wg.Wait()
	for i := range n - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- a.Revoke(ctx(t), revokeRequest(grantRequest("racer", fmt.Sprintf("g-race-%d", i)), adapters.Lease{}))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !isMember(t, srv, group, "member", slapdtest.PersonDN("racer")) {
		t.Fatal("the membership is gone while one grant of six is still active")
	}
	if err := a.Revoke(ctx(t), revokeRequest(grantRequest("racer", fmt.Sprintf("g-race-%d", n-1)), adapters.Lease{})); err != nil {
		t.Fatal(err)
	}
	if isMember(t, srv, group, "member", slapdtest.PersonDN("racer")) {
		t.Fatal("the membership outlived all six grants")
	}
}

// A member put in the group by hand: accessbot neither adds nor removes them, whatever happens.
func TestAStandingMemberIsNeverGrantedNorRevoked(t *testing.T) {
	srv := slapdtest.Shared(t)
	member := srv.AddPerson(t, "old-timer", "")
	group := srv.AddGroup(t, "standing", "groupOfNames", placeholder, member)
	cfg := rootConfig(srv, group)
	cfg.PlaceholderMember = placeholder
	a := newAdapter(t, cfg)
	req := grantRequest("old-timer", "g-old")

	held, err := a.Holds(ctx(t), req.Subject)
	if err != nil || !held {
		t.Fatalf("holds = %v, %v; want true (the request is answered that the access is there)", held, err)
	}
	// Approved anyway (the membership came between the request and the approval).
	lease, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if lease.Data["preexisting"] != "true" {
		t.Errorf("lease data %v, want preexisting recorded", lease.Data)
	}
	for _, rr := range []adapters.RevokeRequest{revokeRequest(req, lease), revokeRequest(req, adapters.Lease{})} {
		if err := a.Revoke(ctx(t), rr); err != nil {
			t.Fatal(err)
		}
		if !isMember(t, srv, group, "member", member) {
			t.Fatalf("a revocation (lease data %v) removed a member accessbot did not add", rr.Data)
		}
	}
	list, err := a.List(ctx(t))
	if err != nil || len(list) != 1 || list[0].Account != "old-timer" || list[0].GrantID != "" {
		t.Fatalf("list = %+v, %v; want the standing member without a grant", list, err)
	}
	if held, err := a.Holds(ctx(t), grantRequest("nobody-here", "g-x").Subject); err != nil || held {
		t.Fatalf("holds for a non-member = %v, %v; want false", held, err)
	}
}

func TestLeaseDataCannotRedirectARevoke(t *testing.T) {
	srv := slapdtest.Shared(t)
	dn := srv.AddPerson(t, "redirect", "")
	standing := srv.AddPerson(t, "standing3", "")
	group := srv.AddGroup(t, "redirect", "groupOfNames", placeholder, standing)
	other := srv.AddGroup(t, "redirect-other", "groupOfNames", dn)
	cfg := rootConfig(srv, group)
	cfg.PlaceholderMember = placeholder
	a := newAdapter(t, cfg)
	req := grantRequest("redirect", "g-redirect")
	if _, err := a.Grant(ctx(t), req); err != nil {
		t.Fatal(err)
	}

	err := a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject, Data: map[string]string{"member": dn, "group": other}})
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "by hand") {
		t.Fatalf("revoke with another group in the lease = %v, want a permanent error asking for a manual removal", err)
	}
	if isMember(t, srv, group, "member", dn) {
		t.Error("the member was not removed from the configured group")
	}
	if !isMember(t, srv, other, "member", dn) {
		t.Error("the group named only by lease data was changed")
	}

	err = a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject, Data: map[string]string{"member": placeholder}})
	if !adapters.IsPermanent(err) {
		t.Fatalf("revoke naming the placeholder in lease data = %v, want permanent", err)
	}
	if !isMember(t, srv, group, "member", placeholder) || !isMember(t, srv, group, "member", standing) {
		t.Error("lease data took the placeholder or a standing member out of the group")
	}
}

func TestListReadsAccountsOutOfMemberDNs(t *testing.T) {
	srv := slapdtest.Shared(t)
	outsider := "cn=Jane Doe,ou=contractors," + slapdtest.Suffix
	group := srv.AddGroup(t, "listing", "groupOfNames", placeholder, slapdtest.PersonDN("jane.doe"), outsider)
	cfg := rootConfig(srv, group)
	cfg.PlaceholderMember = placeholder
	list, err := newAdapter(t, cfg).List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, a := range list {
		accounts = append(accounts, a.Account)
		if !strings.Contains(a.Detail, group) {
			t.Errorf("detail %q does not name the group", a.Detail)
		}
	}
	slices.Sort(accounts)
	if !slices.Equal(accounts, []string{"Jane Doe", "jane.doe"}) {
		t.Fatalf("accounts = %v, want jane.doe (from the template) and Jane Doe (first RDN of a DN of another shape)", accounts)
	}
}

func TestCheckAndErrorKinds(t *testing.T) {
	srv := slapdtest.Shared(t)
	group := srv.AddGroup(t, "check", "groupOfNames", placeholder)
	t.Run("passes for a bot that can read the group", func(t *testing.T) {
		if err := newAdapter(t, rootConfig(srv, group)).Check(ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a wrong bind password is permanent and not quoted", func(t *testing.T) {
		cfg := rootConfig(srv, group)
		cfg.BindPassword = "wrong-bind-password-q7"
		a := newAdapter(t, cfg)
		for what, err := range map[string]error{
			"check": a.Check(ctx(t)),
			"grant": func() error { _, err := a.Grant(ctx(t), grantRequest("x", "g-x")); return err }(),
		} {
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "Invalid Credentials") {
				t.Errorf("%s = %v, want a permanent invalid-credentials error", what, err)
			}
			if err != nil && strings.Contains(err.Error(), "wrong-bind-password-q7") {
				t.Errorf("%s error quotes the password: %v", what, err)
			}
		}
	})
	t.Run("a missing group is permanent", func(t *testing.T) {
		err := newAdapter(t, rootConfig(srv, "cn=nope,"+slapdtest.GroupsDN)).Check(ctx(t))
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("check = %v, want a permanent 'does not exist'", err)
		}
	})
	t.Run("a server that is not there is retryable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cfg := rootConfig(srv, group)
		cfg.URL = "ldap://" + addr
		a := newAdapter(t, cfg)
		for what, err := range map[string]error{
			"check":  a.Check(ctx(t)),
			"grant":  func() error { _, err := a.Grant(ctx(t), grantRequest("x", "g-x")); return err }(),
			"revoke": a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: "g-x", Subject: adapters.Subject{Account: "x"}}),
			"list":   func() error { _, err := a.List(ctx(t)); return err }(),
		} {
			if err == nil || adapters.IsPermanent(err) {
				t.Errorf("%s against a closed port = %v, want retryable", what, err)
			}
		}
	})
	t.Run("a server that never answers is cut off at the timeout and retryable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				// Hold the connection open and say nothing, until the listener closes.
				defer c.Close()
			}
		}()
		cfg := rootConfig(srv, group)
		cfg.URL = "ldap://" + l.Addr().String()
		cfg.Timeout = 300 * time.Millisecond
		start := time.Now()
		err = newAdapter(t, cfg).Check(ctx(t))
		if err == nil || adapters.IsPermanent(err) {
			t.Fatalf("check against a silent server = %v, want retryable", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("check took %s with a 300ms timeout", took)
		}
	})
}

func TestTLS(t *testing.T) {
	srv := slapdtest.StartWith(t, slapdtest.Options{TLS: true})
	dn := srv.AddPerson(t, "tls", "")
	group := srv.AddGroup(t, "tls", "groupOfNames", placeholder)
	for _, tt := range []struct {
		name     string
		edit     func(*Config)
		wantKind adapters.Kind
	}{
		{"ldaps with the CA works", func(c *Config) { c.URL = srv.LDAPSURL }, 0},
		{"start_tls with the CA works", func(c *Config) { c.StartTLS = true }, 0},
		{"ldaps without the CA is permanent", func(c *Config) { c.URL = srv.LDAPSURL; c.TLS.CAFile = "" }, adapters.Permanent},
		{"start_tls without the CA is permanent", func(c *Config) { c.StartTLS = true; c.TLS.CAFile = "" }, adapters.Permanent},
		{"ldaps with the wrong server name is permanent", func(c *Config) { c.URL = srv.LDAPSURL; c.TLS.ServerName = "ldap.example.org" }, adapters.Permanent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rootConfig(srv, group)
			cfg.TLS.CAFile = srv.TLS.CAFile
			cfg.PlaceholderMember = placeholder
			tt.edit(cfg)
			a := newAdapter(t, cfg)
			req := grantRequest("tls", "g-tls")
			lease, err := a.Grant(ctx(t), req)
			if tt.wantKind != 0 {
				if err == nil || adapters.KindOf(err) != tt.wantKind {
					t.Fatalf("grant = %v, want a %s error", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !isMember(t, srv, group, "member", dn) {
				t.Fatal("not a member after a grant over TLS")
			}
			if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func validConfig() *Config {
	c := NewConfig()
	c.URL = "ldaps://ldap.example.org"
	c.BindDN = "cn=accessbot,ou=services,dc=example,dc=org"
	c.BindPassword = botPassword
	c.GroupDN = "cn=ops,ou=groups,dc=example,dc=org"
	c.UserDN = userDN
	return c
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	typ, ok := adapters.Lookup("ldap")
	if !ok {
		t.Fatal("ldap is not registered")
	}
	def := typ.NewConfig().(*Config)
	if def.MemberAttribute != "member" || def.Timeout != 10*time.Second || def.DialTimeout != 5*time.Second {
		t.Errorf("defaults = %s; want member, 10s, dial 5s", def)
	}
	search := &SearchConfig{Base: slapdtest.PeopleDN, Filter: userFilter}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"a complete config is valid", func(c *Config) {}, ""},
		{"ldap with start_tls is valid", func(c *Config) { c.URL = "ldap://ldap.example.org:389"; c.StartTLS = true }, ""},
		{"plain ldap to the loopback is valid", func(c *Config) { c.URL = "ldap://127.0.0.1:3890" }, ""},
		{"plain ldap elsewhere is refused", func(c *Config) { c.URL = "ldap://ldap.example.org" }, "in the clear"},
		{"plain ldap elsewhere is allowed when asked", func(c *Config) { c.URL = "ldap://ldap.example.org"; c.AllowPlaintext = true }, ""},
		{"start_tls on ldaps is refused", func(c *Config) { c.StartTLS = true }, "start_tls"},
		{"a missing url is refused", func(c *Config) { c.URL = "" }, "url is required"},
		{"an http url is refused", func(c *Config) { c.URL = "http://ldap.example.org" }, "scheme"},
		{"a url with a password is refused", func(c *Config) { c.URL = "ldaps://u:p@ldap.example.org" }, "scheme://host"},
		{"a missing bind dn is refused", func(c *Config) { c.BindDN = "" }, "bind_dn is required"},
		{"a bind dn that is not a DN is refused", func(c *Config) { c.BindDN = "accessbot" }, "bind_dn is not a DN"},
		{"a missing password is refused", func(c *Config) { c.BindPassword = "" }, "bind_password is required"},
		{"a missing group is refused", func(c *Config) { c.GroupDN = "" }, "group_dn is required"},
		{"an unknown member attribute is refused", func(c *Config) { c.MemberAttribute = "owner" }, "member_attribute"},
		{"uniqueMember in any case is valid", func(c *Config) { c.MemberAttribute = "UNIQUEMEMBER" }, ""},
		{"neither template nor search is refused", func(c *Config) { c.UserDN = "" }, "exactly one"},
		{"both template and search are refused", func(c *Config) { c.UserSearch = search }, "exactly one"},
		{"a search alone is valid", func(c *Config) { c.UserDN = ""; c.UserSearch = search }, ""},
		{"a template without the account is refused", func(c *Config) { c.UserDN = "uid=bob,dc=example,dc=org" }, "same DN for everyone"},
		{"a template with an unknown field is refused", func(c *Config) { c.UserDN = "uid={{.Name}},dc=x" }, "Name"},
		{"a template that renders no DN is refused", func(c *Config) { c.UserDN = "{{.Account}}" }, "does not render a DN"},
		{"a filter without the account is refused", func(c *Config) {
			c.UserDN = ""
			c.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: "(uid=bob)"}
		}, "same filter for everyone"},
		{"a broken filter is refused", func(c *Config) {
			c.UserDN = ""
			c.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: "(uid={{.Account}}"}
		}, "filter"},
		{"a bad scope is refused", func(c *Config) {
			c.UserDN = ""
			c.UserSearch = &SearchConfig{Base: slapdtest.PeopleDN, Filter: userFilter, Scope: "everything"}
		}, "scope"},
		{"memberUid without a template is valid", func(c *Config) { c.MemberAttribute = "memberUid"; c.UserDN = "" }, ""},
		{"memberUid with a template is refused", func(c *Config) { c.MemberAttribute = "memberUid" }, "do not apply"},
		{"a placeholder that is not a DN is refused", func(c *Config) { c.PlaceholderMember = "nobody" }, "placeholder_member"},
		{"a zero timeout is refused", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"a zero dial timeout is refused", func(c *Config) { c.DialTimeout = 0 }, "dial_timeout"},
		{"a cert without a key is refused", func(c *Config) { c.TLS.CertFile = "c.pem" }, "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.edit(cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), botPassword) {
				t.Fatalf("Validate error quotes the password: %v", err)
			}
		})
	}
}

func TestConfigNeverPrintsThePassword(t *testing.T) {
	cfg := validConfig()
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{cfg, *cfg, cfg.BindPassword} {
			if out := fmt.Sprintf(format, v); strings.Contains(out, botPassword) {
				t.Errorf("Sprintf(%q, %T) = %s, leaks the password", format, v, out)
			}
		}
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), botPassword) {
		t.Errorf("JSON of the config leaks the password: %s", out)
	}
}

func TestConfigDecodesFromYAMLKeys(t *testing.T) {
	src := `
url: ldap://ldap.example.org:389
start_tls: true
tls: {ca_file: /etc/ssl/ldap-ca.pem, server_name: ldap.example.org}
bind_dn: cn=accessbot,ou=services,dc=example,dc=org
bind_password: s3cret
group_dn: cn=ops,ou=groups,dc=example,dc=org
member_attribute: uniqueMember
user_search:
  base: ou=people,dc=example,dc=org
  filter: (&(objectClass=inetOrgPerson)(uid={{.Account}}))
  scope: one
placeholder_member: cn=placeholder,ou=groups,dc=example,dc=org
dial_timeout: 2s
timeout: 4s
`
	cfg := NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.URL != "ldap://ldap.example.org:389" || !cfg.StartTLS || cfg.TLS.ServerName != "ldap.example.org" ||
		cfg.BindPassword != "s3cret" || cfg.MemberAttribute != "uniqueMember" || cfg.UserSearch == nil ||
		cfg.UserSearch.Scope != "one" || cfg.PlaceholderMember == "" || cfg.DialTimeout != 2*time.Second || cfg.Timeout != 4*time.Second {
		t.Errorf("decoded %s", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	srv := slapdtest.Shared(b)
	srv.AddPerson(b, "bench", "")
	bot := srv.AddService(b, "accessbot-bench", botPassword)
	group := srv.AddGroup(b, "bench", "groupOfNames", placeholder)
	srv.SetAccess(b, append(append([]string{passwordRule}, leastAccess(bot, group, "member", false)...), "to * by * read")...)
	cfg := baseConfig(srv, bot, group)
	cfg.PlaceholderMember = placeholder
	a := newAdapter(b, cfg)
	c := context.Background()
	i := 0
	for b.Loop() {
		i++
		req := grantRequest("bench", fmt.Sprintf("g-bench-%d", i))
		lease, err := a.Grant(c, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Revoke(c, revokeRequest(req, lease)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
