package duration

import (
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks Parse against an exact reference (big.Rat arithmetic over the same
// grammar), and Format against Parse: whatever Parse accepts is a value the reference agrees
// with, anything beyond time.Duration's range is refused rather than wrapped, and every
// duration Format writes parses back to itself. The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"90m", "1h30m", "1d", "1.5d", "-1d", "+2h", " 7d ", "0", "1d12h30m15s",
		"1e9d", "99999999999999d", "106751d23h47m16.854775807s", "-106751d23h47m16.854775808s", "1µs", ".5d"} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(math.MinInt64))
	f.Add("", int64(math.MaxInt64))
	f.Add("", int64(36*time.Hour+1))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		d, err := Parse(s)
		want, ok := reference(s)
		switch {
		case err != nil:
			if !strings.Contains(err.Error(), "(use 30m, 1h, 8h, 7d)") {
				t.Fatalf("Parse(%q) error %q does not say how to write a duration", s, err)
			}
			// What is well formed and well inside the range must parse.
			if ok && inRange(want, 0.99) {
				t.Fatalf("Parse(%q) = %v, but it is %s ns", s, err, want.FloatString(3))
			}
		default:
			if !ok {
				t.Fatalf("Parse(%q) = %v, but it is not a duration", s, d)
			}
			// Overflow is an error, never a wrapped value.
			if !inRange(want, 1.01) {
				t.Fatalf("Parse(%q) = %v, but it is %s ns: out of range", s, d, want.FloatString(0))
			}
			// float64 days and Go's fraction arithmetic may be off by a few ns in 10^12.
			diff := new(big.Rat).Sub(new(big.Rat).SetInt64(int64(d)), want)
			tol := new(big.Rat).Abs(want)
			tol.Mul(tol, big.NewRat(1, 1e12))
			tol.Add(tol, big.NewRat(int64(4*strings.Count(s, ".")+1), 1))
			if diff.Abs(diff).Cmp(tol) > 0 {
				t.Fatalf("Parse(%q) = %d ns, want %s ns", s, int64(d), want.FloatString(3))
			}
			if sign := signOf(s); sign != 0 && d != 0 && (d < 0) != (sign < 0) {
				t.Fatalf("Parse(%q) = %v: wrong sign", s, d)
			}
			if again, err := Parse(" \t" + s + "\n "); err != nil || again != d {
				t.Fatalf("Parse(%q) with more space = %v, %v; want %v", s, again, err, d)
			}
			roundTrip(t, d)
		}
		roundTrip(t, time.Duration(n))
	})
}

// roundTrip checks that Format(d) is what Parse reads back as d, written without zero parts.
func roundTrip(t *testing.T, d time.Duration) {
	t.Helper()
	text := Format(d)
	back, err := Parse(text)
	if err != nil || back != d {
		t.Fatalf("Parse(Format(%d)) = Parse(%q) = %v, %v", int64(d), text, back, err)
	}
	if Format(back) != text {
		t.Fatalf("Format is not stable: %q, then %q", text, Format(back))
	}
	if d != 0 && d%time.Second == 0 && d != math.MinInt64 && !canonical.MatchString(text) {
		t.Fatalf("Format(%d) = %q, want whole days, hours, minutes and seconds without zero parts", int64(d), text)
	}
}

// canonical is Format's spelling of a whole number of seconds: no zero parts, no leading zeros,
// hours below 24, minutes and seconds below 60.
var canonical = regexp.MustCompile(`^-?([1-9][0-9]*d)?(([1-9]|1[0-9]|2[0-3])h)?(([1-9]|[1-5][0-9])m)?(([1-9]|[1-5][0-9])s)?$`)

// refUnits are the units Parse reads, in nanoseconds.
var refUnits = map[string]int64{
	"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9, "d": 86400e9,
}

// reference is an exact reading of s: optional sign, then terms of a decimal number (digits, a
// point, digits; at least one digit) and a unit; or a bare 0. ok is false when s is not one.
func reference(s string) (ns *big.Rat, ok bool) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return new(big.Rat), true
	}
	if s == "" {
		return nil, false
	}
	sum := new(big.Rat)
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num := s[:i]
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit, ok := refUnits[s[i:j]]
		if !ok || strings.Count(num, ".") > 1 || strings.Trim(num, ".") == "" {
			return nil, false
		}
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			if num[len(num)-1] != '.' { // "1." is 1
				return nil, false
			}
			if r, ok = new(big.Rat).SetString(num[:len(num)-1]); !ok {
				return nil, false
			}
		}
		sum.Add(sum, r.Mul(r, new(big.Rat).SetInt64(unit)))
		s = s[j:]
	}
	if neg {
		sum.Neg(sum)
	}
	return sum, true
}

// inRange says whether |r| is at most factor times the largest time.Duration.
func inRange(r *big.Rat, factor float64) bool {
	limit := new(big.Rat).SetFloat64(math.MaxInt64 * factor)
	return new(big.Rat).Abs(r).Cmp(limit) <= 0
}

func signOf(s string) int {
	switch s = strings.TrimSpace(s); {
	case strings.HasPrefix(s, "-"):
		return -1
	case strings.HasPrefix(s, "+"):
		return 1
	}
	return 0
}
