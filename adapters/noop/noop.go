// Package noop is the "noop" adapter: it grants and revokes nothing anywhere and only remembers,
// in memory, what it was asked to grant. It exists for trials of accessbot without a real target
// and for benchmarks of the grants machinery; it must never guard real access.
package noop

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/accessbot/accessbot/adapters"
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "noop",
		Doc:       "grants nothing, remembers grants in memory; for trials and benchmarks only",
		NewConfig: func() adapters.Config { return &Config{} },
	})
}

// Config is the noop adapter's configuration block; it has no keys.
type Config struct{}

// Validate accepts the empty block.
func (c *Config) Validate() error { return nil }

// New builds a Noop.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) { return New(), nil }

// Noop remembers active grants in memory. It is safe for concurrent use.
type Noop struct {
	mu     sync.Mutex
	active map[string]entry // by grant ID
}

type entry struct {
	subject adapters.Subject
	expires time.Time
}

// New returns an empty Noop.
func New() *Noop { return &Noop{active: map[string]entry{}} }

// Grant records the grant. Granting the same grant ID again replaces the record.
func (n *Noop) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	if err := ctx.Err(); err != nil {
		return adapters.Lease{}, adapters.RetryableError(fmt.Errorf("grant %s: %w", req.GrantID, err))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.active[req.GrantID] = entry{subject: req.Subject, expires: req.Expires}
	return adapters.Lease{Data: map[string]string{"account": req.Subject.Account}}, nil
}

// Revoke forgets the grant; forgetting one it never had is success.
func (n *Noop) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	if err := ctx.Err(); err != nil {
		return adapters.RetryableError(fmt.Errorf("revoke %s: %w", req.GrantID, err))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.active, req.GrantID)
	return nil
}

// Extend moves the remembered expiry of a grant it has.
func (n *Noop) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return adapters.RetryableError(fmt.Errorf("extend %s: %w", req.GrantID, err))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.active[req.GrantID]
	if !ok {
		return adapters.Permanentf("extend %s: no such grant", req.GrantID)
	}
	e.expires = expires
	n.active[req.GrantID] = e
	return nil
}

// List returns the remembered grants, sorted by grant ID.
func (n *Noop) List(ctx context.Context) ([]adapters.Access, error) {
	if err := ctx.Err(); err != nil {
		return nil, adapters.RetryableError(fmt.Errorf("list: %w", err))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]adapters.Access, 0, len(n.active))
	for id, e := range n.active {
		out = append(out, adapters.Access{Account: e.subject.Account, Detail: "noop", GrantID: id})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GrantID < out[j].GrantID })
	return out, nil
}

// Has reports whether grantID is active for subject. It is the "target" the conformance kit asks.
func (n *Noop) Has(subject adapters.Subject, grantID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.active[grantID]
	return ok && e.subject.Account == subject.Account
}

var (
	_ adapters.Adapter  = (*Noop)(nil)
	_ adapters.Lister   = (*Noop)(nil)
	_ adapters.Extender = (*Noop)(nil)
	_ adapters.Config   = (*Config)(nil)
)
