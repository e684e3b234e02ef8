// Package rsyslogtest starts throwaway rsyslog servers for tests, from the rsyslogd binary the
// Debian rsyslog package installs and the imrelp module of rsyslog-relp: a generated config in a
// temporary directory that accepts RELP on a free port of 127.0.0.1 and writes each message,
// whole, as one line of a file. The main queue is direct, so a message is in the file before
// imrelp answers 200 for it, and a SIGKILL loses nothing the server acknowledged. Nothing is
// shared with a system rsyslog: no system socket, no system config, run as the current user.
//
//	srv := rsyslogtest.Start(t)
//	// send to srv.Addr over RELP, then
//	lines := srv.Lines(t)
//
// When rsyslogd or imrelp is missing the test skips with a message saying how to install them,
// or fails under CI (servertest.Handle).
package rsyslogtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/servertest"
	"github.com/accessbot/accessbot/internal/tlstest"
)

// InstallHint says how to get the binary and the module.
const InstallHint = "install rsyslog with RELP: apt-get install rsyslog rsyslog-relp"

// moduleDirs are where Debian puts rsyslog's modules.
var moduleDirs = []string{"/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog"}

// Server is a running throwaway rsyslogd with an imrelp input.
type Server struct {
	// Addr is host:port, always on 127.0.0.1.
	Addr string
	Port int
	// Dir holds the config, the pid file, the work directory and the output.
	Dir string
	// TLS is set when imrelp speaks TLS (StartTLS), with a certificate for 127.0.0.1 and
	// localhost from a CA of its own; clients must present a certificate from that CA.
	TLS *tlstest.Files

	bin, modules string
	proc         servertest.Process
}

// Start starts a server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return servertest.Start(t, servertest.TempDir("rsyslogtest"), func(dir string) (*Server, error) { return start(dir, false) })
}

// StartTLS starts a server of its own whose imrelp speaks TLS only, and stops it when t ends.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return servertest.Start(t, servertest.TempDir("rsyslogtest"), func(dir string) (*Server, error) { return start(dir, true) })
}

func find() (bin, modules string, err error) {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		bin = p
	} else if servertest.IsExecutable("/usr/sbin/rsyslogd") {
		bin = "/usr/sbin/rsyslogd"
	} else {
		return "", "", servertest.Unavailable{Msg: "rsyslogtest: no rsyslogd in PATH or /usr/sbin; " + InstallHint}
	}
	for _, d := range moduleDirs {
		if _, err := os.Stat(filepath.Join(d, "imrelp.so")); err == nil {
			return bin, d, nil
		}
	}
	return "", "", servertest.Unavailable{Msg: "rsyslogtest: no imrelp.so module; " + InstallHint}
}

func start(dir string, withTLS bool) (*Server, error) {
	bin, modules, err := find()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, modules: modules}
	s.proc = servertest.Process{
		Label:      "rsyslogtest",
		Name:       "rsyslogd",
		Output:     filepath.Join(dir, "rsyslogd.out"),
		StopSignal: syscall.SIGTERM,
		StopGrace:  15 * time.Second,
	}
	if withTLS {
		if s.TLS, err = tlstest.Write(dir, "rsyslogtest"); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		return nil, fmt.Errorf("rsyslogtest: %w", err)
	}
	if err := servertest.OnFreePort(s.runOn); err != nil {
		return nil, err
	}
	return s, nil
}

// OutputPath is the file every message is appended to, one line each: the message as received
// (%rawmsg%), whole.
func (s *Server) OutputPath() string { return filepath.Join(s.Dir, "messages.log") }

func (s *Server) confPath() string { return filepath.Join(s.Dir, "rsyslog.conf") }

// config is the server's rsyslog.conf. The paths come from the temp dir and need no quoting
// beyond the double quotes.
func (s *Server) config() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line(`global(workDirectory="%s" maxMessageSize="256k")`, filepath.Join(s.Dir, "work"))
	// Direct: the action runs before imrelp answers, so 200 means written.
	line(`main_queue(queue.type="Direct")`)
	line(`module(load="imrelp")`)
	if s.TLS != nil {
		line(`input(type="imrelp" address="127.0.0.1" port="%d" maxDataSize="256k" tls="on" tls.cacert="%s" tls.mycert="%s" tls.myprivkey="%s" tls.authmode="certvalid")`,
			s.Port, s.TLS.CAFile, s.TLS.ServerCertFile, s.TLS.ServerKeyFile)
	} else {
		line(`input(type="imrelp" address="127.0.0.1" port="%d" maxDataSize="256k")`, s.Port)
	}
	line(`template(name="whole" type="string" string="%%rawmsg%%\n")`)
	line(`action(type="omfile" file="%s" template="whole")`, s.OutputPath())
	return b.String()
}

func (s *Server) runOn(port int) error {
	s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s.run()
}

// run starts rsyslogd on s.Port and waits until the port accepts a connection.
func (s *Server) run() error {
	if err := os.WriteFile(s.confPath(), []byte(s.config()), 0o600); err != nil {
		return fmt.Errorf("rsyslogtest: write config: %w", err)
	}
	pid := filepath.Join(s.Dir, "rsyslogd.pid")
	_ = os.Remove(pid) // a killed server leaves it behind, and rsyslogd refuses to start over it
	cmd := exec.Command(s.bin, "-n", "-f", s.confPath(), "-i", pid, "-M", s.modules)
	servertest.Prepare(cmd, s.Dir, nil, syscall.SIGKILL)
	probe := func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	err := s.proc.Run(cmd, 30*time.Second, probe)
	if err != nil && strings.Contains(err.Error(), "Address already in use") {
		// OnFreePort looks for this wording to try another port.
		err = fmt.Errorf("%w (already in use)", err)
	}
	return err
}

// Stop shuts the server down (SIGTERM) and waits for it to exit. Stopping a stopped server does
// nothing.
func (s *Server) Stop() { s.proc.Stop() }

// Kill kills the server with SIGKILL, as a crash would, and waits for it to exit.
func (s *Server) Kill() {
	s.proc.StopSignal = syscall.SIGKILL
	defer func() { s.proc.StopSignal = syscall.SIGTERM }()
	s.proc.Stop()
}

// Freeze stops the server's process (SIGSTOP) without ending it, as a hung server would be: its
// connections stay open and nothing is answered until Thaw.
func (s *Server) Freeze() error { return s.proc.Signal(syscall.SIGSTOP) }

// Thaw lets a frozen server run again (SIGCONT).
func (s *Server) Thaw() error { return s.proc.Signal(syscall.SIGCONT) }

// Restart stops the server (SIGTERM) and starts it again on the same port.
func (s *Server) Restart() error { return s.proc.Restart(s.run) }

// Start starts a stopped or killed server again on the same port.
func (s *Server) Start() error {
	if err := s.run(); err != nil {
		return fmt.Errorf("rsyslogtest: start again: %w", err)
	}
	return nil
}

// LogTail is the end of rsyslogd's own output, for failure messages.
func (s *Server) LogTail() string { return s.proc.LogTail(20) }

// Lines returns the messages written so far, one per line.
func (s *Server) Lines(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(s.OutputPath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("rsyslogtest: read output: %v", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
