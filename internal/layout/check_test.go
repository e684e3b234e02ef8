package layout

import (
	"strings"
	"testing"
)

// TestTheCheckerRefusesWhatTheLayoutForbids feeds check synthetic `go list` lines, so that a
// rule that stopped biting would show here and not only as a silent pass on the real tree.
func TestTheCheckerRefusesWhatTheLayoutForbids(t *testing.T) {
	m := func(pkgs ...string) string {
		for i, p := range pkgs {
			pkgs[i] = module + "/" + p
		}
		return strings.Join(pkgs, " ")
	}
	tests := []struct {
		name string
		line string
		// refused are the imports check must report, as "pkg imports imp".
		refused []string
	}{
		{"a platform may import the chat core, the domain and its own fake",
			m("bot/slack", "bot", "grants", "internal/clock", "bot/slack/slacktest") + " github.com/slack-go/slack", nil},
		{"a platform's fake may import its platform",
			m("bot/discord/discordtest", "bot/discord", "bot"), nil},
		{"a platform importing another is refused",
			m("bot/slack", "bot", "bot/discord"), []string{"bot/slack imports bot/discord"}},
		{"a platform importing another's fake is refused",
			m("bot/web", "bot/slack/slacktest"), []string{"bot/web imports bot/slack/slacktest"}},
		{"a platform's fake importing another platform is refused",
			m("bot/discord/discordtest", "bot/web"), []string{"bot/discord/discordtest imports bot/web"}},
		{"a new platform importing an existing one is refused",
			m("bot/teams", "bot", "bot/slack"), []string{"bot/teams imports bot/slack"}},
		{"storage may import the chat core",
			m("storage", "bot", "grants", "audit", "adapters"), nil},
		{"storage importing a platform is refused",
			m("storage", "bot", "bot/discord"), []string{"storage imports bot/discord"}},
		{"the chat core importing a platform is refused",
			m("bot", "grants", "bot/slack"), []string{"bot imports bot/slack"}},
		{"the chat core's test kit importing a platform is refused",
			m("bot/bottest", "bot", "bot/web"), []string{"bot/bottest imports bot/web"}},
		{"the domain importing a platform is refused",
			m("grants", "audit", "bot/discord"), []string{"grants imports bot/discord"}},
		{"the domain importing storage is refused",
			m("grants", "storage"), []string{"grants imports storage"}},
		{"the config importing a platform is refused",
			m("config", "bot/slack"), []string{"config imports bot/slack"}},
		{"the audit log importing a platform is refused",
			m("audit/sink", "audit", "bot/web"), []string{"audit/sink imports bot/web"}},
		{"an adapter importing a platform is refused",
			m("adapters/postgres", "adapters", "bot/slack"), []string{"adapters/postgres imports bot/slack"}},
		{"an adapter importing the domain is refused",
			m("adapters/redis", "adapters", "grants"), []string{"adapters/redis imports grants"}},
		{"a rule names its package exactly: allowing bot does not allow bot/slack",
			m("storage", "bot/slack"), []string{"storage imports bot/slack"}},
		{"the wiring may import every platform",
			m("internal/app", "bot", "bot/slack", "bot/discord", "bot/web", "storage"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			violations, _ := check([]string{tt.line})
			if len(violations) != len(tt.refused) {
				t.Fatalf("check = %q, want %d violations: %q", violations, len(tt.refused), tt.refused)
			}
			for i, want := range tt.refused {
				if !strings.HasPrefix(violations[i], want+":") {
					t.Errorf("violation %d = %q, want %q", i, violations[i], want)
				}
			}
		})
	}
}

func TestAPatternNamesAPackageExactlyUnlessItEndsInDots(t *testing.T) {
	tests := []struct {
		pattern, pkg string
		want         bool
	}{
		{"bot", "bot", true},
		{"bot", "bot/slack", false},
		{"bot", "botany", false},
		{"bot/slack/...", "bot/slack", true},
		{"bot/slack/...", "bot/slack/slacktest", true},
		{"bot/slack/...", "bot/slackware", false},
		{"bot/slack/...", "bot", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.pkg); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.pkg, got, tt.want)
		}
	}
}
