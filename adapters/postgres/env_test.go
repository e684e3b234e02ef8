package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/postgres"
	"github.com/accessbot/accessbot/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var passwords struct {
	once sync.Once
	err  error
}

// server returns the package's PostgreSQL with password authentication for every role but
// postgres. pgtest trusts every local connection, which would make VALID UNTIL and passwords
// meaningless; the tests need the server to check them as a production server does.
func server(t testing.TB) *pgtest.Server {
	t.Helper()
	srv := pgtest.Shared(t)
	passwords.once.Do(func() { passwords.err = requirePasswords(srv) })
	if passwords.err != nil {
		t.Fatal(passwords.err)
	}
	return srv
}

func requirePasswords(srv *pgtest.Server) error {
	hba := "local all all trust\n" +
		"host all postgres 127.0.0.1/32 trust\n" +
		"host all all 127.0.0.1/32 scram-sha-256\n" +
		"host all all ::1/128 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(srv.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE ROLE hba_probe LOGIN PASSWORD 'probe'`); err != nil {
		return fmt.Errorf("create probe role: %w", err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		return err
	}
	// The postmaster rereads the file asynchronously: poll until a wrong password is refused.
	u, _ := url.Parse(srv.DSN)
	u.User = url.UserPassword("hba_probe", "wrong")
	for {
		c, err := pgx.Connect(ctx, u.String())
		if err != nil {
			if authRefused(err) {
				return nil
			}
			return fmt.Errorf("probe login: %w", err)
		}
		c.Close(ctx)
		if ctx.Err() != nil {
			return errors.New("pg_hba.conf with passwords never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authRefused reports whether a login failed because the server refused the role or its
// password (rather than because the server was unreachable).
func authRefused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000")
}

// env is one test's database with its own roles: reader may read app.orders, writer may create
// tables in app, owner receives reassigned objects.
type env struct {
	srv    *pgtest.Server
	dsn    string
	admin  *pgxpool.Pool
	sfx    string
	reader string
	writer string
	owner  string
	schema string

	mu    sync.Mutex
	roles []string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := server(t)
	e := &env{srv: srv, dsn: srv.NewDatabase(t), sfx: randomSuffix(t)}
	admin, err := pgxpool.New(context.Background(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	e.admin = admin
	t.Cleanup(func() {
		e.dropRoles(t)
		admin.Close()
	})
	e.reader, e.writer, e.owner, e.schema = "reader_"+e.sfx, "writer_"+e.sfx, "owner_"+e.sfx, "app_"+e.sfx
	e.createRole(t, e.reader, "NOLOGIN")
	e.createRole(t, e.writer, "NOLOGIN")
	e.createRole(t, e.owner, "NOLOGIN")
	s := pgx.Identifier{e.schema}.Sanitize()
	e.exec(t, `CREATE SCHEMA `+s)
	e.exec(t, `CREATE TABLE `+s+`.orders (id int)`)
	e.exec(t, `INSERT INTO `+s+`.orders VALUES (1), (2)`)
	e.exec(t, fmt.Sprintf(`GRANT USAGE ON SCHEMA %s TO %s, %s`, s, e.reader, e.writer))
	e.exec(t, fmt.Sprintf(`GRANT SELECT ON %s.orders TO %s`, s, e.reader))
	e.exec(t, fmt.Sprintf(`GRANT CREATE ON SCHEMA %s TO %s`, s, e.writer))
	// The holders table of membership mode, as the operator creates it; each bot gets SELECT,
	// INSERT and DELETE on it. closed_holders is one no bot may use.
	e.exec(t, postgres.HoldersTableDDL("accessbot_holders"))
	e.exec(t, postgres.HoldersTableDDL("closed_holders"))
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

func (e *env) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := e.admin.Exec(ctxFor(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// createRole creates a role that is dropped when the env ends.
func (e *env) createRole(t testing.TB, name, attrs string) {
	t.Helper()
	if err := e.tryCreateRole(name, attrs); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tryCreateRole(name, attrs string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.admin.Exec(ctx, `CREATE ROLE `+pgx.Identifier{name}.Sanitize()+` `+attrs); err != nil {
		return fmt.Errorf("create role %s: %w", name, err)
	}
	e.mu.Lock()
	e.roles = append(e.roles, name)
	e.mu.Unlock()
	return nil
}

func (e *env) dropRoles(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.mu.Lock()
	roles := e.roles
	e.mu.Unlock()
	for i := len(roles) - 1; i >= 0; i-- {
		r := pgx.Identifier{roles[i]}.Sanitize()
		_, err := e.admin.Exec(ctx, `DROP OWNED BY `+r)
		if err == nil {
			_, err = e.admin.Exec(ctx, `DROP ROLE `+r)
		}
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42704") {
			t.Logf("cleanup: drop role %s: %v", roles[i], err)
		}
	}
}

// dsnAs is the test database's DSN for another user.
func (e *env) dsnAs(user, password string) string {
	u, _ := url.Parse(e.dsn)
	u.User = url.UserPassword(user, password)
	return u.String()
}

const botPassword = "bot-password-1"

// bot creates the adapter's own login role, never a superuser: attrs such as CREATEROLE, and
// ADMIN OPTION on adminOf.
func (e *env) bot(t testing.TB, attrs string, adminOf ...string) string {
	t.Helper()
	name := "bot_" + randomSuffix(t)
	e.createRole(t, name, "LOGIN NOSUPERUSER PASSWORD '"+botPassword+"' "+attrs)
	for _, r := range adminOf {
		e.exec(t, fmt.Sprintf(`GRANT %s TO %s WITH ADMIN OPTION`, r, name))
	}
	e.exec(t, fmt.Sprintf(`GRANT SELECT, INSERT, DELETE ON accessbot_holders TO %s`, name))
	return e.dsnAs(name, botPassword)
}

const personPassword = "person-password-1"

// person creates a person's own login role, for membership mode.
func (e *env) person(t testing.TB, account string) {
	t.Helper()
	e.createRole(t, account, "LOGIN PASSWORD '"+personPassword+"'")
}

// adapter builds the adapter through its registered type, as the config loader does.
func (e *env) adapter(t testing.TB, dsn string, edit func(*postgres.Config)) *postgres.Postgres {
	t.Helper()
	return newAdapter(t, dsn, zerolog.Nop(), func(c *postgres.Config) {
		c.Roles = []string{e.reader, e.writer}
		if edit != nil {
			edit(c)
		}
	})
}

func newAdapter(t testing.TB, dsn string, log zerolog.Logger, edit func(*postgres.Config)) *postgres.Postgres {
	t.Helper()
	return newResourceAdapter(t, "test-db", dsn, log, edit)
}

// adapterFor is adapter for a resource of another name, for resources that share a role.
func (e *env) adapterFor(t testing.TB, resource, dsn string, edit func(*postgres.Config)) *postgres.Postgres {
	t.Helper()
	return newResourceAdapter(t, resource, dsn, zerolog.Nop(), func(c *postgres.Config) {
		c.Roles = []string{e.reader, e.writer}
		if edit != nil {
			edit(c)
		}
	})
}

func newResourceAdapter(t testing.TB, resource, dsn string, log zerolog.Logger, edit func(*postgres.Config)) *postgres.Postgres {
	t.Helper()
	typ, ok := adapters.Lookup("postgres")
	if !ok {
		t.Fatal("postgres is not registered")
	}
	cfg := typ.NewConfig().(*postgres.Config)
	cfg.DSN = postgres.DSN(dsn)
	edit(cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: resource, Log: log})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	t.Cleanup(func() { a.(adapters.Closer).Close() })
	return a.(*postgres.Postgres)
}

func ephemeral(drop bool, reassignTo string) func(*postgres.Config) {
	return func(c *postgres.Config) {
		c.Mode = postgres.ModeEphemeral
		if drop {
			c.OnRevokeOwned = postgres.OwnedDrop
		} else {
			c.OnRevokeOwned, c.ReassignTo = postgres.OwnedReassign, reassignTo
		}
	}
}

func membership(c *postgres.Config) { c.Mode = postgres.ModeMembership }

// recorder keeps the last password each grant returned, as the requester's DM would, so the
// tests can log in with it. Embedding keeps the adapter's optional interfaces visible to the kit.
type recorder struct {
	*postgres.Postgres
	mu      sync.Mutex
	secrets map[string]string
}

func record(a *postgres.Postgres) *recorder {
	return &recorder{Postgres: a, secrets: map[string]string{}}
}

func (r *recorder) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	lease, err := r.Postgres.Grant(ctx, req)
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

// login connects as user with password; it reports false when the server refuses the login and
// fails the test on any other error.
func (e *env) login(t testing.TB, user, password string) (*pgx.Conn, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.dsnAs(user, password))
	if err != nil {
		if authRefused(err) {
			return nil, false
		}
		t.Fatalf("log in as %s: %v", user, err)
	}
	return conn, true
}

func (e *env) canLogin(t testing.TB, user, password string) bool {
	t.Helper()
	conn, ok := e.login(t, user, password)
	if ok {
		conn.Close(context.Background())
	}
	return ok
}

// canRead logs in and reads the table only reader may read.
func (e *env) canRead(t testing.TB, user, password string) bool {
	t.Helper()
	conn, ok := e.login(t, user, password)
	if !ok {
		return false
	}
	defer conn.Close(context.Background())
	var n int
	err := conn.QueryRow(ctxFor(t), `SELECT count(*) FROM `+pgx.Identifier{e.schema, "orders"}.Sanitize()).Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return false
	}
	if err != nil {
		t.Fatalf("read as %s: %v", user, err)
	}
	return true
}

// memberships counts how many of roles member belongs to, from pg_auth_members.
func (e *env) memberships(t testing.TB, member string, roles ...string) int {
	t.Helper()
	var n int
	err := e.admin.QueryRow(ctxFor(t), `SELECT count(*) FROM pg_auth_members am
		JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
		WHERE m.rolname = $1 AND r.rolname = ANY($2)`, member, roles).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// holds counts how many of roles member holds by any path (directly or through other roles),
// from pg_has_role.
func (e *env) holds(t testing.TB, member string, roles ...string) int {
	t.Helper()
	n := 0
	for _, r := range roles {
		var ok bool
		if err := e.admin.QueryRow(ctxFor(t), `SELECT pg_has_role($1, $2, 'MEMBER')`, member, r).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			n++
		}
	}
	return n
}

// loginRole reports whether name exists and may log in, from pg_roles.
func (e *env) loginRole(t testing.TB, name string) (exists, canLogin bool) {
	t.Helper()
	err := e.admin.QueryRow(ctxFor(t), `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, name).Scan(&canLogin)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true, canLogin
}

// personSubject makes kit subjects that have their own login role, as membership mode needs.
// The kit calls it from its subtests' goroutines, so a failure is reported, not fatal.
func (e *env) personSubject(t testing.TB) func(string) adapters.Subject {
	return func(name string) adapters.Subject {
		s := adaptertest.Subject(name)
		if err := e.tryCreateRole(s.Account, "LOGIN PASSWORD '"+personPassword+"'"); err != nil {
			t.Errorf("person %s: %v", s.Account, err)
		}
		return s
	}
}

func roleName(t testing.TB, account, grantID string) string {
	t.Helper()
	name, err := postgres.EphemeralRoleName("ab_", account, grantID)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func grantRequest(account, grantID string, lifetime time.Duration) adapters.GrantRequest {
	start := time.Now().Truncate(time.Second)
	return adapters.GrantRequest{
		GrantID:  grantID,
		Resource: "test-db",
		Subject:  adapters.Subject{ID: account + "@example.com", Email: account + "@example.com", Account: account},
		Reason:   "testing",
		Start:    start,
		Expires:  start.Add(lifetime),
	}
}

func revokeRequest(req adapters.GrantRequest, lease adapters.Lease) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
}
