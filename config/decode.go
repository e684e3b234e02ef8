package config

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/internal/suggest"
)

// decoder decodes a yaml.v3 node tree into Go values strictly, collecting every problem instead
// of stopping at the first. It handles string, bool, the int, uint and float kinds,
// time.Duration (ParseDuration syntax), slices, maps with string keys, pointers, structs (fields
// by `yaml:"name"` tag, `yaml:",inline"` for embedded structs, `yaml:"-"` to skip), empty
// interfaces (decoded loosely by yaml.v3), and two hooks for custom types: yaml.Unmarshaler
// (given the node, after expansion) and encoding.TextUnmarshaler (given a scalar's text).
// YAML anchors, aliases and merge keys (<<) work as in yaml.v3.
type decoder struct {
	probs *problems
	// dir is the config file's directory, which relative paths in adapter blocks are
	// relative to.
	dir string
	// expanded maps a scalar whose value came from ${...} to its text before expansion, which is
	// what messages quote, so they never show a secret.
	expanded map[*yaml.Node]string
	// expandedAt maps the path of every expanded value to its text before expansion, for
	// validation messages.
	expandedAt map[string]string
	// lines maps the path of every key seen to the line of the key.
	lines map[string]int
	// bad holds the paths that already have a problem, so validation does not pile a second
	// message ("required") on a value that failed to expand or decode.
	bad map[string]bool
	// merged holds the pairs each node merged with << resolved to; merging the nodes being
	// resolved, to catch a merge cycle.
	merged  map[*yaml.Node][]pair
	merging map[*yaml.Node]bool

	// decoded counts the nodes decode has visited, each time it visits one: an alias or a merge
	// decodes its target again wherever it is used, so a small file can make a huge tree (a
	// block of a thousand names aliased five thousand times, or aliases of lists of aliases).
	// Past limit, decoding stops with one problem naming the alias (via, the outermost alias
	// or merge being followed) and over is set.
	decoded int
	limit   int
	via     *yaml.Node
	viaPath string
	over    bool
}

// Bounds of what aliases may produce: a file decodes to at most expansionFactor times its own
// nodes, or minExpansionLimit nodes when that is more. A file without aliases decodes each of
// its nodes once, so only a file that multiplies blocks by aliases meets the bound.
const (
	minExpansionLimit = 100_000
	expansionFactor   = 10
)

// boundExpansion sets the decoder's limit from the size of the document as written.
func (d *decoder) boundExpansion(root *yaml.Node) {
	d.limit = max(minExpansionLimit, expansionFactor*countNodes(root))
}

// countNodes counts the nodes of a tree as written: an alias is one node, not its target.
func countNodes(n *yaml.Node) int {
	total := 1
	for _, c := range n.Content {
		total += countNodes(c)
	}
	return total
}

// spend counts one more decoded node and reports whether decoding may go on; the first time
// the limit is passed it reports the alias being followed, at path.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	if d.over {
		return false
	}
	d.decoded++
	if d.decoded <= d.limit {
		return true
	}
	d.over = true
	at, name := n, "an alias"
	if d.via != nil {
		at, path = d.via, d.viaPath
		if d.via.Kind == yaml.AliasNode {
			name = "alias *" + d.via.Value
		} else {
			name = "the << merge"
		}
	}
	d.add(at, path, "%s makes the file decode to more than %d values: aliases may repeat a block, not multiply it; write the values out, or alias a smaller block",
		name, d.limit)
	return false
}

func newDecoder(probs *problems) *decoder {
	return &decoder{
		probs:      probs,
		expanded:   map[*yaml.Node]string{},
		expandedAt: map[string]string{},
		lines:      map[string]int{},
		bad:        map[string]bool{},
		merged:     map[*yaml.Node][]pair{},
		merging:    map[*yaml.Node]bool{},
		limit:      minExpansionLimit,
	}
}

func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.probs.add(n.Line, path, format, args...)
}

// count is the number of problems so far; a block compares it before and after decoding to
// learn whether it decoded cleanly.
func (d *decoder) count() int { return len(d.probs.list) }

// lineOf returns the line of path's key, or of its nearest ancestor that has one.
func (d *decoder) lineOf(path string) int { return lineIn(d.lines, path) }

func lineIn(lines map[string]int, path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := lines[p]; ok {
			return l
		}
	}
	return 0
}

// nodeDecoder is the hook for config types that need the decoder itself (an adapter block
// decodes the rest of its keys into a type chosen by its `type` key).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

var (
	durationType      = reflect.TypeFor[time.Duration]()
	unmarshalerType   = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeDecoderType   = reflect.TypeFor[nodeDecoder]()
)

const (
	nullTag  = "!!null"
	boolTag  = "!!bool"
	intTag   = "!!int"
	floatTag = "!!float"
)

// expandTree replaces ${...} references in every scalar value below n (not in keys: a key names
// structure, and structure is not for the environment to decide).
func (d *decoder) expandTree(n *yaml.Node, path string, x *expander) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.expandTree(c, path, x)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandTree(n.Content[i+1], joinKey(path, n.Content[i].Value), x)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expandTree(c, joinIndex(path, i), x)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		out, refs, err := x.expand(n.Value)
		if err != nil {
			d.add(n, path, "%v", err)
			// A null node is skipped by decode, and this one has already been reported.
			n.Tag, n.Value, n.Style = nullTag, "", 0
			return
		}
		if refs > 0 {
			d.expanded[n] = n.Value
			d.expandedAt[path] = n.Value
		}
		n.Value = out
	}
}

// describe says what a node is, for "expected X, got Y" messages, without ever showing an
// expanded value.
func (d *decoder) describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if src, ok := d.expanded[n]; ok {
		return fmt.Sprintf("%q (after expansion)", src)
	}
	if n.ShortTag() == nullTag {
		return "nothing"
	}
	v := n.Value
	if len(v) > 60 {
		v = v[:57] + "..."
	}
	return strconv.Quote(v)
}

// typed returns the node whose tag says what a scalar is. An expanded value has no quoting of
// its own (an environment variable is always text), so it is typed by its content: `${PORT}`
// may fill an int.
func (d *decoder) typed(n *yaml.Node) *yaml.Node {
	if _, ok := d.expanded[n]; !ok {
		return n
	}
	c := *n
	c.Tag, c.Style = "", 0
	return &c
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n, path) {
		return
	}
	if n.Kind == yaml.AliasNode {
		if d.via == nil {
			d.via, d.viaPath = n, path
			defer func() { d.via = nil }()
		}
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	// expandTree saw this node at the path it is written at; through an alias or a merge key it
	// lands here too, and validation messages at this path must quote the reference as well.
	if src, ok := d.expanded[n]; ok {
		d.expandedAt[path] = src
	}
	// An environment variable is text: "null" from ${X} is the word, and only an empty
	// expansion counts as no value.
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag
	if _, ok := d.expanded[n]; ok {
		null = n.Value == ""
	}
	switch {
	case v.Kind() == reflect.Pointer:
		if null {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	case v.Kind() == reflect.Interface && v.NumMethod() == 0:
		var x any
		if err := d.typed(n).Decode(&x); err != nil {
			d.add(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
		return
	case null:
		// An empty value means "not set": the default stays.
		return
	}
	if v.CanAddr() {
		pt := reflect.PointerTo(v.Type())
		switch {
		case pt.Implements(nodeDecoderType):
			v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
			return
		case pt.Implements(unmarshalerType):
			if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.add(n, path, "%v", err)
			}
			return
		case pt.Implements(textUnmarshalType):
			if n.Kind != yaml.ScalarNode {
				d.add(n, path, "expected a single value, got %s", d.describe(n))
				return
			}
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.add(n, path, "%s: %v", d.describe(n), err)
			}
			return
		}
	}
	if v.Type() == durationType {
		d.decodeDuration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path, nil)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.add(n, path, "expected a string, got %s", d.describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		d.decodeScalar(n, v, path, "true or false", boolTag)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.decodeScalar(n, v, path, "a whole number", intTag)
	case reflect.Float32, reflect.Float64:
		d.decodeScalar(n, v, path, "a number", intTag, floatTag)
	default:
		// A programming error in a config struct, reported rather than panicking so the rest of
		// the file is still checked.
		d.add(n, path, "cannot decode into a field of Go type %s", v.Type())
	}
}

// decodeScalar decodes a bool or number after checking that the node's tag is one of tags, so
// `approvals: "2"` and `approvals: two` are both errors rather than guesses.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path, want string, tags ...string) {
	t := d.typed(n)
	if n.Kind != yaml.ScalarNode || !slices.Contains(tags, t.ShortTag()) {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			plain := yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
			if slices.Contains(tags, plain.ShortTag()) {
				hint = " (quotes make it a string: remove them)"
			}
		}
		d.add(n, path, "expected %s, got %s%s", want, d.describe(n), hint)
		return
	}
	p := reflect.New(v.Type())
	if err := t.Decode(p.Interface()); err != nil {
		d.add(n, path, "%s is out of range for %s", d.describe(n), want)
		return
	}
	v.Set(p.Elem())
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.add(n, path, "expected a duration (30m, 1h, 8h, 7d), got %s", d.describe(n))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.add(n, path, "%s is not a duration (use 30m, 1h, 8h, 7d)", d.describe(n))
		return
	}
	v.SetInt(int64(dur))
}

// pair is one key and its value in a mapping.
type pair struct {
	key, value *yaml.Node
	// via is the << value the pair was merged from (nil for the mapping's own pairs): decoding
	// the pair decodes a block written elsewhere, and counts against the alias bound.
	via *yaml.Node
}

// pairs returns a mapping's key/value pairs with merge keys (<<) resolved: merged pairs first,
// then the mapping's own, which override merged ones of the same key. Duplicate keys written in
// the mapping itself are errors, as yaml.v3 reports them when decoding into a struct.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(k, path, "a key must be a plain name, got %s", d.describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			for _, p := range d.mergePairs(val, path) {
				p.via = val
				merged = append(merged, p)
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k, joinKey(path, k.Value), "key %q appears twice (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{key: k, value: val})
	}
	out := make([]pair, 0, len(merged)+len(own))
	for _, p := range merged {
		if _, overridden := seen[p.key.Value]; !overridden {
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
	}
	return append(out, own...)
}

// decodeVia decodes a pair's value, naming the merge it came from should it pass the bound.
func (d *decoder) decodeVia(kv pair, v reflect.Value, path string) {
	if kv.via != nil && d.via == nil {
		d.via, d.viaPath = kv.via, path
		defer func() { d.via = nil }()
	}
	d.decode(kv.value, v, path)
}

func (d *decoder) mergePairs(n *yaml.Node, path string) []pair {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// Each merged node is resolved once: an anchor that merges itself (`&a {<<: *a}`) would
	// otherwise recurse until the stack overflows, and a chain of anchors each merging the
	// previous one twice would take exponential time (and repeat its problems).
	if out, done := d.merged[n]; done {
		return out
	}
	if d.merging[n] {
		d.add(n, path, "<< merges a mapping into itself")
		return nil
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	var out []pair
	switch n.Kind {
	case yaml.MappingNode:
		out = d.pairs(n, path)
	case yaml.SequenceNode:
		// Earlier mappings in a merge list win over later ones.
		seen := map[string]bool{}
		for _, c := range n.Content {
			for _, p := range d.mergePairs(c, path) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
	default:
		d.add(n, path, "<< must merge a mapping or a list of mappings, got %s", d.describe(n))
	}
	d.merged[n] = out
	return out
}

// field is a struct field reachable by a YAML key.
type field struct {
	index []int
}

// structFields maps YAML keys to fields, flattening `yaml:",inline"` embedded structs.
func structFields(t reflect.Type) (map[string]field, []string) {
	fields := map[string]field{}
	var names []string
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			index := append(append([]int(nil), prefix...), i)
			if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, index)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = field{index: index}
			names = append(names, name)
		}
	}
	walk(t, nil)
	return fields, names
}

// decodeStruct decodes a mapping into a struct; keys in skip belong to the caller.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, skip []string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected a mapping (key: value), got %s", d.describe(n))
		return
	}
	d.decodeFields(d.pairs(n, path), v, path, skip)
}

// decodeFields decodes a mapping's pairs into a struct's fields.
func (d *decoder) decodeFields(pairs []pair, v reflect.Value, path string, skip []string) {
	fields, names := structFields(v.Type())
	for _, kv := range pairs {
		key := kv.key.Value
		if slices.Contains(skip, key) {
			continue
		}
		kp := joinKey(path, key)
		f, ok := fields[key]
		if !ok {
			d.add(kv.key, kp, "%s", unknownKey(key, append(names, skip...)))
			continue
		}
		d.lines[kp] = kv.key.Line
		d.decodeVia(kv, v.FieldByIndex(f.index), kp)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected a mapping (key: value), got %s", d.describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.add(n, path, "cannot decode into a map with Go key type %s", v.Type().Key())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, kv := range d.pairs(n, path) {
		kp := joinKey(path, kv.key.Value)
		d.lines[kp] = kv.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decodeVia(kv, elem, kp)
		v.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.add(n, path, "expected a list, got %s", d.describe(n))
		return
	}
	// Never nil, even when empty: `approvers: []` is a value that overrides a default.
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		ip := joinIndex(path, i)
		d.lines[ip] = c.Line
		d.decode(c, s.Index(i), ip)
	}
	v.Set(s)
}

// unknownKey says a key is unknown and which one was probably meant.
func unknownKey(key string, known []string) string {
	if best := closest(strings.ToLower(key), known); best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", key, best)
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(sorted, ", "))
}

// closest returns the name in known nearest to s, when it is near enough to be a typo.
func closest(s string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		if d := suggest.Distance(s, k); bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	// About one edit in three characters is a typo; a short word that close is a coincidence.
	limit := 0
	if n := min(len(s), len(best)); n >= 3 {
		limit = max(1, n/3)
	}
	if best != "" && bestDist <= limit {
		return best
	}
	return ""
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinKey extends a key path: "server" + "listen" is "server.listen"; a key that is not a plain
// name is bracketed: `accounts["alice@example.com"]`.
func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// parentPath strips the last element of a key path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}
