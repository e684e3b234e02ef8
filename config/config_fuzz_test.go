package config_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/config"
)

// Secrets the fuzzed files can reach through ${...}: one plain, one with the characters quoting
// escapes, one in a file next to the config.
const (
	fuzzToken      = "tok-Zq9rW2xY7uV4sT1pO8nM"
	fuzzPassword   = `pa"ss\wörd` + "\t" + `-Kx5Lm2Nb8Vc`
	fuzzFileSecret = "file-secret-Hj6Gf3Dd0Sa9"
)

var fuzzEnv = map[string]string{
	"TOKEN": fuzzToken,
	"PASS":  fuzzPassword,
	"EMPTY": "",
	"PORT":  "8080",
	"URL":   "http://127.0.0.1:9",
	"TZ":    "Europe/Paris",
}

// FuzzLoad parses arbitrary bytes as a config file and checks that Parse never panics; that it
// returns a config or an *Errors of problems that each name the file, a line within it and a
// message; that the same bytes give the same answer twice; and that no message shows any part
// of a secret that ${...} brought in, in any quoting, unless the file itself spells it out.
//
// ${file:...} reads real files (Parse has no hook for it), as do an audit sink's ca_file,
// cert_file and key_file: an input that names a file outside the config's temporary directory
// (an absolute path, or ..) is skipped, so the fuzzer cannot read /dev/zero or a FIFO.
// The seed corpus is in testdata/fuzz/FuzzLoad, config.example.yaml among it.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	name := filepath.Join(dir, "accessbot.yaml")
	for file, content := range map[string]string{"token": fuzzFileSecret + "\n", "empty": "", "sub/crlf": "x\r\n"} {
		p := filepath.Join(dir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	f.Add([]byte(valid))
	f.Add([]byte("time_zone: ${TZ}\nserver: {listen: \"127.0.0.1:${PORT}\"}\n" + valid))
	f.Add([]byte("x: &a \"${PASS}\"\ntime_zone: *a\n" + valid))
	f.Add([]byte("d: &d {approvals: 1}\ndefaults: {<<: *d}\n" + valid))
	f.Add([]byte(strings.Replace(valid, "  - name: prod-db\n", "  - name: prod-db\n    step_up: oidc\n", 1) +
		"oidc: {issuer: \"${PASS}\", client_id: x, client_secret: \"${TOKEN}\", redirect_url: \"${URL}/stepup/callback\", max_age: 2h, acr_values: [\"${PASS}\"]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if reads := filesRead(data); reads != "" {
			t.Skipf("names a file outside the sandbox: %q", reads)
		}
		env := func(k string) (string, bool) { v, ok := fuzzEnv[k]; return v, ok }
		c, err := config.Parse(name, data, env)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want a config or an error", c, err)
		}
		if _, err2 := config.Parse(name, data, env); (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Parse is not deterministic:\n%v\n---\n%v", err, err2)
		}
		if err == nil {
			sum := sha256.Sum256(data)
			if c.File() != name || c.Hash() != hex.EncodeToString(sum[:]) {
				t.Fatalf("File, Hash = %q, %q", c.File(), c.Hash())
			}
			return
		}
		var errs *config.Errors
		if !errors.As(err, &errs) || len(errs.Problems) == 0 {
			t.Fatalf("Parse error %v (%T) is not an *Errors with problems", err, err)
		}
		// YAML ends a line at LF, CRLF or a lone CR, and so do the problems' line numbers.
		lines := bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n")) +
			bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r")) + 1
		for _, p := range errs.Problems {
			if p.File != name || p.Line < 0 || p.Line > lines+1 || strings.TrimSpace(p.Msg) == "" {
				t.Fatalf("problem %+v lacks file, line (1-%d) or message", p, lines)
			}
			if !strings.HasPrefix(p.String(), name+":") {
				t.Fatalf("problem %q does not start with the file name", p)
			}
			if !utf8.ValidString(p.Msg) || !utf8.ValidString(p.Key) {
				t.Fatalf("problem %+v is not valid UTF-8", p)
			}
		}
		msg := err.Error()
		spelled := spelledOut(data)
		for _, secret := range []string{fuzzToken, fuzzPassword, fuzzFileSecret} {
			for _, form := range []string{secret, strconv.Quote(secret), strconv.QuoteToASCII(secret)} {
				form = strings.Trim(form, `"`)
				for i := 0; i+8 <= len(form); i++ {
					part := form[i : i+8]
					if strings.Contains(msg, part) && !strings.Contains(spelled, part) {
						t.Fatalf("the error shows %q, part of a secret:\n%s", part, msg)
					}
				}
			}
		}
	})
}

// filesRead returns the first file the config would read that is outside its directory: a
// ${file:...} path that is not local, or a syslog sink's ca_file, cert_file or key_file that
// is not a plain local path. Aliases and merge keys reuse nodes written in the file, so looking
// at every node written is enough.
func filesRead(data []byte) string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return "" // Parse stops at the syntax error
	}
	found := ""
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || found != "" {
			return
		}
		for rest := n.Value; ; {
			i := strings.Index(rest, "${")
			if i < 0 {
				break
			}
			ref, _, _ := strings.Cut(rest[i+2:], "}")
			// ${file:} with no path reads nothing: Parse refuses it.
			if p, ok := strings.CutPrefix(ref, "file:"); ok && p != "" && !filepath.IsLocal(p) {
				found = ref
				return
			}
			rest = rest[i+2:]
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				switch k.Value {
				case "ca_file", "cert_file", "key_file":
					if v.Value != "" && (strings.Contains(v.Value, "$") || !filepath.IsLocal(v.Value)) {
						found = k.Value + ": " + v.Value
						return
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return found
}

// spelledOut is every string the file itself writes (keys, values, comments, anchors), decoded
// from YAML's quoting and then as Go and ASCII quoting would show them, with the raw bytes: a
// message may show those, since they are not secrets that came from outside.
func spelledOut(data []byte) string {
	var b strings.Builder
	b.Write(data)
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil {
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			for _, s := range []string{n.Value, n.Anchor, n.Tag, n.HeadComment, n.LineComment, n.FootComment} {
				b.WriteString("\x00" + s + "\x00" + strconv.Quote(s) + "\x00" + strconv.QuoteToASCII(s))
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(&doc)
	}
	return b.String()
}

// TestNoSeedOfFuzzLoadIsSkipped holds the corpus to what it is for: a seed that FuzzLoad skips
// tests nothing. (The file-references seed once always skipped: its "${file:}", which Parse
// refuses without reading anything, was taken for a file outside the sandbox.)
func TestNoSeedOfFuzzLoadIsSkipped(t *testing.T) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzLoad", "*"))
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no seeds in testdata/fuzz/FuzzLoad (%v)", err)
	}
	for _, seed := range seeds {
		t.Run(filepath.Base(seed), func(t *testing.T) {
			raw, err := os.ReadFile(seed)
			if err != nil {
				t.Fatal(err)
			}
			header, value, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
			quoted, ok := strings.CutPrefix(strings.TrimSpace(value), "[]byte(")
			quoted, ok2 := strings.CutSuffix(quoted, ")")
			data, err := strconv.Unquote(quoted)
			if header != "go test fuzz v1" || !ok || !ok2 || err != nil {
				t.Fatalf("%s is not one []byte seed (%v)", seed, err)
			}
			if reads := filesRead([]byte(data)); reads != "" {
				t.Fatalf("FuzzLoad skips this seed: it names %q as a file outside the sandbox", reads)
			}
		})
	}
}
