// Package layout holds a test that keeps accessbot's import direction as DESIGN.md draws it:
// adapters and audit import nothing of ours, the domain does not import storage or the chat
// platforms, and only the wiring imports everything.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/accessbot/accessbot"

// allowed lists, for each package prefix (relative to the module), the prefixes of our own
// packages it may import. The first matching rule applies; a package with no rule may import
// anything of ours (the wiring: cmd/, internal/app).
var allowed = []struct {
	pkg     string
	imports []string
}{
	// The webhook adapter retries with the shared backoff arithmetic.
	{"adapters/webhook", []string{"adapters", "internal/backoff"}},
	{"adapters", []string{"adapters"}},
	// The SIEM sinks follow the log and sign webhook batches like the webhook adapter.
	{"audit/sink", []string{"audit", "internal/clock", "internal/backoff", "adapters/webhook"}},
	// The digest reads the log; it formats durations as the config and chat write them.
	{"audit/digest", []string{"audit", "internal/duration"}},
	{"audit", nil},
	{"internal/backoff", nil},
	{"internal/clock", nil},
	{"internal/schedule", []string{"internal/clock"}},
	{"internal/duration", nil},
	{"internal/sshkey", nil},
	{"internal/suggest", nil},
	// Test kits may build a real store under the domain they help test.
	{"grants/grantstest", []string{"grants", "adapters", "audit", "internal/clock", "storage"}},
	{"bot/bottest", []string{"bot", "grants", "audit", "adapters", "internal/clock", "internal/duration", "storage"}},
	{"grants", []string{"grants", "adapters", "audit", "internal/backoff", "internal/clock", "internal/duration", "internal/schedule", "internal/suggest"}},
	// storage implements the stores that grants and bot declare.
	// It is also the key source the sshcert adapter reads (adapters.PublicKeySource).
	{"storage", []string{"storage", "grants", "audit", "bot", "adapters", "internal/backoff", "internal/sshkey"}},
	{"config", []string{"config", "grants", "adapters", "internal/duration", "internal/sshkey", "internal/suggest"}},
	{"internal/ops", []string{"grants", "adapters"}},
	{"bot", []string{"bot", "grants", "audit", "adapters", "internal/clock", "internal/duration", "internal/schedule", "internal/sshkey", "internal/suggest"}},
}

func TestImportsFlowOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		rule := -1
		for i, r := range allowed {
			if pkg == r.pkg || strings.HasPrefix(pkg, r.pkg+"/") {
				rule = i
				break
			}
		}
		if rule < 0 {
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			ours := strings.TrimPrefix(imp, module+"/")
			ok := false
			for _, a := range allowed[rule].imports {
				if ours == a || strings.HasPrefix(ours, a+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, against the layout in DESIGN.md", pkg, ours)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages; is go list seeing the module?", checked)
	}
}
