package noop_test

import (
	"testing"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/noop"
)

func TestNoopPassesTheConformanceKit(t *testing.T) {
	n := noop.New()
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: n,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			return n.Has(s, grantID)
		},
		Lister: true,
	})
}

func TestNoopIsRegisteredAndBuildsFromItsConfig(t *testing.T) {
	typ, ok := adapters.Lookup("noop")
	if !ok {
		t.Fatal("noop is not registered")
	}
	cfg := typ.NewConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := cfg.New(adapters.Env{Resource: "trial"})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if _, ok := a.(*noop.Noop); !ok {
		t.Fatalf("New returned %T, want *noop.Noop", a)
	}
}
