package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// botRules are the least the bot's own user needs: no keys, no channels, the ACL subcommands the
// adapter runs, CLIENT KILL, and PING.
var botRules = []string{
	"resetkeys", "resetchannels", "-@all",
	"+ping", "+acl|setuser", "+acl|deluser", "+acl|list", "+acl|getuser", "+acl|whoami", "+acl|cat", "+acl|dryrun",
	"+client|kill", "+command|info",
}

// grantRules let a temporary user read and write keys under app: and nothing else.
var grantRules = []string{"~app:*", "+get", "+set", "+ping"}

const botPassword = "bot-password-that-must-never-leak-1f9c"

// newAdapter makes a least-privilege bot user on srv and an adapter logged in as it.
func newAdapter(t testing.TB, srv *redistest.Server, edit func(*Config)) *Redis {
	t.Helper()
	bot := "accessbot-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	if len(bot) > 100 {
		bot = bot[:100]
	}
	bot = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, bot)
	srv.AddUser(t, bot, botPassword, botRules...)
	cfg := NewConfig()
	cfg.Address = srv.Addr
	cfg.Username = bot
	cfg.Password = botPassword
	cfg.Rules = grantRules
	cfg.Timeout = 5 * time.Second
	if srv.TLS != nil {
		cfg.TLS = TLSConfig{Enabled: true, CAFile: srv.TLS.CAFile}
	}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: "cache", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() { a.(*Redis).Close() })
	return a.(*Redis)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// secretKeeper wraps the adapter to remember each grant's password, which the kit's Usable needs
// to log in; the kit itself never sees a secret's value.
type secretKeeper struct {
	*Redis
	mu        sync.Mutex
	passwords map[string]string // by grant ID
}

func (k *secretKeeper) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	lease, err := k.Redis.Grant(ctx, req)
	if err == nil && lease.Secret != nil {
		k.mu.Lock()
		k.passwords[req.GrantID] = lease.Secret.Value
		k.mu.Unlock()
	}
	return lease, err
}

func (k *secretKeeper) password(grantID string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.passwords[grantID]
}

// userExists asks the server, as the admin, whether an ACL user exists.
func userExists(t *testing.T, srv *redistest.Server, name string) bool {
	t.Helper()
	users, err := srv.Admin(t).ACLUsers(ctx(t)).Result()
	if err != nil {
		t.Fatalf("ACL USERS: %v", err)
	}
	for _, u := range users {
		if u == name {
			return true
		}
	}
	return false
}

// usable logs in as the grant's user, runs an allowed command, and checks that a forbidden one
// is refused.
func usable(t *testing.T, srv *redistest.Server, user, password string) bool {
	t.Helper()
	c := goredis.NewClient(srv.Options(user, password))
	defer c.Close()
	if err := c.Set(ctx(t), "app:usable", "1", time.Minute).Err(); err != nil {
		return false
	}
	if err := c.Set(ctx(t), "other:usable", "1", time.Minute).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("SET other:usable as %s = %v, want NOPERM: the rules allow only app:*", user, err)
	}
	if err := c.FlushAll(ctx(t)).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("FLUSHALL as %s = %v, want NOPERM", user, err)
	}
	return true
}

func TestRedisPassesTheConformanceKit(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	keeper := &secretKeeper{Redis: a, passwords: map[string]string{}}
	name := func(s adapters.Subject, grantID string) string {
		n, err := a.UserName(s.Account, grantID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: keeper,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			return userExists(t, srv, name(s, grantID))
		},
		Usable: func(t *testing.T, s adapters.Subject, grantID string) bool {
			return usable(t, srv, name(s, grantID), keeper.password(grantID))
		},
		Lister: true,
	})
}

func grantRequest(account, grantID string) adapters.GrantRequest {
	now := time.Now()
	return adapters.GrantRequest{
		GrantID: grantID, Resource: "cache", Reason: "test",
		Subject: adapters.Subject{ID: account + "@example.com", Account: account},
		Start:   now, Expires: now.Add(time.Hour),
	}
}

func revokeRequest(req adapters.GrantRequest, lease adapters.Lease) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
}

func TestGrantedUserRunsAllowedCommandsAndIsRefusedOthers(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	req := grantRequest("alice", "g-allowed")
	lease, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })

	if lease.Secret == nil || lease.Secret.Kind != "password" || len(lease.Secret.Value) < 24 {
		t.Fatalf("secret = %v, want a password of 24+ characters", lease.Secret)
	}
	if got, want := lease.Data["user"], "ab-alice@g-allowed"; got != want {
		t.Fatalf("lease user = %q, want %q", got, want)
	}
	if !strings.Contains(lease.Secret.Label, "ab-alice@g-allowed") {
		t.Errorf("secret label %q does not name the user to log in as", lease.Secret.Label)
	}
	if !usable(t, srv, "ab-alice@g-allowed", lease.Secret.Value) {
		t.Fatal("the granted user cannot SET app:usable")
	}
	c := goredis.NewClient(srv.Options("ab-alice@g-allowed", "wrong-password"))
	defer c.Close()
	if err := c.Ping(ctx(t)).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("login with a wrong password: %v, want WRONGPASS", err)
	}
}

func TestGrantTwiceReplacesThePasswordOfTheOneUser(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	req := grantRequest("bob", "g-twice")
	first, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, second)) })
	if first.Secret.Value == second.Secret.Value {
		t.Fatal("two grants returned the same password")
	}
	old := goredis.NewClient(srv.Options("ab-bob@g-twice", first.Secret.Value))
	defer old.Close()
	if err := old.Ping(ctx(t)).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("the first call's password: %v, want WRONGPASS (a lost password must not stay valid)", err)
	}
	if !usable(t, srv, "ab-bob@g-twice", second.Secret.Value) {
		t.Error("the second call's password does not work")
	}
}

func TestRevokeEndsALiveConnection(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	req := grantRequest("carol", "g-live")
	lease, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	opts := srv.Options(lease.Data["user"], lease.Secret.Value)
	opts.PoolSize = 1
	c := goredis.NewClient(opts)
	defer c.Close()
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Set(ctx(t), "app:live", "1", time.Minute).Err(); err != nil {
		t.Fatalf("SET on the live connection before revoke: %v", err)
	}
	if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}
	err = conn.Set(ctx(t), "app:live", "2", time.Minute).Err()
	if err == nil {
		t.Fatal("the connection opened before revoke still runs commands")
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		t.Fatalf("the live connection got a server answer %q; want it closed by the server", err)
	}
	clients, err := srv.Admin(t).ClientList(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(clients, "user="+lease.Data["user"]+" ") {
		t.Errorf("CLIENT LIST still shows a connection of the revoked user:\n%s", clients)
	}
}

func TestRulesThatLetATemporaryUserEscalateAreRefusedAtGrant(t *testing.T) {
	srv := redistest.Shared(t)
	for _, tt := range []struct {
		name  string
		rules []string
	}{
		{"all commands", []string{"~*", "+@all"}},
		{"the admin category", []string{"~*", "+@admin"}},
		{"ACL SETUSER itself", []string{"+acl|setuser"}},
		{"CONFIG", []string{"+config"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAdapter(t, srv, func(c *Config) { c.Rules = tt.rules })
			req := grantRequest("mallory", "g-escalate")
			_, err := a.Grant(ctx(t), req)
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "allow_admin_commands") {
				t.Fatalf("grant = %v, want a permanent error naming allow_admin_commands", err)
			}
			if userExists(t, srv, "ab-mallory@g-escalate") {
				t.Fatal("a refused grant left its user behind")
			}
		})
	}
	t.Run("allowed when the config says so", func(t *testing.T) {
		a := newAdapter(t, srv, func(c *Config) { c.Rules = []string{"~*", "+@all"}; c.AllowAdminCommands = true })
		req := grantRequest("admin_on_call", "g-escalate-ok")
		lease, err := a.Grant(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("narrowed rules pass the check", func(t *testing.T) {
		a := newAdapter(t, srv, func(c *Config) { c.Rules = []string{"~*", "+@all", "-@dangerous", "-@admin"} })
		req := grantRequest("dev", "g-narrow")
		lease, err := a.Grant(ctx(t), req)
		if err != nil {
			t.Fatalf("grant with +@all -@dangerous -@admin: %v", err)
		}
		if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRevokeNeverTouchesAUserNamedByTamperedLeaseData(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	srv.AddUser(t, "ops@corp", "ops-password-1", "+ping")
	for _, stored := range []string{redistest.AdminUser, a.cfg.Username, "ops@corp", "ab-x@g-other-grant", "default"} {
		req := grantRequest("dave", "g-tamper")
		err := a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject, Data: map[string]string{"user": stored}})
		if !adapters.IsPermanent(err) {
			t.Errorf("revoke with lease user %q = %v, want a permanent error", stored, err)
		}
	}
	for _, u := range []string{redistest.AdminUser, a.cfg.Username, "ops@corp"} {
		if !userExists(t, srv, u) {
			t.Errorf("user %s was deleted through tampered lease data", u)
		}
	}
}

func TestRevokeUsesTheLeaseNameAfterThePrefixChanged(t *testing.T) {
	srv := redistest.Shared(t)
	before := newAdapter(t, srv, func(c *Config) { c.Prefix = "old-" })
	req := grantRequest("erin", "g-prefix")
	lease, err := before.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	after := newAdapter(t, srv, func(c *Config) { c.Prefix = "new-" })
	if err := after.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}
	if userExists(t, srv, "old-erin@g-prefix") {
		t.Fatal("the user made under the old prefix survived its revoke")
	}
}

func TestInvalidAccountsAndGrantIDsAreRefusedBeforeReachingRedis(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, nil)
	for _, tt := range []struct{ account, grantID string }{
		{"alice nopass", "g-1"},
		{"alice", "g-1 nopass"},
		{">pw", "g-1"},
		{"alice\n+@all", "g-1"},
		{"", "g-1"},
		{"-alice", "g-1"},
		{"al@ice", "g-1"},
		{"alice", ""},
		{strings.Repeat("a", 65), "g-1"},
	} {
		_, err := a.Grant(ctx(t), grantRequest(tt.account, tt.grantID))
		if !adapters.IsPermanent(err) {
			t.Errorf("grant for account %q grant %q = %v, want a permanent error", tt.account, tt.grantID, err)
		}
	}
	users, err := srv.Admin(t).ACLUsers(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if strings.Contains(u, "nopass") || strings.Contains(u, "alice") {
			t.Errorf("a refused grant made user %q", u)
		}
	}
}

func TestListShowsTheAdaptersUsersAndEveryUserHoldingTheRules(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, func(c *Config) { c.Prefix = "lst-" })
	add := func(name string, rules ...string) {
		srv.AddUser(t, name, "pw-"+name+"-1", rules...)
	}
	add("lst-not-ours", "+ping")
	add("other-frank@g-x", "+ping")
	add("hand-same", grantRules...)
	add("hand-all", "+@all", "~*", "&*")
	add("hand-prefix", "~app*", "+@string", "+@connection")
	add("hand-split-perms", "%R~app:*", "%W~app:*", "+get", "+set", "+ping")
	add("hand-selector", "+ping", "(~app:* +get +set +ping)")
	add("unrelated-narrower-keys", "~app:x*", "+get", "+set", "+ping")
	add("unrelated-missing-command", "~app:*", "+get", "+ping")
	add("unrelated-read-only", "%R~app:*", "+get", "+set", "+ping")
	add("unrelated-other-keys", "~other:*", "+@all")
	add("unrelated-all-but-get", "~*", "+@all", "-get")
	add("unrelated-off", grantRules...)
	if err := srv.Admin(t).ACLSetUser(ctx(t), "unrelated-off", "off").Err(); err != nil {
		t.Fatal(err)
	}
	req := grantRequest("frank.j", "g-list-1")
	lease, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	list, err := a.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]adapters.Access{}
	for _, acc := range list {
		got[acc.Account] = acc
		if strings.Contains(acc.Detail, "#") {
			t.Errorf("list detail carries a password hash: %s", acc.Detail)
		}
		if strings.HasPrefix(acc.Account, "unrelated-") || strings.HasPrefix(acc.Account, "accessbot-") ||
			acc.Account == "lst-not-ours" || acc.Account == "other-frank@g-x" {
			t.Errorf("listed a user that does not hold the rules: %+v", acc)
		}
	}
	if g := got["frank.j"]; g.GrantID != "g-list-1" || !strings.Contains(g.Detail, "~app:*") {
		t.Errorf("the grant's entry = %+v, want account frank.j, grant g-list-1 and the rules in the detail", g)
	}
	for _, name := range []string{"hand-same", "hand-all", "hand-prefix", "hand-split-perms", "hand-selector"} {
		if acc, ok := got[name]; !ok || acc.GrantID != "" || !strings.Contains(acc.Detail, "redis user "+name) {
			t.Errorf("%s holds the rules but is listed as %+v (listed: %v)", name, acc, ok)
		}
	}
}

func TestListComparesSubcommandsAndFirstArgumentsOneByOne(t *testing.T) {
	srv := redistest.Shared(t)
	a := newAdapter(t, srv, func(c *Config) {
		c.Prefix = "sub-"
		c.Rules = []string{"~app:*", "+get", "+config|get", "+select|0"}
		c.AllowAdminCommands = true
	})
	cases := []struct {
		name  string
		rules []string
		holds bool
	}{
		{"xsub-whole-commands", []string{"~*", "+get", "+config", "+select"}, true},
		{"xsub-same-rules", []string{"~app:*", "+get", "+config|get", "+select|0"}, true},
		{"xsub-other-subcommand", []string{"~*", "+get", "+config|set", "+select"}, false},
		{"xsub-all-but-the-subcommand", []string{"~*", "+@all", "-config|get"}, false},
		{"xsub-other-first-argument", []string{"~*", "+get", "+config|get", "+select|1"}, false},
	}
	for _, tc := range cases {
		srv.AddUser(t, tc.name, "pw-"+tc.name+"-1", tc.rules...)
	}
	list, err := a.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, acc := range list {
		got[acc.Account] = true
	}
	for _, tc := range cases {
		if got[tc.name] != tc.holds {
			t.Errorf("%s (%v) listed = %v, want %v", tc.name, tc.rules, got[tc.name], tc.holds)
		}
	}
}

func TestPatternCovers(t *testing.T) {
	for _, tc := range []struct {
		q, p string
		want bool
	}{
		{"*", "app:*", true},
		{"app:*", "app:*", true},
		{"app*", "app:*", true},
		{"app:x*", "app:*", false},
		{"app:?", "app:*", false},
		{"a[pq]p*", "app:*", false},
		{"app:*", "app:1", true},
		{"other:*", "app:*", false},
	} {
		if got := patternCovers(tc.q, tc.p); got != tc.want {
			t.Errorf("patternCovers(%q, %q) = %v, want %v", tc.q, tc.p, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	srv := redistest.Shared(t)
	t.Run("passes for a least-privilege bot", func(t *testing.T) {
		if err := newAdapter(t, srv, nil).Check(ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("names the command a bot may not run", func(t *testing.T) {
		a := newAdapter(t, srv, nil)
		srv.AddUser(t, a.cfg.Username, botPassword, append(append([]string{}, botRules...), "-client|kill")...)
		err := a.Check(ctx(t))
		if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "CLIENT KILL") {
			t.Fatalf("check = %v, want a permanent error naming CLIENT KILL", err)
		}
	})
	t.Run("a wrong bot password is permanent and not quoted", func(t *testing.T) {
		a := newAdapter(t, srv, func(c *Config) { c.Password = "wrong-bot-password-zz9" })
		err := a.Check(ctx(t))
		if !adapters.IsPermanent(err) {
			t.Fatalf("check = %v, want permanent", err)
		}
		if strings.Contains(err.Error(), "wrong-bot-password-zz9") {
			t.Fatalf("error quotes the password: %v", err)
		}
	})
	t.Run("a server that is not there is retryable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		a := newAdapter(t, srv, func(c *Config) { c.Address = addr; c.Timeout = 2 * time.Second })
		for what, err := range map[string]error{
			"check":  a.Check(ctx(t)),
			"grant":  func() error { _, err := a.Grant(ctx(t), grantRequest("gina", "g-down")); return err }(),
			"revoke": a.Revoke(ctx(t), adapters.RevokeRequest{GrantID: "g-down", Subject: adapters.Subject{Account: "gina"}}),
		} {
			if err == nil || adapters.IsPermanent(err) {
				t.Errorf("%s against a closed port = %v, want a retryable error", what, err)
			}
		}
	})
}

func TestAdapterWorksOverTLS(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{TLS: true})
	a := newAdapter(t, srv, nil)
	if err := a.Check(ctx(t)); err != nil {
		t.Fatalf("check over TLS: %v", err)
	}
	req := grantRequest("heidi", "g-tls")
	lease, err := a.Grant(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if !usable(t, srv, lease.Data["user"], lease.Secret.Value) {
		t.Error("the user granted over TLS cannot log in")
	}
	if err := a.Revoke(ctx(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}

	untrusting := newAdapter(t, srv, func(c *Config) { c.TLS.CAFile = "" })
	if err := untrusting.Check(ctx(t)); err == nil {
		t.Error("check succeeded against a server whose CA the adapter does not trust")
	}
}

func TestRuleGrammar(t *testing.T) {
	accepted := []string{
		"~app:*", "%R~app:*", "%W~queue:*", "%RW~x", "&events:*", "+@read", "-@dangerous", "+@all",
		"+get", "-flushall", "+config|get", "+json.get", "allkeys", "allchannels", "allcommands",
		"nocommands", "resetkeys", "resetchannels", "AllKeys", "+GET",
	}
	for _, r := range accepted {
		if err := checkRule(r); err != nil {
			t.Errorf("rule %q refused: %v", r, err)
		}
	}
	refused := []struct{ rule, why string }{
		{"nopass", "without a password"},
		{"NOPASS", "without a password"},
		{">hunter2-secret", "password"},
		{"<hunter2-secret", "password"},
		{"#4f2a9b8e1c3d5f7a9b8e1c3d5f7a9b8e1c3d5f7a9b8e1c3d5f7a9b8e1c3d5f7a", "hash"},
		{"!4f2a", "hash"},
		{"resetpass", "password"},
		{"reset", "undo"},
		{"on", "set by the adapter"},
		{"off", "set by the adapter"},
		{"~app:*\n+@all", "line break"},
		{"~app:* +@all", "space"},
		{"+get\r", "control"},
		{"(~x +get)", "space"},
		{"(~x)", "selector"},
		{"clearselectors", "selectors"},
		{"skip-sanitize-payload", "RESTORE"},
		{"~", "key pattern"},
		{"+@", "category"},
		{"+get|", "command"},
		{"hunter2", "not an allowed rule"},
		{"", "empty"},
		{"~ключ", "ASCII"},
	}
	for _, tt := range refused {
		err := checkRule(tt.rule)
		if err == nil {
			t.Errorf("rule %q accepted, want refused", tt.rule)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("rule %q refused with %q, want a reason mentioning %q", tt.rule, err, tt.why)
		}
		// Keywords Redis knows may be named; anything else might be a password typed by mistake.
		_, keyword := refusedKeywords[strings.ToLower(tt.rule)]
		if !keyword && len(tt.rule) > 3 && strings.Contains(err.Error(), tt.rule) {
			t.Errorf("the error for rule %q quotes it: %v", tt.rule, err)
		}
	}
}

func validConfig() *Config {
	c := NewConfig()
	c.Address = "redis.internal:6379"
	c.Username = "accessbot"
	c.Password = botPassword
	c.Rules = []string{"~app:*", "+@read"}
	return c
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	typ, ok := adapters.Lookup("redis")
	if !ok {
		t.Fatal("redis is not registered")
	}
	def := typ.NewConfig().(*Config)
	if def.Prefix != "ab-" || def.Timeout != 10*time.Second {
		t.Errorf("defaults = prefix %q, timeout %s; want ab- and 10s", def.Prefix, def.Timeout)
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"a complete config is valid", func(c *Config) {}, ""},
		{"the default user is allowed as the bot", func(c *Config) { c.Username = "" }, ""},
		{"a missing address is refused", func(c *Config) { c.Address = "" }, "address is required"},
		{"an address without a port is refused", func(c *Config) { c.Address = "redis.internal" }, "host:port"},
		{"a bad port is refused", func(c *Config) { c.Address = "redis.internal:http" }, "port"},
		{"a missing password is refused", func(c *Config) { c.Password = "" }, "password is required"},
		{"an empty prefix is refused", func(c *Config) { c.Prefix = "" }, "prefix"},
		{"a prefix with @ is refused", func(c *Config) { c.Prefix = "a@" }, "prefix"},
		{"a bot named like a temporary user is refused", func(c *Config) { c.Username = "ab-bot" }, "looks like a user"},
		{"no rules are refused", func(c *Config) { c.Rules = nil }, "rules is required"},
		{"nopass is refused", func(c *Config) { c.Rules = []string{"~*", "nopass"} }, "rules[1]"},
		{"a password rule is refused", func(c *Config) { c.Rules = []string{">pw"} }, "rules[0]"},
		{"a zero timeout is refused", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"a cert without a key is refused", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: "c.pem"} }, "go together"},
		{"tls files without enabled are refused", func(c *Config) { c.TLS = TLSConfig{CAFile: "ca.pem"} }, "enabled is false"},
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
				t.Fatalf("Validate error quotes the bot password: %v", err)
			}
		})
	}
}

func TestConfigNeverPrintsThePassword(t *testing.T) {
	cfg := validConfig()
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{cfg, *cfg, cfg.Password} {
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
address: redis.internal:6380
username: accessbot
password: s3cret
tls: {enabled: true, ca_file: /etc/ssl/redis-ca.pem, cert_file: /etc/accessbot/redis.crt, key_file: /etc/accessbot/redis.key, server_name: redis.internal}
prefix: "tmp-"
rules: ["%R~app:*", "+@read", "-@dangerous"]
allow_admin_commands: false
timeout: 3s
`
	cfg := NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.Address != "redis.internal:6380" || cfg.Username != "accessbot" || cfg.Password != "s3cret" ||
		!cfg.TLS.Enabled || cfg.TLS.ServerName != "redis.internal" || cfg.TLS.KeyFile != "/etc/accessbot/redis.key" ||
		cfg.Prefix != "tmp-" || len(cfg.Rules) != 3 || cfg.Timeout != 3*time.Second {
		t.Errorf("decoded %+v", *cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestPasswordsAreLongRandomAndAlphanumeric(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p, err := newPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != passwordLength {
			t.Fatalf("password length %d, want %d", len(p), passwordLength)
		}
		if strings.Trim(p, passwordAlphabet) != "" {
			t.Fatalf("password %q has characters outside the alphabet", p)
		}
		if seen[p] {
			t.Fatal("a password repeated")
		}
		seen[p] = true
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	srv := redistest.Shared(b)
	a := newAdapter(b, srv, nil)
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
