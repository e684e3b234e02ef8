package policyaudit_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	_ "github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/config/policyaudit"
)

// parse loads a config from src with env as the environment.
func parse(t *testing.T, src string, env map[string]string) *config.Config {
	t.Helper()
	c, err := config.Parse("accessbot.yaml", []byte(src), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return c
}

// withResource is a config whose one resource, prod-db, has the given policy lines.
func withResource(head, policy string) string {
	return head + `resources:
  - name: prod-db
    adapter: {type: webhook, url: "http://127.0.0.1:9/hook", secret: "${HOOK_KEY:-test-hook-key}"}
    policy:
` + policy
}

const people = `admins:
  users: [root@example.com]
groups:
  sre: [alice@example.com, bob@example.com]
  solo: [alice@example.com]
  devs: [carol@example.com]
`

func codes(ws []policyaudit.Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

func TestEachWarningIsFoundAndOnlyWhereItApplies(t *testing.T) {
	tests := []struct {
		name   string
		head   string
		policy string
		want   []string
	}{
		{
			name:   "an approver group of one person when two approvals are needed",
			head:   people,
			policy: "      approvers: [solo, \"@oncall\"]\n      approvals: 2\n",
			want:   []string{policyaudit.WarnTooFewApprovers},
		},
		{
			name:   "two approvers for two approvals and independent requesters is clean",
			head:   people,
			policy: "      requesters: {groups: [devs]}\n      approvers: [sre]\n      approvals: 1\n",
			want:   nil,
		},
		{
			name:   "auto-approve with no bound on the duration",
			head:   people,
			policy: "      approvers: [sre]\n      auto_approve: 'hour >= 9 && hour < 17'\n",
			want:   []string{policyaudit.WarnAutoApproveUnbounded},
		},
		{
			name:   "auto-approve bounded by the duration is not warned about",
			head:   people,
			policy: "      approvers: [sre]\n      auto_approve: 'duration <= duration(\"1h\")'\n",
			want:   nil,
		},
		{
			name:   "break-glass with no admin to review it",
			head:   strings.Replace(people, "  users: [root@example.com]\n", "  users: []\n", 1),
			policy: "      approvers: [sre]\n      break_glass: true\n",
			want:   []string{policyaudit.WarnBreakGlassNoReviewer},
		},
		{
			name:   "break-glass without a reason",
			head:   people,
			policy: "      approvers: [sre]\n      break_glass: true\n      reason_required: false\n",
			want:   []string{policyaudit.WarnBreakGlassNoReason},
		},
		{
			name:   "requesters who are also the only approvers",
			head:   people,
			policy: "      requesters: {groups: [sre]}\n      approvers: [sre]\n",
			want:   []string{policyaudit.WarnApproversAreRequesters},
		},
		{
			name:   "a requester whose fellow approvers are too few to approve them",
			head:   people,
			policy: "      approvers: [sre]\n      approvals: 2\n",
			want:   []string{policyaudit.WarnSelfApprovalBlocked},
		},
		{
			name:   "a platform group with enough named approvers beside it is clean",
			head:   people,
			policy: "      approvers: [sre, \"@oncall\"]\n      approvals: 2\n",
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := policyaudit.Build(parse(t, withResource(tt.head, tt.policy), nil))
			if got := codes(r.Warnings()); !slices.Equal(got, tt.want) {
				t.Errorf("warnings = %v, want %v\n%v", got, tt.want, r.Warnings())
			}
		})
	}
}

func TestTheReportShowsEveryPartOfThePolicyInEachFormat(t *testing.T) {
	c := parse(t, withResource(people, "      approvers: [solo, \"@oncall\"]\n      approvals: 2\n      max_duration: 4h\n      break_glass: true\n      reason_required: false\n      auto_approve: 'hour < 9'\n"), nil)
	r := policyaudit.Build(c)
	for name, write := range map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return policyaudit.WriteText(b, r) },
		"markdown": func(b *bytes.Buffer) error { return policyaudit.WriteMarkdown(b, r) },
		"html":     func(b *bytes.Buffer) error { return policyaudit.WriteHTML(b, r) },
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := write(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, want := range []string{"prod-db", "webhook", "everyone who may use accessbot", "2 of solo (alice@example.com); @oncall (platform group",
				"4h", "allowed, reviewed afterwards by admins", "second lock", policyaudit.WarnTooFewApprovers,
				policyaudit.WarnAutoApproveUnbounded, policyaudit.WarnBreakGlassNoReason} {
				if !strings.Contains(out, want) {
					t.Errorf("the %s report has no %q:\n%s", name, want, out)
				}
			}
			if name == "html" && !strings.Contains(out, "hour &lt; 9") {
				t.Errorf("the rule is not escaped in HTML:\n%s", out)
			}
		})
	}
}

func TestTheHTMLReportEscapesTheConfigAuthorsText(t *testing.T) {
	c := parse(t, strings.Replace(withResource(people, "      approvers: [sre]\n"), "  - name: prod-db\n",
		"  - name: prod-db\n    description: \"<script>alert(1)</script>\"\n", 1), nil)
	var b bytes.Buffer
	if err := policyaudit.WriteHTML(&b, policyaudit.Build(c)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert") {
		t.Errorf("the description reached the page as markup:\n%s", b.String())
	}
}

func TestASecretChangedIsReportedWithoutItsValue(t *testing.T) {
	src := withResource(people, "      approvers: [sre]\n")
	src = strings.Replace(src, "${HOOK_KEY:-test-hook-key}", "${HOOK_KEY}", 1)
	before := policyaudit.TakeSnapshot(parse(t, src, map[string]string{"HOOK_KEY": "hunter2-old-value"}))
	afterSrc := strings.Replace(src, "${HOOK_KEY}", "${HOOK_KEY_V2}", 1)
	after := policyaudit.TakeSnapshot(parse(t, afterSrc, map[string]string{"HOOK_KEY_V2": "s3cret-new-value"}))

	changes := policyaudit.Diff(before, after)
	if len(changes) != 1 {
		t.Fatalf("changes = %v, want one", changes)
	}
	ch := changes[0]
	if ch.Key != "resources.prod-db.adapter.secret" || ch.Op != audit.ConfigOpChanged || !ch.Secret || ch.Old != "" || ch.New != "" {
		t.Errorf("change = %+v, want the secret changed with no value", ch)
	}
	if got := ch.String(); got != "resources.prod-db.adapter.secret: changed (secret)" {
		t.Errorf("shown as %q", got)
	}
	e := audit.Event{Type: audit.ConfigChanged}.With(audit.ConfigChangedData{Changes: changes, SnapshotSHA256: after.SHA256()})
	for _, blob := range []string{string(before.JSON()), string(after.JSON()), strings.Join(mapValues(e.Data), " ")} {
		for _, secret := range []string{"hunter2", "s3cret"} {
			if strings.Contains(blob, secret) {
				t.Errorf("a secret value reached the snapshot or the event: %s", blob)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestTheSnapshotIsSemanticNotTextual(t *testing.T) {
	a := `groups:
  sre: [alice@example.com, bob@example.com]
resources:
  - name: a
    adapter: {type: webhook, url: "http://127.0.0.1:9/a", secret: "${HOOK_KEY:-test-hook-key}"}
    policy: {approvers: [sre]}
  - name: b
    adapter: {type: webhook, url: "http://127.0.0.1:9/b", secret: "${HOOK_KEY:-test-hook-key}"}
    policy: {approvers: [sre]}
`
	// The same policy: resources swapped, a group's members reordered, a comment added.
	b := `# reviewed 2026-12-01
groups:
  sre: [bob@example.com, alice@example.com]
resources:
  - name: b
    adapter: {type: webhook, url: "http://127.0.0.1:9/b", secret: "${HOOK_KEY:-test-hook-key}"}
    policy: {approvers: [sre]}
  - name: a
    adapter: {type: webhook, url: "http://127.0.0.1:9/a", secret: "${HOOK_KEY:-test-hook-key}"}
    policy: {approvers: [sre]}
`
	sa, sb := policyaudit.TakeSnapshot(parse(t, a, nil)), policyaudit.TakeSnapshot(parse(t, b, nil))
	if d := policyaudit.Diff(sa, sb); len(d) != 0 || sa.SHA256() != sb.SHA256() {
		t.Errorf("an equivalent config differs: %v", d)
	}
	// A default changed reaches every resource's effective policy.
	c := "defaults: {max_duration: 2h}\n" + a
	d := policyaudit.Diff(sa, policyaudit.TakeSnapshot(parse(t, c, nil)))
	var keys []string
	for _, ch := range d {
		keys = append(keys, ch.Key)
	}
	for _, want := range []string{"defaults.max_duration", "policy.a.max_duration", "policy.b.max_duration"} {
		if !slices.Contains(keys, want) {
			t.Errorf("changing a default: keys %v lack %s", keys, want)
		}
	}
}

func TestFoldingTheChangesGivesTheSnapshot(t *testing.T) {
	c1 := parse(t, withResource(people, "      approvers: [sre]\n"), nil)
	c2 := parse(t, withResource(people, "      approvers: [solo]\n      approvals: 1\n"), nil)
	s1, s2 := policyaudit.TakeSnapshot(c1), policyaudit.TakeSnapshot(c2)
	folded := audit.ApplyConfigChanges(nil, policyaudit.Diff(policyaudit.Snapshot{}, s1))
	folded = audit.ApplyConfigChanges(folded, policyaudit.Diff(s1, s2))
	if len(folded) != len(s2.Values) {
		t.Fatalf("folded %d keys, snapshot has %d", len(folded), len(s2.Values))
	}
	for k, v := range s2.Values {
		if folded[k] != v && !s2.Secrets[k] {
			t.Errorf("%s = %q folded, %q in the snapshot", k, folded[k], v)
		}
	}
}

func TestSecretsWrittenInlineAreNeverKept(t *testing.T) {
	src := withResource(people, "      approvers: [sre]\n")
	src = strings.Replace(src, `secret: "${HOOK_KEY:-test-hook-key}"}`,
		`secret: "inline-hmac-key-9z8y", headers: {Authorization: "Bearer inline-bearer-7x6w", X-Env: prod}}`, 1)
	src = "storage: {driver: postgres, dsn: \"host=db user=ab password=inline-pg-5v4u\"}\n" + src
	s := policyaudit.TakeSnapshot(parse(t, src, nil))
	blob := string(s.JSON())
	for _, secret := range []string{"inline-hmac-key", "inline-bearer", "inline-pg", "test-hook-key"} {
		if strings.Contains(blob, secret) {
			t.Errorf("the snapshot keeps %s: %s", secret, blob)
		}
	}
	for _, key := range []string{"resources.prod-db.adapter.secret", "resources.prod-db.adapter.headers.Authorization", "storage.dsn"} {
		if !s.Secrets[key] {
			t.Errorf("%s is not marked secret", key)
		}
	}
	if s.Values["resources.prod-db.adapter.headers.X-Env"] != "prod" {
		t.Errorf("a plain header is not kept: %v", s.Values)
	}
}
