// Package mariadbtest starts throwaway MariaDB servers for tests, from the binaries Debian's
// mariadb-server package installs (/usr/sbin/mariadbd, mariadb-install-db): system tables
// installed into a temporary directory ($MARIADBTEST_DIR, else /dev/shm when it is a roomy tmpfs,
// else $TMPDIR), a free port on 127.0.0.1, the unix socket inside that directory, a root account
// without a password for 127.0.0.1, durability off. Nothing is shared with a system MariaDB.
// Servers stop at the end of their test or package, and with the test binary if it dies.
//
// One server per package is the usual shape, with a database per test:
//
//	func TestMain(m *testing.M) { mariadbtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := mariadbtest.Shared(t)
//		dsn := srv.NewDatabase(t)
//		...
//	}
//
// When the binaries are missing the test skips with a message saying how to install them, or
// fails when the environment variable CI is "true". mariadbd refuses to run as root; as root,
// mariadbtest runs it as the system user mysql.
package mariadbtest

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/accessbot/accessbot/internal/servertest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// InstallHint says how to get the binaries.
const InstallHint = "install mariadb-server: apt-get install mariadb-server"

// Server is a running throwaway MariaDB.
type Server struct {
	// DSN connects over TCP as root (all privileges, no password), with no default database,
	// in the form github.com/go-sql-driver/mysql reads.
	DSN  string
	Port int
	// Socket is the server's unix socket.
	Socket string
	// Dir holds the data directory, the socket and the error log.
	Dir string

	mariadbd string
	runAs    servertest.RunAs
	proc     servertest.Process
	dbs      servertest.Databases
}

// Start starts a server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return servertest.Start(t, func() (string, error) { return servertest.MakeDir("mariadbtest") }, start)
}

// findBins returns the server binary and the script that installs the system tables.
func findBins() (server, install string, err error) {
	for _, p := range []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld"} {
		if servertest.IsExecutable(p) {
			server = p
			break
		}
	}
	if server == "" {
		for _, name := range []string{"mariadbd", "mysqld"} {
			if p, err := exec.LookPath(name); err == nil {
				server = p
				break
			}
		}
	}
	for _, name := range []string{"mariadb-install-db", "mysql_install_db"} {
		if p, err := exec.LookPath(name); err == nil {
			install = p
			break
		}
		if p := filepath.Join("/usr/bin", name); servertest.IsExecutable(p) {
			install = p
			break
		}
	}
	if server == "" || install == "" {
		return "", "", servertest.Unavailable{Msg: "mariadbtest: no MariaDB binaries (/usr/sbin/mariadbd and mariadb-install-db); " + InstallHint}
	}
	return server, install, nil
}

// runAs returns who runs the server: the current user, or as root the user mysql, since
// mariadbd refuses root. The test starts mariadbd as that user rather than passing --user and
// letting the server drop root itself, because Linux clears the parent-death signal when a
// process changes its own user: a server that switched by itself would outlive a killed test
// binary.
func runAs() (servertest.RunAs, error) {
	return servertest.RequireRunAs("mariadbtest", "mysql", "mariadbtest: running as root, and mariadbd refuses root; there is no user mysql to run it as ("+
		InstallHint+", or useradd --system mysql)")
}

// start installs the system tables in dir and starts the server.
func start(dir string) (*Server, error) {
	server, install, err := findBins()
	if err != nil {
		return nil, err
	}
	r, err := runAs()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, mariadbd: server, runAs: r, Socket: filepath.Join(dir, "mysqld.sock")}
	s.proc = servertest.Process{
		Label:  "mariadbtest",
		Name:   "mariadbd",
		Output: filepath.Join(dir, "mariadbd.out"),
		// The server writes why it stopped to its error log, not to its output.
		Logs: []string{s.logPath()},
		// SIGTERM is a clean shutdown.
		StopSignal: syscall.SIGTERM,
		StopGrace:  30 * time.Second,
	}
	if len(s.Socket) > 100 {
		return nil, fmt.Errorf("mariadbtest: socket path %s is too long for a unix socket; set MARIADBTEST_DIR to a shorter directory", s.Socket)
	}
	if err := s.runAs.HandOver(dir, "MARIADBTEST_DIR"); err != nil {
		return nil, fmt.Errorf("mariadbtest: %w", err)
	}
	if err := os.Mkdir(s.dataDir(), 0o700); err != nil {
		return nil, fmt.Errorf("mariadbtest: %w", err)
	}
	if err := s.runAs.Chown(s.dataDir()); err != nil {
		return nil, fmt.Errorf("mariadbtest: %w", err)
	}
	if err := s.installDB(install); err != nil {
		return nil, err
	}
	if err := servertest.OnFreePort(s.runOn); err != nil {
		return nil, err
	}
	if err := s.ensureTCPRoot(); err != nil {
		s.Stop()
		return nil, err
	}
	s.DSN = s.DSNFor("root", "", "")
	s.dbs = servertest.Databases{Label: "mariadbtest", Driver: "mysql", AdminDSN: s.DSN, Running: s.proc.Running,
		Create: "CREATE DATABASE `%s`", Drop: "DROP DATABASE IF EXISTS `%s`"}
	return s, nil
}

// innodbFlags suit a memory file system, where O_DIRECT and native AIO are not available, and a
// throwaway server, where durability is worthless.
var innodbFlags = []string{
	"--innodb-flush-method=fsync",
	"--innodb-use-native-aio=0",
	"--innodb-flush-log-at-trx-commit=0",
	"--innodb-doublewrite=0",
	"--innodb-buffer-pool-size=32M",
	"--innodb-log-file-size=16M",
}

// installDB creates the system tables with a root account that logs in without a password.
func (s *Server) installDB(install string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--no-defaults", "--datadir=" + s.dataDir(),
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
		"--tmpdir=" + s.Dir}
	if s.runAs.Cred != nil {
		// The script itself must run as root to hand the files it creates to mysql.
		args = append(args, "--user=mysql")
	}
	args = append(args, innodbFlags...)
	cmd := exec.CommandContext(ctx, install, args...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH") + ":/usr/sbin:/usr/bin", "LC_ALL=C", "TZ=UTC"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadbtest: %s: %w\n%s", filepath.Base(install), err, out)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.Dir, "error.log") }

// DSNFor returns a DSN that connects over TCP as user with password to database (none when
// empty), with short timeouts.
func (s *Server) DSNFor(user, password, database string) string {
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = password
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	cfg.DBName = database
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	cfg.WriteTimeout = 30 * time.Second
	return cfg.FormatDSN()
}

func (s *Server) socketDSN() string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = s.Socket
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// runOn starts mariadbd on port.
func (s *Server) runOn(port int) error {
	s.Port = port
	return s.run()
}

// run starts mariadbd on s.Port and waits until it accepts connections on its socket.
func (s *Server) run() error {
	args := []string{
		"--no-defaults", // must come first
		"--datadir=" + s.dataDir(),
		"--socket=" + s.Socket,
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--skip-networking=0",
		// Accounts match by address, not by a name looked up in DNS.
		"--skip-name-resolve",
		"--pid-file=" + filepath.Join(s.Dir, "mariadbd.pid"),
		"--log-error=" + s.logPath(),
		"--tmpdir=" + s.Dir,
		"--skip-log-bin",
		"--max-connections=200",
		"--performance-schema=0",
	}
	args = append(args, innodbFlags...)
	cmd := exec.Command(s.mariadbd, args...)
	// If the test binary dies without cleaning up, the server shuts down with it.
	servertest.Prepare(cmd, s.Dir, s.runAs.Cred, syscall.SIGTERM)
	return s.proc.Run(cmd, 60*time.Second, servertest.PingSQL("mysql", s.socketDSN()))
}

// ensureTCPRoot makes sure root can log in over TCP from 127.0.0.1 (Debian's install script
// creates that account; other builds may not), then checks that it can.
func (s *Server) ensureTCPRoot() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", s.socketDSN())
	if err != nil {
		return fmt.Errorf("mariadbtest: %w", err)
	}
	defer db.Close()
	for _, stmt := range []string{
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("mariadbtest: %s: %w", stmt, err)
		}
	}
	tcp, err := sql.Open("mysql", s.DSNFor("root", "", ""))
	if err != nil {
		return fmt.Errorf("mariadbtest: %w", err)
	}
	defer tcp.Close()
	if err := tcp.PingContext(ctx); err != nil {
		return fmt.Errorf("mariadbtest: root over TCP: %w", err)
	}
	return nil
}

// Stop shuts the server down (SIGTERM, a clean shutdown) and waits for it to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops the server and starts it again on the same data directory and port: what a
// database restart looks like to a client.
func (s *Server) Restart() error { return s.proc.Restart(s.run) }

// NewDatabase creates an empty database for t and returns a root DSN that uses it; its name is
// the DSN's database (mysql.ParseDSN(dsn).DBName). It is dropped when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.DSNFor("root", "", s.dbs.New(t))
}

var shared servertest.Shared[*Server]

// Shared returns the package's shared server, started by the first test that asks. Main stops
// it after the last test.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, "mariadbtest", start)
}

// Main runs a package's tests and then stops the shared server, if one started. Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }
