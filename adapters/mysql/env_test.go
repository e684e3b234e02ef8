package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/mysql"
	"github.com/accessbot/accessbot/internal/mariadbtest"
)

func TestMain(m *testing.M) { mariadbtest.Main(m) }

// env is one test's database, shop, with the tables orders and customers, a role reader that
// may read shop, and root to look at the server.
type env struct {
	srv    *mariadbtest.Server
	root   *sql.DB
	db     string
	sfx    string
	reader string

	mu    sync.Mutex
	users []string // 'name'@'host' accounts and (without a host) roles to drop at the end
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := mariadbtest.Shared(t)
	dsn := srv.NewDatabase(t)
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	root, err := sql.Open("mysql", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, root: root, db: cfg.DBName, sfx: randomSuffix(t)}
	t.Cleanup(func() {
		e.dropAccounts(t)
		root.Close()
	})
	e.reader = "reader_" + e.sfx
	e.exec(t, "CREATE TABLE `"+e.db+"`.orders (id INT)")
	e.exec(t, "CREATE TABLE `"+e.db+"`.customers (id INT)")
	e.exec(t, "INSERT INTO `"+e.db+"`.orders VALUES (1), (2)")
	e.exec(t, "CREATE ROLE "+e.reader)
	e.track(e.reader)
	e.exec(t, "GRANT SELECT ON `"+e.db+"`.* TO "+e.reader)
	return e
}

func randomSuffix(t testing.TB) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) exec(t testing.TB, stmt string, args ...any) {
	t.Helper()
	if _, err := e.root.ExecContext(ctxFor(t), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func (e *env) track(account string) {
	e.mu.Lock()
	e.users = append(e.users, account)
	e.mu.Unlock()
}

func (e *env) dropAccounts(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.mu.Lock()
	users := e.users
	e.mu.Unlock()
	for _, u := range users {
		stmt := "DROP USER IF EXISTS " + u
		if !strings.Contains(u, "@") {
			// Roles have no host.
			stmt = "DROP ROLE IF EXISTS " + u
		}
		if _, err := e.root.ExecContext(ctx, stmt); err != nil {
			t.Logf("cleanup: %s: %v", stmt, err)
		}
	}
}

const botPassword = "bot-password-1"

// botListGrants are what List needs, as the README gives them for MariaDB: the grant tables,
// without the password hashes.
var botListGrants = []string{
	"GRANT SELECT (User, Host, is_role, Select_priv, Insert_priv, Update_priv, Delete_priv, Create_priv, Drop_priv, " +
		"Index_priv, Alter_priv, References_priv, Create_view_priv, Show_view_priv, Trigger_priv, Delete_history_priv, " +
		"Execute_priv, Create_routine_priv, Alter_routine_priv, Event_priv, Create_tmp_table_priv, Lock_tables_priv) ON mysql.user",
	"GRANT SELECT ON mysql.db",
	"GRANT SELECT ON mysql.tables_priv",
	"GRANT SELECT ON mysql.roles_mapping",
}

// botGrants are what a least-privilege bot holds; tests leave some out.
type botGrants struct {
	noProcess, noConnectionAdmin, noGrantOption, noRoleAdmin, noUserTable bool
}

// bot creates the adapter's own account with only what the README lists, and returns its DSN.
func (e *env) bot(t testing.TB, g botGrants) string {
	t.Helper()
	name := "bot_" + randomSuffix(t)
	acct := "'" + name + "'@'%'"
	e.exec(t, "CREATE USER "+acct+" IDENTIFIED BY '"+botPassword+"'")
	e.track(acct)
	global := "CREATE USER"
	if !g.noProcess {
		global += ", PROCESS"
	}
	if !g.noConnectionAdmin {
		global += ", CONNECTION ADMIN"
	}
	e.exec(t, "GRANT "+global+" ON *.* TO "+acct)
	if !g.noUserTable {
		for _, stmt := range botListGrants {
			e.exec(t, stmt+" TO "+acct)
		}
	}
	grantOption := " WITH GRANT OPTION"
	if g.noGrantOption {
		grantOption = ""
	}
	e.exec(t, "GRANT SELECT, INSERT ON `"+e.db+"`.* TO "+acct+grantOption)
	if !g.noRoleAdmin {
		e.exec(t, "GRANT "+e.reader+" TO "+acct+" WITH ADMIN OPTION")
	}
	return e.srv.DSNFor(name, botPassword, "")
}

// adapter builds the adapter through its registered type, as the config loader does.
func (e *env) adapter(t testing.TB, dsn string, edit func(*mysql.Config)) *mysql.MySQL {
	t.Helper()
	return newAdapter(t, dsn, zerolog.Nop(), edit)
}

func newAdapter(t testing.TB, dsn string, log zerolog.Logger, edit func(*mysql.Config)) *mysql.MySQL {
	t.Helper()
	typ, ok := adapters.Lookup("mysql")
	if !ok {
		t.Fatal("mysql is not registered")
	}
	cfg := typ.NewConfig().(*mysql.Config)
	cfg.DSN = mysql.DSN(dsn)
	edit(cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: "shop-db", Log: log})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() { a.(adapters.Closer).Close() })
	return a.(*mysql.MySQL)
}

func (e *env) withGrants(c *mysql.Config) {
	c.Grants = []string{"SELECT ON " + e.db + ".*", "INSERT ON " + e.db + ".orders"}
}

func (e *env) withRoles(c *mysql.Config) { c.Roles = []string{e.reader} }

// recorder keeps the last password each grant returned, as the requester's DM would.
type recorder struct {
	*mysql.MySQL
	mu      sync.Mutex
	secrets map[string]string
}

func record(a *mysql.MySQL) *recorder { return &recorder{MySQL: a, secrets: map[string]string{}} }

func (r *recorder) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	lease, err := r.MySQL.Grant(ctx, req)
	if err == nil && lease.Secret != nil {
		r.mu.Lock()
		r.secrets[req.GrantID] = lease.Secret.Value
		r.mu.Unlock()
	}
	return lease, err
}

func (r *recorder) password(grantID string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pw, ok := r.secrets[grantID]
	return pw, ok
}

// login opens a single connection as user; false when the server refuses the login (1045, or
// 4151 for a locked account), a test failure on any other error.
func (e *env) login(t testing.TB, user, password string) (*sql.Conn, func(), bool) {
	t.Helper()
	db, err := sql.Open("mysql", e.srv.DSNFor(user, password, ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		var me *mysqldrv.MySQLError
		if errors.As(err, &me) && (me.Number == 1045 || me.Number == 4151) {
			return nil, nil, false
		}
		t.Fatalf("log in as %s: %v", user, err)
	}
	return conn, func() { conn.Close(); db.Close() }, true
}

// canRead logs in (activating role when set) and reads shop.orders.
func (e *env) canRead(t testing.TB, user, password, role string) bool {
	t.Helper()
	conn, done, ok := e.login(t, user, password)
	if !ok {
		return false
	}
	defer done()
	if role != "" {
		if _, err := conn.ExecContext(ctxFor(t), "SET ROLE "+role); err != nil {
			t.Fatalf("SET ROLE %s as %s: %v", role, user, err)
		}
	}
	var n int
	err := conn.QueryRowContext(ctxFor(t), "SELECT COUNT(*) FROM `"+e.db+"`.orders").Scan(&n)
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) && (me.Number == 1142 || me.Number == 1044) {
		return false
	}
	if err != nil {
		t.Fatalf("read as %s: %v", user, err)
	}
	return true
}

// userExists asks mysql.user.
func (e *env) userExists(t testing.TB, user string) bool {
	t.Helper()
	var n int
	if err := e.root.QueryRowContext(ctxFor(t), "SELECT COUNT(*) FROM mysql.user WHERE User = ?", user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func userName(t testing.TB, account, grantID string) string {
	t.Helper()
	name, err := mysql.UserName("ab_", account, grantID)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func grantRequest(account, grantID string) adapters.GrantRequest {
	start := time.Now().Truncate(time.Second)
	return adapters.GrantRequest{
		GrantID:  grantID,
		Resource: "shop-db",
		Subject:  adapters.Subject{ID: account + "@example.com", Account: account},
		Reason:   "testing",
		Start:    start,
		Expires:  start.Add(time.Hour),
	}
}

func revokeRequest(req adapters.GrantRequest, lease adapters.Lease) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
}

// processes counts the server's connections for user.
func (e *env) processes(t testing.TB, user string) int {
	t.Helper()
	var n int
	if err := e.root.QueryRowContext(ctxFor(t), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
