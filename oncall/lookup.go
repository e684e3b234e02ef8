package oncall

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/accessbot/accessbot/grants"
)

// Lookup is the on-call check of a new request (grants.Lookup, kind "oncall"): for each rota
// among the resource's approver groups, who is on call now (the card shows them and calls on
// them; when the requester is the one on call at an escalation level, the next level), and,
// for the rules, the configured rotas the requester is on call on.
type Lookup struct {
	rotas *Rotas
}

// NewLookup builds the on-call Lookup.
func NewLookup(rotas *Rotas) *Lookup { return &Lookup{rotas: rotas} }

// Kind implements grants.Lookup.
func (*Lookup) Kind() string { return grants.CheckKindOnCall }

// Applies implements grants.Lookup: the resource's approvers include a rota, or one of its
// rules asks whether the requester is on call.
func (l *Lookup) Applies(r *grants.Resource) bool {
	if len(approverRotas(r)) > 0 {
		return true
	}
	p := r.Policy
	for _, rule := range []*grants.Rule{p.AutoApprove, requireRule(p)} {
		if rule != nil && strings.Contains(rule.Source, "oncall") {
			return true
		}
	}
	return false
}

func requireRule(p grants.Policy) *grants.Rule {
	if p.RequireApprovals == nil {
		return nil
	}
	return p.RequireApprovals.When
}

// approverRotas are the rotas among the resource's approver groups (malformed names are
// refused by config validate, and skipped here).
func approverRotas(r *grants.Resource) []Rota {
	var out []Rota
	for _, g := range r.Policy.ApproverGroups {
		if !IsRotaGroup(g) {
			continue
		}
		if rota, err := ParseRota(g); err == nil {
			out = append(out, rota)
		}
	}
	return out
}

// Lookup implements grants.Lookup. A rota that could not be asked makes its check unknown
// (shown as "not checked"; no auto-approval), and the requester is then not on call for the
// rules.
func (l *Lookup) Lookup(ctx context.Context, q grants.LookupQuery) (grants.LookupResult, error) {
	requester := grants.CanonicalPerson(q.Requester.ID)
	if q.Requester.Email != "" {
		requester = grants.CanonicalPerson(q.Requester.Email)
	}
	l.rotas.prefetch(ctx, append(approverRotas(q.Resource), l.rotas.rotas...))
	var checks []grants.Check
	for _, r := range approverRotas(q.Resource) {
		checks = append(checks, l.rotaCheck(ctx, r, requester))
	}
	on, err := l.rotas.RequesterOnCall(ctx, requester)
	self := grants.Check{Kind: grants.CheckKindOnCall, Subject: "requester", Status: grants.CheckPassed,
		Attrs: map[string]string{grants.CheckAttrRequesterOnCall: strings.Join(on, " ")}}
	switch {
	case err != nil:
		self.Status = grants.CheckUnknown
		self.Problem = fmt.Sprintf("Whether the requester is on call could not be checked: %s.", Explain(err))
	case len(on) > 0:
		self.Summary = "The requester is on call for " + strings.Join(on, ", ")
	default:
		self.Summary = "The requester is not on call"
	}
	if err != nil || len(checks) == 0 {
		return grants.LookupResult{Checks: append(checks, self)}, nil
	}
	// The approver rotas' checks carry the answer for the rules; a card needs no extra line.
	for i := range checks {
		if checks[i].Attrs == nil {
			checks[i].Attrs = map[string]string{}
		}
		checks[i].Attrs[grants.CheckAttrRequesterOnCall] = self.Attrs[grants.CheckAttrRequesterOnCall]
	}
	return grants.LookupResult{Checks: checks}, nil
}

// rotaCheck is one approver rota's check: who is on call for the request.
func (l *Lookup) rotaCheck(ctx context.Context, r Rota, requester string) grants.Check {
	c := grants.Check{Kind: grants.CheckKindOnCall, Subject: r.String(), Status: grants.CheckPassed}
	people, next, err := l.rotas.ForRequest(ctx, r, requester)
	if err != nil {
		c.Status = grants.CheckUnknown
		c.Problem = fmt.Sprintf("Who is on call could not be checked: %s.", Explain(err))
		return c
	}
	names := make([]string, 0, len(people))
	for _, sh := range people {
		names = append(names, sh.Display())
		c.Notify = append(c.Notify, sh.PersonID())
	}
	sort.Strings(c.Notify)
	switch {
	case len(people) == 0 && next:
		c.Summary = fmt.Sprintf("nobody but the requester (no one at level %d)", r.Level+1)
	case len(people) == 0:
		c.Summary = "nobody"
	case next:
		c.Summary = fmt.Sprintf("%s (level %d: the requester is on call at level %d)", strings.Join(names, ", "), r.Level+1, r.Level)
	default:
		c.Summary = strings.Join(names, ", ")
	}
	c.Attrs = map[string]string{"on_call": strings.Join(c.Notify, " ")}
	return c
}

var _ grants.Lookup = (*Lookup)(nil)

// RotasOf returns every rota the resources' policies and the alerts name, once each, in the
// order they are first named: approver groups, then rules' oncall_for.
func RotasOf(resources []*grants.Resource, alerts []grants.AlertRule) []Rota {
	var out []Rota
	seen := map[Rota]bool{}
	add := func(name string) {
		if r, err := ParseRota(name); err == nil && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, res := range resources {
		for _, g := range res.Policy.ApproverGroups {
			if IsRotaGroup(g) {
				add(g)
			}
		}
		for _, g := range res.Policy.RequesterGroups {
			if IsRotaGroup(g) {
				add(g)
			}
		}
		for _, rule := range []*grants.Rule{res.Policy.AutoApprove, requireRule(res.Policy)} {
			if rule != nil {
				for _, name := range rule.OnCallRotas {
					add(name)
				}
			}
		}
	}
	for _, a := range alerts {
		if a.When != nil {
			for _, name := range a.When.OnCallRotas {
				add(name)
			}
		}
	}
	return out
}
