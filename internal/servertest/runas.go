package servertest

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

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
