package bot_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/accessbot/accessbot/bot"
)

func TestParseReadsEveryCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bot.Command
	}{
		{"request with a reason", "request prod-db 1h INC-42 fixing the index",
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: "INC-42 fixing the index"}},
		{"request with days", "request prod-db 1d INC-42",
			bot.Command{Name: "request", Resource: "prod-db", Duration: 24 * time.Hour, Reason: "INC-42"}},
		{"request with extra spaces and tabs", "  request \t prod-db   90m   INC-42    fixing   it  ",
			bot.Command{Name: "request", Resource: "prod-db", Duration: 90 * time.Minute, Reason: "INC-42 fixing it"}},
		{"verb and resource in any case", "REQUEST Prod-DB 1H INC-42",
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: "INC-42"}},
		{"a quoted reason loses its quotes", `request prod-db 1h "INC-42 fixing the index"`,
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: "INC-42 fixing the index"}},
		{"smart quotes too", "request prod-db 1h “INC-42 fixing”",
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: "INC-42 fixing"}},
		{"quotes inside a reason stay", `request prod-db 1h "INC-42" broke "the" index`,
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: `"INC-42" broke "the" index`}},
		{"a newline in a reason becomes a space", "request prod-db 1h INC-42\nfixing",
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: "INC-42 fixing"}},
		{"request without a reason leaves it to the policy", "request prod-db 30m",
			bot.Command{Name: "request", Resource: "prod-db", Duration: 30 * time.Minute}},
		{"request without arguments opens the form", "request", bot.Command{Name: "request", Form: true}},
		{"the whole line pasted", "/access request prod-db 1h INC-42",
			bot.Command{Name: "request", Resource: "prod-db", Duration: time.Hour, Reason: "INC-42"}},
		{"break-glass", "breakglass prod-db 30m INC-99 site down",
			bot.Command{Name: "breakglass", Resource: "prod-db", Duration: 30 * time.Minute, Reason: "INC-99 site down"}},
		{"break-glass spelt with a dash", "break-glass prod-db 30m INC-99",
			bot.Command{Name: "breakglass", Resource: "prod-db", Duration: 30 * time.Minute, Reason: "INC-99"}},
		{"list", "list", bot.Command{Name: "list"}},
		{"list ignores what follows", "list everything", bot.Command{Name: "list"}},
		{"resources", "Resources", bot.Command{Name: "resources"}},
		{"status of a request", "status r-abc123", bot.Command{Name: "status", ID: "r-abc123"}},
		{"status ID in backticks and capitals", "status `G-ABC123`", bot.Command{Name: "status", ID: "g-abc123"}},
		{"revoke", "revoke g-1", bot.Command{Name: "revoke", ID: "g-1"}},
		{"cancel", "cancel r-1", bot.Command{Name: "cancel", ID: "r-1"}},
		{"extend with a reason", "extend g-1 30m still on INC-42",
			bot.Command{Name: "extend", ID: "g-1", Duration: 30 * time.Minute, Reason: "still on INC-42"}},
		{"extend without a reason", "extend g-1 2h", bot.Command{Name: "extend", ID: "g-1", Duration: 2 * time.Hour}},
		{"help", "help", bot.Command{Name: "help"}},
		{"help about a verb", "help extend", bot.Command{Name: "help", Topic: "extend"}},
		{"nothing at all is help", "   ", bot.Command{Name: "help"}},
		{"an unknown verb is help with the closest verb", "reqest prod-db 1h",
			bot.Command{Name: "help", Unknown: "reqest", Closest: "request"}},
		{"a verb's beginning is close to it", "res", bot.Command{Name: "help", Unknown: "res", Closest: "resources"}},
		{"a verb far from all has no suggestion", "xyzzy", bot.Command{Name: "help", Unknown: "xyzzy"}},
		{"ssh-key add keeps the key as pasted", "ssh-key add  ssh-ed25519 AAAAC3Nz me@Laptop \n",
			bot.Command{Name: "ssh-key", Sub: "add", Key: "ssh-ed25519 AAAAC3Nz me@Laptop"}},
		{"ssh-key add in any case", "SSH-Key ADD ssh-ed25519 AAAA",
			bot.Command{Name: "ssh-key", Sub: "add", Key: "ssh-ed25519 AAAA"}},
		{"a key pasted without add is added", "ssh-key ssh-ed25519 AAAA me",
			bot.Command{Name: "ssh-key", Sub: "add", Key: "ssh-ed25519 AAAA me"}},
		{"ssh-key list", "ssh-key list", bot.Command{Name: "ssh-key", Sub: "list"}},
		{"ssh-key alone lists", "sshkey", bot.Command{Name: "ssh-key", Sub: "list"}},
		{"ssh-key remove keeps the fingerprint's case", "ssh-keys rm uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
			bot.Command{Name: "ssh-key", Sub: "remove", Key: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"}},
		{"ssh-key remove with the prefix in backticks", "ssh-key remove `sha256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`",
			bot.Command{Name: "ssh-key", Sub: "remove", Key: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"}},
		{"ssh is close to ssh-key", "ssh", bot.Command{Name: "help", Unknown: "ssh", Closest: "ssh-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bot.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q)\n got  %+v\n want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrorsSayWhatIsMissingWithAnExample(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"request prod-db", []string{"`/access request` needs a resource, a duration and a reason", "e.g. `/access request prod-db 1h INC-42 fixing the index`"}},
		{"request prod-db soon INC-42", []string{`"soon" is not a duration`, "30m, 1h, 8h or 1d", "`/access request prod-db 1h"}},
		{"request prod-db 0m INC-42", []string{"more than zero"}},
		{"request prod-db -1h INC-42", []string{"more than zero"}},
		{"request prod-db; 1h INC-42", []string{`"prod-db;" is not a resource name`, "/access resources"}},
		{"breakglass", []string{"`/access breakglass` needs a resource, a duration and a reason", "e.g. `/access breakglass prod-db 30m"}},
		{"breakglass prod-db", []string{"`/access breakglass` needs"}},
		{"status", []string{"`/access status` needs a request or grant ID", "`/access status r-abc123`", "`/access list`"}},
		{"revoke", []string{"`/access revoke` needs a grant ID", "`/access revoke g-abc123`"}},
		{"cancel", []string{"`/access cancel` needs a request ID"}},
		{"revoke g-1;drop", []string{`"g-1;drop" is not a grant ID`}},
		{"extend g-1", []string{"`/access extend` needs a grant ID and a duration", "`/access extend g-abc123 30m"}},
		{"extend g-1 later", []string{`"later" is not a duration`}},
		{"request prod-db 1h " + strings.Repeat("x", 5000), []string{"too long"}},
		{"ssh-key add", []string{"`/access ssh-key add` needs your public key", ".pub file"}},
		{"ssh-key remove", []string{"`/access ssh-key remove` needs the key's fingerprint", "`/access ssh-key list`"}},
		{"ssh-key remove SHA256:short", []string{"That is not a key fingerprint", "SHA256:"}},
		{"ssh-key frobnicate", []string{"`/access ssh-key` is followed by add, list or remove"}},
		{"ssh-key add " + strings.Repeat("x", 70000), []string{"too long"}},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			got, err := bot.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.in, got)
			}
			var pe *bot.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T, want *bot.ParseError", tt.in, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) error %q\n does not say %q", tt.in, err, w)
				}
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is well formed. The seed
// corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"request prod-db 1h INC-42 fixing", "", "help", "status r-1", "extend g-1 1d",
		"ssh-key add ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGjwrGsiahAeTK5rOiFATtqmNJqNrLzh/OaGQsqzLGJr me", "ssh-key list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := bot.Parse(in)
		if err != nil {
			var pe *bot.ParseError
			if !errors.As(err, &pe) || pe.Message == "" {
				t.Fatalf("Parse(%q) error %v is not a ParseError with a message", in, err)
			}
			return
		}
		if !slices.Contains(bot.Verbs, c.Name) {
			t.Fatalf("Parse(%q) = unknown verb %q", in, c.Name)
		}
		if c.Reason != strings.TrimSpace(c.Reason) || strings.ContainsAny(c.Reason, "\n\r\t") {
			t.Fatalf("Parse(%q) reason %q is not one trimmed line", in, c.Reason)
		}
		if !utf8.ValidString(c.Reason) || !utf8.ValidString(c.Resource) || !utf8.ValidString(c.ID) {
			t.Fatalf("Parse(%q) returned invalid UTF-8: %+v", in, c)
		}
		switch c.Name {
		case bot.VerbRequest, bot.VerbBreakGlass:
			if !c.Form && (c.Resource == "" || c.Duration <= 0) {
				t.Fatalf("Parse(%q) = %+v: an ask without resource or duration", in, c)
			}
		case bot.VerbStatus, bot.VerbRevoke, bot.VerbCancel, bot.VerbExtend:
			if c.ID == "" || strings.ContainsAny(c.ID, " ;'\"") {
				t.Fatalf("Parse(%q) = %+v: bad ID", in, c)
			}
		case bot.VerbSSHKey:
			switch c.Sub {
			case bot.SSHKeyList:
			case bot.SSHKeyAdd:
				if c.Key == "" || c.Key != strings.TrimSpace(c.Key) {
					t.Fatalf("Parse(%q) = %+v: an add without a trimmed key", in, c)
				}
				// Whatever was pasted, ParseSSHKey answers with its own error or a key.
				if k, err := bot.ParseSSHKey(c.Key); err == nil && (k.Fingerprint == "" || strings.ContainsAny(k.Comment, "\n\r\t")) {
					t.Fatalf("ParseSSHKey(%q) = %+v", c.Key, k)
				}
			case bot.SSHKeyRemove:
				if fp, ok := bot.NormalizeFingerprint(c.Key); !ok || fp != c.Key {
					t.Fatalf("Parse(%q) = %+v: a fingerprint that is not one", in, c)
				}
			default:
				t.Fatalf("Parse(%q) = %+v: unknown ssh-key sub-command", in, c)
			}
		}
	})
}
