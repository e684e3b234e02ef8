package adapters

import (
	"slices"
	"strings"
	"testing"
)

type testConfig struct{}

func (testConfig) Validate() error          { return nil }
func (testConfig) New(Env) (Adapter, error) { return nil, nil }
func newTestConfig() Config                 { return testConfig{} }

// register adds a type for one test and removes it afterwards, so tests do not leak types into
// each other through the package registry.
func register(t *testing.T, name string) {
	t.Helper()
	Register(Type{Name: name, Doc: "test type", NewConfig: newTestConfig})
	t.Cleanup(func() {
		registryMu.Lock()
		defer registryMu.Unlock()
		delete(registry, name)
	})
}

func TestRegisterPanicsOnAProgrammingError(t *testing.T) {
	register(t, "test-dup")
	tests := []struct {
		name      string
		typ       Type
		wantPanic string
	}{
		{"a duplicate name panics", Type{Name: "test-dup", NewConfig: newTestConfig}, `"test-dup" registered twice`},
		{"an empty name panics", Type{NewConfig: newTestConfig}, "needs a name"},
		{"a missing NewConfig panics", Type{Name: "test-nocfg"}, "needs a name and NewConfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("Register did not panic")
				}
				if msg, _ := r.(string); !strings.Contains(msg, tt.wantPanic) {
					t.Fatalf("panic = %v, want it to mention %q", r, tt.wantPanic)
				}
			}()
			Register(tt.typ)
		})
	}
	if _, ok := Lookup("test-nocfg"); ok {
		t.Error("a refused type was registered anyway")
	}
}

func TestLookupFindsOnlyRegisteredTypes(t *testing.T) {
	register(t, "test-lookup")
	typ, ok := Lookup("test-lookup")
	if !ok {
		t.Fatal("Lookup did not find a registered type")
	}
	if typ.Name != "test-lookup" || typ.Doc != "test type" {
		t.Errorf("Lookup = %+v, want the registered type", typ)
	}
	if _, ok := typ.NewConfig().(testConfig); !ok {
		t.Errorf("NewConfig returned %T, want the registered constructor's config", typ.NewConfig())
	}
	if _, ok := Lookup("test-never-registered"); ok {
		t.Error("Lookup found a type that was never registered")
	}
}

func TestTypesListsRegisteredNamesSorted(t *testing.T) {
	register(t, "test-zeta")
	register(t, "test-alpha")
	names := Types()
	if !slices.IsSorted(names) {
		t.Errorf("Types = %v, not sorted", names)
	}
	for _, want := range []string{"test-alpha", "test-zeta"} {
		if !slices.Contains(names, want) {
			t.Errorf("Types = %v, missing %s", names, want)
		}
	}
}
