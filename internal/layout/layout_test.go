// Package layout holds a test that keeps accessbot's import direction as DESIGN.md draws it:
// adapters and audit import nothing of ours, the domain does not import storage or the chat
// platforms, storage knows no chat platform, the platforms do not know one another, and only
// the wiring imports everything.
package layout

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/accessbot/accessbot"

// A pattern names one package exactly, relative to the module ("bot" is bot alone, not
// bot/slack); a pattern ending in "/..." names that package and every package below it, and is
// written only where a whole family is meant (a platform and its test kit).

// allowed lists, for each package, the packages of ours it may import. The first matching rule
// applies; a package with no rule may import anything of ours (the wiring: cmd/, internal/app,
// and the benchmarks and fault tests, which drive the whole program).
var allowed = []struct {
	pkg     string
	imports []string
}{
	// The adapters know the adapter contract and nothing else of ours: a target kind can be
	// added or read without the domain.
	// The webhook adapter retries with the shared backoff arithmetic (and its Sleep, which the
	// other adapters wait with too).
	{"adapters/webhook", []string{"adapters", "internal/backoff"}},
	// The fakes of Google's APIs share its token endpoint (internal/googletest).
	{"adapters/gcpiam/gcpiamtest", []string{"internal/googletest"}},
	{"adapters/googlegroups/googlegroupstest", []string{"internal/googletest"}},
	// The Google adapters share one REST call and Google's error answer (internal/googleapi).
	{"adapters/gcpiam", []string{"adapters", "internal/googleapi", "internal/ident"}},
	{"adapters/googlegroups", []string{"adapters", "internal/googleapi", "internal/ident"}},
	// The kubernetes adapter paces its requests with the shared token bucket.
	{"adapters/kubernetes", []string{"adapters", "internal/ratelimit", "internal/backoff", "internal/ident"}},
	// The GitHub and Okta adapters page with the shared Link header reader.
	{"adapters/github", []string{"adapters", "internal/backoff", "internal/httplink", "internal/ratelimit"}},
	{"adapters/okta", []string{"adapters", "internal/backoff", "internal/httplink", "internal/ratelimit"}},
	{"adapters/awsidc", []string{"adapters", "internal/backoff"}},
	// The LDAP and SSH adapters render their config's templates without text/template.
	{"adapters/ldap", []string{"adapters", "internal/tmpl", "internal/ident"}},
	{"adapters/sshcert", []string{"adapters", "internal/tmpl", "internal/ident"}},
	{"adapters/...", []string{"adapters/...", "internal/ident"}},
	// The audit log is the bottom of the domain: events and their hash chain stand alone (with
	// the one duration format people read).
	{"audit", []string{"internal/duration", "internal/tmpl"}},
	// The transparency log proves and checks over the log; a store with the tree is an
	// interface it declares, so an auditor's offline check needs no database.
	{"audit/translog", []string{"audit", "internal/clock"}},
	// The SIEM sinks follow the log and sign webhook batches like the webhook adapter.
	{"audit/sink", []string{"audit", "internal/clock", "internal/backoff", "adapters/webhook"}},
	// The digest reads the log; it formats durations as the config and chat write them.
	{"audit/digest/...", []string{"audit", "audit/digest/...", "internal/duration"}},
	// Small leaf packages are shared by all and import nothing of ours.
	{"internal/clock", nil},
	{"internal/flood", nil},
	{"internal/ratelimit", nil},
	{"internal/backoff", nil},
	// The template executor without text/template's method lookups (BENCHMARKS.md "4. Memory").
	{"internal/tmpl", nil},
	{"internal/googleapi", []string{"internal/backoff"}},
	{"internal/googletest", nil},
	{"internal/httplink", nil},
	{"internal/apifake", nil},
	{"internal/ghdevice", []string{"internal/backoff", "internal/clock", "internal/ident"}},
	{"internal/suggest", nil},
	// The schedule loop waits on the injected clock.
	{"internal/schedule", []string{"internal/clock"}},
	{"internal/duration", nil},
	{"internal/sshkey", nil},
	// Identifier patterns: an uncounted expression and a length bound (a counted repetition
	// costs a state per count in every process), and the test kit that proves each the same.
	{"internal/ident", nil},
	{"internal/ident/identtest", nil},
	// Ticket systems: each client knows the tickets interface; the policy, the comments and the
	// end-with-ticket revocations go through the domain and the log.
	{"tickets/jira/jiratest", []string{"internal/apifake"}},
	{"tickets/servicenow/servicenowtest", []string{"internal/apifake"}},
	{"tickets/jira", []string{"tickets"}},
	{"tickets/servicenow", []string{"tickets"}},
	{"tickets", []string{"grants", "audit", "internal/clock", "internal/flood", "internal/ident"}},
	// Test kits may build a real store under the domain they help test.
	{"grants/grantstest", []string{"grants", "adapters", "audit", "internal/clock", "storage"}},
	// The domain decides with the adapters it calls and the log it writes: no storage, no chat.
	{"grants", []string{"adapters", "audit", "internal/backoff", "internal/clock", "internal/duration", "internal/schedule", "internal/suggest", "internal/tmpl"}},
	// The on-call rotas answer the domain's questions (Directory, Lookup); each provider and its
	// fake stand apart.
	{"oncall/pagerduty/pagerdutytest", nil},
	{"oncall/opsgenie/opsgenietest", nil},
	{"oncall/pagerduty", []string{"oncall"}},
	{"oncall/opsgenie", []string{"oncall"}},
	{"oncall", []string{"grants", "internal/backoff", "internal/clock", "internal/ident"}},
	// The config names resources, policies and people; it knows no chat platform (it checks
	// rota group names with oncall).
	{"config", []string{"grants", "adapters", "oncall", "internal/duration", "internal/ident", "internal/sshkey", "internal/suggest", "internal/tmpl", "tickets"}},
	// The policy audit reads the config (no database) and writes the log's config.changed.
	{"config/policyaudit", []string{"config", "grants", "audit", "internal/duration", "internal/tmpl"}},
	{"internal/ops", []string{"grants", "adapters", "audit", "internal/clock"}},
	// Step-up approval checks a login at the identity provider and records the approval
	// through the domain; it declares the store of its logins, which storage implements.
	{"internal/stepup", []string{"grants", "internal/clock", "internal/flood", "internal/tmpl"}},
	// storage implements the stores that grants, audit and the chat core declare (the outbox,
	// message references, SSH keys, identity links, step-up logins), and is the key source the sshcert adapter
	// reads (adapters.PublicKeySource). It knows the chat core, never a platform.
	{"storage/...", []string{"storage/...", "grants", "audit", "bot", "adapters", "internal/backoff", "internal/sshkey", "internal/stepup"}},
	// The chat core is platform-neutral: it says what a message means, not how a platform
	// shows it, so it imports no platform.
	{"bot", []string{"grants", "audit", "audit/digest", "adapters", "internal/clock", "internal/duration", "internal/flood", "internal/ghdevice", "internal/ident", "internal/ratelimit", "internal/schedule", "internal/sshkey", "internal/suggest"}},
	// The chat core's test kit drives the core over a real store, without a platform.
	{"bot/bottest", []string{"bot", "grants", "grants/grantstest", "audit", "adapters", "internal/clock", "internal/duration", "storage"}},
	// Each platform builds on the chat core and the domain types it shows, and on its own
	// subpackages (its fake server), never on another platform.
	{"bot/slack/...", platform("bot/slack/...")},
	{"bot/discord/...", platform("bot/discord/...")},
	{"bot/web/...", platform("bot/web/...")},
	{"bot/teams/...", platform("bot/teams/...")},
	// A platform still without a rule of its own is held to the same: the core only.
	{"bot/...", platform()},
}

// platform returns what a chat platform may import: the chat core, the domain types it shows,
// the small leaf packages, and own (its own family).
func platform(own ...string) []string {
	return append(own, "bot", "grants", "audit", "adapters", "internal/clock", "internal/duration", "internal/ratelimit", "internal/sshkey")
}

// platforms are the chat platforms, each with its own subpackages.
var platforms = []string{"bot/slack/...", "bot/discord/...", "bot/web/...", "bot/teams/..."}

// neutral are the packages that must know no chat platform at all, whatever their allowed list
// says: the chat core and its kit, storage and the domain.
var neutral = []string{"bot", "bot/bottest", "storage/...", "grants/...", "audit/...", "adapters/...", "config/...", "oncall/..."}

// match reports whether pkg (relative to the module) is named by pattern.
func match(pattern, pkg string) bool {
	if family, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == family || strings.HasPrefix(pkg, family+"/")
	}
	return pkg == pattern
}

// matchAny returns the first of patterns that names pkg, or "".
func matchAny(patterns []string, pkg string) string {
	for _, p := range patterns {
		if match(p, pkg) {
			return p
		}
	}
	return ""
}

// check reads `go list` lines ("<package> <import> <import>...", full import paths) and returns
// the imports against the layout, and how many packages a rule applied to.
func check(lines []string) (violations []string, checked int) {
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 || !ours(fields[0]) {
			continue
		}
		pkg := rel(fields[0])
		rule := -1
		for i, r := range allowed {
			if match(r.pkg, pkg) {
				rule = i
				break
			}
		}
		if rule >= 0 {
			checked++
		}
		for _, imp := range fields[1:] {
			if !ours(imp) || rel(imp) == pkg {
				continue
			}
			if why := refused(pkg, rel(imp), rule); why != "" {
				violations = append(violations, fmt.Sprintf("%s imports %s: %s, against the layout in DESIGN.md", pkg, rel(imp), why))
			}
		}
	}
	return violations, checked
}

// refused says why pkg may not import imp under allowed[rule] (no rule: -1), or "".
func refused(pkg, imp string, rule int) string {
	from, to := matchAny(platforms, pkg), matchAny(platforms, imp)
	switch {
	case from != "" && to != "" && from != to:
		return "a platform never imports another"
	case to != "" && matchAny(neutral, pkg) != "":
		return "storage, the domain and the chat core never import a platform"
	case rule >= 0 && matchAny(allowed[rule].imports, imp) == "":
		return "not in its allowed imports"
	}
	return ""
}

func ours(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func TestImportsFlowOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	violations, checked := check(strings.Split(strings.TrimSpace(string(out)), "\n"))
	for _, v := range violations {
		t.Error(v)
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages; is go list seeing the module?", checked)
	}
}
