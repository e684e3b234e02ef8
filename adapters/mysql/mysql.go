// Package mysql is the "mysql" adapter, for MariaDB and MySQL: each grant creates a user of its
// own, named from the person and the grant (<user_prefix><account>_<8 hex digits of the grant
// ID's SHA-256>, at most 32 characters), with a random password that reaches the requester only
// as the lease's secret, and the configured privileges or roles. Revoke locks the account, kills
// its connections (KILL CONNECTION for each of its threads in information_schema.PROCESSLIST)
// and drops it.
//
// Neither server can expire an account at a given time (MariaDB has no VALID UNTIL for users;
// PASSWORD EXPIRE INTERVAL only forces a password change, and an expired password can still log
// in to change it), so the scheduler's revocation is what ends access.
//
// On MariaDB the password is sent as its mysql_native_password hash, so it never appears in the
// server's general log. On MySQL it is sent as IDENTIFIED BY, which MySQL rewrites in its logs.
// Every name is checked before it reaches SQL, and backtick-quoted all the same.
package mysql

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "mysql",
		Doc:       "creates a MariaDB or MySQL user per grant, with a random password and the configured privileges or roles",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// Lease data keys.
const (
	dataUser = "user"
	dataHost = "host"
)

const (
	// lockWait bounds the wait for another call on the same user.
	lockWait = 10 * time.Second
	// killWait bounds the wait for killed connections to leave the process list.
	killWait = 5 * time.Second
)

// MySQL is the adapter. It is safe for concurrent use.
type MySQL struct {
	cfg    Config
	grants []Privilege
	log    zerolog.Logger
	db     *sql.DB

	mu      sync.Mutex
	mariadb *bool // nil until the server has said what it is
}

// New returns the adapter for a validated config. It does not connect.
func New(cfg Config, env adapters.Env) (*MySQL, error) {
	mc, err := mysqldrv.ParseDSN(string(cfg.DSN))
	if err != nil {
		return nil, adapters.Permanentf("dsn is not a valid DSN")
	}
	mc.Timeout = cfg.ConnectTimeout
	mc.ReadTimeout = cfg.Timeout
	mc.WriteTimeout = cfg.Timeout
	// Statements are sent as written: no client-side interpolation of arguments into SQL.
	mc.InterpolateParams = false
	mc.MultiStatements = false
	connector, err := mysqldrv.NewConnector(mc)
	if err != nil {
		return nil, adapters.Permanentf("configure mysql connection: %v", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	db.SetConnMaxIdleTime(time.Minute)
	m := &MySQL{cfg: cfg, log: env.Log, db: db}
	for _, g := range cfg.Grants {
		p, err := ParsePrivilege(g)
		if err != nil {
			db.Close()
			return nil, adapters.Permanentf("grants: %v", err)
		}
		m.grants = append(m.grants, p)
	}
	return m, nil
}

// Close closes the bot's connections.
func (m *MySQL) Close() error { return m.db.Close() }

// UserName returns the user a grant creates: prefix, the account (shortened to fit 32
// characters), "_" and the first 8 hex digits of the SHA-256 of the grant ID. The same grant
// always gets the same name, which makes Grant idempotent and lets Revoke work without lease
// data.
func UserName(prefix, account, grantID string) (string, error) {
	if err := ValidName(account); err != nil {
		return "", fmt.Errorf("account: %w", err)
	}
	if grantID == "" {
		return "", errors.New("empty grant id")
	}
	sum := sha256.Sum256([]byte(grantID))
	short := hex.EncodeToString(sum[:4])
	room := maxUserLen - len(prefix) - 1 - len(short)
	if len(account) > room {
		account = account[:room]
	}
	name := prefix + account + "_" + short
	if err := ValidName(name); err != nil {
		return "", err
	}
	return name, nil
}

// quote backtick-quotes a name that has already been validated; doubling a backtick is
// MySQL's own escape, kept in case a check is ever loosened.
func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func account(user, host string) string { return quote(user) + "@" + quote(host) }

func (p Privilege) object() string {
	table := "*"
	if p.Table != "*" {
		table = quote(p.Table)
	}
	return quote(p.Database) + "." + table
}

// Grant creates the user with a new password and gives it the configured privileges or roles.
// A second call for the same grant sets a new password and returns it, since the first one may
// never have reached the requester.
func (m *MySQL) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	lease, err := m.grant(ctx, req)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	m.log.Info().Str("grant_id", req.GrantID).Msg("mysql user created")
	return lease, nil
}

func (m *MySQL) grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	user, err := UserName(m.cfg.UserPrefix, req.Subject.Account, req.GrantID)
	if err != nil {
		return adapters.Lease{}, adapters.PermanentError(err)
	}
	host := m.cfg.Host
	password := rand.Text()
	conn, release, err := m.locked(ctx, user)
	if err != nil {
		return adapters.Lease{}, err
	}
	defer release()
	mariadb, err := m.isMariaDB(ctx, conn)
	if err != nil {
		return adapters.Lease{}, err
	}
	// MariaDB takes the hash, which keeps the password out of its logs; MySQL 8 dropped
	// mysql_native_password by default, and rewrites IDENTIFIED BY in its logs itself.
	auth, secret := "IDENTIFIED BY PASSWORD '"+nativeHash(password)+"'", ""
	if !mariadb {
		auth, secret = "IDENTIFIED BY '"+password+"'", password
	}
	target := account(user, host)
	err = execSecret(ctx, conn, "CREATE USER "+target+" "+auth, secret)
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) && me.Number == erCannotUser {
		// It exists: this grant was made before and its answer lost.
		err = execSecret(ctx, conn, "ALTER USER "+target+" "+auth+" ACCOUNT UNLOCK", secret)
	}
	if err != nil {
		return adapters.Lease{}, err
	}
	for _, p := range m.grants {
		if err := execSecret(ctx, conn, "GRANT "+strings.Join(p.Privileges, ", ")+" ON "+p.object()+" TO "+target, ""); err != nil {
			return adapters.Lease{}, err
		}
	}
	if len(m.cfg.Roles) > 0 {
		quoted := make([]string, len(m.cfg.Roles))
		for i, r := range m.cfg.Roles {
			quoted[i] = quote(r)
		}
		if err := execSecret(ctx, conn, "GRANT "+strings.Join(quoted, ", ")+" TO "+target, ""); err != nil {
			return adapters.Lease{}, err
		}
		// MariaDB sets another user's default role only with UPDATE on the mysql database,
		// which would let the bot rewrite any account; its users run SET ROLE instead.
		if !mariadb {
			if err := execSecret(ctx, conn, "SET DEFAULT ROLE ALL TO "+target, ""); err != nil {
				return adapters.Lease{}, err
			}
		}
	}
	label := fmt.Sprintf("%s password for user %s (host %s)", m.flavor(mariadb), user, host)
	if mariadb && len(m.cfg.Roles) == 1 {
		label += "; after logging in run SET ROLE " + m.cfg.Roles[0]
	} else if mariadb && len(m.cfg.Roles) > 1 {
		label += "; after logging in run SET ROLE with one of " + strings.Join(m.cfg.Roles, ", ")
	}
	return adapters.Lease{
		Data:   map[string]string{dataUser: user, dataHost: host},
		Secret: &adapters.Secret{Kind: "password", Label: label, Value: password},
	}, nil
}

func (m *MySQL) flavor(mariadb bool) string {
	if mariadb {
		return "MariaDB"
	}
	return "MySQL"
}

// Revoke locks the account, kills its connections and drops it. A user already gone is
// success.
func (m *MySQL) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if err := m.revoke(ctx, req); err != nil {
		return fmt.Errorf("revoke grant %s: %w", req.GrantID, err)
	}
	m.log.Info().Str("grant_id", req.GrantID).Msg("mysql user dropped")
	return nil
}

func (m *MySQL) revoke(ctx context.Context, req adapters.RevokeRequest) error {
	user, host := "", m.cfg.Host
	if u, ok := req.Data[dataUser]; ok {
		if err := ValidName(u); err != nil {
			return adapters.Permanentf("lease user: %w", err)
		}
		if !strings.HasPrefix(u, m.cfg.UserPrefix) {
			return adapters.Permanentf("lease user %s does not start with user_prefix %q", u, m.cfg.UserPrefix)
		}
		user = u
		if h, ok := req.Data[dataHost]; ok {
			if err := validHost(h); err != nil {
				return adapters.Permanentf("lease host: %w", err)
			}
			host = h
		}
	} else {
		u, err := UserName(m.cfg.UserPrefix, req.Subject.Account, req.GrantID)
		if err != nil {
			// Grant refuses the same account, so no user was made.
			return nil
		}
		user = u
	}
	conn, release, err := m.locked(ctx, user)
	if err != nil {
		return err
	}
	defer release()
	target := account(user, host)
	// No new logins from here on; then the ones already in.
	if err := execSecret(ctx, conn, "ALTER USER IF EXISTS "+target+" ACCOUNT LOCK", ""); err != nil {
		return err
	}
	if err := m.killConnections(ctx, conn, user); err != nil {
		return err
	}
	return execSecret(ctx, conn, "DROP USER IF EXISTS "+target, "")
}

// killConnections kills every connection of user and waits until the process list no longer
// shows them. It needs PROCESS (to see other users' threads) and CONNECTION ADMIN or SUPER.
func (m *MySQL) killConnections(ctx context.Context, conn *sql.Conn, user string) error {
	deadline := time.Now().Add(killWait)
	killed := map[int64]bool{}
	for {
		ids, err := threads(ctx, conn, user)
		if err != nil {
			return err
		}
		var fresh []int64
		for _, id := range ids {
			if !killed[id] {
				fresh = append(fresh, id)
			}
		}
		for _, id := range fresh {
			_, err := conn.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
			var me *mysqldrv.MySQLError
			if err != nil && !(errors.As(err, &me) && me.Number == erNoSuchThread) {
				return classify(fmt.Errorf("kill connection %d of %s: %w", id, user, err))
			}
			killed[id] = true
		}
		if len(ids) == 0 {
			if len(killed) > 0 {
				m.log.Debug().Int("connections", len(killed)).Msg("mysql connections killed")
			}
			return nil
		}
		if time.Now().After(deadline) {
			return adapters.Retryablef("%d connection(s) of %s still open %s after KILL", len(ids), user, killWait)
		}
		// A killed thread leaves the list once it notices; polling the server is the only way
		// to see that.
		select {
		case <-ctx.Done():
			return adapters.RetryableError(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func threads(ctx context.Context, conn *sql.Conn, user string) ([]int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()`, user)
	if err != nil {
		return nil, classify(fmt.Errorf("list connections of %s: %w", user, err))
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, classify(fmt.Errorf("list connections of %s: %w", user, err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("list connections of %s: %w", user, err))
	}
	return ids, nil
}

var suffixRE = regexp.MustCompile(`^(.+)_[0-9a-f]{8}$`)

// List reports every account that holds the resource's access (see holders.go for what that
// means precisely), and every user whose name starts with user_prefix whatever it holds. A user
// in the adapter's name form is reported under the account its name holds (shortened when the
// account was too long to fit); any other account under its user name, with its host in the
// detail. The bot's own login is left out.
func (m *MySQL) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	list, err := m.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return list, nil
}

func (m *MySQL) list(ctx context.Context) ([]adapters.Access, error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("connect: %w", err))
	}
	defer conn.Close()
	mariadb, err := m.isMariaDB(ctx, conn)
	if err != nil {
		return nil, err
	}
	var self string
	if err := conn.QueryRowContext(ctx, `SELECT CURRENT_USER()`).Scan(&self); err != nil {
		return nil, classify(err)
	}
	g, err := readGrantTables(ctx, conn, mariadb, false)
	if err != nil {
		return nil, classify(err)
	}
	pairs, roles := m.managed(g)
	var list []adapters.Access
	for _, key := range g.account {
		if key == self {
			continue
		}
		at := strings.LastIndexByte(key, '@')
		user, host := key[:at], key[at+1:]
		holds := m.holdings(g, key, pairs, roles)
		own := strings.HasPrefix(user, m.cfg.UserPrefix) && user != ""
		if len(holds) == 0 && !own {
			continue
		}
		a := adapters.Access{Account: user, Detail: fmt.Sprintf("user '%s'@'%s'", user, host)}
		if user == "" {
			a.Account = "(anonymous)"
		}
		if own {
			if sub := suffixRE.FindStringSubmatch(strings.TrimPrefix(user, m.cfg.UserPrefix)); sub != nil {
				a.Account = sub[1]
			} else {
				a.Detail += " has user_prefix but not the adapter's name form"
			}
		}
		if len(holds) > 0 {
			a.Detail += ": " + strings.Join(holds, "; ")
		}
		list = append(list, a)
	}
	if holds := m.holdings(g, "PUBLIC@", pairs, roles); len(holds) > 0 {
		list = append(list, adapters.Access{Account: "PUBLIC", Detail: "every account, through PUBLIC: " + strings.Join(holds, "; ")})
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Account != list[j].Account {
			return list[i].Account < list[j].Account
		}
		return list[i].Detail < list[j].Detail
	})
	return list, nil
}

// Check connects and verifies the bot's privileges: CREATE USER, PROCESS, CONNECTION ADMIN (or
// SUPER), each configured privilege WITH GRANT OPTION at the database, table or global level,
// each configured role WITH ADMIN OPTION (MariaDB), and reading the grant tables List reads.
func (m *MySQL) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("check mysql: %w", err)
	}
	return nil
}

func (m *MySQL) check(ctx context.Context) error {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return classify(fmt.Errorf("connect: %w", err))
	}
	defer conn.Close()
	mariadb, err := m.isMariaDB(ctx, conn)
	if err != nil {
		return err
	}
	var current string
	if err := conn.QueryRowContext(ctx, `SELECT CURRENT_USER()`).Scan(&current); err != nil {
		return classify(err)
	}
	i := strings.LastIndexByte(current, '@')
	if i < 0 {
		return adapters.Permanentf("unexpected CURRENT_USER() %q", current)
	}
	grantee := "'" + current[:i] + "'@'" + current[i+1:] + "'"

	global := map[string]bool{} // privilege -> grantable
	if err := scanRows(ctx, conn, func(r *sql.Rows) error {
		var priv, grantable string
		if err := r.Scan(&priv, &grantable); err != nil {
			return err
		}
		global[priv] = grantable == "YES"
		return nil
	}, `SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?`, grantee); err != nil {
		return err
	}
	_, super := global["SUPER"]
	has := func(p string) bool { _, ok := global[p]; return ok }
	if !has("CREATE USER") {
		return adapters.Permanentf("%s lacks CREATE USER", current)
	}
	if !has("PROCESS") {
		return adapters.Permanentf("%s lacks PROCESS: revoke could not see the user's connections to kill them", current)
	}
	if !super && !has("CONNECTION ADMIN") && !has("CONNECTION_ADMIN") {
		return adapters.Permanentf("%s lacks CONNECTION ADMIN (MariaDB) or CONNECTION_ADMIN (MySQL): revoke could not kill the user's connections", current)
	}

	if len(m.grants) > 0 {
		type key struct{ db, table, priv string }
		grantable := map[key]bool{}
		collect := func(withTable bool) func(*sql.Rows) error {
			return func(r *sql.Rows) error {
				var k key
				var err error
				if withTable {
					err = r.Scan(&k.db, &k.table, &k.priv)
				} else {
					err = r.Scan(&k.db, &k.priv)
					k.table = "*"
				}
				grantable[k] = true
				return err
			}
		}
		if err := scanRows(ctx, conn, collect(false), `SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND IS_GRANTABLE = 'YES'`, grantee); err != nil {
			return err
		}
		if err := scanRows(ctx, conn, collect(true), `SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? AND IS_GRANTABLE = 'YES'`, grantee); err != nil {
			return err
		}
		for _, p := range m.grants {
			for _, priv := range p.Privileges {
				ok := global[priv] || grantable[key{p.Database, "*", priv}] ||
					(p.Table != "*" && grantable[key{p.Database, p.Table, priv}])
				if !ok {
					return adapters.Permanentf("%s may not grant %s ON %s (it needs the privilege WITH GRANT OPTION)", current, priv, p.object())
				}
			}
		}
	}

	if len(m.cfg.Roles) > 0 && mariadb {
		admin := map[string]bool{}
		if err := scanRows(ctx, conn, func(r *sql.Rows) error {
			var role string
			if err := r.Scan(&role); err != nil {
				return err
			}
			admin[role] = true
			return nil
		}, `SELECT ROLE_NAME FROM information_schema.APPLICABLE_ROLES WHERE GRANTEE = ? AND IS_GRANTABLE = 'YES'`, current); err != nil {
			return err
		}
		for _, r := range m.cfg.Roles {
			if !admin[r] {
				return adapters.Permanentf("%s may not grant role %s (it needs the role WITH ADMIN OPTION)", current, r)
			}
		}
	}

	if _, err := readGrantTables(ctx, conn, mariadb, true); err != nil {
		return classify(fmt.Errorf("%s cannot read the grant tables (mysql.user's User, Host and privilege columns, mysql.db, mysql.tables_priv, and mysql.roles_mapping or mysql.role_edges), which List needs: %w", current, err))
	}
	return nil
}

func scanRows(ctx context.Context, conn *sql.Conn, scan func(*sql.Rows) error, query string, args ...any) error {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return classify(err)
		}
	}
	return classify(rows.Err())
}

// locked returns a connection holding a named lock for user, so two calls for the same user (a
// retried grant racing its first attempt, a revoke racing a grant) take turns. release gives
// the lock back and returns the connection to the pool.
func (m *MySQL) locked(ctx context.Context, user string) (*sql.Conn, func(), error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("connect: %w", err))
	}
	lock := "accessbot:" + user
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, lock, int(lockWait.Seconds())).Scan(&got); err != nil {
		conn.Close()
		return nil, nil, classify(fmt.Errorf("lock %s: %w", user, err))
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, nil, adapters.Retryablef("lock %s: another call held it for %s", user, lockWait)
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT RELEASE_LOCK(?)`, lock); err != nil {
			// A connection that cannot release its lock must not go back to the pool holding it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	return conn, release, nil
}

func (m *MySQL) isMariaDB(ctx context.Context, conn *sql.Conn) (bool, error) {
	m.mu.Lock()
	known := m.mariadb
	m.mu.Unlock()
	if known != nil {
		return *known, nil
	}
	var version string
	if err := conn.QueryRowContext(ctx, `SELECT VERSION()`).Scan(&version); err != nil {
		return false, classify(fmt.Errorf("server version: %w", err))
	}
	mariadb := strings.Contains(strings.ToLower(version), "mariadb")
	m.mu.Lock()
	m.mariadb = &mariadb
	m.mu.Unlock()
	return mariadb, nil
}

// execSecret runs a statement built from checked, quoted names; secret, when set, is removed
// from any error, since a server may quote the statement back.
func execSecret(ctx context.Context, conn *sql.Conn, stmt, secret string) error {
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		head := stmt
		if i := strings.IndexByte(head, '\''); i >= 0 && strings.Contains(stmt, "IDENTIFIED") {
			head = strings.TrimSpace(head[:i]) + " ..."
		}
		err = classify(fmt.Errorf("%s: %w", head, err))
		if secret != "" && strings.Contains(err.Error(), secret) {
			return &adapters.Error{Kind: adapters.KindOf(err), Err: errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))}
		}
		return err
	}
	return nil
}

// nativeHash is the mysql_native_password hash of password: "*" and the upper-case hex of
// SHA1(SHA1(password)).
func nativeHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// Server error numbers the adapter acts on.
const (
	erCannotUser   = 1396 // CREATE USER for a user that exists
	erNoSuchThread = 1094 // KILL of a connection that has ended
)

// retryableErrors are server errors that may go away: too many connections, lock wait,
// deadlock, shutdown, interrupted query, network trouble, out of resources.
var retryableErrors = map[uint16]bool{
	1040: true, 1205: true, 1213: true, 1053: true, 1077: true, 1078: true, 1079: true, 1080: true,
	1152: true, 1153: true, 1154: true, 1155: true, 1156: true, 1157: true, 1158: true, 1159: true,
	1160: true, 1161: true, 1317: true, 1927: true, 3024: true, 1969: true,
	1037: true, 1038: true, 1041: true, 1135: true, 1203: true,
}

// classify gives err its kind: the server refusing a permission, an unknown role or a bad
// statement is permanent; lost connections, timeouts and overload are retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return adapters.RetryableError(err)
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		if retryableErrors[me.Number] {
			return adapters.RetryableError(err)
		}
		// Including 1045: the bot's own credentials are refused, a configuration problem.
		return adapters.PermanentError(err)
	}
	return adapters.RetryableError(err)
}

var (
	_ adapters.Adapter = (*MySQL)(nil)
	_ adapters.Lister  = (*MySQL)(nil)
	_ adapters.Checker = (*MySQL)(nil)
	_ adapters.Closer  = (*MySQL)(nil)
)
