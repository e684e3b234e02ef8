package exec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	execadapter "github.com/accessbot/accessbot/adapters/exec"
)

// target is testdata/target.sh copied into a temp dir with its own state dir, so each test has
// a target of its own.
type target struct {
	script string
	state  string
}

func newTarget(t *testing.T) *target {
	t.Helper()
	src, err := os.ReadFile("testdata/target.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tg := &target{script: filepath.Join(dir, "target.sh"), state: filepath.Join(dir, "state")}
	if err := os.WriteFile(tg.script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tg.state, 0o755); err != nil {
		t.Fatal(err)
	}
	return tg
}

// adapter builds the adapter through its registered type, as the config loader does.
func (tg *target) adapter(t *testing.T, mode string, edit func(*execadapter.Config)) *execadapter.Exec {
	t.Helper()
	typ, ok := adapters.Lookup("exec")
	if !ok {
		t.Fatal("exec is not registered")
	}
	cfg := typ.NewConfig().(*execadapter.Config)
	cfg.Command = tg.script
	cfg.Args = []string{mode}
	cfg.Env = map[string]string{"STATE_DIR": tg.state}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: "test", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return a.(*execadapter.Exec)
}

func (tg *target) account(t *testing.T, grantID string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tg.state, "grant-"+grantID))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n"), true
}

func grantRequest(id string) adapters.GrantRequest {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return adapters.GrantRequest{
		GrantID:  id,
		Resource: "billing-db",
		Subject:  adapters.Subject{ID: "ann@example.com", Email: "ann@example.com", Account: "ann"},
		Reason:   "fixing INC-42",
		Start:    start,
		Expires:  start.Add(time.Hour),
	}
}

func TestExecPassesTheConformanceKit(t *testing.T) {
	tg := newTarget(t)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: tg.adapter(t, "normal", nil),
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			account, ok := tg.account(t, grantID)
			return ok && account == s.Account
		},
		Count: func(t *testing.T, s adapters.Subject) int {
			files, err := filepath.Glob(filepath.Join(tg.state, "grant-*"))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range files {
				if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == s.Account {
					n++
				}
			}
			return n
		},
	})
}

func TestExecGivesTheProgramOnlyItsOwnEnvironment(t *testing.T) {
	t.Setenv("ACCESSBOT_TEST_SENTINEL", "parent-environment-leaked")
	tg := newTarget(t)
	a := tg.adapter(t, "env", func(c *execadapter.Config) { c.Env["EXTRA"] = "fixed value" })
	req := grantRequest("g-env")
	req.Reason = "line one\nline two"
	lease := map[string]string{"account": "ann"}

	base := map[string]string{
		"PATH":                    "/usr/bin:/bin",
		"STATE_DIR":               tg.state,
		"EXTRA":                   "fixed value",
		"ACCESSBOT_GRANT_ID":      "g-env",
		"ACCESSBOT_RESOURCE":      "billing-db",
		"ACCESSBOT_SUBJECT_ID":    "ann@example.com",
		"ACCESSBOT_SUBJECT_EMAIL": "ann@example.com",
		"ACCESSBOT_ACCOUNT":       "ann",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	revokeReq := adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease}
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want map[string]string
	}{
		{
			name: "grant",
			call: func(ctx context.Context) error { _, err := a.Grant(ctx, req); return err },
			want: with(map[string]string{
				"ACCESSBOT_ACTION": "grant", "ACCESSBOT_REASON": "line one line two",
				"ACCESSBOT_START": "2030-01-02T03:04:05Z", "ACCESSBOT_EXPIRES": "2030-01-02T04:04:05Z",
				"ACCESSBOT_EXPIRES_UNIX": strconv.FormatInt(req.Expires.Unix(), 10), "ACCESSBOT_LEASE": "",
			}),
		},
		{
			name: "revoke",
			call: func(ctx context.Context) error { return a.Revoke(ctx, revokeReq) },
			want: with(map[string]string{
				"ACCESSBOT_ACTION": "revoke", "ACCESSBOT_REASON": "", "ACCESSBOT_START": "",
				"ACCESSBOT_EXPIRES": "", "ACCESSBOT_EXPIRES_UNIX": "", "ACCESSBOT_LEASE": `{"account":"ann"}`,
			}),
		},
		{
			name: "revoke without lease data",
			call: func(ctx context.Context) error {
				r := revokeReq
				r.Data = nil
				return a.Revoke(ctx, r)
			},
			want: with(map[string]string{
				"ACCESSBOT_ACTION": "revoke", "ACCESSBOT_REASON": "", "ACCESSBOT_START": "",
				"ACCESSBOT_EXPIRES": "", "ACCESSBOT_EXPIRES_UNIX": "", "ACCESSBOT_LEASE": "",
			}),
		},
		{
			name: "extend",
			call: func(ctx context.Context) error { return a.Extend(ctx, revokeReq, req.Expires.Add(time.Hour)) },
			want: with(map[string]string{
				"ACCESSBOT_ACTION": "extend", "ACCESSBOT_REASON": "", "ACCESSBOT_START": "",
				"ACCESSBOT_EXPIRES": "2030-01-02T05:04:05Z", "ACCESSBOT_EXPIRES_UNIX": strconv.FormatInt(req.Expires.Add(time.Hour).Unix(), 10),
				"ACCESSBOT_LEASE": `{"account":"ann"}`,
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(context.Background()); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			got := readEnv(t, filepath.Join(tg.state, "env"))
			// dash sets PWD for every script it runs; it is the shell's, not the adapter's.
			delete(got, "PWD")
			if !equalMaps(got, tt.want) {
				t.Errorf("program environment:\n got  %v\n want %v", sorted(got), sorted(tt.want))
			}
			if _, ok := got["ACCESSBOT_TEST_SENTINEL"]; ok {
				t.Error("the program saw the parent's environment")
			}
		})
	}
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	return env
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sorted(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestExecPassesArgumentsAndValuesLiterally(t *testing.T) {
	tg := newTarget(t)
	hostile := "$(touch " + filepath.Join(tg.state, "pwned") + "); `id` ' \" *"
	a := tg.adapter(t, "args", func(c *execadapter.Config) { c.Args = append(c.Args, "two words", hostile) })
	if _, err := a.Grant(context.Background(), grantRequest("g-args")); err != nil {
		t.Fatalf("grant: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(tg.state, "args"))
	if err != nil {
		t.Fatal(err)
	}
	want := "args\ntwo words\n" + hostile + "\ngrant\n"
	if string(b) != want {
		t.Errorf("program arguments = %q, want %q", b, want)
	}

	normal := tg.adapter(t, "normal", nil)
	req := grantRequest("g-hostile")
	req.Subject.Account = hostile
	if _, err := normal.Grant(context.Background(), req); err != nil {
		t.Fatalf("grant: %v", err)
	}
	if got, _ := tg.account(t, "g-hostile"); got != hostile {
		t.Errorf("account reached the target as %q, want it unchanged", got)
	}
	if _, err := os.Stat(filepath.Join(tg.state, "pwned")); err == nil {
		t.Error("a value was run as a command")
	}
}

func TestExecRefusesValuesThatCannotBePassedFaithfully(t *testing.T) {
	tg := newTarget(t)
	a := tg.adapter(t, "normal", nil)
	for _, account := range []string{"ann\nEVIL=1", "ann\x00", "ann\rx"} {
		req := grantRequest("g-bad")
		req.Subject.Account = account
		_, err := a.Grant(context.Background(), req)
		if !adapters.IsPermanent(err) {
			t.Errorf("grant for account %q: err = %v, want permanent", account, err)
		}
	}
	if _, ok := tg.account(t, "g-bad"); ok {
		t.Error("the program ran for a refused value")
	}
}

func TestExecReadsTheLeaseAndSecretFromStdout(t *testing.T) {
	tg := newTarget(t)
	lease, err := tg.adapter(t, "normal", nil).Grant(context.Background(), grantRequest("g-out"))
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if lease.Data["grant"] != "g-out" {
		t.Errorf("lease data = %v, want grant g-out", lease.Data)
	}
	if lease.Secret == nil || lease.Secret.Kind != "password" || !strings.HasPrefix(lease.Secret.Value, "pw-") {
		t.Errorf("secret = %v, want a password", lease.Secret)
	}
}

func TestExecFailures(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		wantKind adapters.Kind
		contains []string
		excludes []string
	}{
		{
			name:     "exit 75 is retryable",
			mode:     "tempfail",
			wantKind: adapters.Retryable,
			contains: []string{"exit 75", "target is restarting, try later"},
		},
		{
			name:     "exit 1 is permanent with the end of stderr",
			mode:     "fail",
			wantKind: adapters.Permanent,
			contains: []string{"exit 1", "unknown account ann"},
			excludes: []string{"noise-00", "fixing INC-42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			_, err := tg.adapter(t, tt.mode, nil).Grant(context.Background(), grantRequest("g-fail"))
			if err == nil {
				t.Fatal("grant succeeded, want an error")
			}
			if got := adapters.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s (err: %v)", got, tt.wantKind, err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q mentions %q", err, s)
				}
			}
		})
	}
}

func TestExecKillsTheProcessGroupOnTimeout(t *testing.T) {
	tg := newTarget(t)
	a := tg.adapter(t, "hang", func(c *execadapter.Config) { c.Timeout = time.Second })

	started := time.Now()
	_, err := a.Grant(context.Background(), grantRequest("g-hang"))
	if took := time.Since(started); took > 15*time.Second {
		t.Fatalf("grant returned after %s, want about the 1s timeout", took)
	}
	if adapters.KindOf(err) != adapters.Retryable || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err = %v, want a retryable timeout", err)
	}

	b, err := os.ReadFile(filepath.Join(tg.state, "child.pid"))
	if err != nil {
		t.Fatalf("the program did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child was reparented when its shell died; it is dead once it is gone or a zombie
	// that nobody has reaped yet.
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d of the timed-out program is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself contain spaces.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestExecCancelledContextKillsTheProgram(t *testing.T) {
	tg := newTarget(t)
	a := tg.adapter(t, "hang", func(c *execadapter.Config) { c.Timeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the program is surely running: it has recorded its child.
		for {
			if _, err := os.Stat(filepath.Join(tg.state, "child.pid")); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := a.Grant(ctx, grantRequest("g-cancel"))
	if adapters.KindOf(err) != adapters.Retryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want retryable wrapping context.Canceled", err)
	}
}

func TestExecRefusesOutputThatIsNotTheAnswerObject(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "noisy.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '{\"lease\":{\"a\":\"b\"}} trailing'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := execadapter.New(execadapter.Config{Command: script, Timeout: 10 * time.Second}, zerolog.Nop())
	_, err := a.Grant(context.Background(), grantRequest("g-noisy"))
	if !adapters.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tg := newTarget(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	typ, _ := adapters.Lookup("exec")
	if def := typ.NewConfig().(*execadapter.Config); def.Timeout != 30*time.Second {
		t.Errorf("default timeout = %s, want 30s", def.Timeout)
	}

	tests := []struct {
		name    string
		edit    func(*execadapter.Config)
		wantErr string
	}{
		{"a complete config is valid", func(c *execadapter.Config) {}, ""},
		{"a missing command is refused", func(c *execadapter.Config) { c.Command = "" }, "command is required"},
		{"a relative command is refused", func(c *execadapter.Config) { c.Command = "target.sh" }, "absolute"},
		{"a command that does not exist is refused", func(c *execadapter.Config) { c.Command = filepath.Join(dir, "nope") }, "no such file"},
		{"a directory is refused", func(c *execadapter.Config) { c.Command = dir }, "not a regular file"},
		{"a file without execute bits is refused", func(c *execadapter.Config) { c.Command = notExec }, "not executable"},
		{"a zero timeout is refused", func(c *execadapter.Config) { c.Timeout = 0 }, "timeout"},
		{"an argument with NUL is refused", func(c *execadapter.Config) { c.Args = []string{"a\x00b"} }, "NUL"},
		{"an ACCESSBOT_ variable in env is refused", func(c *execadapter.Config) { c.Env = map[string]string{"ACCESSBOT_ACCOUNT": "root"} }, "set by accessbot"},
		{"a bad variable name is refused", func(c *execadapter.Config) { c.Env = map[string]string{"A-B": "x"} }, "not a valid variable name"},
		{"an env value with a newline is refused", func(c *execadapter.Config) { c.Env = map[string]string{"A": "x\ny"} }, "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := execadapter.NewConfig()
			cfg.Command = tg.script
			tt.edit(cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDoesNotPrintEnvValues(t *testing.T) {
	cfg := execadapter.NewConfig()
	cfg.Command = "/usr/local/bin/grant"
	cfg.Env = map[string]string{"API_TOKEN": "env-token-value"}
	for _, v := range []any{cfg, *cfg} {
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(format, v); strings.Contains(out, "env-token-value") {
				t.Errorf("Sprintf(%q) = %s, leaks an env value", format, out)
			}
		}
	}
}

func TestConfigDecodesFromYAMLKeys(t *testing.T) {
	src := "command: /bin/true\nargs: [--db, main]\ntimeout: 45s\nenv: {PGHOST: db.internal}\n"
	cfg := execadapter.NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.Command != "/bin/true" || strings.Join(cfg.Args, " ") != "--db main" || cfg.Timeout != 45*time.Second || cfg.Env["PGHOST"] != "db.internal" {
		t.Errorf("decoded %v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}
