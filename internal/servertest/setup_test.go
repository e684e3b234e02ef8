package servertest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

type fakeServer struct {
	dir     string
	stopped *bool
	dirGone *bool
}

func (f fakeServer) Stop() {
	*f.stopped = true
	_, err := os.Stat(f.dir)
	*f.dirGone = err != nil
}

func TestStartStopsTheServerBeforeItsDirectoryGoes(t *testing.T) {
	var stopped, dirGoneAtStop bool
	var dir string
	t.Run("a test with a server", func(t *testing.T) {
		Start(t, TempDir("servertest"), func(d string) (fakeServer, error) {
			dir = d
			return fakeServer{dir: d, stopped: &stopped, dirGone: &dirGoneAtStop}, nil
		})
		if !strings.HasPrefix(filepath.Base(dir), "servertest-") {
			t.Errorf("directory %s is not named after the prefix", dir)
		}
	})
	if !stopped || dirGoneAtStop {
		t.Errorf("stopped = %v, directory gone at stop = %v; want stopped while it was there", stopped, dirGoneAtStop)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s is still there after the test: %v", dir, err)
	}
}

func TestLookupRunAs(t *testing.T) {
	r, err := LookupRunAs("no-such-user-servertest")
	if os.Geteuid() != 0 {
		if err != nil || r.Cred != nil {
			t.Errorf("not root: LookupRunAs = %+v, %v; want the current user", r, err)
		}
		return
	}
	if !errors.Is(err, ErrNoUser) {
		t.Errorf("root, no such user: error = %v, want ErrNoUser", err)
	}
	r, err = LookupRunAs("root")
	if err != nil || r.Cred == nil || r.Cred.Uid != 0 {
		t.Errorf("LookupRunAs(root) = %+v, %v", r, err)
	}
}

func TestTheCurrentUserNeedsNoHandOver(t *testing.T) {
	dir := t.TempDir()
	if err := (RunAs{User: "nobody"}).HandOver(dir, "TMPDIR"); err != nil {
		t.Errorf("HandOver without a credential = %v, want nil", err)
	}
}

func TestRandomHexAndClientTLS(t *testing.T) {
	a, b := RandomHex(16), RandomHex(16)
	if len(a) != 32 || a == b {
		t.Errorf("RandomHex(16) = %q then %q", a, b)
	}
	if ClientTLS(nil) != nil {
		t.Error("ClientTLS(nil) is not nil")
	}
}

func TestPrepareFixesTheEnvironmentUserAndDeathSignal(t *testing.T) {
	cmd := exec.Command("true")
	cred := &syscall.Credential{Uid: 12345, Gid: 12345}
	Prepare(cmd, "/srv/x", cred, syscall.SIGQUIT)
	if cmd.Dir != "/srv/x" || cmd.SysProcAttr.Credential != cred || cmd.SysProcAttr.Pdeathsig != syscall.SIGQUIT {
		t.Errorf("Prepare set dir %q, credential %v, death signal %v", cmd.Dir, cmd.SysProcAttr.Credential, cmd.SysProcAttr.Pdeathsig)
	}
	want := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	if strings.Join(cmd.Env, "\n") != strings.Join(want, "\n") {
		t.Errorf("Env = %q, want %q", cmd.Env, want)
	}
}

func TestRequireRunAsMakesAMissingUserASkip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root looks the user up")
	}
	_, err := RequireRunAs("pkgtest", "no-such-user-servertest", "pkgtest: no user")
	var u Unavailable
	if !errors.As(err, &u) || u.Msg != "pkgtest: no user" {
		t.Errorf("RequireRunAs = %v, want Unavailable", err)
	}
}
