package layout

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// reflectMethodMark is how the linker's -dumpdep output marks a function that looks a method
// up by a name known only at run time (reflect.Value.MethodByName with a variable, Method by
// index): "pkg.fn <ReflectMethod>", possibly beside other marks.
var reflectMethodMark = regexp.MustCompile(`^(\S+)(?: <\w+>)* <ReflectMethod>`)

// dumpdepMark strips the marks from a symbol of -dumpdep's output.
var dumpdepMark = regexp.MustCompile(` <\w+>`)

// TestNothingSwitchesMethodEliminationOff builds accessbot as the linker sees it (-dumpdep:
// every symbol it keeps, and who kept it) and fails if any reachable function looks methods
// up by a run-time name. One such function makes the linker keep every exported method of
// every reachable type, for the whole binary: with text/template's executor reachable (its
// evalField), `serve`'s code was 51 MB instead of 37 MB and its idle memory over the 40 MB
// budget (BENCHMARKS.md "4. Memory"). The message names the function and the chain of callers
// that made it reachable, from main; reflect's own Method functions, kept once the switch is
// off, are named after it and go away with it.
func TestNothingSwitchesMethodEliminationOff(t *testing.T) {
	cmd := exec.Command("go", "build", "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "accessbot"), module+"/cmd/accessbot")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%s", err, tail(out))
	}
	// keptBy is, for each symbol, the first symbol that kept it: the way back to main.
	keptBy := map[string]string{}
	var culprits []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " -> ")
		if !ok {
			continue
		}
		lines++
		for _, side := range []string{from, to} {
			if m := reflectMethodMark.FindStringSubmatch(side); m != nil && !contains(culprits, m[1]) {
				culprits = append(culprits, m[1])
			}
		}
		to = dumpdepMark.ReplaceAllString(to, "")
		if _, seen := keptBy[to]; !seen {
			keptBy[to] = dumpdepMark.ReplaceAllString(from, "")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 1000 {
		// The output's form changed (or the flag stopped working): the test would pass on nothing.
		t.Fatalf("-dumpdep printed %d dependency lines; expected the linker's whole graph", lines)
	}
	if !hasSymbol(keptBy, "main.main") {
		t.Fatalf("-dumpdep's graph does not reach main.main; its form may have changed")
	}
	for _, c := range culprits {
		t.Errorf("%s looks methods up by a run-time name, so the linker keeps every exported method of every reachable type; reached by:\n\t%s",
			c, strings.Join(chain(keptBy, c), "\n\t<- "))
	}
}

// chain is the way from a symbol back towards the program's entry, as the linker found it.
func chain(keptBy map[string]string, sym string) []string {
	out := []string{sym}
	for len(out) < 40 {
		next, ok := keptBy[sym]
		if !ok || next == sym {
			break
		}
		out = append(out, next)
		if strings.HasPrefix(next, "main.") && !strings.Contains(next, ".func") && !strings.Contains(next, "(") {
			break
		}
		sym = next
	}
	return out
}

func hasSymbol(keptBy map[string]string, sym string) bool {
	_, ok := keptBy[sym]
	return ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tail is the end of a long output, for a failure message.
func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
