// Package ident checks identifiers against a pattern with a length bound. Go's regexp compiles a
// counted repetition such as [a-z]{0,255} into one NFA state per count, and a package-level
// pattern is compiled in every process at start: ^[A-Za-z0-9.%_:/-]{1,255}$ alone is ~108 KB
// of live heap. The same language written as an uncounted pattern (the same classes with * or
// +) and a bound on the length costs a few KB. A Pattern keeps the original, counted text for
// the messages people read, so an error that printed the pattern prints the same words.
//
// It is a leaf package: it imports nothing of ours.
package ident

import "regexp"

// Pattern is an uncounted regular expression and a bound on the length of what it matches, in
// bytes. Every class it is used with is ASCII, where bytes and characters are the same count;
// a non-ASCII byte fails the expression whatever the length.
type Pattern struct {
	text     string
	re       *regexp.Regexp
	min, max int
}

// New compiles uncounted, which must accept exactly the strings of original that are between
// min and max bytes long; a test proves that for each use (identtest.Compare). It panics if
// uncounted does not compile, like regexp.MustCompile, since both are written in the source.
func New(original, uncounted string, min, max int) *Pattern {
	return &Pattern{text: original, re: regexp.MustCompile(uncounted), min: min, max: max}
}

// MatchString reports whether s is within the length bound and matches the expression.
func (p *Pattern) MatchString(s string) bool {
	return len(s) >= p.min && len(s) <= p.max && p.re.MatchString(s)
}

// String is the original, counted pattern, as error messages showed it before.
func (p *Pattern) String() string { return p.text }
