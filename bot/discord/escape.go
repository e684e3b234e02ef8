package discord

import (
	"strings"
	"unicode/utf8"
)

// Discord's markdown, as its clients render message content, embed descriptions, field values,
// field names and (inline formatting only: no links or mentions since 2023, discord-api-docs
// issue 6088) embed titles; footers and button labels show text as it is. Sources: Discord's
// developer docs, discord.com/developers/docs/reference#message-formatting (mentions, emoji,
// timestamps, guild navigation), and the guides for users, Discord's help article "Markdown
// Text 101" and the community's "Markdown Text 101" and "Discord Markdown 201" (formatting,
// headings, subtext, lists, quotes, code, masked links, backslash escapes). The model Escape
// works to:
//
//   - Inline formatting: *italic* or _italic_, **bold**, __underline__, ~~strike~~, ||spoiler||.
//   - Code: `inline` and ``inline``; ```code blocks```. Nothing inside code is formatted: no
//     link, mention or emphasis.
//   - At the start of a line (after any spaces): "# ", "## ", "### " headings; "-# " subtext;
//     "> " and ">>> " block quotes; "- ", "* ", "+ " and "1. " list items.
//   - Masked links [text](url) (also [text](<url>)), which show text, not where they lead.
//     A bare URL is linked as it is written: it shows its own address, so it cannot pose as
//     something else, and it is left as typed.
//   - Mentions and references between < and >: <@id>, <@!id>, <@&role>, <#channel>,
//     </command:id>, <:emoji:id>, <a:emoji:id>, <t:unix:style>, <id:guide>; and @everyone,
//     @here, which Escape breaks too although accessbot's messages ping nobody
//     (allowed_mentions parse [] on every message) and embeds never ping.
//   - A backslash before any character that is neither a letter, a digit nor a space shows that
//     character as it is, and the backslash disappears.
//
// Escape therefore puts a backslash before every character that formats, quotes, links or
// mentions wherever it is (\ * _ ~ | < > [ ] and a backtick outside a kept code span), before
// the markers that count only at the start of a line (# - + and the . or ) after a line's
// leading digits), and before the @ of @everyone and @here.
//
// Backticks need a rule of their own: bot.View marks commands and IDs with them (`/access
// list`), and Discord shows those as code, so Escape keeps a code span, but only in the one
// form whose meaning is not in doubt: a lone backtick, text on one line without a backtick and
// with something other than spaces, and a lone backtick. Every other backtick is escaped, so a
// run of two or three (``, ```), which Discord reads as other delimiters, never opens anything.
// Code shows its content as it is, so a kept span formats, links and mentions nothing.

// Escape makes s, text a person may have typed, show as it is in Discord markdown: no masked
// link, mention, heading, quote, list or formatting is made of it. Code spans of the one
// unambiguous form (`text`) are kept as code.
func Escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8 + 8)
	var st lineState
	st.start = true
	for i := 0; i < len(s); {
		if s[i] == '`' {
			if end, ok := codeSpan(s, i); ok {
				b.WriteString(s[i:end])
				i, st = end, lineState{}
				continue
			}
			b.WriteString("\\`")
			i, st = i+1, lineState{}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(s[i:], r, st) {
			b.WriteByte('\\')
		}
		b.WriteString(s[i : i+size])
		st = st.next(r)
		i += size
	}
	return b.String()
}

// lineState is where Escape is in a line: only spaces since the line began (start), or only
// spaces then digits (digits), where "1." or "1)" would start a list item.
type lineState struct {
	start, digits bool
}

func (st lineState) next(r rune) lineState {
	switch {
	case isLineBreak(r):
		return lineState{start: true}
	case (r == ' ' || r == '\t') && st.start:
		return st
	case r >= '0' && r <= '9' && (st.start || st.digits):
		return lineState{digits: true}
	}
	return lineState{}
}

func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// needsEscape says whether r, the first rune of rest, gets a backslash.
func needsEscape(rest string, r rune, st lineState) bool {
	switch r {
	case '\\', '*', '_', '~', '|', '<', '>', '[', ']':
		return true
	case '#', '-', '+':
		return st.start
	case '.', ')':
		return st.digits
	case '@':
		return hasPrefixFold(rest[1:], "everyone") || hasPrefixFold(rest[1:], "here")
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// codeSpan reports whether a code span of the kept form starts at s[i], a backtick, and where
// it ends: a lone backtick (none just before or after it), one line without a backtick and
// not only spaces, and a lone closing backtick.
func codeSpan(s string, i int) (end int, ok bool) {
	if i > 0 && s[i-1] == '`' {
		return 0, false
	}
	j := strings.IndexByte(s[i+1:], '`')
	if j < 0 {
		return 0, false
	}
	j += i + 1 // the closing backtick
	content := s[i+1 : j]
	if j+1 < len(s) && s[j+1] == '`' || strings.TrimLeft(content, " \t") == "" {
		return 0, false
	}
	for _, r := range content {
		if isLineBreak(r) {
			return 0, false
		}
	}
	return j + 1, true
}

// truncateEscaped is truncate for Escape's output: the cut leaves neither a lone backslash,
// which would escape the ellipsis, nor an open code span, which would run into the ellipsis.
func truncateEscaped(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max-1]
	// Read the kept part as Discord would: outside code a backslash takes the next character;
	// inside code nothing is special but the closing backtick.
	cut, inCode, spanStart := len(r), false, 0
	for i := 0; i < len(r); i++ {
		switch {
		case inCode:
			inCode = r[i] != '`'
		case r[i] == '\\':
			if i == len(r)-1 {
				cut = i // its character was cut off
			}
			i++
		case r[i] == '`':
			inCode, spanStart = true, i
		}
	}
	if inCode {
		cut = spanStart
	}
	return string(r[:cut]) + "…"
}
