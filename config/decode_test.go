package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeInto runs the decoder over src into v and returns the formatted problems.
func decodeInto(t *testing.T, src string, v any, env map[string]string) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	probs := &problems{file: "t.yaml"}
	d := newDecoder(probs)
	d.expandTree(doc.Content[0], "", &expander{env: lookup(env)})
	d.decode(doc.Content[0], reflect.ValueOf(v).Elem(), "")
	var out []string
	for _, p := range probs.list {
		out = append(out, p.String())
	}
	return out
}

// upper decodes itself through the yaml.Unmarshaler hook.
type upper string

func (u *upper) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "" {
		return errors.New("must not be empty")
	}
	*u = upper(strings.ToUpper(n.Value))
	return nil
}

type Base struct {
	Shared string `yaml:"shared"`
}

type everything struct {
	Base     `yaml:",inline"`
	Name     string          `yaml:"name"`
	On       bool            `yaml:"on"`
	Count    int             `yaml:"count"`
	Small    uint8           `yaml:"small"`
	Ratio    float64         `yaml:"ratio"`
	Wait     time.Duration   `yaml:"wait"`
	Maybe    *int            `yaml:"maybe"`
	List     []string        `yaml:"list"`
	Labels   map[string]int  `yaml:"labels"`
	Nested   struct{ X int } `yaml:"nested"`
	Addr     netip.Addr      `yaml:"addr"`
	Shout    upper           `yaml:"shout"`
	Free     any             `yaml:"free"`
	Skipped  string          `yaml:"-"`
	Untagged string
	Deep     map[string][]bool `yaml:"deep"`
}

func TestDecoderFillsEverySupportedKind(t *testing.T) {
	src := `
shared: from-inline
name: n
on: true
count: -3
small: 200
ratio: 2
wait: 1d2h
maybe: 7
list: [a, b]
labels: {x: 1, y: 2}
nested: {x: 5}
addr: 10.0.0.1
shout: hey
free: {k: [1, 2]}
untagged: u
deep: {k: [true, false]}
`
	var v everything
	if probs := decodeInto(t, src, &v, nil); len(probs) > 0 {
		t.Fatalf("unexpected problems:\n%s", strings.Join(probs, "\n"))
	}
	want := everything{
		Base: Base{Shared: "from-inline"}, Name: "n", On: true, Count: -3, Small: 200, Ratio: 2,
		Wait: 26 * time.Hour, Maybe: ptr(7), List: []string{"a", "b"},
		Labels: map[string]int{"x": 1, "y": 2}, Addr: netip.MustParseAddr("10.0.0.1"),
		Shout: "HEY", Free: map[string]any{"k": []any{1, 2}}, Untagged: "u",
		Deep: map[string][]bool{"k": {true, false}},
	}
	want.Nested.X = 5
	if !reflect.DeepEqual(v, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", v, want)
	}
}

func TestDecoderReportsEveryWrongTypeWithLineAndKey(t *testing.T) {
	src := `name: [a]
on: yes
count: "3"
small: 300
ratio: fast
wait: 2x
maybe: {a: 1}
list: a
labels: [1]
nested: {x: 1.5, y: 2}
addr: not-an-ip
shout: ""
deep: {k: [true, maybe]}
`
	var v everything
	got := decodeInto(t, src, &v, nil)
	want := []string{
		`t.yaml:1: name: expected a string, got a list`,
		`t.yaml:2: on: expected true or false, got "yes"`,
		`t.yaml:3: count: expected a whole number, got "3" (quotes make it a string: remove them)`,
		`t.yaml:4: small: "300" is out of range for a whole number`,
		`t.yaml:5: ratio: expected a number, got "fast"`,
		`t.yaml:6: wait: "2x" is not a duration (use 30m, 1h, 8h, 7d)`,
		`t.yaml:7: maybe: expected a whole number, got a mapping`,
		`t.yaml:8: list: expected a list, got "a"`,
		`t.yaml:9: labels: expected a mapping (key: value), got a list`,
		`t.yaml:10: nested.x: expected a whole number, got "1.5"`,
		`t.yaml:10: nested.y: unknown key "y" (known keys: x)`,
		`t.yaml:11: addr: "not-an-ip": ParseAddr("not-an-ip"): unable to parse IP`,
		`t.yaml:12: shout: must not be empty`,
		`t.yaml:13: deep.k[1]: expected true or false, got "maybe"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecoderTypesExpandedValuesByContent(t *testing.T) {
	var v everything
	src := "count: ${N}\non: ${B}\nwait: ${W}\nname: ${N}\n"
	probs := decodeInto(t, src, &v, map[string]string{"N": "42", "B": "true", "W": "90m"})
	if len(probs) > 0 || v.Count != 42 || !v.On || v.Wait != 90*time.Minute || v.Name != "42" {
		t.Errorf("got %+v, problems %q", v, probs)
	}
}

func TestDecoderTakesAnExpandedNullAsTextAndAnEmptyExpansionAsUnset(t *testing.T) {
	v := everything{Name: "default", Count: 9}
	probs := decodeInto(t, "name: ${NULL}\ncount: ${EMPTY}\n", &v, map[string]string{"NULL": "null", "EMPTY": ""})
	if len(probs) > 0 || v.Name != "null" || v.Count != 9 {
		t.Errorf("got name %q count %d, problems %q", v.Name, v.Count, probs)
	}
}

func TestDecoderQuotesTheReferenceNotTheExpandedValue(t *testing.T) {
	var v everything
	got := decodeInto(t, "count: ${N}\n", &v, map[string]string{"N": "topsecret"})
	want := `t.yaml:1: count: expected a whole number, got "${N}" (after expansion)`
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestDecoderLeavesDefaultsWhenAValueIsEmpty(t *testing.T) {
	v := everything{Name: "default", Count: 9, Maybe: ptr(1)}
	if probs := decodeInto(t, "name:\ncount: ~\nmaybe: null\n", &v, nil); len(probs) > 0 {
		t.Fatal(probs)
	}
	if v.Name != "default" || v.Count != 9 || v.Maybe != nil {
		t.Errorf("got name %q count %d maybe %v; want the defaults kept and the pointer cleared", v.Name, v.Count, v.Maybe)
	}
}

func TestDecoderResolvesAnchorsAndMergeKeys(t *testing.T) {
	src := `
base: &base {name: from-base, count: 1}
item:
  <<: *base
  count: 2
  list: &l [a]
again:
  list: *l
`
	var v struct {
		Base  map[string]any `yaml:"base"`
		Item  everything     `yaml:"item"`
		Again everything     `yaml:"again"`
	}
	if probs := decodeInto(t, src, &v, nil); len(probs) > 0 {
		t.Fatal(probs)
	}
	if v.Item.Name != "from-base" || v.Item.Count != 2 || len(v.Again.List) != 1 {
		t.Errorf("got item %+v again %+v", v.Item, v.Again)
	}
}

func TestDecoderReportsDuplicateKeys(t *testing.T) {
	var v everything
	got := decodeInto(t, "name: a\ncount: 1\nname: b\n", &v, nil)
	want := `t.yaml:3: name: key "name" appears twice (first at line 1)`
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestUnknownKeySuggestsOnlyCloseKeys(t *testing.T) {
	known := []string{"approvers", "approvals", "max_duration", "time_zone"}
	tests := []struct{ key, want string }{
		{"aprovers", `unknown key "aprovers" (did you mean "approvers"?)`},
		{"max_duraton", `unknown key "max_duraton" (did you mean "max_duration"?)`},
		{"Time_Zone", `unknown key "Time_Zone" (did you mean "time_zone"?)`},
		{"colour", `unknown key "colour" (known keys: approvals, approvers, max_duration, time_zone)`},
	}
	for _, tt := range tests {
		if got := unknownKey(tt.key, known); got != tt.want {
			t.Errorf("unknownKey(%q) = %s, want %s", tt.key, got, tt.want)
		}
	}
}

func TestParentPathWalksUpKeyPaths(t *testing.T) {
	tests := map[string]string{
		"resources[1].policy.max_duration": "resources[1].policy",
		"resources[1].policy":              "resources[1]",
		"resources[1]":                     "resources",
		"resources":                        "",
		`accounts["a.b@example.com"]`:      "accounts",
		`x.accounts["a.b"].y`:              `x.accounts["a.b"]`,
	}
	for in, want := range tests {
		if got := parentPath(in); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
