package tickets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// CheckKind is the kind of the checks Lookup makes.
const CheckKind = "ticket"

// What a failing check does (Policy.OnFailure).
const (
	OnFailureRefuse = "refuse"
	OnFailureFlag   = "flag"
)

// Attrs of a ticket check (grants.Check.Attrs): what rules, comments and the closer read.
const (
	AttrSystem   = "system"
	AttrStatus   = "status"
	AttrPriority = "priority"
	AttrProject  = "project"
	AttrAssignee = "assignee"
	AttrClosed   = "closed"
)

// Policy is a resource's `ticket:` policy.
type Policy struct {
	// System names the tickets.systems entry the tickets are in.
	System string
	// Pattern finds the ticket key in a request's reason (the first match is the key).
	Pattern *regexp.Regexp
	// MustBeOpen: the ticket must not be closed.
	MustBeOpen bool
	// AssignedToRequester: the ticket must be assigned to the person asking.
	AssignedToRequester bool
	// Projects and Priorities, when not empty, are what the ticket's project and priority
	// must be one of (compared without case).
	Projects, Priorities []string
	// OnFailure is OnFailureRefuse (the default) or OnFailureFlag (the approval card shows
	// the problem; approvers decide).
	OnFailure string
	// EndWithTicket: grants of the resource are revoked when their ticket closes (Closer).
	EndWithTicket bool
}

// Lookup is the grants.Lookup of kind "ticket": it applies each resource's Policy to a request,
// reading the ticket its reason names.
type Lookup struct {
	systems  map[string]System
	policies map[string]Policy
}

// NewLookup returns the Lookup of the policies (by resource name) over the systems.
func NewLookup(systems []System, policies map[string]Policy) (*Lookup, error) {
	l := &Lookup{systems: map[string]System{}, policies: map[string]Policy{}}
	for _, s := range systems {
		l.systems[s.Name()] = s
	}
	for res, p := range policies {
		if _, ok := l.systems[p.System]; !ok {
			return nil, fmt.Errorf("resource %s: ticket system %q is not configured", res, p.System)
		}
		if p.Pattern == nil {
			return nil, fmt.Errorf("resource %s: no ticket pattern", res)
		}
		if p.OnFailure == "" {
			p.OnFailure = OnFailureRefuse
		}
		l.policies[res] = p
	}
	return l, nil
}

// Kind implements grants.Lookup.
func (l *Lookup) Kind() string { return CheckKind }

// Applies implements grants.Lookup: resources with a ticket policy.
func (l *Lookup) Applies(r *grants.Resource) bool {
	_, ok := l.policies[r.Name]
	return ok
}

// Policy returns a resource's ticket policy.
func (l *Lookup) Policy(resource string) (Policy, bool) {
	p, ok := l.policies[resource]
	return p, ok
}

// System returns a configured system by name.
func (l *Lookup) System(name string) (System, bool) {
	s, ok := l.systems[name]
	return s, ok
}

// keyOf reports whether key, whole, matches the pattern of a policy on the system.
func (l *Lookup) keyOf(system, key string) bool {
	for _, p := range l.policies {
		if p.System == system && p.Pattern.FindString(key) == key {
			return true
		}
	}
	return false
}

// answerMargin is how long before the lookups' deadline Lookup stops waiting for the system,
// so that its own "could not be checked" (naming the ticket) is what approvers see rather than
// the Service's anonymous timeout.
const answerMargin = 100 * time.Millisecond

// Lookup implements grants.Lookup. A reason that names no ticket and a ticket that does not
// exist refuse the request whatever OnFailure says: the requester fixes the reason. A system that
// cannot be asked gives an unknown check: never a refusal, never a pass.
func (l *Lookup) Lookup(ctx context.Context, q grants.LookupQuery) (grants.LookupResult, error) {
	p, ok := l.policies[q.Resource.Name]
	if !ok {
		return grants.LookupResult{}, nil
	}
	sys := l.systems[p.System]
	label := systemLabel(sys)
	key := p.Pattern.FindString(q.Reason)
	if key == "" || !ValidKey(key) {
		problem := fmt.Sprintf("The reason names no %s ticket (a key like %s).", label, p.Pattern.String())
		return grants.LookupResult{
			Checks: []grants.Check{{Kind: CheckKind, Status: grants.CheckFailed, Problem: problem,
				Attrs: map[string]string{AttrSystem: p.System}}},
			Refuse: fmt.Sprintf("%s needs a %s ticket in the reason: name one matching %s.", q.Resource.Name, label, p.Pattern.String()),
		}, nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*answerMargin {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-answerMargin))
		defer cancel()
	}
	t, err := sys.Get(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		problem := fmt.Sprintf("%s does not exist in %s.", key, label)
		return grants.LookupResult{
			Checks: []grants.Check{{Kind: CheckKind, Subject: key, Status: grants.CheckFailed, Problem: problem,
				Attrs: map[string]string{AttrSystem: p.System}}},
			Refuse: problem,
		}, nil
	case err != nil:
		why := "no answer in time"
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			why = err.Error()
		}
		return grants.LookupResult{Checks: []grants.Check{{
			Kind: CheckKind, Subject: key, Status: grants.CheckUnknown,
			Problem: fmt.Sprintf("%s could not be checked in %s: %s.", key, label, why),
			Attrs:   map[string]string{AttrSystem: p.System},
		}}}, nil
	}
	c := grants.Check{
		Kind: CheckKind, Subject: t.Key, Status: grants.CheckPassed, URL: t.URL,
		Summary: summary(t),
		Attrs: map[string]string{
			AttrSystem: p.System, AttrStatus: t.Status, AttrPriority: t.Priority, AttrProject: t.Project,
			AttrAssignee: t.Assignee, AttrClosed: fmt.Sprint(t.Closed),
		},
	}
	problems := p.problems(t, q.Requester)
	if len(problems) == 0 {
		return grants.LookupResult{Checks: []grants.Check{c}}, nil
	}
	c.Status = grants.CheckFailed
	c.Problem = t.Key + " " + strings.Join(problems, ", ") + "."
	res := grants.LookupResult{Checks: []grants.Check{c}}
	if p.OnFailure == OnFailureRefuse {
		res.Refuse = c.Problem
	}
	return res, nil
}

// problems lists what the ticket fails of the policy, as phrases after its key.
func (p Policy) problems(t Ticket, requester grants.Actor) []string {
	var out []string
	if p.MustBeOpen && t.Closed {
		out = append(out, fmt.Sprintf("is closed (%s)", t.Status))
	}
	if len(p.Projects) > 0 && !containsFold(p.Projects, t.Project) {
		out = append(out, fmt.Sprintf("is in %s, not in %s", orNone(t.Project), strings.Join(p.Projects, " or ")))
	}
	if len(p.Priorities) > 0 && !containsFold(p.Priorities, t.Priority) {
		out = append(out, fmt.Sprintf("has priority %s, not %s", orNone(t.Priority), strings.Join(p.Priorities, " or ")))
	}
	if p.AssignedToRequester && !assignedTo(t, requester) {
		who := t.AssigneeName
		if who == "" {
			who = t.Assignee
		}
		if who == "" {
			out = append(out, "is assigned to nobody, not to you")
		} else {
			out = append(out, fmt.Sprintf("is assigned to %s, not to you", who))
		}
	}
	return out
}

// assignedTo reports whether the ticket's assignee is the person: by email (or ID, an email).
func assignedTo(t Ticket, a grants.Actor) bool {
	if t.Assignee == "" {
		return false
	}
	return strings.EqualFold(t.Assignee, a.Email) || strings.EqualFold(t.Assignee, a.ID)
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// summary is the ticket in one line for approvers: "In Progress · P1 · Database down".
func summary(t Ticket) string {
	parts := []string{t.Status}
	if t.Priority != "" {
		parts = append(parts, t.Priority)
	}
	if t.Summary != "" {
		s := t.Summary
		if r := []rune(s); len(r) > 120 {
			s = string(r[:120]) + "…"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " · ")
}

// systemLabel is how people read a system's kind.
func systemLabel(s System) string {
	switch s.Kind() {
	case KindJira:
		return "Jira"
	case KindServiceNow:
		return "ServiceNow"
	}
	return s.Name()
}

var _ grants.Lookup = (*Lookup)(nil)
