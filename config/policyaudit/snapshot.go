package policyaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/duration"
)

// Snapshot is a config as the audit log may hold it: every key by its semantic path, with no
// secret in it. Resources and sinks are keyed by name, not by their place in the file, lists of
// names are one sorted value, and "policy.<resource>.<field>" keys hold each resource's
// effective policy (defaults merged), so moving a resource, reordering a group or rewriting a
// default as the same per-resource value changes nothing, and changing a default shows on
// every resource it reaches.
//
// A value a ${...} reference brought in is a secret: Values holds its reference as written
// ("${SLACK_BOT_TOKEN}"), never the value nor any hash of it, and Secrets marks the key, so a
// diff says "changed (secret)" when the reference changes. A secret rotated behind the same
// reference is not a policy change and leaves no trace; recording it would need something
// derived from the secret. A URL's password written inline is redacted the same way.
type Snapshot struct {
	Values  map[string]string `json:"values"`
	Secrets map[string]bool   `json:"secrets,omitempty"`
}

// SHA256 is the hex hash of the snapshot's canonical JSON: equal snapshots hash alike
// (encoding/json sorts map keys), so replicas started with one config agree on it.
func (s Snapshot) SHA256() string {
	sum := sha256.Sum256(s.JSON())
	return hex.EncodeToString(sum[:])
}

// JSON is the snapshot as stored.
func (s Snapshot) JSON() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // maps of strings and bools: cannot fail
	}
	return b
}

// ParseSnapshot reads what JSON wrote.
func ParseSnapshot(b []byte) (Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return Snapshot{}, fmt.Errorf("read config snapshot: %w", err)
	}
	if s.Values == nil {
		s.Values = map[string]string{}
	}
	return s, nil
}

// TakeSnapshot returns c's snapshot.
func TakeSnapshot(c *config.Config) Snapshot {
	w := &walker{c: c, s: Snapshot{Values: map[string]string{}, Secrets: map[string]bool{}}, secrets: c.Secrets()}
	w.walk(reflect.ValueOf(c).Elem(), "", "")
	for _, res := range Build(c).Resources {
		for field, v := range res.policyValues() {
			w.s.Values["policy."+res.Name+"."+field] = v
		}
	}
	if len(w.s.Secrets) == 0 {
		w.s.Secrets = nil
	}
	return w.s
}

// policyValues are the effective policy's fields as snapshot values.
func (r Resource) policyValues() map[string]string {
	var groupNames []string
	for _, g := range r.RequesterGroups {
		groupNames = append(groupNames, g.Name)
	}
	var approvers []string
	for _, g := range r.Approvers {
		approvers = append(approvers, g.Name)
	}
	slices.Sort(groupNames)
	slices.Sort(approvers)
	return map[string]string{
		"requesters":       strings.Join(r.Requesters, ", "),
		"requester_groups": strings.Join(groupNames, ", "),
		"approvers":        strings.Join(approvers, ", "),
		"approvals":        itoa(r.Approvals),
		"auto_approve":     r.AutoApprove,
		"break_glass":      strconv.FormatBool(r.BreakGlass),
		"default_duration": duration.Format(r.DefaultDuration),
		"max_duration":     duration.Format(r.MaxDuration),
		"pending_ttl":      duration.Format(r.PendingTTL),
		"reason_required":  strconv.FormatBool(r.ReasonRequired),
		"reason_pattern":   r.ReasonPattern,
		"step_up":          r.StepUp,
	}
}

// Diff returns what changed from old to cur, key by key in order. A key that is secret on
// either side is reported without either value.
func Diff(old, cur Snapshot) []audit.ConfigChange {
	var out []audit.ConfigChange
	for _, k := range audit.SortedKeys(cur.Values) {
		nv := cur.Values[k]
		secret := cur.Secrets[k] || old.Secrets[k]
		ov, had := old.Values[k]
		switch {
		case !had:
			out = append(out, change(k, audit.ConfigOpAdded, "", nv, secret))
		case ov != nv || old.Secrets[k] != cur.Secrets[k]:
			out = append(out, change(k, audit.ConfigOpChanged, ov, nv, secret))
		}
	}
	for _, k := range audit.SortedKeys(old.Values) {
		if _, ok := cur.Values[k]; !ok {
			out = append(out, change(k, audit.ConfigOpRemoved, old.Values[k], "", old.Secrets[k]))
		}
	}
	slices.SortStableFunc(out, func(a, b audit.ConfigChange) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func change(key, op, old, cur string, secret bool) audit.ConfigChange {
	if secret {
		return audit.ConfigChange{Key: key, Op: op, Secret: true}
	}
	return audit.ConfigChange{Key: key, Op: op, Old: old, New: cur}
}

// walker flattens the config into a snapshot, following the yaml tags the decoder follows.
type walker struct {
	c       *config.Config
	s       Snapshot
	secrets []string
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	adapterType  = reflect.TypeFor[config.AdapterConfig]()
)

// walk visits v, whose place is raw in the decoder's paths ("resources[0].policy") and key in
// the snapshot's ("resources.prod-db.policy").
func (w *walker) walk(v reflect.Value, raw, key string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), raw, key)
		}
		return
	}
	if v.Type() == durationType {
		w.scalar(raw, key, duration.Format(time.Duration(v.Int())))
		return
	}
	if v.Type() == adapterType {
		a := v.Interface().(config.AdapterConfig)
		w.scalar(raw+".type", key+".type", a.Type)
		if a.Config != nil {
			w.walk(reflect.ValueOf(a.Config), raw, key)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case name == "-":
				continue
			case strings.Contains(","+opts+",", ",inline,"):
				w.walk(v.Field(i), raw, key)
				continue
			case name == "":
				name = strings.ToLower(f.Name)
			}
			w.walk(v.Field(i), joinRaw(raw, name), joinKey(key, name))
		}
	case reflect.Map:
		keys := v.MapKeys()
		names := make([]string, 0, len(keys))
		for _, k := range keys {
			names = append(names, fmt.Sprint(k.Interface()))
		}
		slices.Sort(names)
		for _, n := range names {
			w.walk(v.MapIndex(reflect.ValueOf(n).Convert(v.Type().Key())), joinRaw(raw, n), joinKey(key, n))
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.String {
			w.stringList(v, raw, key)
			return
		}
		for i := range v.Len() {
			w.walk(v.Index(i), fmt.Sprintf("%s[%d]", raw, i), joinKey(key, itemName(v.Index(i), i)))
		}
	case reflect.String:
		if v.String() == "" {
			return
		}
		if ref, ok := w.c.Reference(raw); ok {
			w.set(key, referenceText(ref), true)
			return
		}
		// A type that hides its value when printed (webhook.SecretKey) and a key named like a
		// secret hold one written inline: nothing of it is kept.
		if st, ok := v.Interface().(fmt.Stringer); (ok && st.String() != v.String()) || isSecretName(key) {
			w.set(key, inlineSecret, true)
			return
		}
		w.scalar(raw, key, v.String())
	case reflect.Bool:
		w.scalar(raw, key, strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.scalar(raw, key, strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.scalar(raw, key, strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		w.scalar(raw, key, strconv.FormatFloat(v.Float(), 'g', -1, 64))
	}
}

// stringList records a list of strings as one value, sorted: the lists of a config are sets
// of names (members, groups, domains), whose order means nothing.
func (w *walker) stringList(v reflect.Value, raw, key string) {
	items := make([]string, 0, v.Len())
	secret := false
	for i := range v.Len() {
		p := fmt.Sprintf("%s[%d]", raw, i)
		if ref, ok := w.c.Reference(p); ok {
			items, secret = append(items, referenceText(ref)), true
			continue
		}
		s, redacted := w.redact(v.Index(i).String())
		items, secret = append(items, s), secret || redacted
	}
	if len(items) == 0 {
		return
	}
	slices.Sort(items)
	w.set(key, strings.Join(items, ", "), secret)
}

func (w *walker) scalar(raw, key, val string) {
	if ref, ok := w.c.Reference(raw); ok {
		w.set(key, referenceText(ref), true)
		return
	}
	val, secret := w.redact(val)
	w.set(key, val, secret)
}

func (w *walker) set(key, val string, secret bool) {
	w.s.Values[key] = val
	if secret {
		w.s.Secrets[key] = true
	}
}

// redact hides what may be secret in a value no reference brought in: a value that holds one
// that a reference did elsewhere, and a URL's inline password.
func (w *walker) redact(val string) (string, bool) {
	for _, s := range w.secrets {
		if s != "" && strings.Contains(val, s) {
			return "(redacted)", true
		}
	}
	if inlinePassword.MatchString(val) {
		return inlineSecret, true
	}
	if strings.Contains(val, "://") {
		if u, err := url.Parse(val); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return u.Redacted(), true
			}
		}
	}
	return val, false
}

// withDefault is a ${NAME:-default} reference: its default is written in the file and may be
// a secret itself, so the snapshot keeps only the name.
var withDefault = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):-[^}]*\}`)

// referenceText is a value's text before expansion with every default left out.
func referenceText(ref string) string { return withDefault.ReplaceAllString(ref, "$${$1:-…}") }

// itemName is a list item's name when it has one (a resource, a sink), else its index: a
// resource moved in the file is the same resource.
func itemName(v reflect.Value, i int) string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return strconv.Itoa(i)
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Name"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			return f.String()
		}
	}
	return strconv.Itoa(i)
}

// secretName matches the last element of a key that names a secret.
var secretName = regexp.MustCompile(`(?i)(^|[._-])(secret|password|passwd|token|private[-_]?key|api[-_]?key|authorization|credentials?)[^.]*$`)

// isSecretName reports whether key names a secret, not where one is kept (a token_url, a
// password_file).
func isSecretName(key string) bool {
	if !secretName.MatchString(key) {
		return false
	}
	for _, where := range []string{"_url", "_file", "_path", "_env"} {
		if strings.HasSuffix(key, where) {
			return false
		}
	}
	return true
}

// inlinePassword finds a password in a key=value connection string ("host=db password=...").
var inlinePassword = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// inlineSecret stands for a secret written into the file itself, which no reference names.
const inlineSecret = "(inline secret)"

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinRaw joins as the config decoder does, so Config.Reference finds the path.
func joinRaw(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
