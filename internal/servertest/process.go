package servertest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process runs one server binary for a throwaway server, again after each Stop: its output
// appended to a log file, a wait for readiness that ends as soon as the process dies, and a
// shutdown that kills what does not stop in time. The zero value with Label, Name, Output and
// the stop fields set is ready; the server's package prepares the command (user, environment,
// parent-death signal) and supplies the readiness probe, which differ by server.
type Process struct {
	// Label starts errors: the server's package, "pgtest".
	Label string
	// Name is the binary's name in errors and above the log tail: "postgres".
	Name string
	// Output is the file the process's stdout and stderr are appended to.
	Output string
	// Logs are the files whose last lines go into a start error, in order; Output when empty.
	Logs []string
	// StopSignal asks the server to shut down; after StopGrace it is killed.
	StopSignal syscall.Signal
	StopGrace  time.Duration

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
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

// probeInterval is the pause between readiness probes: servers start in tens of milliseconds.
const probeInterval = 20 * time.Millisecond

// Run starts cmd and waits until ready returns nil. Each probe gets a context that ends after a
// second or at the deadline, whichever is first. When the process exits first, or within
// passes, Run stops it and returns an error that ends with the tail of the logs, where a server
// says why it did not start (a port already in use, for one).
func (p *Process) Run(cmd *exec.Cmd, within time.Duration, ready func(ctx context.Context) error) error {
	if err := p.start(cmd); err != nil {
		return fmt.Errorf("%s: %w", p.Label, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := p.waitReady(ctx, within, ready); err != nil {
		p.Stop()
		return fmt.Errorf("%s: %w\n%s", p.Label, err, p.LogTail(20))
	}
	return nil
}

// start starts cmd with its output appended to p.Output and reaps it in the background.
func (p *Process) start(cmd *exec.Cmd) error {
	out, err := os.OpenFile(p.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s output: %w", p.Name, err)
	}
	// The child has its own copy of the descriptor once started.
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

// waitReady probes until ready returns nil, the process exits, or ctx ends.
func (p *Process) waitReady(ctx context.Context, within time.Duration, ready func(ctx context.Context) error) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		err := ready(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready: %v", p.Name, err)
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready within %s: %v", p.Name, within, err)
		case <-time.After(probeInterval):
		}
	}
}

// Running reports whether the process was started and not stopped since: tests' cleanups skip
// their work on a stopped server.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Stop sends StopSignal, kills the process if it has not exited after StopGrace, and waits for
// it to exit. Stopping a stopped process does nothing.
func (p *Process) Stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(p.StopSignal)
	select {
	case <-exited:
	case <-time.After(p.StopGrace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Signal sends sig to the running process (SIGSTOP and SIGCONT freeze and thaw it); a stopped
// process is an error.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s: %s is not running", p.Label, p.Name)
	}
	return cmd.Process.Signal(sig)
}

// Restart stops the process and calls run, which starts it again with a new command (the
// server's package builds it, as for the first Run).
func (p *Process) Restart(run func() error) error {
	p.Stop()
	if err := run(); err != nil {
		return fmt.Errorf("%s: restart: %w", p.Label, err)
	}
	return nil
}

// LogTail returns the last lines of the logs under a "<name> log:" heading.
func (p *Process) LogTail(lines int) string {
	logs := p.Logs
	if len(logs) == 0 {
		logs = []string{p.Output}
	}
	var all []byte
	for _, path := range logs {
		b, _ := os.ReadFile(path)
		all = append(all, b...)
	}
	ls := bytes.Split(bytes.TrimSpace(all), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return p.Name + " log:\n" + string(bytes.Join(ls, []byte("\n")))
}

// PingSQL returns a readiness probe for Run that pings the database at dsn through driver.
func PingSQL(driver, dsn string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	}
}

// OnFreePort calls run with a free port on 127.0.0.1, and again with another (three tries in
// all) while it fails because the port was taken between being found free and the server
// binding it.
func OnFreePort(run func(port int) error) error {
	for attempt := 0; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		err = run(port)
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "already in use") {
			return err
		}
	}
}
