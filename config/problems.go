package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a config file, and where it is.
type Problem struct {
	File string
	// Line is 1-based; 0 when the problem concerns the whole file.
	Line int
	// Key is the path of the key, e.g. "resources[1].policy.max_duration"; empty for the file.
	Key string
	Msg string
}

// String formats the problem as "file:line: key: message". A message of several lines (a CEL
// error with its caret) has its continuation lines indented so each problem still stands out.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(strings.ReplaceAll(p.Msg, "\n", "\n    "))
	return b.String()
}

// Errors lists every problem found in a config file, in file order. Load, Parse and
// BuildResources return it (as an error) whenever anything is wrong.
type Errors struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a file is decoded and validated.
type problems struct {
	file string
	list []Problem
}

func (p *problems) add(line int, key, format string, args ...any) {
	p.list = append(p.list, Problem{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// minRedactLen keeps a one- or two-character expanded value (a "1", an "ok") from blanking out
// ordinary words in messages.
const minRedactLen = 3

// err returns the collected problems as an *Errors sorted by line, or nil. Messages are scrubbed
// of every expanded value: the decoder never prints one, but an adapter's Validate or a custom
// unmarshaler might quote the value it was given.
func (p *problems) err(secrets []string) error {
	if len(p.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), p.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	// A message that quotes a value with %q shows it escaped: redact those spellings too.
	var redact []string
	for _, s := range secrets {
		redact = append(redact, s, unquoted(strconv.Quote(s)), unquoted(strconv.QuoteToASCII(s)))
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(redact, func(i, j int) bool { return len(redact[i]) > len(redact[j]) })
	for i := range list {
		for _, s := range redact {
			if len(s) >= minRedactLen {
				list[i].Msg = strings.ReplaceAll(list[i].Msg, s, "[redacted]")
			}
		}
	}
	return &Errors{Problems: list}
}

func unquoted(q string) string { return q[1 : len(q)-1] }
