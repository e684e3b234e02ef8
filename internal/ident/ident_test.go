package ident_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/ident/identtest"
)

func TestAPatternBoundsTheLengthOfWhatItsExpressionMatches(t *testing.T) {
	p := ident.New(`^[a-z][a-z0-9]{0,3}$`, `^[a-z][a-z0-9]*$`, 1, 4)
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"", false},
		{"a", true},
		{"a123", true},
		{"a1234", false},
		{"1abc", false},
		{"ab\n", false},
	} {
		if got := p.MatchString(c.s); got != c.want {
			t.Errorf("MatchString(%q) = %t, want %t", c.s, got, c.want)
		}
	}
}

func TestAPatternPrintsTheOriginalText(t *testing.T) {
	p := ident.New(`^[a-z]{1,64}$`, `^[a-z]+$`, 1, 64)
	if got := p.String(); got != `^[a-z]{1,64}$` {
		t.Errorf("String() = %q, want the counted original", got)
	}
}

func TestTheComparisonCatchesAnOffByOneBound(t *testing.T) {
	// A Pattern whose bound is one short of its original must be caught by identtest.Compare:
	// otherwise the comparisons in every package prove nothing.
	rec := &recorder{TB: t}
	wrong := ident.New(`^[a-z][a-z0-9_-]{0,31}$`, `^[a-z][a-z0-9_-]*$`, 1, 31)
	identtest.Compare(rec, wrong.String(), wrong.MatchString)
	if len(rec.errors) == 0 {
		t.Fatal("Compare found no difference between {0,31} and a bound of 31 characters")
	}
	if !strings.Contains(rec.errors[0], "32 bytes") {
		t.Errorf("Compare's first difference is %q, want the 32-byte string", rec.errors[0])
	}
}

// recorder keeps what Compare reports instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}
