package grants

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// The outside checks of a request: facts a request is checked against when it is made, held by
// systems other than accessbot — the ticket its reason names (is it open, whose is it), who is
// on call. A Lookup makes them; the Service runs every Lookup with one deadline, stores what they
// found on the request (Request.Checks: the approval card shows it on every redraw), records it
// in request.created, and lets the policy's rules see it. A check that could not be made
// (CheckUnknown: an outage, a timeout) is shown for what it is and never lets a request through:
// a request with any check that did not pass is never auto-approved, whatever the rule says.

// CheckStatus says how one outside check came out.
type CheckStatus string

const (
	// CheckPassed: looked up, and the request meets it.
	CheckPassed CheckStatus = "passed"
	// CheckFailed: looked up, and the request does not meet it (the ticket is closed, the
	// requester is not on call). Shown on the approval card; the Lookup may also refuse.
	CheckFailed CheckStatus = "failed"
	// CheckUnknown: the system could not be asked in time (down, slow, refusing accessbot).
	CheckUnknown CheckStatus = "unknown"
)

// Check is one outside check of a request, as stored with it and shown to approvers.
type Check struct {
	// Kind names the check: [a-z][a-z0-9_]* ("ticket", "oncall").
	Kind string `json:"kind"`
	// Subject is what was looked up: a ticket key, a schedule.
	Subject string      `json:"subject,omitempty"`
	Status  CheckStatus `json:"status"`
	// Summary is one line for approvers: "Open · P1 · Database down", "On call: Alice".
	Summary string `json:"summary,omitempty"`
	// URL links to what was looked up (the ticket), when it has one.
	URL string `json:"url,omitempty"`
	// Problem says what failed or could not be checked, in a sentence; empty when passed.
	Problem string `json:"problem,omitempty"`
	// Attrs are the facts found, for rules and the audit log (status, priority, project...).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Notify are person IDs the approval message should call on (the people on call).
	Notify []string `json:"notify,omitempty"`
}

// LookupQuery is what a Lookup learns of a request being made.
type LookupQuery struct {
	Requester Actor
	Resource  *Resource
	Kind      RequestKind
	Duration  time.Duration
	Reason    string
	Now       time.Time
}

// LookupResult is what a Lookup found.
type LookupResult struct {
	Checks []Check
	// Refuse, when not empty, refuses the request with this sentence (a ticket policy that
	// refuses rather than flags). It is shown to the requester and recorded.
	Refuse string
}

// Lookup makes the outside checks of one kind. It answers by ctx's deadline; an error means the
// check could not be made, and the Service records it as CheckUnknown under Kind.
type Lookup interface {
	// Kind names the checks it makes ([a-z][a-z0-9_]*).
	Kind() string
	// Applies reports whether the resource's requests are checked at all: a Lookup with
	// nothing to check for a resource costs it nothing.
	Applies(r *Resource) bool
	Lookup(ctx context.Context, q LookupQuery) (LookupResult, error)
}

var checkKindRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// defaultLookupTimeout bounds all of a request's outside checks together: Slack and Discord
// want an answer within three seconds, and the request's own transaction comes after.
const defaultLookupTimeout = 2 * time.Second

// ReasonCheckFailed: an outside check refused the request (a ticket that is not open).
const ReasonCheckFailed = "check_failed"

// lookups runs every Lookup that applies to the request at once, each bounded by the lookup
// timeout, and returns the checks in Lookup order and the first refusal.
func (s *Service) lookups(ctx context.Context, q LookupQuery) ([]Check, string) {
	var run []Lookup
	for _, l := range s.lookupers {
		if l.Applies(q.Resource) {
			run = append(run, l)
		}
	}
	if len(run) == 0 {
		return nil, ""
	}
	ctx, cancel := context.WithTimeout(ctx, s.lookupTimeout)
	defer cancel()
	results := make([]LookupResult, len(run))
	var wg sync.WaitGroup
	for i, l := range run {
		wg.Go(func() { results[i] = s.lookupOne(ctx, l, q) })
	}
	wg.Wait()
	var checks []Check
	refuse := ""
	for _, res := range results {
		checks = append(checks, res.Checks...)
		if refuse == "" {
			refuse = res.Refuse
		}
	}
	return checks, refuse
}

// lookupOne runs one Lookup, turning an error, a panic-free early return past the deadline or
// a malformed answer into an unknown check, so that one system's outage is shown, not fatal.
func (s *Service) lookupOne(ctx context.Context, l Lookup, q LookupQuery) LookupResult {
	type answer struct {
		res LookupResult
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		res, err := l.Lookup(ctx, q)
		ch <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		// A Lookup that ignores its context does not hold the request up.
		a.err = ctx.Err()
	}
	if a.err == nil {
		for _, c := range a.res.Checks {
			if !checkKindRE.MatchString(c.Kind) {
				a.err = fmt.Errorf("check kind %q is not a name", c.Kind)
				break
			}
		}
	}
	if a.err != nil {
		s.log.Warn().Err(a.err).Str("check", l.Kind()).Str("resource", q.Resource.Name).
			Str("actor", q.Requester.ID).Msg("outside check could not be made; the request goes on without it")
		return LookupResult{Checks: []Check{{
			Kind: l.Kind(), Status: CheckUnknown,
			Problem: fmt.Sprintf("The %s check could not be made: %s.", l.Kind(), lookupErrorText(a.err)),
		}}}
	}
	return a.res
}

// lookupErrorText is an error as approvers may read it: a timeout said plainly.
func lookupErrorText(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

// allPassed reports whether every check passed (true for none): only then may a rule approve.
func allPassed(cs []Check) bool {
	for _, c := range cs {
		if c.Status != CheckPassed {
			return false
		}
	}
	return true
}

// auditChecks is how request.created records the checks; nil for none.
func auditChecks(cs []Check) []audit.RequestCheck {
	if len(cs) == 0 {
		return nil
	}
	out := make([]audit.RequestCheck, 0, len(cs))
	for _, c := range cs {
		out = append(out, audit.RequestCheck{
			Kind: c.Kind, Subject: c.Subject, Status: string(c.Status), Summary: c.Summary,
			URL: c.URL, Problem: c.Problem, Attrs: c.Attrs,
		})
	}
	return out
}
