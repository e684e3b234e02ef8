package grantstest

import (
	"context"
	"slices"
	"sort"

	"github.com/accessbot/accessbot/adapters"
)

// FakeLister is a FakeAdapter that can also list the access at its fake target (an
// adapters.Lister), for the standing-privilege scan. Holders added by hand stand for access
// granted outside accessbot; RevokeSilentlyFails plays a target whose revoke reports success
// and leaves the access in place.
type FakeLister struct {
	*FakeAdapter
	holders  []adapters.Access
	listErrs []error
	grantIDs bool
	attrib   bool
	keep     bool
	lists    int
	before   func(n int)
}

// NewFakeLister returns a FakeLister that succeeds at everything and lists, like PostgreSQL's
// membership mode, accounts without grant IDs.
func NewFakeLister() *FakeLister { return &FakeLister{FakeAdapter: NewFakeAdapter()} }

// AddHolder adds access granted by hand: account holds detail (a role) with no grant behind it.
func (f *FakeLister) AddHolder(account, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holders = append(f.holders, adapters.Access{Account: account, Detail: detail})
}

// AddHolderWithGrant adds access that names a grant, as targets that record the grant do.
func (f *FakeLister) AddHolderWithGrant(account, detail, grantID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holders = append(f.holders, adapters.Access{Account: account, Detail: detail, GrantID: grantID})
}

// RemoveHolder removes every hand-added holder with the account.
func (f *FakeLister) RemoveHolder(account string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holders = slices.DeleteFunc(f.holders, func(a adapters.Access) bool { return a.Account == account })
}

// FailList queues errors returned by the next List calls, one per call.
func (f *FakeLister) FailList(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErrs = append(f.listErrs, errs...)
}

// ReportGrantIDs makes List name the grant behind each granted access, as ephemeral PostgreSQL
// roles and Redis users do.
func (f *FakeLister) ReportGrantIDs(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grantIDs = on
}

// AttributeGrants makes the fake an adapters.Attributor that says every access it grants names
// its grant (use with ReportGrantIDs), as Kubernetes bindings and conditional IAM bindings do.
func (f *FakeLister) AttributeGrants(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attrib = on
}

// AttributesGrants implements adapters.Attributor.
func (f *FakeLister) AttributesGrants() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attrib
}

// RevokeSilentlyFails makes every later Revoke report success and leave the access in place.
func (f *FakeLister) RevokeSilentlyFails(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep = on
}

// BeforeList sets a hook called at the start of every List call with its number (from 1),
// outside the adapter's lock: a test can change the target between two listings there.
func (f *FakeLister) BeforeList(fn func(n int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.before = fn
}

// Lists returns how many List calls were made.
func (f *FakeLister) Lists() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// Revoke is FakeAdapter.Revoke, unless RevokeSilentlyFails is on.
func (f *FakeLister) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	f.mu.Lock()
	held, had := f.access[req.GrantID]
	keep := f.keep
	f.mu.Unlock()
	err := f.FakeAdapter.Revoke(ctx, req)
	if err == nil && keep && had {
		f.mu.Lock()
		f.access[req.GrantID] = held
		f.mu.Unlock()
	}
	return err
}

// List returns the access granted through the fake and the holders added by hand, by account.
func (f *FakeLister) List(ctx context.Context) ([]adapters.Access, error) {
	f.mu.Lock()
	f.lists++
	n, before := f.lists, f.before
	f.mu.Unlock()
	if before != nil {
		before(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.listErrs) > 0 {
		var err error
		err, f.listErrs = f.listErrs[0], f.listErrs[1:]
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := slices.Clone(f.holders)
	for id, s := range f.access {
		a := adapters.Access{Account: s.Account, Detail: "role fake_" + s.Account}
		if f.grantIDs {
			a.GrantID = id
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].GrantID < out[j].GrantID
	})
	return out, nil
}

var _ adapters.Lister = (*FakeLister)(nil)
