package mysql_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/mysql"
)

// harness builds the kit's harness: Has asks mysql.user and, when the grant's password is
// known, checks that it logs in and reads (activating role when set).
func (e *env) harness(t *testing.T, rec *recorder, role string) adaptertest.Harness {
	return adaptertest.Harness{
		Adapter: rec,
		Lister:  true,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			name := userName(t, s.Account, grantID)
			if !e.userExists(t, name) {
				return false
			}
			if pw, ok := rec.password(grantID); ok && !e.canRead(t, name, pw, role) {
				t.Errorf("user %s exists but cannot log in and read with the password it was given", name)
			}
			return true
		},
		Usable: func(t *testing.T, s adapters.Subject, grantID string) bool {
			pw, ok := rec.password(grantID)
			return ok && e.canRead(t, userName(t, s.Account, grantID), pw, role)
		},
	}
}

func TestGrantsModePassesTheConformanceKit(t *testing.T) {
	e := newEnv(t)
	rec := record(e.adapter(t, e.bot(t, botGrants{}), e.withGrants))
	adaptertest.Run(t, e.harness(t, rec, ""))
}

func TestRolesModePassesTheConformanceKit(t *testing.T) {
	e := newEnv(t)
	rec := record(e.adapter(t, e.bot(t, botGrants{}), e.withRoles))
	adaptertest.Run(t, e.harness(t, rec, e.reader))
}

var grantLine = regexp.MustCompile("^GRANT (.+) ON (\\S+) TO `([^`]+)`@`([^`]+)`")

// showGrants returns the user's privileges from SHOW GRANTS as "PRIVILEGE ON object".
func (e *env) showGrants(t *testing.T, user string) []string {
	t.Helper()
	rows, err := e.root.QueryContext(ctxFor(t), "SHOW GRANTS FOR '"+user+"'@'%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		m := grantLine.FindStringSubmatch(line)
		if m == nil {
			got = append(got, "unparsed: "+line)
			continue
		}
		for _, p := range strings.Split(m[1], ", ") {
			got = append(got, p+" ON "+m[2])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

func TestPrivilegesGrantedAreExactlyTheConfiguredOnes(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withGrants)
	req := grantRequest("olga", "g-exact")
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	user := lease.Data["user"]

	want := []string{
		"INSERT ON `" + e.db + "`.`orders`",
		"SELECT ON `" + e.db + "`.*",
		"USAGE ON *.*",
	}
	if got := e.showGrants(t, user); !slices.Equal(got, want) {
		t.Fatalf("SHOW GRANTS for %s:\n got %q\nwant %q", user, got, want)
	}

	conn, done, ok := e.login(t, user, lease.Secret.Value)
	if !ok {
		t.Fatal("cannot log in")
	}
	defer done()
	for _, tc := range []struct {
		stmt    string
		allowed bool
	}{
		{"SELECT COUNT(*) FROM `" + e.db + "`.orders", true},
		{"SELECT COUNT(*) FROM `" + e.db + "`.customers", true},
		{"INSERT INTO `" + e.db + "`.orders VALUES (3)", true},
		{"INSERT INTO `" + e.db + "`.customers VALUES (3)", false},
		{"DELETE FROM `" + e.db + "`.orders", false},
		{"DROP TABLE `" + e.db + "`.orders", false},
		{"SELECT COUNT(*) FROM mysql.user", false},
		{"CREATE USER 'escalate'@'%'", false},
	} {
		_, err := conn.ExecContext(ctxFor(t), tc.stmt)
		if (err == nil) != tc.allowed {
			t.Errorf("%s: allowed=%v, want %v (err %v)", tc.stmt, err == nil, tc.allowed, err)
		}
	}
}

func TestRolesModeGrantsOnlyTheRole(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withRoles)
	req := grantRequest("rolf", "g-role")
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	user := lease.Data["user"]
	// A role grant reads "GRANT `role` TO `user`@`%`", which the privilege pattern leaves
	// unparsed.
	want := []string{"USAGE ON *.*", "unparsed: GRANT `" + e.reader + "` TO `" + user + "`@`%`"}
	if got := e.showGrants(t, user); !slices.Equal(got, want) {
		t.Fatalf("SHOW GRANTS for %s:\n got %q\nwant %q", user, got, want)
	}
	if e.canRead(t, user, lease.Secret.Value, "") {
		t.Error("reads without SET ROLE: the user has privileges of its own")
	}
	if !e.canRead(t, user, lease.Secret.Value, e.reader) {
		t.Error("cannot read after SET ROLE")
	}
	if !strings.Contains(lease.Secret.Label, "SET ROLE "+e.reader) {
		t.Errorf("secret label %q does not tell the requester to SET ROLE", lease.Secret.Label)
	}
}

func TestRevokeKillsALiveSession(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withGrants)
	req := grantRequest("live", "g-live")
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	user := lease.Data["user"]
	var sessions []*sql.Conn
	for range 2 {
		c, done, ok := e.login(t, user, lease.Secret.Value)
		if !ok {
			t.Fatal("cannot log in")
		}
		defer done()
		if _, err := c.ExecContext(ctxFor(t), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, c)
	}
	if n := e.processes(t, user); n != 2 {
		t.Fatalf("%d connections of %s before revoke, want 2", n, user)
	}

	if err := a.Revoke(ctxFor(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}
	for i, c := range sessions {
		// The server closed it: not any failure (a timeout, a refused statement) but the
		// connection itself gone.
		if _, err := c.ExecContext(ctxFor(t), "SELECT 1"); !errors.Is(err, gomysql.ErrInvalidConn) && !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("session %d opened before revoke: %v, want its connection closed by the server", i+1, err)
		}
	}
	if n := e.processes(t, user); n != 0 {
		t.Errorf("%d connections of %s after revoke", n, user)
	}
	if e.userExists(t, user) {
		t.Error("user still exists after revoke")
	}
}

func TestPasswordReachesOnlyTheSecret(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	a := newAdapter(t, e.bot(t, botGrants{}), zerolog.New(&logs).Level(zerolog.DebugLevel), e.withGrants)
	// The server's general log records every statement as received.
	general := filepath.Join(e.srv.Dir, "general-"+e.sfx+".log")
	e.exec(t, "SET GLOBAL general_log_file = '"+general+"'")
	e.exec(t, "SET GLOBAL general_log = ON")
	t.Cleanup(func() { e.root.Exec("SET GLOBAL general_log = OFF") })

	req := grantRequest("quiet", "g-quiet")
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctxFor(t), revokeRequest(req, again)); err != nil {
		t.Fatal(err)
	}
	e.exec(t, "SET GLOBAL general_log = OFF")
	statements, err := os.ReadFile(general)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(statements, []byte("CREATE USER")) {
		t.Fatalf("the general log did not record the grant:\n%s", statements)
	}
	for _, pw := range []string{lease.Secret.Value, again.Secret.Value} {
		if len(pw) < 24 {
			t.Errorf("password of %d characters, want 24+", len(pw))
		}
		if bytes.Contains(statements, []byte(pw)) {
			t.Error("the server's general log holds the password")
		}
		if strings.Contains(logs.String(), pw) {
			t.Error("the adapter's log holds the password")
		}
		for k, v := range again.Data {
			if strings.Contains(v, pw) {
				t.Errorf("lease data %s holds the password", k)
			}
		}
	}
	if lease.Secret.Value == again.Secret.Value {
		t.Error("a repeated grant returned the same password")
	}
}

const unreachable = "bot:pw@tcp(127.0.0.1:1)/?timeout=2s"

func TestBadNamesAreRefusedBeforeAnySQL(t *testing.T) {
	a := newAdapter(t, unreachable, zerolog.Nop(), func(c *mysql.Config) { c.Grants = []string{"SELECT ON shop.*"} })
	for _, account := range []string{
		"alice`; DROP USER root; --",
		"alice'@'%'; --",
		"al;ice",
		"Alice",
		"al ice",
		"1alice",
		"al-ice",
		"ålice",
		"",
		strings.Repeat("a", 33),
	} {
		t.Run(fmt.Sprintf("refuses %q", account), func(t *testing.T) {
			req := grantRequest(account, "g-bad")
			if _, err := a.Grant(ctxFor(t), req); !adapters.IsPermanent(err) {
				t.Fatalf("grant: got %v, want a permanent validation error", err)
			}
			if err := a.Revoke(ctxFor(t), revokeRequest(req, adapters.Lease{})); err != nil {
				t.Fatalf("revoke without lease data: %v", err)
			}
		})
	}
	for _, data := range []map[string]string{
		{"user": "ab_x`; DROP USER root; --"},
		{"user": "root"},
		{"user": "ab_x_12345678", "host": "%'; DROP USER root; --"},
	} {
		req := adapters.RevokeRequest{GrantID: "g-x", Subject: adapters.Subject{Account: "x"}, Data: data}
		if err := a.Revoke(ctxFor(t), req); !adapters.IsPermanent(err) {
			t.Errorf("revoke with lease %v: got %v, want a permanent error", data, err)
		}
	}
}

func TestAnUnreachableServerIsRetryable(t *testing.T) {
	a := newAdapter(t, unreachable, zerolog.Nop(), func(c *mysql.Config) { c.Grants = []string{"SELECT ON shop.*"} })
	req := grantRequest("alice", "g-unreachable")
	if _, err := a.Grant(ctxFor(t), req); err == nil || adapters.IsPermanent(err) {
		t.Errorf("grant: got %v, want a retryable error", err)
	}
	if err := a.Revoke(ctxFor(t), revokeRequest(req, adapters.Lease{})); err == nil || adapters.IsPermanent(err) {
		t.Errorf("revoke: got %v, want a retryable error", err)
	}
	if err := a.Check(ctxFor(t)); err == nil || adapters.IsPermanent(err) {
		t.Errorf("check: got %v, want a retryable error", err)
	}
}

func TestCheckVerifiesTheBotsPrivileges(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		bot     botGrants
		roles   bool
		wantErr string
	}{
		{name: "a least-privilege bot passes with grants", bot: botGrants{noRoleAdmin: true}},
		{name: "a least-privilege bot passes with roles", bot: botGrants{noGrantOption: true}, roles: true},
		{name: "without PROCESS it fails", bot: botGrants{noProcess: true}, wantErr: "PROCESS"},
		{name: "without CONNECTION ADMIN it fails", bot: botGrants{noConnectionAdmin: true}, wantErr: "CONNECTION ADMIN"},
		{name: "without GRANT OPTION it fails", bot: botGrants{noGrantOption: true}, wantErr: "GRANT OPTION"},
		{name: "without ADMIN OPTION on the role it fails", bot: botGrants{noRoleAdmin: true}, roles: true, wantErr: "ADMIN OPTION"},
		{name: "without reading mysql.user it fails", bot: botGrants{noUserTable: true}, wantErr: "mysql.user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edit := e.withGrants
			if tc.roles {
				edit = e.withRoles
			}
			err := e.adapter(t, e.bot(t, tc.bot), edit).Check(ctxFor(t))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("check: got %v, want a permanent error mentioning %q", err, tc.wantErr)
			}
		})
	}
	t.Run("a wrong bot password fails", func(t *testing.T) {
		err := e.adapter(t, e.srv.DSNFor("nobody", "x", ""), e.withGrants).Check(ctxFor(t))
		if !adapters.IsPermanent(err) {
			t.Fatalf("check: got %v, want a permanent error", err)
		}
	})
}

// listed returns List's entries by account.
func listed(t *testing.T, a *mysql.MySQL) map[string]adapters.Access {
	t.Helper()
	list, err := a.List(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]adapters.Access{}
	for _, acc := range list {
		out[acc.Account] = acc
	}
	return out
}

func TestListReportsEveryAccountHoldingTheGrantsNotOnlyPrefixedOnes(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withGrants)
	other := e.srv.NewDatabase(t)
	otherDB := other[strings.LastIndexByte(other, '/')+1:]
	if i := strings.IndexByte(otherDB, '?'); i >= 0 {
		otherDB = otherDB[:i]
	}
	hand := func(name string, grants ...string) string {
		user := name + "_" + e.sfx
		e.exec(t, "CREATE USER '"+user+"'@'%'")
		e.track("'" + user + "'@'%'")
		for _, g := range grants {
			e.exec(t, "GRANT "+g+" TO '"+user+"'@'%'")
		}
		return user
	}
	sameDB := hand("mallory", "SELECT ON `"+e.db+"`.*", "INSERT ON `"+e.db+"`.orders")
	oneTable := hand("tim", "SELECT ON `"+e.db+"`.customers")
	global := hand("gus", "SELECT ON *.*")
	viaRole := hand("rita", e.reader)
	outer := "outer_" + e.sfx
	e.exec(t, "CREATE ROLE "+outer)
	e.track(outer)
	e.exec(t, "GRANT "+e.reader+" TO "+outer)
	viaNested := hand("nora", outer)
	pattern := strings.ReplaceAll(e.db[:len(e.db)-2], "_", "\\_") + "%"
	viaPattern := hand("pat", "SELECT ON `"+pattern+"`.*")
	e.exec(t, "GRANT SELECT ON `"+e.db+"`.customers TO PUBLIC")
	t.Cleanup(func() { e.root.Exec("REVOKE SELECT ON `" + e.db + "`.customers FROM PUBLIC") })
	unrelated := hand("ursula", "SELECT ON `"+otherDB+"`.*", "UPDATE ON `"+e.db+"`.orders")
	e.exec(t, "CREATE USER 'ab_handmade'@'%'")
	e.track("'ab_handmade'@'%'")
	req := grantRequest("pia", "g-pia")
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })

	got := listed(t, a)
	for _, tc := range []struct {
		name, account, detail string
	}{
		{"a hand-made user with the same privileges is listed", sameDB, "SELECT ON `" + e.db + "`.*; INSERT ON `" + e.db + "`.`orders`"},
		{"a user holding one table of the database is listed", oneTable, "SELECT ON `" + e.db + "`.`customers`"},
		{"a user holding the privilege globally is listed", global, "SELECT ON *.*"},
		{"a user holding it through a role is listed", viaRole, "SELECT ON `" + e.db + "`.* through role " + e.reader},
		{"a user holding it through a role of a role is listed", viaNested, "SELECT ON `" + e.db + "`.* through role " + e.reader},
		{"a user holding it on a database pattern is listed", viaPattern, "SELECT ON `" + pattern + "`.*"},
		{"what PUBLIC holds is listed once", "PUBLIC", "SELECT ON `" + e.db + "`.`customers`"},
		{"the grant's own user is listed under its account", "pia", lease.Data["user"]},
		{"a prefixed user is listed whatever it holds", "ab_handmade", "not the adapter's name form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, ok := got[tc.account]
			if !ok {
				t.Fatalf("%s is not listed: %+v", tc.account, got)
			}
			if !strings.Contains(acc.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", acc.Detail, tc.detail)
			}
		})
	}
	if acc, ok := got[unrelated]; ok {
		t.Errorf("a user with other privileges elsewhere is listed: %+v", acc)
	}
	for account, acc := range got {
		if strings.HasPrefix(account, "bot_") {
			t.Errorf("the bot's own login is listed: %+v", acc)
		}
	}
}

func TestListInRolesModeReportsTheRolesMembersAndTheirPrivilegesHeldDirectly(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withRoles)
	hand := func(name string, grants ...string) string {
		user := name + "_" + e.sfx
		e.exec(t, "CREATE USER '"+user+"'@'%'")
		e.track("'" + user + "'@'%'")
		for _, g := range grants {
			e.exec(t, "GRANT "+g+" TO '"+user+"'@'%'")
		}
		return user
	}
	member := hand("rita", e.reader)
	direct := hand("dora", "SELECT ON `"+e.db+"`.*")
	unrelated := hand("ursula", "INSERT ON `"+e.db+"`.orders")
	got := listed(t, a)
	if acc := got[member]; !strings.Contains(acc.Detail, "role "+e.reader) {
		t.Errorf("the role's member: %+v", acc)
	}
	if acc := got[direct]; !strings.Contains(acc.Detail, "SELECT ON `"+e.db+"`.*") {
		t.Errorf("a user holding the role's privilege directly: %+v", acc)
	}
	if acc, ok := got[unrelated]; ok {
		t.Errorf("a user with a privilege the role does not have is listed: %+v", acc)
	}
	if acc, ok := got[e.reader]; ok {
		t.Errorf("the role itself is listed as an account: %+v", acc)
	}
}

func TestParsePrivilege(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // privileges|db|table
		wantErr string
	}{
		{in: "SELECT ON shop.*", want: "SELECT|shop|*"},
		{in: "select, insert ON shop.orders", want: "SELECT,INSERT|shop|orders"},
		{in: "  SELECT ,  SHOW   VIEW  on  shop.*  ", want: "SELECT,SHOW VIEW|shop|*"},
		{in: "EXECUTE ON shop.*", want: "EXECUTE|shop|*"},
		{in: "ALL ON shop.*", wantErr: "not a privilege"},
		{in: "ALL PRIVILEGES ON shop.*", wantErr: "not a privilege"},
		{in: "GRANT OPTION ON shop.*", wantErr: "not a privilege"},
		{in: "SUPER ON shop.*", wantErr: "not a privilege"},
		{in: "FILE ON shop.*", wantErr: "not a privilege"},
		{in: "SELECT ON *.*", wantErr: "database name"},
		{in: "SELECT ON mysql.*", wantErr: "mysql database"},
		{in: "SELECT ON MySQL.user", wantErr: "mysql database"},
		{in: "SELECT ON shop", wantErr: "db.*"},
		{in: "SELECT ON shop.a.b", wantErr: "db.*"},
		{in: "SELECT ON `shop`.*", wantErr: "database name"},
		{in: "SELECT ON shop.*; DROP USER root", wantErr: "want"},
		{in: "SELECT ON shop.* TO x", wantErr: "want"},
		{in: "SELECT ON shop.or'ders", wantErr: "table name"},
		{in: "SELECT, SELECT ON shop.*", wantErr: "twice"},
		{in: "LOCK TABLES ON shop.orders", wantErr: "whole database"},
		{in: "ON shop.*", wantErr: "want"},
		{in: "SELECT shop.*", wantErr: "want"},
		{in: "SELECT ON 123.*", wantErr: "database name"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := mysql.ParsePrivilege(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, %v; want an error mentioning %q", p, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Privileges, ",") + "|" + p.Database + "|" + p.Table; got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*mysql.Config)
		wantErr string
	}{
		{"grants are valid", func(c *mysql.Config) { c.Grants = []string{"SELECT ON shop.*"} }, ""},
		{"roles are valid", func(c *mysql.Config) { c.Roles = []string{"reader"} }, ""},
		{"a netmask host is valid", func(c *mysql.Config) { c.Roles = []string{"reader"}; c.Host = "10.0.0.0/255.0.0.0" }, ""},
		{"a missing dsn is refused", func(c *mysql.Config) { c.DSN = ""; c.Roles = []string{"reader"} }, "dsn is required"},
		{"a broken dsn is refused without echoing it", func(c *mysql.Config) { c.DSN = "bot:s3cret@tcp(host"; c.Roles = []string{"reader"} }, "not a valid"},
		{"neither grants nor roles is refused", func(c *mysql.Config) {}, "grants or roles is required"},
		{"both grants and roles is refused", func(c *mysql.Config) { c.Grants = []string{"SELECT ON shop.*"}; c.Roles = []string{"reader"} }, "exclusive"},
		{"a bad grant is refused", func(c *mysql.Config) { c.Grants = []string{"ALL ON *.*"} }, "grants"},
		{"a role with a backtick is refused", func(c *mysql.Config) { c.Roles = []string{"read`er"} }, "roles"},
		{"an upper-case role is refused", func(c *mysql.Config) { c.Roles = []string{"Reader"} }, "roles"},
		{"a role listed twice is refused", func(c *mysql.Config) { c.Roles = []string{"reader", "reader"} }, "twice"},
		{"a role with the prefix is refused", func(c *mysql.Config) { c.Roles = []string{"ab_reader"} }, "user_prefix"},
		{"a host with a quote is refused", func(c *mysql.Config) { c.Roles = []string{"reader"}; c.Host = "%'" }, "host"},
		{"an empty host is refused", func(c *mysql.Config) { c.Roles = []string{"reader"}; c.Host = "" }, "host"},
		{"a bad prefix is refused", func(c *mysql.Config) { c.Roles = []string{"reader"}; c.UserPrefix = "AB-" }, "user_prefix"},
		{"a long prefix is refused", func(c *mysql.Config) { c.Roles = []string{"reader"}; c.UserPrefix = "abcdefghijk" }, "user_prefix"},
		{"a zero timeout is refused", func(c *mysql.Config) { c.Roles = []string{"reader"}; c.Timeout = 0 }, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mysql.NewConfig()
			cfg.DSN = "bot:s3cret@tcp(db.example.com:3306)/"
			tc.edit(cfg)
			err := cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate: got %v, want an error mentioning %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("validate error carries the DSN's password: %v", err)
			}
		})
	}
}

func TestConfigNeverPrintsTheDSN(t *testing.T) {
	cfg := mysql.NewConfig()
	cfg.DSN = "bot:s3cret@tcp(db.example.com:3306)/"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, "s3cret") {
			t.Errorf("%s prints the DSN: %s", verb, out)
		}
		if out := fmt.Sprintf(verb, *cfg); strings.Contains(out, "s3cret") {
			t.Errorf("%s of the value prints the DSN: %s", verb, out)
		}
	}
}

func TestUserNamesAreValidAndFit(t *testing.T) {
	for _, tc := range []struct{ account, grant string }{
		{"alice", "g-1"},
		{strings.Repeat("a", 32), "g-2"},
		{"bob", strings.Repeat("x", 500)},
	} {
		name, err := mysql.UserName("ab_", tc.account, tc.grant)
		if err != nil {
			t.Fatalf("%q: %v", tc.account, err)
		}
		if len(name) > 32 || !strings.HasPrefix(name, "ab_") || mysql.ValidName(name) != nil {
			t.Errorf("name %q for account %q is not a valid prefixed user name of at most 32 bytes", name, tc.account)
		}
		again, _ := mysql.UserName("ab_", tc.account, tc.grant)
		other, _ := mysql.UserName("ab_", tc.account, tc.grant+"x")
		if again != name || other == name {
			t.Errorf("names are not one per grant: %q %q %q", name, again, other)
		}
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	e := newEnv(b)
	a := e.adapter(b, e.bot(b, botGrants{}), e.withGrants)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		req := grantRequest("bench", fmt.Sprintf("g-bench-%d", n))
		lease, err := a.Grant(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Revoke(ctx, revokeRequest(req, lease)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

func TestConcurrentGrantsOfOneGrantMakeOneUser(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withGrants)
	req := grantRequest("racer", "g-race")
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := a.Grant(context.Background(), req)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent grant: %v", err)
		}
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, adapters.Lease{})) })
	var n int
	if err := e.root.QueryRowContext(ctxFor(t), "SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'ab\\_racer\\_%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d users after concurrent grants of one grant, want 1", n)
	}
}
