package audit

import (
	"maps"
	"slices"
)

// ConfigChanged records how the policy in force differs from the one at the last start: the
// semantic diff of two redacted config snapshots (config/policyaudit), written once per change
// whatever the number of replicas that start with it (ConfigChangedData).
const ConfigChanged = "config.changed"

// Keys of config.changed.
const (
	KeyInitial        = "initial"
	KeyChanges        = "changes"
	KeySnapshotSHA256 = "snapshot_sha256"
)

// Operations of a ConfigChange.
const (
	ConfigOpAdded   = "added"
	ConfigOpRemoved = "removed"
	ConfigOpChanged = "changed"
)

// ConfigChange is one key of the config that was added, removed or changed. Key is a semantic
// path: resources by name ("resources.prod-db.policy.approvals"), lists of names as one sorted
// value, and "policy.<resource>.<field>" for the effective policy a resource ends up with.
type ConfigChange struct {
	Key string `json:"key"`
	// Op is ConfigOpAdded, ConfigOpRemoved or ConfigOpChanged.
	Op string `json:"op"`
	// Old and New are the values before and after; both are empty when Secret.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Secret says the key's value came from a ${...} reference (or holds a value one brought
	// in): neither value is ever recorded, only that it changed.
	Secret bool `json:"secret,omitempty"`
}

// String is the change as a digest line shows it: "changed (secret)" for a secret.
func (c ConfigChange) String() string {
	switch {
	case c.Secret:
		return c.Key + ": " + c.Op + " (secret)"
	case c.Op == ConfigOpAdded:
		return c.Key + ": added " + quoteValue(c.New)
	case c.Op == ConfigOpRemoved:
		return c.Key + ": removed (was " + quoteValue(c.Old) + ")"
	default:
		return c.Key + ": " + quoteValue(c.Old) + " → " + quoteValue(c.New)
	}
}

func quoteValue(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// ConfigChangedData is the payload of config.changed.
type ConfigChangedData struct {
	// Initial is true for the first start that recorded a snapshot: Changes then list every
	// key as added, so the log holds the whole policy from its first start on.
	Initial bool
	// SnapshotSHA256 is the hex hash of the redacted snapshot now in force (it holds no secret,
	// so neither does its hash).
	SnapshotSHA256 string
	// ConfigSHA256 is the hash of the config file before ${...} expansion, as config.loaded has.
	ConfigSHA256 string
	Changes      []ConfigChange
}

// EventType implements Payload.
func (ConfigChangedData) EventType() string { return ConfigChanged }

func (p ConfigChangedData) encode(w *dataWriter) {
	w.flag(KeyInitial, p.Initial)
	w.str(KeySnapshotSHA256, p.SnapshotSHA256)
	w.opt(KeyConfigSHA256, p.ConfigSHA256)
	w.json(KeyChanges, p.Changes, len(p.Changes))
}

func (p *ConfigChangedData) decode(r *dataReader) {
	p.Initial, p.SnapshotSHA256, p.ConfigSHA256 = r.flag(KeyInitial), r.str(KeySnapshotSHA256), r.str(KeyConfigSHA256)
	r.json(KeyChanges, &p.Changes)
}

// ApplyConfigChanges returns the snapshot (key → value) that results from applying changes to
// in, which it does not modify. A secret key keeps an empty value: the log never holds one.
// Folding an initial config.changed and every one after it gives the policy in force at any
// point of the log, which is how a report shows the policy of its period.
func ApplyConfigChanges(in map[string]string, changes []ConfigChange) map[string]string {
	out := maps.Clone(in)
	if out == nil {
		out = map[string]string{}
	}
	for _, c := range changes {
		v := c.New
		if c.Secret {
			v = "(secret)"
		}
		if c.Op == ConfigOpRemoved {
			delete(out, c.Key)
			continue
		}
		out[c.Key] = v
	}
	return out
}

// SortedKeys returns m's keys in order, for showing a snapshot.
func SortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
