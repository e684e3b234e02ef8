package config_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
)

// valid is the smallest valid file; cases below change one thing in it.
const valid = `groups:
  sre: [alice@example.com, bob@example.com]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    policy:
      approvers: [sre]
`

func TestTheSmallestValidFileLoads(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Server.Listen != "127.0.0.1:8080" || c.Storage.Driver != "sqlite" || c.Location() != time.UTC {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestEachKindOfMistakeIsReportedWithFileLineAndKey(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "an unknown key suggests the closest known key",
			src:  "time_zon: UTC\n" + valid,
			want: []string{`accessbot.yaml:1: time_zon: unknown key "time_zon" (did you mean "time_zone"?)`},
		},
		{
			name: "an unknown key with no close match lists the known keys",
			src:  "server:\n  colour: blue\n" + valid,
			want: []string{`accessbot.yaml:2: server.colour: unknown key "colour" (known keys: listen, public_url)`},
		},
		{
			name: "a string where a list belongs says a list was expected",
			src:  valid[:len(valid)-len("[sre]\n")] + "sre\n",
			want: []string{`accessbot.yaml:7: resources[0].policy.approvers: expected a list, got "sre"`},
		},
		{
			name: "a quoted number says to remove the quotes",
			src:  valid + "      approvals: \"2\"\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.approvals: expected a whole number, got "2" (quotes make it a string: remove them)`},
		},
		{
			name: "yes is not a bool",
			src:  valid + "      reason_required: yes\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.reason_required: expected true or false, got "yes"`},
		},
		{
			name: "a duration that does not parse",
			src:  valid + "      max_duration: 2x\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.max_duration: "2x" is not a duration (use 30m, 1h, 8h, 7d)`},
		},
		{
			name: "an unknown adapter type lists the registered ones",
			src:  strings.Replace(valid, "type: fake", "type: fak", 1),
			want: []string{`accessbot.yaml:5: resources[0].adapter.type: unknown adapter type "fak" (did you mean "fake"? registered: `},
		},
		{
			name: "an adapter block without a type",
			src:  strings.Replace(valid, "type: fake, ", "", 1),
			want: []string{`accessbot.yaml:5: resources[0].adapter.type: required: the adapter type (registered: `},
		},
		{
			name: "an unknown key inside an adapter block",
			src:  strings.Replace(valid, "type: fake,", "type: fake, urls: x,", 1),
			want: []string{`accessbot.yaml:5: resources[0].adapter.urls: unknown key "urls" (did you mean "url"?)`},
		},
		{
			name: "a wrong type inside an adapter block",
			src:  strings.Replace(valid, "type: fake,", "type: fake, timeout: soon,", 1),
			want: []string{`accessbot.yaml:5: resources[0].adapter.timeout: "soon" is not a duration (use 30m, 1h, 8h, 7d)`},
		},
		{
			name: "a key written twice in an adapter block is reported once",
			src:  strings.Replace(valid, "type: fake,", "type: fake, url: a,", 1),
			want: []string{`accessbot.yaml:5: resources[0].adapter.url: key "url" appears twice (first at line 5)`},
		},
		{
			name: "the adapter's own validation is reported at the adapter key",
			src: `groups: {sre: [alice@example.com]}
resources:
  - name: prod-db
    adapter:
      type: fake
      secret: x
    policy: {approvers: [sre]}
`,
			want: []string{`accessbot.yaml:4: resources[0].adapter: fake adapter: url is required`},
		},
		{
			name: "a missing adapter block",
			src:  strings.Replace(valid, "    adapter: {type: fake, url: \"http://127.0.0.1:9\"}\n", "", 1),
			want: []string{`accessbot.yaml:4: resources[0].adapter: required: an adapter block with a type`},
		},
		{
			name: "an approver group that does not exist",
			src:  strings.Replace(valid, "[sre]", "[sre, sres]", 1),
			want: []string{`accessbot.yaml:7: resources[0].policy.approvers[1]: unknown group "sres" (did you mean "sre"?): define it under groups:`},
		},
		{
			name: "a requester group that does not exist",
			src:  valid + "      requesters: {groups: [devs]}\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.requesters.groups[0]: unknown group "devs": define it under groups:`},
		},
		{
			name: "an admin group that does not exist",
			src:  "admins:\n  groups: [security]\n" + valid,
			want: []string{`accessbot.yaml:2: admins.groups[0]: unknown group "security": define it under groups:`},
		},
		{
			name: "zero approvals",
			src:  valid + "      approvals: 0\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.approvals: must be at least 1, got 0`},
		},
		{
			name: "more approvals than approvers",
			src:  valid + "      approvals: 3\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.approvals: needs 3 distinct approvals but approver groups sre have only 2 member(s) between them`},
		},
		{
			name: "a default duration longer than the maximum",
			src:  valid + "      default_duration: 4h\n      max_duration: 2h\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.default_duration: 4h is longer than max_duration 2h`},
		},
		{
			name: "a maximum below the inherited default names where the default comes from",
			src:  "defaults:\n  default_duration: 2h\n" + valid + "      max_duration: 1h\n",
			want: []string{`accessbot.yaml:10: resources[0].policy.max_duration: 1h is shorter than default_duration 2h (from defaults.default_duration)`},
		},
		{
			name: "a mistake in defaults is reported once, not for every resource",
			src:  "defaults:\n  default_duration: 10h\n" + valid + "  - name: other\n    adapter: {type: fake, url: \"http://x\"}\n    policy: {approvers: [sre]}\n",
			want: []string{`accessbot.yaml:2: defaults.default_duration: 10h is longer than max_duration 8h (built-in default)`},
		},
		{
			name: "a zero duration",
			src:  valid + "      pending_ttl: 0\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.pending_ttl: must be longer than zero, got 0`},
		},
		{
			name: "a reason pattern that does not compile",
			src:  valid + "      reason_pattern: '^(INC'\n",
			want: []string{"accessbot.yaml:8: resources[0].policy.reason_pattern: not a valid regular expression: error parsing regexp: missing closing ): `^(INC`"},
		},
		{
			name: "an auto-approve rule that does not compile",
			src:  valid + "      auto_approve: 'duration <= 30'\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.auto_approve: auto-approve rule: ERROR: <input>:1:10: found no matching overload for '_<=_' applied to '(duration, int)'`},
		},
		{
			name: "an auto-approve rule that is not a bool",
			src:  valid + "      auto_approve: 'reason'\n",
			want: []string{`accessbot.yaml:8: resources[0].policy.auto_approve: auto-approve rule must be a bool expression, not string`},
		},
		{
			name: "no approvers and no auto-approve rule",
			src:  strings.Replace(valid, "approvers: [sre]", "break_glass: true", 1),
			want: []string{`accessbot.yaml:6: resources[0].policy.approvers: required: name at least one approver group (or set auto_approve`},
		},
		{
			name: "an unknown time zone",
			src:  "time_zone: Europe/Pariss\n" + valid,
			want: []string{`accessbot.yaml:1: time_zone: unknown time zone "Europe/Pariss" (use an IANA name such as UTC or Europe/Paris)`},
		},
		{
			name: "two resources with one name",
			src:  valid + "  - name: prod-db\n    adapter: {type: fake, url: \"http://x\"}\n    policy: {approvers: [sre]}\n",
			want: []string{`accessbot.yaml:8: resources[1].name: duplicate resource name "prod-db" (first at line 4)`},
		},
		{
			name: "a resource name with capitals",
			src:  strings.Replace(valid, "prod-db", "Prod_DB", 1),
			want: []string{`accessbot.yaml:4: resources[0].name: "Prod_DB" is not a valid name`},
		},
		{
			name: "an unknown storage driver",
			src:  "storage: {driver: mysql}\n" + valid,
			want: []string{`accessbot.yaml:1: storage.driver: unknown storage driver "mysql" (use sqlite or postgres)`},
		},
		{
			name: "an unknown log level",
			src:  "log: {level: verbose}\n" + valid,
			want: []string{`accessbot.yaml:1: log.level: unknown log level "verbose" (use debug, info, warn or error)`},
		},
		{
			name: "a listen address without a port",
			src:  "server: {listen: localhost}\n" + valid,
			want: []string{`accessbot.yaml:1: server.listen: "localhost" is not host:port`},
		},
		{
			name: "a config group named like a platform group",
			src:  "groups:\n  \"@sre\": [a@example.com]\n" + valid[len("groups:\n"):],
			want: []string{`accessbot.yaml:2: groups["@sre"]: "@sre" names a platform group`},
		},
		{
			name: "an account template with an unknown field",
			src:  valid + "    account: '{{.Login}}'\n",
			want: []string{`accessbot.yaml:8: resources[0].account: template fails (fields are ID, Email, Local, Name, Platform, PlatformID):`},
		},
		{
			name: "a key written twice",
			src:  valid + "    name: again\n",
			want: []string{`accessbot.yaml:8: resources[0].name: key "name" appears twice (first at line 4)`},
		},
		{
			name: "retry attempts below one",
			src:  "scheduler:\n  retry: {attempts: 0}\n" + valid,
			want: []string{`accessbot.yaml:2: scheduler.retry.attempts: must be at least 1, got 0`},
		},
		{
			name: "a heartbeat timeout too short to beat four times in",
			src:  "scheduler:\n  heartbeat_timeout: 10ms\n" + valid,
			want: []string{`accessbot.yaml:2: scheduler.heartbeat_timeout: must be at least 100ms, got 10ms`},
		},
		{
			name: "an unknown hold rule",
			src:  "scheduler:\n  hold_rule: lease\n" + valid,
			want: []string{`accessbot.yaml:2: scheduler.hold_rule: must be "owner" or "legacy", got "lease"`},
		},
		{
			name: "a file without resources",
			src:  "log: {level: info}\n",
			want: []string{`accessbot.yaml: resources: required: at least one resource`},
		},
		{
			name: "a YAML syntax error keeps its line",
			src:  "server:\n  listen: [\n",
			want: []string{`accessbot.yaml:2: did not find expected node content`},
		},
		{
			name: "a second YAML document",
			src:  valid + "---\nlog: {level: info}\n",
			want: []string{`accessbot.yaml:8: a config file holds one YAML document`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(tt.src), envOf(nil))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			got := problemsOf(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got  %s\n want %s...", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAllProblemsInAFileAreReportedAtOnceInLineOrder(t *testing.T) {
	src := `server:
  listen: "127.0.0.1:8080"
  lisen: ":9090"
storage:
  driver: sqlite
groups:
  sre: [alice@example.com]
resources:
  - name: prod-db
    adapter: {type: webhok, url: "http://x"}
    policy:
      approvers: [sre, ops]
      max_duration: 2x
      approvals: two
  - name: scratch
    adapter: {type: fake, url: "http://x"}
    policy:
      auto_approve: 'hour >'
`
	_, err := config.Parse(testFile, []byte(src), envOf(nil))
	got := problemsOf(t, err)
	want := []string{
		`accessbot.yaml:3: server.lisen: unknown key "lisen" (did you mean "listen"?)`,
		`accessbot.yaml:10: resources[0].adapter.type: unknown adapter type "webhok"`,
		`accessbot.yaml:12: resources[0].policy.approvers[1]: unknown group "ops"`,
		`accessbot.yaml:13: resources[0].policy.max_duration: "2x" is not a duration`,
		`accessbot.yaml:14: resources[0].policy.approvals: expected a whole number, got "two"`,
		`accessbot.yaml:18: resources[1].policy.auto_approve: auto-approve rule: ERROR: <input>:1:7: Syntax error`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got  %s\n want %s...", i, got[i], want[i])
		}
	}
	if msg := err.Error(); strings.Count(msg, "accessbot.yaml:") != len(want) {
		t.Errorf("Error() should print one problem per line:\n%s", msg)
	}
}

func TestReferencesAreExpandedFromTheEnvironmentAndFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hmac.key"), []byte("key-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `storage:
  driver: postgres
  dsn: "postgres://bot:${PGPASSWORD}@db.internal/accessbot"
groups:
  sre: [alice@example.com]
resources:
  - name: prod-db
    adapter:
      type: fake
      url: ${HOOK_URL:-http://127.0.0.1:9999/hook}
      secret: ${file:hmac.key}
      headers: {X-Literal: "$${NOT_EXPANDED}"}
    policy:
      approvers: [sre]
      approvals: ${APPROVALS}
`
	env := map[string]string{"PGPASSWORD": "pg-pass-123", "APPROVALS": "1"}
	c, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(src), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.DSN != "postgres://bot:pg-pass-123@db.internal/accessbot" {
		t.Errorf("dsn = %q", c.Storage.DSN)
	}
	fc := c.Resources[0].Adapter.Config.(*fakeConfig)
	if fc.URL != "http://127.0.0.1:9999/hook" || fc.Secret != "key-from-file" || fc.Headers["X-Literal"] != "${NOT_EXPANDED}" {
		t.Errorf("adapter config = %+v", fc)
	}
	if got := *c.Resources[0].Policy.Approvals; got != 1 {
		t.Errorf("approvals = %d", got)
	}
	secrets := strings.Join(c.Secrets(), ",")
	for _, s := range []string{"pg-pass-123", "key-from-file", "http://127.0.0.1:9999/hook"} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets() = %q, missing %q", c.Secrets(), s)
		}
	}
	if strings.Contains(secrets, "NOT_EXPANDED") {
		t.Errorf("Secrets() = %q lists an escaped literal", c.Secrets())
	}
}

func TestASecretContainingYAMLCannotChangeTheStructure(t *testing.T) {
	tricky := "x\nadmins: {users: [mallory]}\n  - name: evil, [}"
	c := mustParse(t, strings.Replace(valid, `url: "http://127.0.0.1:9"`, `url: "http://127.0.0.1:9", secret: "${S}"`, 1),
		map[string]string{"S": tricky})
	if got := c.Resources[0].Adapter.Config.(*fakeConfig).Secret; got != tricky {
		t.Errorf("secret = %q, want it verbatim", got)
	}
	if len(c.Admins.Users) != 0 || len(c.Resources) != 1 {
		t.Errorf("the secret changed the structure: admins %v, %d resources", c.Admins.Users, len(c.Resources))
	}
}

func TestAMissingEnvironmentVariableIsAnErrorAtItsKey(t *testing.T) {
	src := strings.Replace(valid, `url: "http://127.0.0.1:9"`, `url: "http://127.0.0.1:9", secret: "${WEBHOOK_SECRET}"`, 1)
	_, err := config.Parse(testFile, []byte(src), envOf(nil))
	got := problemsOf(t, err)
	want := `accessbot.yaml:5: resources[0].adapter.secret: environment variable WEBHOOK_SECRET is not set (write ${WEBHOOK_SECRET:-default} to give a default)`
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems %q\nwant %q", got, want)
	}
}

func TestSecretValuesNeverAppearInErrors(t *testing.T) {
	const secret = "hunter2-very-secret"
	src := `storage: {dsn: "${S}", driver: "${S}"}
log: {level: "${S}"}
time_zone: ${S}
groups: {sre: [a@example.com]}
resources:
  - name: prod-db
    adapter: {type: fake, url: "${S}"}
    policy:
      approvers: [sre]
      approvals: ${S}
      max_duration: ${S}
      break_glass: ${S}
      reason_pattern: "(${S}"
`
	_, err := config.Parse(testFile, []byte(src), envOf(map[string]string{"S": secret}))
	got := problemsOf(t, err)
	if len(got) < 7 {
		t.Fatalf("expected a problem per misused secret, got:\n%s", strings.Join(got, "\n"))
	}
	for _, p := range got {
		if strings.Contains(p, secret) || strings.Contains(p, "hunter2") {
			t.Errorf("a problem shows the secret: %s", p)
		}
	}
	if !strings.Contains(err.Error(), `"${S}" (after expansion)`) {
		t.Errorf("problems should quote the reference instead:\n%s", err)
	}
}

func TestTheHashCoversTheFileBeforeExpansion(t *testing.T) {
	src := strings.Replace(valid, `url: "http://127.0.0.1:9"`, `url: "http://127.0.0.1:9", secret: "${S}"`, 1)
	a := mustParse(t, src, map[string]string{"S": "one-secret"})
	b := mustParse(t, src, map[string]string{"S": "another-secret"})
	c := mustParse(t, src+"# a comment\n", map[string]string{"S": "one-secret"})
	if a.Hash() != b.Hash() {
		t.Error("the hash depends on expanded values; it must cover the file as written")
	}
	if a.Hash() == c.Hash() || len(a.Hash()) != 64 {
		t.Errorf("the hash %q does not identify the file", a.Hash())
	}
}

func TestResourcesInheritDefaultsKeyByKey(t *testing.T) {
	src := `groups:
  sre: [alice@example.com, bob@example.com]
  leads: [carol@example.com]
defaults:
  approvers: [sre]
  approvals: 2
  max_duration: 4h
  reason_pattern: '^INC-[0-9]+'
  warn_before: 5m
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://x"}
  - name: scratch
    adapter: {type: fake, url: "http://x"}
    policy:
      approvers: [leads]
      approvals: 1
      reason_required: false
      reason_pattern: ""
      break_glass: true
      auto_approve: 'duration <= duration("30m")'
`
	c := mustParse(t, src, nil)
	inherited := c.Resources[0].EffectivePolicy()
	if inherited.Approvals != 2 || inherited.MaxDuration != 4*time.Hour || inherited.DefaultDuration != time.Hour ||
		inherited.WarnBefore != 5*time.Minute || inherited.PendingTTL != 24*time.Hour || !inherited.ReasonRequired ||
		inherited.ReasonPattern == nil || !inherited.ReasonPattern.MatchString("INC-42") ||
		strings.Join(inherited.ApproverGroups, ",") != "sre" || inherited.AutoApprove != nil || inherited.BreakGlass {
		t.Errorf("prod-db policy = %+v", inherited)
	}
	own := c.Resources[1].EffectivePolicy()
	if own.Approvals != 1 || own.ReasonRequired || own.ReasonPattern != nil || !own.BreakGlass ||
		strings.Join(own.ApproverGroups, ",") != "leads" || own.AutoApprove == nil || own.MaxDuration != 4*time.Hour {
		t.Errorf("scratch policy = %+v", own)
	}
}

func TestPlatformGroupsAreAcceptedWithoutAConfigGroup(t *testing.T) {
	src := `admins: {groups: ["@security"]}
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://x"}
    policy:
      requesters: {groups: ["@engineering", "discord-role:dev"]}
      approvers: ["@sre-oncall", "discord-role:123456789"]
      approvals: 3
`
	c := mustParse(t, src, nil)
	ok, err := c.Directory().MemberOf(context.Background(), grants.Actor{ID: "a@example.com"}, "@sre-oncall")
	if ok || err != nil {
		t.Errorf("the config directory answered for a platform group: %v, %v", ok, err)
	}
}

func TestBuildResourcesMakesAdaptersAndPolicies(t *testing.T) {
	src := valid + `    account: "{{.Local}}_ro"
    accounts: {"Alice@Example.com": alice_admin}
  - name: scratch
    adapter: {type: fake, url: "http://y"}
    policy: {auto_approve: "true"}
`
	c := mustParse(t, src, nil)
	res, err := c.BuildResources(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Name != "prod-db" || res[0].AdapterType != "fake" || res[1].Policy.AutoApprove == nil {
		t.Fatalf("resources = %+v", res)
	}
	if a := res[0].Adapter.(*fakeAdapter); a.resource != "prod-db" || a.cfg.URL != "http://127.0.0.1:9" {
		t.Errorf("adapter built with %+v", a)
	}
	bob := grants.Actor{ID: "bob@example.com", Email: "bob@example.com"}
	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com"}
	if got, err := res[0].AccountFor(bob); got != "bob_ro" || err != nil {
		t.Errorf("AccountFor(bob) = %q, %v; want the template's bob_ro", got, err)
	}
	if got, _ := res[0].AccountFor(alice); got != "alice_admin" {
		t.Errorf("AccountFor(alice) = %q; want the explicit mapping, matched case-insensitively", got)
	}
}

func TestBuildResourcesReportsAFailedAdapterAndClosesTheOthers(t *testing.T) {
	src := `groups: {sre: [alice@example.com]}
resources:
  - name: good
    adapter: {type: fake, url: "http://close-test"}
    policy: {approvers: [sre]}
  - name: broken
    adapter: {type: fake, url: "http://y", fail_new: true}
    policy: {approvers: [sre]}
`
	c := mustParse(t, src, nil)
	res, err := c.BuildResources(zerolog.Nop())
	if res != nil {
		t.Errorf("BuildResources returned resources with an error: %v", res)
	}
	got := problemsOf(t, err)
	want := `accessbot.yaml:7: resources[1].adapter: build fake adapter: cannot build`
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want %q", got, want)
	}
	built, ok := fakesBuilt.Load("http://close-test")
	if !ok || !built.(*fakeAdapter).closed {
		t.Error("the adapter built before the failure was not closed")
	}
}

func TestMatchesNamesAPersonByIDEmailOrPlatformID(t *testing.T) {
	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Platform: "slack", PlatformID: "U0ALICE"}
	tests := []struct {
		entry string
		want  bool
	}{
		{"alice@example.com", true},
		{"Alice@Example.COM", true},
		{"U0ALICE", true},
		{"slack:U0ALICE", true},
		{"Slack:U0ALICE", true},
		{"slack:u0alice", false},
		{"discord:U0ALICE", false},
		{"bob@example.com", false},
		{"", false},
		{"slack:", false},
	}
	for _, tt := range tests {
		if got := config.Matches(alice, tt.entry); got != tt.want {
			t.Errorf("Matches(alice, %q) = %v, want %v", tt.entry, got, tt.want)
		}
	}
	if config.Matches(grants.Actor{}, "") {
		t.Error("an empty actor matched an empty entry")
	}
}

func TestAdminsAreNamedDirectlyOrThroughGroups(t *testing.T) {
	c := mustParse(t, `admins:
  users: [ops-lead@example.com]
  groups: [security, "@secops"]
groups:
  security: [carol@example.com, "discord:81234"]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://x"}
    policy: {approvers: [security]}
`, nil)
	ctx := context.Background()
	tests := []struct {
		name  string
		actor grants.Actor
		dir   grants.Directory
		want  bool
	}{
		{"a user named in admins.users", grants.Actor{ID: "ops-lead@example.com"}, nil, true},
		{"a member of a config group", grants.Actor{ID: "carol@example.com"}, nil, true},
		{"a member by Discord ID", grants.Actor{ID: "discord:81234", Platform: "discord", PlatformID: "81234"}, nil, true},
		{"someone else", grants.Actor{ID: "mallory@example.com"}, nil, false},
		{"a member of a platform group, per the platform", grants.Actor{ID: "dave@example.com"}, platformDir{"@secops": "dave@example.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.IsAdmin(ctx, tt.actor, tt.dir)
			if err != nil || got != tt.want {
				t.Errorf("IsAdmin = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	_, err := c.IsAdmin(ctx, grants.Actor{ID: "x@example.com"}, failingDir{})
	if err == nil {
		t.Error("a directory error must reach the caller, who then refuses")
	}
}

// platformDir answers platform groups from a fixed map of group to member ID.
type platformDir map[string]string

func (d platformDir) MemberOf(_ context.Context, a grants.Actor, group string) (bool, error) {
	return d[group] == a.ID, nil
}

type failingDir struct{}

func (failingDir) MemberOf(context.Context, grants.Actor, string) (bool, error) {
	return false, errors.New("slack is down")
}

func TestAFileReferenceReadsOnlyASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.key")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "not a regular file"},
		{dir, "not a regular file"},
		{big, "larger than"},
	} {
		src := "groups:\n  sre: [alice@example.com]\nresources:\n  - name: prod-db\n    adapter:\n      type: fake\n      url: http://127.0.0.1:9/hook\n      secret: ${file:" + tc.path + "}\n    policy:\n      approvers: [sre]\n"
		_, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(src), envOf(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":8:") {
			t.Errorf("${file:%s}: got %v, want an error at line 8 saying %q", tc.path, err, tc.want)
		}
	}
}
