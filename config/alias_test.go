package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fanOutGroups writes a config whose groups alias one group of `names` people `aliases` times:
// about 14 bytes per name and per alias, and names×aliases strings once decoded. With 1,000
// and 5,000 (a 70 KB file) it took 16 s to load before aliases were bounded.
func fanOutGroups(names, aliases int) []byte {
	var b strings.Builder
	b.WriteString("groups:\n  base: &g [")
	for i := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "u%d@example.com", i)
	}
	b.WriteString("]\n")
	for i := range aliases {
		fmt.Fprintf(&b, "  g%d: *g\n", i)
	}
	b.WriteString(aliasTestRest)
	return []byte(b.String())
}

// aliasTestRest ends the files of these tests: a group and a resource that are valid.
const aliasTestRest = `  sre: [alice@example.com, bob@example.com]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    policy:
      approvers: [sre]
`

// laughs writes a billion-laughs document: level 0 is a list of ten words, and each level
// above is a list of ten aliases of the one below, so the top decodes to 10^levels words.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestAliasesThatMultiplyTheFileAreRefusedWithTheAlias(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		want []string
	}{
		{
			name: "a group of a thousand people aliased five thousand times",
			src:  fanOutGroups(1000, 5000),
			want: []string{"big.yaml:", "groups.g", "alias *g", "more than"},
		},
		{
			name: "a merge key that repeats a large block in every resource",
			src: func() []byte {
				var b strings.Builder
				b.WriteString("groups:\n  sre: [alice@example.com]\nresources:\n  - &b\n    name: r0\n    adapter: {type: fake, url: \"http://127.0.0.1:9\"}\n    policy:\n      approvers: [")
				for i := range 2000 {
					if i > 0 {
						b.WriteString(", ")
					}
					fmt.Fprintf(&b, "sre%d", i)
				}
				b.WriteString("]\n")
				for i := 1; i < 2000; i++ {
					fmt.Fprintf(&b, "  - {<<: *b, name: r%d}\n", i)
				}
				return []byte(b.String())
			}(),
			want: []string{"big.yaml:", "resources[", "alias *b", "more than"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("big.yaml", tc.src, lookup(nil))
			if err == nil {
				t.Fatal("a file that multiplies itself by aliases loaded")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%.500s", w, msg)
				}
			}
			// One problem, not one per value decoded after the bound or a validation pile-up.
			if n := strings.Count(msg, "big.yaml:"); n != 1 {
				t.Errorf("%d problems reported, want the one about the alias:\n%.1000s", n, msg)
			}
		})
	}
}

// A billion laughs stops at the bound: the decoder does a bounded amount of work, whatever the
// document would expand to (10^9 words here), and says which alias it was following.
func TestABillionLaughsStopsAtTheBound(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(laughs(8)), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	probs := &problems{file: "laughs.yaml"}
	d := newDecoder(probs)
	d.boundExpansion(doc.Content[0])
	var v struct {
		L8 [][][][][][][][][]string `yaml:"l8"`
	}
	v0 := reflect.ValueOf(&v).Elem()
	d.decode(doc.Content[0], v0, "")
	if !d.over {
		t.Fatal("the billion laughs decoded without meeting the bound")
	}
	if d.decoded > d.limit+1 {
		t.Errorf("decoded %d nodes, past the bound of %d", d.decoded, d.limit)
	}
	// The struct has l8 only: the other levels are unknown keys, reported as such.
	var bound []string
	for _, p := range probs.list {
		if strings.Contains(p.Msg, "makes the file decode") {
			bound = append(bound, p.String())
		}
	}
	if len(bound) != 1 || !strings.Contains(bound[0], "l8[0]: alias *l7") {
		t.Errorf("problems %v, want one naming alias *l7 at l8[0]", bound)
	}
}

func TestAliasesThatRepeatABlockStillLoad(t *testing.T) {
	// 50 groups of the same 100 people: 5,000 names decoded from a file of a few hundred nodes,
	// within the bound's floor.
	c, err := Parse("ok.yaml", fanOutGroups(100, 50), lookup(nil))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got := len(c.Groups); got < 51 {
		t.Errorf("%d groups, want the 50 aliases, base and sre", got)
	}
}

// BenchmarkRefusingAnAliasFanOut measures refusing the 70 KB file that took 16 s to load.
func BenchmarkRefusingAnAliasFanOut(b *testing.B) {
	src := fanOutGroups(1000, 5000)
	for b.Loop() {
		if _, err := Parse("big.yaml", src, lookup(nil)); err == nil {
			b.Fatal("the file loaded")
		}
	}
}
