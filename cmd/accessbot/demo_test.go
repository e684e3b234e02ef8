package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/config"
)

func TestDemoRefusesWhatItCannotDoSafely(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "demo", "--listen", "0.0.0.0:8080")
	if code != 2 || !strings.Contains(stderr, "not a loopback address") {
		t.Errorf("a non-loopback --listen: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "demo", "extra")
	if code != 2 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("an argument: exit %d, %q", code, stderr)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	code, _, stderr = runCLI(t, nil, "demo", "--listen", busy.Addr().String())
	if code != 1 || !strings.Contains(stderr, busy.Addr().String()+" is already in use") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("a busy port: exit %d, %q, want one sentence", code, stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("a demo that did not start left %v", left)
	}

	code, stdout, _ := runCLI(t, nil, "help")
	if code != 0 || !strings.Contains(stdout, "accessbot demo") {
		t.Errorf("help does not mention the demo:\n%s", stdout)
	}
}

// The demo's config is an ordinary, valid config with what the issue asks for: people to act
// as, a resource approved by a CEL rule and one that needs an approver, the web chat on.
func TestTheDemoConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	path, err := writeDemo(dir, "127.0.0.1:18080")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Web.Enabled || cfg.Server.Listen != "127.0.0.1:18080" || cfg.Storage.DSN != filepath.Join(dir, "accessbot.db") {
		t.Errorf("config: web %v, listen %s, dsn %s", cfg.Web.Enabled, cfg.Server.Listen, cfg.Storage.DSN)
	}
	var ids []string
	for _, p := range cfg.WebPeople() {
		ids = append(ids, p.ID)
	}
	if strings.Join(ids, ",") != "alice,bob,carol,dana" {
		t.Errorf("people = %v", ids)
	}
	policies := map[string]string{}
	for _, r := range cfg.Resources {
		if rule := r.EffectivePolicy().AutoApprove; rule != nil {
			policies[r.Name] = rule.Source
		}
	}
	if !strings.Contains(policies["staging-db"], "duration") || policies["prod-db"] != "" {
		t.Errorf("auto-approve rules: %v", policies)
	}
	if fi, err := os.Stat(filepath.Join(dir, "access.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("access.sh: %v %v", fi, err)
	}
}
