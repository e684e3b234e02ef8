// Package redistest starts throwaway Redis servers for tests, from the redis-server binary a
// Debian redis-server package installs: a generated config in a temporary directory, a free port
// on 127.0.0.1, no persistence (no RDB snapshots, no AOF), the default user switched off and an
// admin ACL user with a random password. Nothing is shared with a system Redis. Servers stop at
// the end of their test or package, and with the test binary if it dies.
//
// One server per package is the usual shape:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := redistest.Shared(t)
//		admin := srv.Admin(t)
//		...
//	}
//
// StartWith(t, Options{TLS: true}) serves TLS only, with certificates from a CA made for the
// server. When redis-server is missing the test skips with a message saying how to install it,
// or fails when the environment variable CI is "true".
package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/accessbot/accessbot/internal/servertest"
	"github.com/accessbot/accessbot/internal/tlstest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallHint says how to get the binary.
const InstallHint = "install redis: apt-get install redis-server"

// AdminUser is the ACL user with every permission that each server is started with.
const AdminUser = "admin"

// Options change how a server starts.
type Options struct {
	// TLS makes the server speak TLS only, with a certificate for 127.0.0.1 and localhost
	// signed by a CA of its own (Server.TLS). Clients may present a certificate but need not.
	TLS bool
}

// TLSFiles are the PEM files of a TLS server.
type TLSFiles = tlstest.Files

// Server is a running throwaway Redis.
type Server struct {
	// Addr is host:port, always on 127.0.0.1.
	Addr string
	Port int
	// Dir holds the config file, the log and the (empty) data directory.
	Dir string
	// AdminPassword is the password of AdminUser.
	AdminPassword string
	// TLS is set when the server speaks TLS.
	TLS *TLSFiles

	bin  string
	proc servertest.Process
}

// Start starts a plain-TCP server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server of its own for t with opts and stops it when t ends.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	return servertest.Start(t, servertest.TempDir("redistest"), func(dir string) (*Server, error) { return start(dir, opts) })
}

// findBin returns the path of redis-server: the PATH, else where Debian puts it.
func findBin() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if servertest.IsExecutable(p) {
			return p, nil
		}
	}
	return "", servertest.Unavailable{Msg: "redistest: no redis-server in PATH or /usr/bin; " + InstallHint}
}

func start(dir string, opts Options) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, AdminPassword: servertest.RandomHex(16)}
	s.proc = servertest.Process{
		Label:  "redistest",
		Name:   "redis-server",
		Output: filepath.Join(dir, "redis.out"),
		// Before it opens its log file the server writes to its output.
		Logs: []string{filepath.Join(dir, "redis.out"), s.logPath()},
		// SIGTERM shuts down without saving (shutdown-on-sigterm nosave).
		StopSignal: syscall.SIGTERM,
		StopGrace:  15 * time.Second,
	}
	if opts.TLS {
		if s.TLS, err = tlstest.Write(dir, "redistest"); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(s.dataDir(), 0o700); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	if err := servertest.OnFreePort(s.runOn); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) dataDir() string  { return filepath.Join(s.Dir, "data") }
func (s *Server) confPath() string { return filepath.Join(s.Dir, "redis.conf") }
func (s *Server) logPath() string  { return filepath.Join(s.Dir, "redis.log") }

// config is the server's redis.conf. The admin password is random hex, so it needs no quoting.
func (s *Server) config() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("bind 127.0.0.1")
	line("protected-mode yes")
	if s.TLS != nil {
		line("port 0")
		line("tls-port %d", s.Port)
		line("tls-cert-file %s", s.TLS.ServerCertFile)
		line("tls-key-file %s", s.TLS.ServerKeyFile)
		line("tls-ca-cert-file %s", s.TLS.CAFile)
		line("tls-auth-clients optional")
	} else {
		line("port %d", s.Port)
	}
	line("daemonize no")
	line("dir %s", s.dataDir())
	line("logfile %s", s.logPath())
	// Throwaway: nothing is written to disk, and nothing is saved at shutdown.
	line(`save ""`)
	line("appendonly no")
	line("shutdown-on-sigterm nosave")
	// Nobody gets in without a password, as on a server the adapter would meet in production.
	line("user default off")
	line("user %s on >%s ~* &* +@all", AdminUser, s.AdminPassword)
	return b.String()
}

// runOn starts redis-server on port.
func (s *Server) runOn(port int) error {
	s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s.run()
}

// run starts redis-server on s.Port and waits until it answers PING.
func (s *Server) run() error {
	if err := os.WriteFile(s.confPath(), []byte(s.config()), 0o600); err != nil {
		return fmt.Errorf("redistest: write config: %w", err)
	}
	cmd := exec.Command(s.bin, s.confPath())
	// If the test binary dies without cleaning up, the server goes with it.
	servertest.Prepare(cmd, s.Dir, nil, syscall.SIGKILL)
	c := redis.NewClient(s.AdminOptions())
	defer c.Close()
	ping := func(ctx context.Context) error { return c.Ping(ctx).Err() }
	return s.proc.Run(cmd, 30*time.Second, ping)
}

// Stop shuts the server down (SIGTERM, without saving) and waits for it to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops the server and starts it again on the same port. Users made at run time are
// gone afterwards, as after a real restart without an ACL file.
func (s *Server) Restart() error { return s.proc.Restart(s.run) }

// ClientTLS returns a client TLS config that trusts the server's CA, or nil for a plain server.
func (s *Server) ClientTLS() *tls.Config { return servertest.ClientTLS(s.TLS) }

// Options returns client options that log in as username with password.
func (s *Server) Options(username, password string) *redis.Options {
	return &redis.Options{
		Addr:      s.Addr,
		Username:  username,
		Password:  password,
		TLSConfig: s.ClientTLS(),
		// Test clients say plainly what failed, instead of retrying a refused login.
		MaxRetries:            -1,
		DialTimeout:           5 * time.Second,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
	}
}

// AdminOptions returns client options that log in as AdminUser.
func (s *Server) AdminOptions() *redis.Options { return s.Options(AdminUser, s.AdminPassword) }

// Admin returns a client logged in as AdminUser, closed when t ends.
func (s *Server) Admin(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(s.AdminOptions())
	t.Cleanup(func() { c.Close() })
	return c
}

// AddUser creates (or resets) an ACL user with password and rules, and deletes it when t ends.
func (s *Server) AddUser(t testing.TB, name, password string, rules ...string) {
	t.Helper()
	c := redis.NewClient(s.AdminOptions())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append([]string{"reset", "on", ">" + password}, rules...)
	if err := c.ACLSetUser(ctx, name, args...).Err(); err != nil {
		t.Fatalf("redistest: ACL SETUSER %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !s.proc.Running() {
			return
		}
		c := redis.NewClient(s.AdminOptions())
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.ACLDelUser(ctx, name).Err(); err != nil {
			t.Logf("redistest: ACL DELUSER %s: %v", name, err)
		}
	})
}

var shared servertest.Shared[*Server]

// Shared returns the package's shared server, started by the first test that asks. Main stops
// it after the last test.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, "redistest", func(dir string) (*Server, error) { return start(dir, Options{}) })
}

// Main runs a package's tests and then stops the shared server, if one started. Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }
