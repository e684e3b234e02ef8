package grants_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// holdingAdapter is a fake adapter whose target reports standing access for some accounts.
type holdingAdapter struct {
	*gt.FakeAdapter
	mu   sync.Mutex
	held map[string]bool
	err  error
}

func (a *holdingAdapter) Holds(_ context.Context, s adapters.Subject) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[s.Account], a.err
}

var _ adapters.Holder = (*holdingAdapter)(nil)

// Issue 21: a person who was a member of the role before asking got a grant, and its
// revocation took the standing membership away. Now the request is answered that the person
// has the access already, and nothing reaches the target.
func TestARequestForAccessHeldAlreadyIsAnsweredSo(t *testing.T) {
	fake := &holdingAdapter{FakeAdapter: gt.NewFakeAdapter(), held: map[string]bool{"alice": true}}
	r := gt.DefaultResource()
	r.Adapter = fake
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})

	for _, tc := range []struct {
		name string
		ask  func() (grants.Outcome, error)
	}{
		{"a request", func() (grants.Outcome, error) { return ask(h, gt.Alice, "prod-db") }},
		{"a break-glass request, which would grant at once", func() (grants.Outcome, error) {
			return h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-7 outage"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.ask()
			ge := wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyHeld)
			if !strings.Contains(ge.Message, "You already have this access") || ge.Details["account"] != "alice" {
				t.Errorf("refusal %q %v, want it to say she has the access already, as alice", ge.Message, ge.Details)
			}
			refused := h.AuditEvents(audit.Filter{}, audit.RequestRefused)
			if len(refused) == 0 || refused[len(refused)-1].Data["refused"] != grants.ReasonAlreadyHeld {
				t.Errorf("request.refused events %+v, want the last refused %s", refused, grants.ReasonAlreadyHeld)
			}
		})
	}
	h.RunDue()
	if calls := fake.Calls(); len(calls) != 0 {
		t.Fatalf("the target saw %+v for access the person held already", calls)
	}
	reqs, err := h.Service.ListRequests(h.Ctx, grants.RequestFilter{Requester: gt.Alice.ID})
	if err != nil || len(reqs) != 0 {
		t.Fatalf("requests %+v, %v; want none stored", reqs, err)
	}

	// Someone without standing access asks as usual.
	if _, err := ask(h, gt.Dave, "prod-db"); err != nil {
		t.Fatalf("a person without standing access: %v", err)
	}
}

// A target that cannot say does not block the request: the adapter leaves standing access in
// place on revoke all the same.
func TestARequestGoesOnWhenTheTargetCannotSayWhetherItIsHeld(t *testing.T) {
	fake := &holdingAdapter{FakeAdapter: gt.NewFakeAdapter(), held: map[string]bool{"alice": true}, err: errors.New("connection refused")}
	r := gt.DefaultResource()
	r.Adapter = fake
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	if _, err := ask(h, gt.Alice, "prod-db"); err != nil {
		t.Fatalf("request: %v", err)
	}
}
