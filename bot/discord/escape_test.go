package discord_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
)

// markdown is what a small model of Discord's markdown (the one escape.go documents) finds in a
// text: the constructs that would make something of it, what a reader sees, and the code spans.
type markdown struct {
	// constructs names each link, mention, heading, subtext, quote, list item, formatting mark
	// or stray backtick found outside code, with the text it was found in.
	constructs []string
	// visible is the text as shown: escapes resolved, code spans with their backticks.
	visible string
	// spans are the code spans: their delimiter length and content.
	spans []codeSpan
}

type codeSpan struct {
	ticks   int
	content string
}

var (
	maskedLink = regexp.MustCompile(`\[[^\]]*\]\(`)
	mention    = regexp.MustCompile(`<(@[!&]?|#|/|a?:|t:|id:)|(?i:@(everyone|here))`)
	lineStarts = []struct {
		name string
		re   *regexp.Regexp
	}{
		{"heading", regexp.MustCompile(`^#{1,3}\s`)},
		{"subtext", regexp.MustCompile(`^-#\s`)},
		{"quote", regexp.MustCompile(`^>`)},
		{"list item", regexp.MustCompile(`^([-*+]|\d+[.)])\s`)},
	}
	lineBreak = regexp.MustCompile("\r\n|[\n\r\v\f\u0085\u2028\u2029]")
)

// readMarkdown reads text as Discord does, in one pass: at each position a backslash before a
// character that is not a letter, digit or space escapes it; a run of backticks opens inline
// code closed by the first run of as many backticks (a shorter opening when the whole run
// finds no closing: /^(`+)([\s\S]*?[^`])\1(?!`)/); anything else is text. The text outside code
// and escapes, its "skeleton" (every escaped character and every code span replaced by "x"),
// is then searched for what would format, link, mention or start a block.
func readMarkdown(s string) markdown {
	var md markdown
	var skeleton, visible strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+1 < len(s) {
			r, size := utf8.DecodeRuneInString(s[i+1:])
			if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) && !unicode.IsSpace(r) {
				skeleton.WriteByte('x')
				visible.WriteString(s[i+1 : i+1+size])
				i += 1 + size
				continue
			}
		}
		if s[i] == '`' {
			if k, content, end, ok := inlineCode(s, i); ok {
				md.spans = append(md.spans, codeSpan{k, content})
				skeleton.WriteByte('x')
				visible.WriteString(s[i:end])
				i = end
				continue
			}
		}
		skeleton.WriteByte(s[i])
		visible.WriteByte(s[i])
		i++
	}
	md.visible = visible.String()
	sk := skeleton.String()
	if m := maskedLink.FindString(sk); m != "" {
		md.constructs = append(md.constructs, "masked link "+m)
	}
	if m := mention.FindString(sk); m != "" {
		md.constructs = append(md.constructs, "mention "+m)
	}
	if i := strings.IndexAny(sk, "*_~|"); i >= 0 {
		md.constructs = append(md.constructs, "formatting mark "+sk[i:i+1])
	}
	if strings.Contains(sk, "`") {
		md.constructs = append(md.constructs, "stray backtick")
	}
	for _, line := range lineBreak.Split(sk, -1) {
		line = strings.TrimLeft(line, " \t")
		for _, ls := range lineStarts {
			if ls.re.MatchString(line) {
				md.constructs = append(md.constructs, ls.name+" "+line)
			}
		}
	}
	return md
}

// inlineCode matches Discord's inline code at s[i]: the opening run, or a shorter one, then the
// shortest content that ends with a character other than a backtick and is followed by a run
// of exactly as many backticks.
func inlineCode(s string, i int) (ticks int, content string, end int, ok bool) {
	run := 0
	for i+run < len(s) && s[i+run] == '`' {
		run++
	}
	for k := run; k >= 1; k-- {
		for p := i + k + 1; p+k <= len(s); p++ {
			if s[p-1] == '`' || strings.Count(s[p:p+k], "`") != k || (p+k < len(s) && s[p+k] == '`') {
				continue
			}
			return k, s[i+k : p], p + k, true
		}
	}
	return 0, "", 0, false
}

// checkInert fails when out, Discord text made from the person-typed in, makes anything of it:
// a construct, or a code span other than the kept form (one backtick, one line, content as
// typed).
func checkInert(t *testing.T, where, in, out string) {
	t.Helper()
	// Cutting text to a limit reads it as runes, which makes each invalid byte U+FFFD: compare
	// both that way.
	in, out = string([]rune(in)), string([]rune(out))
	md := readMarkdown(out)
	for _, c := range md.constructs {
		t.Errorf("%s: %q makes a %s (from %q)", where, out, c, in)
	}
	for _, sp := range md.spans {
		if sp.ticks != 1 || lineBreak.MatchString(sp.content) || !strings.Contains(in, "`"+sp.content+"`") {
			t.Errorf("%s: %q makes code span %q of %d backticks, not one kept as typed (from %q)", where, out, sp.content, sp.ticks, in)
		}
	}
}

// finding5 is a reason as in issue 13's finding 5: with five backticks, an odd number, the
// escaping before this fix took the link for code and left it as it was, while Discord closes
// the code span at the single backtick before the link and makes the link.
const finding5 = "fixing INC-42 `` see ` [Approve here](https://evil.example/approve) `` thanks"

// escapeSeeds are texts people could type that Discord would make something of.
var escapeSeeds = []string{
	finding5,
	"```[Approve here](https://evil.example/approve)",
	"`` ` [Approve here](https://evil.example/approve)",
	"a `` b ` c [Approve here](https://evil.example/approve) `` d",
	"x ``` y\n[Approve here](https://evil.example/approve)\n```",
	"Try `/access request prod_db 1h INC-42 *now*` then",
	"[click here](https://evil.example) @everyone @HERE <@&123> <@!1> <#2> </access:3> <:e:4> <a:e:5> <t:1:R> <id:home>",
	"**bold** _it_ __u__ ~~x~~ ||spoiler||",
	"# Heading\n## two\n### three\n-# subtext\n> quote\n>>> rest\n- a\n* b\n+ c\n1. d\n2) e\n  # indented",
	"\\[x](y) \\`a\\` \\\\",
	"`a`b` `` ``` ```` ` `",
	"line\r# heading after a carriage return\u2028# and a line separator",
	"[a](<https://evil.example>)",
	"`x\n# y`",
	"ends with a backslash \\",
}

// TestAnOddRunOfBackticksMakesNoMaskedLink reproduces finding 5 of issue 13: a reason with an
// odd run of backticks before a masked link used to leave the link unescaped, outside any
// code span, in the approvers' channel. The link must now show as text.
func TestAnOddRunOfBackticksMakesNoMaskedLink(t *testing.T) {
	v := bot.View{Title: "Alice requests prod-db", Text: "Reason: " + finding5,
		Fields: []bot.Field{{Label: "Reason", Value: finding5}}, Tone: bot.TonePending}
	e := discord.Render(v).Embeds[0]
	checkInert(t, "description", v.Text, e.Description)
	checkInert(t, "field value", finding5, e.Fields[0].Value)
	if md := readMarkdown(e.Description); md.visible != v.Text {
		t.Errorf("the description shows %q, want the reason as typed: %q", md.visible, v.Text)
	}
}

func TestTheFuzzSeedsMakeNothingAndShowAsTyped(t *testing.T) {
	for _, s := range escapeSeeds {
		out := discord.Escape(s)
		checkInert(t, "Escape", s, out)
		if md := readMarkdown(out); md.visible != s {
			t.Errorf("Escape(%q) = %q shows as %q, want it as typed", s, out, md.visible)
		}
	}
}

func TestWhatEscapeEscapes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"a command in backticks stays code", "Try `/access request prod_db 1h` then *now*", "Try `/access request prod_db 1h` then \\*now\\*"},
		{"a lone backtick is escaped", "a `lone backtick and *stars*", "a \\`lone backtick and \\*stars\\*"},
		{"runs of backticks open nothing", "``` [a](b) `", "\\`\\`\\` \\[a\\](b) \\`"},
		{"a span over two lines is not kept", "`x\n# y`", "\\`x\n\\# y\\`"},
		{"line-start markers are escaped at the start of a line only", "- a-b\n  1. c 1.5\n# d #e", "\\- a-b\n  1\\. c 1.5\n\\# d #e"},
		{"@everyone and @here are broken, emails are not", "@everyone @Here alice@example.com", "\\@everyone \\@Here alice@example.com"},
		{"mentions and emoji are escaped", "<@1> <#2> <:e:3> <t:4>", "\\<@1\\> \\<#2\\> \\<:e:3\\> \\<t:4\\>"},
		{"a bare URL is left as typed", "see https://example.com/a?b=c", "see https://example.com/a?b=c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := discord.Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzEscapeMakesNothingOfWhatPeopleType escapes arbitrary text and renders it in every place a
// message shows text (title, description, field name and value, cut to Discord's limits), then
// reads each with the markdown model: no masked link, mention, heading, subtext, quote, list
// item, formatting mark or stray backtick may come of it, a code span only in the kept form
// with its content as typed, and Escape's output shows exactly what was typed.
func FuzzEscapeMakesNothingOfWhatPeopleType(f *testing.F) {
	for _, s := range escapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := discord.Escape(s)
		checkInert(t, "Escape", s, out)
		if utf8.ValidString(s) {
			if md := readMarkdown(out); md.visible != s {
				t.Fatalf("Escape(%q) = %q shows as %q, want it as typed", s, out, md.visible)
			}
		}
		long := strings.Repeat(s, 1+1100/(len(s)+1))
		v := bot.View{Title: s, Text: s + "\n" + long, Fields: []bot.Field{{Label: s, Value: s}, {Label: "long", Value: long}}}
		e := discord.Render(v).Embeds[0]
		// Each is read against the text it was made from (titles join words with one space).
		checkInert(t, "title", strings.Join(strings.Fields(s), " "), strings.TrimSuffix(e.Title, "…"))
		checkInert(t, "description", v.Text, strings.TrimSuffix(e.Description, "…"))
		for i, fd := range e.Fields {
			checkInert(t, "field name", v.Fields[i].Label, strings.TrimSuffix(fd.Name, "…"))
			checkInert(t, "field value", v.Fields[i].Value, strings.TrimSuffix(fd.Value, "…"))
		}
	})
}
