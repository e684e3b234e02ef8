package adapters

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/rs/zerolog"
)

// Config is one adapter type's configuration block. The config loader decodes a resource's
// `adapter:` block strictly into the value Type.NewConfig returns (exported fields with `yaml`
// tags; unknown keys are errors), then calls Validate, then New.
type Config interface {
	// Validate checks the decoded values without contacting the target.
	Validate() error
	// New builds the adapter. It must not contact the target either: health is checked later
	// through Checker.
	New(env Env) (Adapter, error)
}

// Env is what an adapter gets from accessbot when it is built.
type Env struct {
	// Resource is the name of the resource the adapter serves.
	Resource string
	// Log is the adapter's logger, already tagged with the resource.
	Log zerolog.Logger
	// PublicKeys, when set, gives adapters that sign or install a person's public keys (sshcert)
	// the keys people registered in chat (`/access ssh-key add`). It is optional: nil until the
	// bot provides a store, and adapters then fall back to keys from their own config.
	PublicKeys PublicKeySource
}

// PublicKeySource returns the public keys a person registered, in authorized_keys format (one
// key per string), the preferred key first. subjectID is Subject.ID. No keys is an empty slice
// and a nil error; an error marked Permanent is passed on as such, any other error is treated as
// retryable.
type PublicKeySource interface {
	PublicKeys(ctx context.Context, subjectID string) ([]string, error)
}

// PublicKeySources merges sources into one: a person's keys from each source in turn (the first
// source's first, so its preferred key stays preferred), without repeating a key. Nil sources
// are skipped; with none left it returns nil, so adapters fall back to their own config. An
// error from any source is returned as it is (a Permanent one stays permanent): keys are never
// signed from a partial answer.
func PublicKeySources(sources ...PublicKeySource) PublicKeySource {
	var m mergedKeys
	for _, s := range sources {
		if s != nil {
			m = append(m, s)
		}
	}
	switch len(m) {
	case 0:
		return nil
	case 1:
		return m[0]
	}
	return m
}

type mergedKeys []PublicKeySource

func (m mergedKeys) PublicKeys(ctx context.Context, subjectID string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range m {
		keys, err := s.PublicKeys(ctx, subjectID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// Type is one kind of adapter, registered by name.
type Type struct {
	// Name is what a resource's `adapter: {type: ...}` says.
	Name string
	// Doc is a one-line description for `accessbot config validate` and the README.
	Doc string
	// NewConfig returns a pointer to a new config with its defaults filled in. It has no side
	// effects.
	NewConfig func() Config
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Type{}
)

// Register adds an adapter type. It is called from init() and panics on a duplicate or empty
// name, which is a programming error.
func Register(t Type) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if t.Name == "" || t.NewConfig == nil {
		panic("adapters: Register needs a name and NewConfig")
	}
	if _, dup := registry[t.Name]; dup {
		panic(fmt.Sprintf("adapters: type %q registered twice", t.Name))
	}
	registry[t.Name] = t
}

// Lookup returns the adapter type registered under name.
func Lookup(name string) (Type, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	t, ok := registry[name]
	return t, ok
}

// Types returns the registered type names, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PathResolver is implemented by an adapter Config with keys that name files (a CA file, a
// program to run): the config loader calls ResolvePaths with the config file's directory after
// decoding and before Validate, so a relative path means relative to the config file, not to
// the working directory accessbot happens to run in.
type PathResolver interface {
	ResolvePaths(dir string)
}
