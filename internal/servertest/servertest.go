// Package servertest holds what the throwaway test servers (pgtest, mariadbtest, redistest,
// slapdtest, sshdtest) share: skipping or failing when the server's binaries are missing, one
// shared server per test binary, a free port, where their files go, and running the server's
// process (output to a log, a wait until it is ready that ends when it dies, a bounded stop).
package servertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Unavailable marks a machine without a server's binaries (or without a user to run them as).
type Unavailable struct{ Msg string }

func (e Unavailable) Error() string { return e.Msg }

// Handle skips or fails t on err: a missing server is a skip on a developer's machine and a
// failure under CI (see InCI), where .ci/run has installed everything.
func Handle(t testing.TB, err error) {
	t.Helper()
	var u Unavailable
	if errors.As(err, &u) && !InCI() {
		t.Skip(u.Msg)
	}
	t.Fatal(err)
}

// InCI reports whether the tests run under continuous integration, where a missing server or
// tool is a failure rather than a skip: CI is set to anything but empty, "false", "0", "no" or
// "off" (in any letter case). Most systems set CI=true, some CI=1 or CI=yes; reading only
// "true" once let CI=1 skip every missing server and pass.
func InCI() bool { return ciValue(os.Getenv("CI")) }

// ciValue is InCI's rule for one value of CI.
func ciValue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off":
		return false
	}
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ParentDir is where servers keep their files: $PGTEST_DIR when set, else /dev/shm when it is
// a memory file system with room to spare (a database is created there in milliseconds, on a
// disk in a third of a second even with fsync off), else the temp dir.
func ParentDir() string {
	if d := os.Getenv("PGTEST_DIR"); d != "" {
		return d
	}
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if err := syscall.Statfs("/dev/shm", &st); err == nil && st.Type == tmpfsMagic &&
		st.Bavail*uint64(st.Bsize) >= 1<<30 {
		return "/dev/shm"
	}
	return os.TempDir()
}

// MakeDir makes a directory for one server under ParentDir, or the temp dir when that fails.
func MakeDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp(ParentDir(), prefix+"-")
	if err != nil {
		dir, err = os.MkdirTemp("", prefix+"-")
	}
	if err != nil {
		return "", fmt.Errorf("%s: make temp dir: %w", prefix, err)
	}
	return dir, nil
}

// Shared is one server shared by the tests of a package, started by the first test that asks
// and stopped by Main after the last.
type Shared[S interface{ Stop() }] struct {
	once    sync.Once
	srv     S
	started bool
	err     error
	dir     string
}

// Get returns the shared server, starting it with start in a new directory the first time.
func (sh *Shared[S]) Get(t testing.TB, prefix string, start func(dir string) (S, error)) S {
	t.Helper()
	sh.once.Do(func() {
		dir, err := MakeDir(prefix)
		if err != nil {
			sh.err = err
			return
		}
		sh.dir = dir
		sh.srv, sh.err = start(dir)
		sh.started = sh.err == nil
	})
	if sh.err != nil {
		Handle(t, sh.err)
	}
	return sh.srv
}

// Main runs a package's tests, then stops the shared server, if one started, and removes its
// directory.
func (sh *Shared[S]) Main(m *testing.M) {
	code := m.Run()
	if sh.started {
		sh.srv.Stop()
	}
	if sh.dir != "" {
		os.RemoveAll(sh.dir)
	}
	os.Exit(code)
}
