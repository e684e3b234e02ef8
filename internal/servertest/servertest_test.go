package servertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newProcess(t *testing.T, grace time.Duration) *Process {
	t.Helper()
	return &Process{
		Label:      "fakepkg",
		Name:       "fake",
		Output:     filepath.Join(t.TempDir(), "fake.out"),
		StopSignal: syscall.SIGTERM,
		StopGrace:  grace,
	}
}

func TestRunReturnsOnceTheProbeSucceedsAndStopEndsTheProcess(t *testing.T) {
	p := newProcess(t, 10*time.Second)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command("sh", "-c", `echo starting; touch "$1"; exec sleep 60`, "sh", ready)
	probe := func(context.Context) error {
		_, err := os.Stat(ready)
		return err
	}
	if err := p.Run(cmd, 10*time.Second, probe); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !p.Running() {
		t.Fatal("Running is false after Run succeeded")
	}
	p.Stop()
	if p.Running() {
		t.Error("Running is true after Stop")
	}
	if sig := cmd.ProcessState.Sys().(syscall.WaitStatus).Signal(); sig != syscall.SIGTERM {
		t.Errorf("process ended by %v, want StopSignal", sig)
	}
	p.Stop() // a second Stop does nothing
	if got := p.LogTail(5); got != "fake log:\nstarting" {
		t.Errorf("LogTail = %q", got)
	}
}

func TestRunFailsFastWithTheLogTailWhenTheProcessExits(t *testing.T) {
	p := newProcess(t, 10*time.Second)
	cmd := exec.Command("sh", "-c", `echo "bind: Address already in use" >&2; exit 1`)
	never := errors.New("connection refused")
	begin := time.Now()
	err := p.Run(cmd, time.Minute, func(context.Context) error { return never })
	if err == nil {
		t.Fatal("Run succeeded for a process that exited")
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("Run took %s to notice the exit", took)
	}
	for _, want := range []string{"fakepkg: fake exited before it was ready", "connection refused", "fake log:\nbind: Address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if p.Running() {
		t.Error("Running is true after a failed Run")
	}
}

func TestRunGivesUpAfterItsTimeAndStopKillsWhatIgnoresTheSignal(t *testing.T) {
	p := newProcess(t, 100*time.Millisecond)
	cmd := exec.Command("sh", "-c", `trap "" TERM; while :; do sleep 0.05; done`)
	err := p.Run(cmd, 300*time.Millisecond, func(context.Context) error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "fakepkg: fake was not ready within 300ms: not yet") {
		t.Fatalf("Run = %v, want a timeout", err)
	}
	if cmd.ProcessState == nil {
		t.Fatal("the process was not reaped")
	}
	if sig := cmd.ProcessState.Sys().(syscall.WaitStatus).Signal(); sig != syscall.SIGKILL {
		t.Errorf("process ended by %v, want SIGKILL after the grace period", sig)
	}
}

func TestOnFreePortRetriesOnlyAPortInUse(t *testing.T) {
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   bool
	}{
		{"a start that works is called once", []error{nil}, 1, false},
		{"a taken port is retried", []error{errors.New("Address already in use"), nil}, 2, false},
		{"three taken ports give up", []error{errors.New("already in use"), errors.New("already in use"), errors.New("already in use"), nil}, 3, true},
		{"another failure is not retried", []error{errors.New("bad config"), nil}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := OnFreePort(func(port int) error {
				if port <= 0 {
					return fmt.Errorf("port %d", port)
				}
				calls++
				return tt.errs[calls-1]
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Errorf("calls = %d, err = %v; want %d calls, error %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

func TestRestartStopsTheProcessAndRunsItAgain(t *testing.T) {
	p := newProcess(t, 10*time.Second)
	run := func() error {
		return p.Run(exec.Command("sleep", "60"), 10*time.Second, func(context.Context) error { return nil })
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	first := p.cmd
	if err := p.Restart(run); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if first.ProcessState == nil || p.cmd == first || !p.Running() {
		t.Errorf("after Restart: first process reaped %v, a new one running %v", first.ProcessState != nil, p.cmd != first && p.Running())
	}
	p.Stop()
	err := p.Restart(func() error { return errors.New("no binary") })
	if err == nil || err.Error() != "fakepkg: restart: no binary" {
		t.Errorf("Restart with a failing run = %v", err)
	}
}

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

func TestCIMeansAnyValueButTheUsualNos(t *testing.T) {
	for v, want := range map[string]bool{
		"true": true, "TRUE": true, "1": true, "yes": true, "on": true, "woodpecker": true, " true ": true,
		"": false, "false": false, "False": false, "0": false, "no": false, "off": false, " ": false,
	} {
		if got := ciValue(v); got != want {
			t.Errorf("CI=%q: InCI = %v, want %v", v, got, want)
		}
	}
}

// A missing server under CI=1 must fail the test, as under CI=true: Handle is run in a child
// test binary, since a failing test cannot be observed from inside.
func TestHandleFailsAMissingServerUnderEveryCIValue(t *testing.T) {
	if os.Getenv("SERVERTEST_HANDLE_CHILD") == "1" {
		Handle(t, Unavailable{Msg: "no such server on this machine"})
		return
	}
	for _, tt := range []struct {
		ci   string
		fail bool
	}{{"true", true}, {"1", true}, {"yes", true}, {"false", false}, {"0", false}, {"", false}} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHandleFailsAMissingServerUnderEveryCIValue$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "SERVERTEST_HANDLE_CHILD=1", "CI="+tt.ci)
			out, err := cmd.CombinedOutput()
			failed := err != nil
			if failed != tt.fail || !failed && !strings.Contains(string(out), "--- SKIP") {
				t.Fatalf("CI=%q: failed = %v, want %v; output:\n%s", tt.ci, failed, tt.fail, out)
			}
		})
	}
}
