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
	"fmt"
	"github.com/accessbot/accessbot/internal/servertest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

	bin   string
	runAs servertest.RunAs
	proc  servertest.Process
	dbs   servertest.Databases
}

// Start starts a server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return servertest.Start(t, func() (string, error) { return servertest.MakeDir("pgtest") }, start)
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
		if servertest.IsExecutable(filepath.Join(d, "initdb")) && servertest.IsExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if servertest.IsExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", servertest.Unavailable{Msg: "pgtest: no PostgreSQL binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or PATH; " + InstallHint}
}

// runAs returns who runs initdb and postgres: the current user, or as root the user postgres,
// since both refuse root.
func runAs() (servertest.RunAs, error) {
	return servertest.RequireRunAs("pgtest", "postgres", "pgtest: running as root, and initdb refuses root; there is no user postgres to run it as ("+
		InstallHint+", or useradd --system postgres)")
}

// start initializes a cluster in dir and starts it.
func start(dir string) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	r, err := runAs()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, runAs: r, proc: servertest.Process{
		Label:  "pgtest",
		Name:   "postgres",
		Output: filepath.Join(dir, "postgres.log"),
		// SIGINT is a fast shutdown: open sessions are rolled back, nothing waits for them.
		StopSignal: syscall.SIGINT,
		StopGrace:  30 * time.Second,
	}}
	if err := s.runAs.HandOver(dir, "PGTEST_DIR"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	socketDir := filepath.Join(dir, "s")
	if err := os.Mkdir(socketDir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.runAs.Chown(socketDir); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	s.prepare(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	if err := servertest.OnFreePort(s.runOn); err != nil {
		return nil, err
	}
	s.DSN = s.dsn("postgres")
	s.dbs = servertest.Databases{Label: "pgtest", Driver: "pgx", AdminDSN: s.DSN, Running: s.proc.Running,
		Create: `CREATE DATABASE %s`,
		// FORCE closes connections a test left open.
		Drop: `DROP DATABASE IF EXISTS %s WITH (FORCE)`}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// prepare sets the user, environment and working directory of a server command. If the test
// binary dies without cleaning up, the server shuts down with it (SIGQUIT: at once).
func (s *Server) prepare(cmd *exec.Cmd) {
	servertest.Prepare(cmd, s.Dir, s.runAs.Cred, syscall.SIGQUIT)
}

func (s *Server) dsn(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// runOn starts postgres on port.
func (s *Server) runOn(port int) error {
	s.Port = port
	return s.run()
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
	return s.proc.Run(cmd, 60*time.Second, servertest.PingSQL("pgx", s.dsn("postgres")))
}

// LogTail returns the last lines of the server's log, for tests of what the server logs.
func (s *Server) LogTail(lines int) string { return s.proc.LogTail(lines) }

// Stop shuts the server down (a fast shutdown: SIGINT) and waits for it to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops the server and starts it again on the same data directory and port: what a
// database restart looks like to a client.
func (s *Server) Restart() error { return s.proc.Restart(s.run) }

// NewDatabase creates an empty database for t and returns its DSN. It is dropped when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.dsn(s.dbs.New(t))
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
