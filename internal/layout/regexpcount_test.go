package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"
)

// maxCount is the largest counted repetition a package-level pattern may have. Go's regexp
// compiles {0,255} into 255 copies of its class, ~110 KB of heap in every process that links the
// package; internal/ident writes the same language as an uncounted expression and a length
// bound.
const maxCount = 16

// TestNoPatternCountsMoreThanSixteen parses every non-test .go file of the module and fails,
// naming the file and line, for each regexp.MustCompile or regexp.Compile of a literal with a
// counted repetition above maxCount.
func TestNoPatternCountsMoreThanSixteen(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, c := range countedPatterns(f) {
			pos := fset.Position(c.pos)
			rel, _ := filepath.Rel(root, pos.Filename)
			t.Errorf("%s:%d: %s repeats %d times; write it without the count and bound the length (internal/ident)", rel, pos.Line, c.pattern, c.count)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the module's files: %v", err)
	}
	if files < 100 {
		t.Fatalf("read only %d files; is the test run from internal/layout?", files)
	}
}

// counted is a pattern literal and its largest counted repetition above maxCount.
type counted struct {
	pos     token.Pos
	pattern string
	count   int
}

// countedPatterns finds the literals compiled by regexp.MustCompile or regexp.Compile in f
// whose counted repetitions go above maxCount.
func countedPatterns(f *ast.File) []counted {
	var found []counted
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "MustCompile" && sel.Sel.Name != "Compile") {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "regexp" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			return true // regexp.MustCompile says so when the package starts
		}
		if c := largestCount(re); c > maxCount {
			found = append(found, counted{lit.Pos(), pattern, c})
		}
		return true
	})
	return found
}

// largestCount is the largest count of a counted repetition in re ({n}, {n,m}, {n,}).
func largestCount(re *syntax.Regexp) int {
	c := 0
	if re.Op == syntax.OpRepeat {
		c = max(re.Min, re.Max)
	}
	for _, sub := range re.Sub {
		c = max(c, largestCount(sub))
	}
	return c
}

func TestTheGuardFindsACountedPattern(t *testing.T) {
	src := "package p\nimport \"regexp\"\nvar a = regexp.MustCompile(`^[a-z]{1,64}$`)\nvar b = regexp.MustCompile(`^[a-z]{1,16}$`)\n"
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := countedPatterns(f)
	if len(found) != 1 || found[0].pattern != `^[a-z]{1,64}$` || found[0].count != 64 {
		t.Errorf("countedPatterns = %+v, want the {1,64} pattern alone", found)
	}
}
