// Package exec is the "exec" adapter: it runs a program of the operator's own for each grant,
// revocation and extension. The program is started directly (never through a shell) as
//
//	command args... <action>
//
// with action "grant", "revoke" or "extend" as the last argument, and learns about the grant from
// its environment, which holds nothing of accessbot's own: PATH=/usr/bin:/bin, the configured env,
// and ACCESSBOT_ACTION, ACCESSBOT_GRANT_ID, ACCESSBOT_RESOURCE, ACCESSBOT_SUBJECT_ID,
// ACCESSBOT_SUBJECT_EMAIL, ACCESSBOT_ACCOUNT, ACCESSBOT_REASON, ACCESSBOT_START,
// ACCESSBOT_EXPIRES (RFC 3339, UTC), ACCESSBOT_EXPIRES_UNIX and ACCESSBOT_LEASE (the lease data
// as a JSON object). Every variable is always set; it is empty when the action has no such value
// (a revocation has no reason; a grant has no lease yet; a revocation after a crash may have
// none either).
//
// The program's contract: exit 0 when the access exists (grant, extend) or is gone (revoke,
// also when it never existed); exit 75 (EX_TEMPFAIL) to be called again later; any other exit
// is a refusal that retrying will not change, explained on stderr. A grant may print
// {"lease": {...}, "secret": {"kind", "label", "value"}} on stdout: the lease comes back in
// ACCESSBOT_LEASE, the secret goes to the requester once. A program that overruns the timeout
// is killed with its whole process group, and the call is retried later.
package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
)

// Actions, passed as the last argument and in ACCESSBOT_ACTION.
const (
	ActionGrant  = "grant"
	ActionRevoke = "revoke"
	ActionExtend = "extend"
)

// ExitTempFail is the exit code that asks to be called again (sysexits.h EX_TEMPFAIL).
const ExitTempFail = 75

// Path is the PATH the program runs with: enough for a shell script's usual tools, nothing from
// accessbot's own environment.
const Path = "/usr/bin:/bin"

const (
	defaultTimeout = 30 * time.Second
	// maxStdout bounds what is read of a program's answer: a lease and a secret.
	maxStdout = 1 << 20
	// stderrTail is how much of stderr goes into an error.
	stderrTail = 200
	// waitDelay is how long Wait waits for output pipes after the process group is killed,
	// in case a descendant left the group and still holds them.
	waitDelay = 2 * time.Second
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "exec",
		Doc:       "runs a program (no shell) with the grant in environment variables",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// Config is the exec adapter's configuration block.
type Config struct {
	// Command is the absolute path of the program; in the file, a path with a slash may be
	// relative to the config file (ResolvePaths).
	Command string `yaml:"command"`
	// Args come before the action argument, unchanged.
	Args []string `yaml:"args"`
	// Timeout bounds each run.
	Timeout time.Duration `yaml:"timeout"`
	// Env is added to the program's environment; setting PATH there replaces the default. It may
	// carry credentials and is never logged.
	Env map[string]string `yaml:"env"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config { return &Config{Timeout: defaultTimeout} }

// String describes the config without the env values, which may be credentials.
func (c Config) String() string {
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("exec{command=%s args=%q timeout=%s env=%v}", c.Command, c.Args, c.Timeout, keys)
}

// GoString is String, so %#v cannot print env values either.
func (c Config) GoString() string { return c.String() }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the values, and that the command exists and is executable.
// ResolvePaths makes a relative command path (one with a slash, such as scripts/grant.sh)
// relative to the config file's directory. A bare name is left as written: Validate asks for an
// absolute path, and a name looked up in $PATH is not one.
func (c *Config) ResolvePaths(dir string) {
	if c.Command != "" && !filepath.IsAbs(c.Command) && strings.ContainsRune(c.Command, '/') {
		c.Command = filepath.Join(dir, c.Command)
	}
}

func (c *Config) Validate() error {
	if c.Command == "" {
		return errors.New("command is required")
	}
	if !filepath.IsAbs(c.Command) {
		return fmt.Errorf("command must be an absolute path, got %q", c.Command)
	}
	if err := checkExecutable(c.Command); err != nil {
		return fmt.Errorf("command: %w", err)
	}
	for i, a := range c.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("args[%d] contains NUL", i)
		}
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %s", c.Timeout)
	}
	for k, v := range c.Env {
		if !envName.MatchString(k) {
			return fmt.Errorf("env: %q is not a valid variable name", k)
		}
		if strings.HasPrefix(k, "ACCESSBOT_") {
			return fmt.Errorf("env: %s is set by accessbot and cannot be configured", k)
		}
		// The value is not quoted: it may be a credential.
		if strings.ContainsAny(v, "\x00\n\r") {
			return fmt.Errorf("env: value of %s contains NUL or a line break", k)
		}
	}
	return nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// New builds the adapter.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env.Log), nil
}

// Exec is the adapter. It is safe for concurrent use; each call runs its own process.
type Exec struct {
	cfg Config
	log zerolog.Logger
}

// New returns an Exec for a validated config.
func New(cfg Config, log zerolog.Logger) *Exec { return &Exec{cfg: cfg, log: log} }

// vars are the ACCESSBOT_ variables of one run.
type vars struct {
	action, grantID, resource string
	subject                   adapters.Subject
	reason                    string
	start, expires            time.Time
	lease                     map[string]string
	hasLease                  bool
}

// Grant runs the program with action "grant" and reads the lease from its stdout.
func (e *Exec) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	out, err := e.run(ctx, vars{
		action: ActionGrant, grantID: req.GrantID, resource: req.Resource, subject: req.Subject,
		reason: req.Reason, start: req.Start, expires: req.Expires,
	})
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	lease, err := decodeAnswer(out)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	return lease, nil
}

// Revoke runs the program with action "revoke".
func (e *Exec) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	_, err := e.run(ctx, vars{
		action: ActionRevoke, grantID: req.GrantID, resource: req.Resource, subject: req.Subject,
		lease: req.Data, hasLease: req.Data != nil,
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, err)
	}
	return nil
}

// Extend runs the program with action "extend" and the new expiry.
func (e *Exec) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	_, err := e.run(ctx, vars{
		action: ActionExtend, grantID: req.GrantID, resource: req.Resource, subject: req.Subject,
		expires: expires, lease: req.Data, hasLease: req.Data != nil,
	})
	if err != nil {
		return fmt.Errorf("extend %s: %w", req.GrantID, err)
	}
	return nil
}

// Check verifies that the command is still there and executable; it does not run it, because
// the program has no action that is safe to call for a health check.
func (e *Exec) Check(ctx context.Context) error {
	if err := checkExecutable(e.cfg.Command); err != nil {
		return adapters.PermanentError(fmt.Errorf("check exec: %w", err))
	}
	return nil
}

// environ builds the program's whole environment. Values that cannot be passed faithfully are
// refused rather than changed, except the reason, which is free text that people may type on
// several lines.
func (e *Exec) environ(v vars) ([]string, error) {
	env := []string{"PATH=" + Path}
	for k, val := range e.cfg.Env {
		if k == "PATH" {
			env[0] = "PATH=" + val
			continue
		}
		env = append(env, k+"="+val)
	}
	lease := ""
	if v.hasLease {
		b, err := json.Marshal(v.lease)
		if err != nil {
			return nil, adapters.Permanentf("encode lease: %v", err)
		}
		lease = string(b)
	}
	strict := []struct{ name, value string }{
		{"ACCESSBOT_ACTION", v.action},
		{"ACCESSBOT_GRANT_ID", v.grantID},
		{"ACCESSBOT_RESOURCE", v.resource},
		{"ACCESSBOT_SUBJECT_ID", v.subject.ID},
		{"ACCESSBOT_SUBJECT_EMAIL", v.subject.Email},
		{"ACCESSBOT_ACCOUNT", v.subject.Account},
	}
	for _, s := range strict {
		if strings.ContainsAny(s.value, "\x00\n\r") {
			return nil, adapters.Permanentf("%s contains NUL or a line break", s.name)
		}
		env = append(env, s.name+"="+s.value)
	}
	reason := strings.NewReplacer("\x00", "", "\r\n", " ", "\n", " ", "\r", " ").Replace(v.reason)
	env = append(env,
		"ACCESSBOT_REASON="+reason,
		"ACCESSBOT_START="+formatTime(v.start),
		"ACCESSBOT_EXPIRES="+formatTime(v.expires),
		"ACCESSBOT_EXPIRES_UNIX="+formatUnix(v.expires),
		"ACCESSBOT_LEASE="+lease,
	)
	return env, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func formatUnix(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// run starts the program and waits for it. It returns stdout on exit 0.
func (e *Exec) run(ctx context.Context, v vars) ([]byte, error) {
	env, err := e.environ(v)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, adapters.RetryableError(fmt.Errorf("run %s: %w", e.cfg.Command, err))
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()

	args := append(append([]string(nil), e.cfg.Args...), v.action)
	cmd := osexec.CommandContext(ctx, e.cfg.Command, args...)
	cmd.Env = env
	// Its own process group, so a timeout kills what the program started too: a script's
	// `sleep` or `psql` must not outlive it and act after the call has been given up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	stdout := &capped{max: maxStdout}
	stderr := &tail{max: stderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	started := time.Now()
	err = cmd.Run()
	log := e.log.With().Str("grant_id", v.grantID).Str("action", v.action).Dur("took", time.Since(started)).Logger()
	if err == nil {
		if stdout.overflow {
			return nil, adapters.Permanentf("run %s %s: output larger than %d bytes", e.cfg.Command, v.action, maxStdout)
		}
		log.Debug().Msg("exec adapter program succeeded")
		return stdout.buf.Bytes(), nil
	}
	// Kill the group whatever happened: a program that exited may have left children behind.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	log.Debug().Err(err).Msg("exec adapter program failed")

	if perr := parent.Err(); perr != nil {
		return nil, adapters.RetryableError(fmt.Errorf("run %s %s: killed: %w%s", e.cfg.Command, v.action, perr, stderr.suffix()))
	}
	if ctx.Err() != nil {
		return nil, adapters.Retryablef("run %s %s: killed after timeout of %s%s", e.cfg.Command, v.action, e.cfg.Timeout, stderr.suffix())
	}
	var exitErr *osexec.ExitError
	if errors.As(err, &exitErr) {
		code := exitErr.ExitCode()
		switch {
		case code == -1:
			return nil, adapters.Retryablef("run %s %s: %v%s", e.cfg.Command, v.action, exitErr, stderr.suffix())
		case code == ExitTempFail:
			return nil, adapters.Retryablef("run %s %s: exit %d (temporary failure)%s", e.cfg.Command, v.action, code, stderr.suffix())
		default:
			return nil, adapters.Permanentf("run %s %s: exit %d%s", e.cfg.Command, v.action, code, stderr.suffix())
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, adapters.Permanentf("run %s %s: %v", e.cfg.Command, v.action, err)
	}
	// ETXTBSY, EAGAIN, a WaitDelay expiry: the machine, not the program, said no.
	return nil, adapters.Retryablef("run %s %s: %v", e.cfg.Command, v.action, err)
}

// answer is what a grant may print on stdout.
type answer struct {
	Lease  map[string]string `json:"lease"`
	Secret *struct {
		Kind  string `json:"kind"`
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"secret"`
}

func decodeAnswer(out []byte) (adapters.Lease, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return adapters.Lease{}, nil
	}
	var a answer
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&a); err != nil || dec.More() {
		// The decoder's error may quote the output, which may carry the secret.
		return adapters.Lease{}, adapters.Permanentf("decode program output: want one JSON object like {\"lease\":{...}}")
	}
	lease := adapters.Lease{Data: a.Lease}
	if a.Secret != nil && a.Secret.Value != "" {
		for k, v := range a.Lease {
			if strings.Contains(v, a.Secret.Value) {
				// Lease data is stored; refusing is better than storing a credential.
				return adapters.Lease{}, adapters.Permanentf("program output carries the secret in lease key %q", k)
			}
		}
		lease.Secret = &adapters.Secret{Kind: a.Secret.Kind, Label: a.Secret.Label, Value: a.Secret.Value}
	}
	return lease, nil
}

// capped keeps up to max bytes and notes that more came.
type capped struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.overflow = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

// tail keeps the last max bytes written.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// suffix formats the stderr tail for an error message.
func (t *tail) suffix() string {
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return fmt.Sprintf(": stderr: %q", s)
}

var (
	_ adapters.Adapter  = (*Exec)(nil)
	_ adapters.Extender = (*Exec)(nil)
	_ adapters.Checker  = (*Exec)(nil)
	_ adapters.Config   = (*Config)(nil)
)
