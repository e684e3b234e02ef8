// Package identtest proves that a check written without counted repetitions accepts the same
// strings as the counted regular expression it replaces. It generates strings from the old
// pattern's syntax tree (each counted repetition at every boundary count: min-1, min, max,
// max+1, and counts between), then mutates them with the edges of every class in the pattern
// and characters outside them (NUL, newline, DEL, non-ASCII and invalid UTF-8), and compares
// the two answers on each.
package identtest

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"testing"
	"unicode/utf8"
)

// outsiders are characters no identifier class holds; each is tried at every mutated position.
var outsiders = []string{"\x00", "\n", "\r", "\t", " ", "\x7f", "\u0080", "é", "€", "😀", "\ufffd", "\xff", "\xc3", "@", "/", "#", ":", "A", "z", "0", "_", "-", "."}

// Compare fails t for every generated string on which check and the old pattern disagree, and
// fails if the strings did not include at least some that the pattern accepts and some it
// refuses (a comparison on one side only proves little).
func Compare(t testing.TB, old string, check func(string) bool) {
	t.Helper()
	re := regexp.MustCompile(old)
	tree, err := syntax.Parse(old, syntax.Perl)
	if err != nil {
		t.Fatalf("parse %s: %v", old, err)
	}
	g := &generator{rnd: rand.New(rand.NewPCG(1, uint64(len(old)))), edges: append([]string(nil), outsiders...)}
	g.collectEdges(tree)

	var accepted, refused, failures int
	try := func(s string) {
		want := re.MatchString(s)
		if want {
			accepted++
		} else {
			refused++
		}
		if got := check(s); got != want && failures < 10 {
			failures++
			t.Errorf("%s: %q (%d bytes): new check says %t, the pattern %t", old, s, len(s), got, want)
		}
	}
	try("")
	for _, e := range g.edges {
		try(e)
	}
	for i := 0; i < 4000; i++ {
		s := g.gen(tree, i%4 == 0)
		try(s)
		try(s + "\n")
		try(g.mutate(s))
	}
	if accepted < 100 || refused < 100 {
		t.Errorf("%s: the generated strings are one-sided: %d accepted, %d refused", old, accepted, refused)
	}
}

// generator makes strings from a parsed pattern.
type generator struct {
	rnd   *rand.Rand
	edges []string
}

// collectEdges adds, for each range of each class, the characters at and just outside its ends.
func (g *generator) collectEdges(re *syntax.Regexp) {
	if re.Op == syntax.OpCharClass {
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for _, r := range []rune{re.Rune[i] - 1, re.Rune[i], re.Rune[i+1], re.Rune[i+1] + 1} {
				if r >= 0 && r <= utf8.MaxRune {
					g.edges = append(g.edges, string(r))
				}
			}
		}
	}
	for _, sub := range re.Sub {
		g.collectEdges(sub)
	}
}

// gen makes one string along the tree; with outside, a counted repetition may also take one
// count fewer than its minimum or more than its maximum.
func (g *generator) gen(re *syntax.Regexp, outside bool) string {
	switch re.Op {
	case syntax.OpLiteral:
		return string(re.Rune)
	case syntax.OpCharClass:
		return g.inClass(re.Rune)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return g.edges[g.rnd.IntN(len(g.edges))]
	case syntax.OpCapture:
		return g.gen(re.Sub[0], outside)
	case syntax.OpConcat:
		s := ""
		for _, sub := range re.Sub {
			s += g.gen(sub, outside)
		}
		return s
	case syntax.OpAlternate:
		return g.gen(re.Sub[g.rnd.IntN(len(re.Sub))], outside)
	case syntax.OpQuest:
		return g.times(re.Sub[0], g.rnd.IntN(2), outside)
	case syntax.OpStar:
		return g.times(re.Sub[0], g.rnd.IntN(12), outside)
	case syntax.OpPlus:
		return g.times(re.Sub[0], 1+g.rnd.IntN(12), outside)
	case syntax.OpRepeat:
		return g.times(re.Sub[0], g.count(re.Min, re.Max, outside), outside)
	default: // anchors and empty matches take no characters
		return ""
	}
}

// count picks a repetition count: a boundary most of the time, else anything between.
func (g *generator) count(lo, hi int, outside bool) int {
	if hi < 0 {
		hi = lo + 12
	}
	choices := []int{lo, hi, lo + 1, hi - 1, lo + g.rnd.IntN(hi-lo+1)}
	if outside {
		choices = append(choices, lo-1, hi+1)
	}
	n := choices[g.rnd.IntN(len(choices))]
	return max(0, min(n, hi+1))
}

func (g *generator) times(re *syntax.Regexp, n int, outside bool) string {
	s := ""
	for range n {
		s += g.gen(re, outside)
	}
	return s
}

// inClass picks a character of a class: often an end of one of its ranges.
func (g *generator) inClass(ranges []rune) string {
	i := 2 * g.rnd.IntN(len(ranges)/2)
	lo, hi := ranges[i], ranges[i+1]
	switch g.rnd.IntN(4) {
	case 0:
		return string(lo)
	case 1:
		return string(hi)
	default:
		if hi-lo > 0x7f { // a negated class: stay near its start rather than in all of Unicode
			hi = lo + 0x7f
		}
		return string(lo + rune(g.rnd.IntN(int(hi-lo+1))))
	}
}

// mutate replaces, inserts or deletes a byte, or puts an edge character at either end.
func (g *generator) mutate(s string) string {
	e := g.edges[g.rnd.IntN(len(g.edges))]
	if s == "" {
		return e
	}
	i := g.rnd.IntN(len(s))
	switch g.rnd.IntN(5) {
	case 0:
		return s[:i] + e + s[i+1:]
	case 1:
		return s[:i] + e + s[i:]
	case 2:
		return s[:i] + s[i+1:]
	case 3:
		return e + s
	default:
		return s + e
	}
}
