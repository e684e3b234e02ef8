// Package pgtest starts throwaway PostgreSQL servers for tests, from the binaries a Debian
// postgresql package installs (the highest version under /usr/lib/postgresql, else the PATH):
// initdb into a temporary directory ($PGTEST_DIR, else /dev/shm when it is a roomy tmpfs, else
// $TMPDIR), a free port on 127.0.0.1, the unix socket inside that directory, trust
// authentication for the user postgres, fsync off. Nothing is shared with a system PostgreSQL.
// Servers stop at the end of their test or package, and with the test binary if it dies.
//
// One server per package is the usual shape, with a database per test:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t)
//		...
//	}
//
// When the binaries are missing the test skips with a message saying how to install them, or
// fails when the environment variable CI is "true". initdb and postgres refuse to run as root;
// as root, pgtest runs them as the system user postgres.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/accessbot/accessbot/internal/servertest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// InstallHint says how to get the binaries.
const InstallHint = "install postgresql: apt-get install postgresql"

// Server is a running throwaway PostgreSQL.
type Server struct {
	// DSN connects to the database "postgres" as the superuser postgres.
	DSN  string
	Port int
	// Dir holds the data directory, the socket and the server log.
	Dir string

	bin  string
	cred *syscall.Credential

	proc    servertest.Process
	dbCount atomic.Int64
}

// Start starts a server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	dir, err := servertest.MakeDir("pgtest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := start(dir)
	if err != nil {
		servertest.Handle(t, err)
	}
	t.Cleanup(s.Stop)
	return s
}

// findBin returns the directory with initdb and postgres: the highest version under
// /usr/lib/postgresql, else the PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", servertest.Unavailable{Msg: "pgtest: no PostgreSQL binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or PATH; " + InstallHint}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// credential returns who to run the server as: nil for the current user, the postgres user
// when running as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, servertest.Unavailable{Msg: "pgtest: running as root, and initdb refuses root; there is no user postgres to run it as (" +
			InstallHint + ", or useradd --system postgres)"}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: user postgres has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// start initializes a cluster in dir and starts it.
func start(dir string) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, cred: cred, proc: servertest.Process{
		Name:   "postgres",
		Output: filepath.Join(dir, "postgres.log"),
		// SIGINT is a fast shutdown: open sessions are rolled back, nothing waits for them.
		StopSignal: syscall.SIGINT,
		StopGrace:  30 * time.Second,
	}}
	if cred != nil {
		if err := s.handOver(); err != nil {
			return nil, err
		}
	}
	socketDir := filepath.Join(dir, "s")
	if err := os.Mkdir(socketDir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.chown(socketDir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	s.prepare(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	err = servertest.OnFreePort(func(port int) error {
		s.Port = port
		return s.run()
	})
	if err != nil {
		return nil, err
	}
	s.DSN = s.dsn("postgres")
	return s, nil
}

// handOver gives the server's directory to the postgres user, after checking that the user
// can reach it through the directories above.
func (s *Server) handOver() error {
	for d := filepath.Dir(filepath.Clean(s.Dir)); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgtest: user postgres cannot traverse %s (mode %v); set PGTEST_DIR to a directory it can reach", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return s.chown(s.Dir)
}

func (s *Server) chown(p string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: give %s to user postgres: %w", p, err)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// prepare sets the user, environment and working directory of a server command.
func (s *Server) prepare(cmd *exec.Cmd) {
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		// If the test binary dies without cleaning up, the server shuts down with it.
		Pdeathsig: syscall.SIGQUIT,
	}
}

func (s *Server) dsn(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// run starts postgres on s.Port and waits until it accepts connections.
func (s *Server) run() error {
	socketDir := filepath.Join(s.Dir, "s")
	if len(socketDir)+len("/.s.PGSQL.65535") > 100 {
		// Too long for a unix socket path: TCP is all the tests use.
		socketDir = ""
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+socketDir,
		// Durability is worthless for a throwaway server; speed is not.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		// Tests that provoke a deadlock should not wait the default second for it.
		"-c", "deadlock_timeout=100ms",
	)
	s.prepare(cmd)
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer db.Close()
	if err := s.proc.Run(cmd, 60*time.Second, db.PingContext); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// Stop shuts the server down (a fast shutdown: SIGINT) and waits for it to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops the server and starts it again on the same data directory and port: what a
// database restart looks like to a client.
func (s *Server) Restart() error {
	s.Stop()
	if err := s.run(); err != nil {
		return fmt.Errorf("pgtest: restart: %w", err)
	}
	return nil
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database for t and returns its DSN. It is dropped when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	// The counter makes the name unique; the prefix keeps it a valid identifier.
	name = fmt.Sprintf("t%d_%s", s.dbCount.Add(1), name)
	admin, err := sql.Open("pgx", s.DSN)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// name holds only [a-z0-9_] and starts with a letter: safe as an identifier.
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !s.proc.Running() {
			return
		}
		admin, err := sql.Open("pgx", s.DSN)
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE closes connections a test left open.
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.dsn(name)
}

var shared servertest.Shared[*Server]

// Shared returns the package's shared server, started by the first test that asks. Main stops
// it after the last test.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, "pgtest", start)
}

// Main runs a package's tests and then stops the shared server, if one started. Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }
