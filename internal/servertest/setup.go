package servertest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/tlstest"
)

// Start starts a server of t's own in a directory made by mkdir, and stops it and removes the
// directory when t ends. A missing server skips or fails t as Handle says.
func Start[S interface{ Stop() }](t testing.TB, mkdir func() (string, error), start func(dir string) (S, error)) S {
	t.Helper()
	dir, err := mkdir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := start(dir)
	if err != nil {
		Handle(t, err)
	}
	// Registered last, so it runs first: the server stops before its directory goes.
	t.Cleanup(s.Stop)
	return s
}

// TempDir returns a mkdir for Start that makes the directory under $TMPDIR, for servers whose
// files must not go to ParentDir.
func TempDir(prefix string) func() (string, error) {
	return func() (string, error) {
		dir, err := os.MkdirTemp("", prefix+"-")
		if err != nil {
			return "", fmt.Errorf("%s: make temp dir: %w", prefix, err)
		}
		return dir, nil
	}
}

// IsExecutable reports whether p is a regular file someone may execute.
func IsExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// RandomHex returns n random bytes in hex: passwords for a server's accounts, which need no
// quoting in any config file.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("servertest: random: %v", err)) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// ClientTLS returns a client TLS config that trusts the CA of a server's files, or nil for a
// server without TLS.
func ClientTLS(files *tlstest.Files) *tls.Config {
	if files == nil {
		return nil
	}
	cfg, err := tlstest.ClientConfig(files.CAFile)
	if err != nil {
		panic(err) // the files were written by tlstest
	}
	return cfg
}

// RunAs is who runs a server: the current user (Cred nil), or, when the tests run as root, a
// system user, since several servers refuse root.
type RunAs struct {
	// User names the system user; Cred is nil when the server runs as the current user.
	User string
	Cred *syscall.Credential
}

// ErrNoUser is why LookupRunAs failed when the tests run as root and the system user cannot be
// found: each server decides whether that is a skip or root will do.
var ErrNoUser = errors.New("no such user")

// LookupRunAs returns RunAs for the system user name when the tests run as root, and for the
// current user otherwise. When root and the user cannot be found, the error wraps ErrNoUser.
func LookupRunAs(name string) (RunAs, error) {
	if os.Geteuid() != 0 {
		return RunAs{User: name}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return RunAs{User: name}, fmt.Errorf("%w: %w", ErrNoUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return RunAs{}, fmt.Errorf("user %s has uid %q gid %q", name, u.Uid, u.Gid)
	}
	return RunAs{User: name, Cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}, nil
}

// RequireRunAs is LookupRunAs for a server that refuses to run as root: when root and the user
// is missing, the error is Unavailable with msg (a skip, or a failure under CI). Other errors
// start with label.
func RequireRunAs(label, name, msg string) (RunAs, error) {
	r, err := LookupRunAs(name)
	if errors.Is(err, ErrNoUser) {
		return r, Unavailable{Msg: msg}
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w", label, err)
	}
	return r, nil
}

// Chown gives p to the system user; it does nothing for the current user.
func (r RunAs) Chown(p string) error {
	if r.Cred == nil {
		return nil
	}
	if err := os.Chown(p, int(r.Cred.Uid), int(r.Cred.Gid)); err != nil {
		return fmt.Errorf("give %s to user %s: %w", p, r.User, err)
	}
	return nil
}

// HandOver gives dir to the system user, after checking that the user can reach it through
// the directories above; elsewhere names the variable that chooses another parent directory.
// It does nothing for the current user.
func (r RunAs) HandOver(dir, elsewhere string) error {
	if r.Cred == nil {
		return nil
	}
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("user %s cannot traverse %s (mode %v); set %s to a directory it can reach", r.User, d, fi.Mode().Perm(), elsewhere)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return r.Chown(dir)
}

// Prepare sets what every server command shares: the working directory dir; a small fixed
// environment (the caller's PATH, the C locale, UTC), so that nothing of the caller's reaches
// the server; the user of cred (nil: the current user), set as the process's own credential
// rather than by a server's option to switch users, because the kernel clears the parent-death
// signal when a process changes its user; and deathSignal, which the server gets when the test
// binary dies without stopping it.
func Prepare(cmd *exec.Cmd, dir string, cred *syscall.Credential, deathSignal syscall.Signal) {
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: deathSignal}
}

// Databases makes a database per test on a SQL server.
type Databases struct {
	// Label starts failure messages: "pgtest".
	Label string
	// Driver and AdminDSN open a connection that may create and drop databases.
	Driver, AdminDSN string
	// Create and Drop are the statements, with %s where the name goes; the name holds only
	// [a-z0-9_] and starts with a letter, so it needs no quoting.
	Create, Drop string
	// Running reports whether the server still runs; a stopped server's databases are gone
	// with it.
	Running func() bool

	count atomic.Int64
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// New creates an empty database named after t and returns its name. It is dropped when t
// ends.
func (d *Databases) New(t testing.TB) string {
	t.Helper()
	name := nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	// The counter makes the name unique; the prefix keeps it a valid identifier.
	name = fmt.Sprintf("t%d_%s", d.count.Add(1), name)
	if err := d.exec(d.Create, name); err != nil {
		t.Fatalf("%s: create database %s: %v", d.Label, name, err)
	}
	t.Cleanup(func() {
		if !d.Running() {
			return
		}
		if err := d.exec(d.Drop, name); err != nil {
			t.Logf("%s: drop database %s: %v", d.Label, name, err)
		}
	})
	return name
}

func (d *Databases) exec(stmt, name string) error {
	admin, err := sql.Open(d.Driver, d.AdminDSN)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, fmt.Sprintf(stmt, name))
	return err
}
