package grants_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// fakeLookup answers every request with what it is told, and counts its calls.
type fakeLookup struct {
	kind   string
	res    grants.LookupResult
	err    error
	block  bool // wait for the context to end, as a system that does not answer
	ignore bool // with block: ignore the context too, as a client without a deadline
	// release ends an ignoring Lookup when the test is over.
	release chan struct{}
	calls   int
	only    string // applies to this resource only, when set
}

func (f *fakeLookup) Kind() string { return f.kind }

func (f *fakeLookup) Applies(r *grants.Resource) bool { return f.only == "" || r.Name == f.only }

func (f *fakeLookup) Lookup(ctx context.Context, q grants.LookupQuery) (grants.LookupResult, error) {
	f.calls++
	if f.block {
		if f.ignore {
			<-f.release // no answer while the Service could wait for one
			return grants.LookupResult{}, nil
		}
		<-ctx.Done()
		return grants.LookupResult{}, ctx.Err()
	}
	return f.res, f.err
}

func passedTicket() grants.Check {
	return grants.Check{Kind: "ticket", Subject: "INC-7", Status: grants.CheckPassed,
		Summary: "In Progress · P1", Attrs: map[string]string{"status": "In Progress"}}
}

func autoResource(t *testing.T) *grants.Resource {
	t.Helper()
	rule, err := grants.CompileRule(`duration <= duration("1h")`)
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Policy.AutoApprove = rule
	return r
}

func TestOutsideChecksAreStoredRecordedAndGateAutoApproval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lookup   *fakeLookup
		auto     bool
		status   grants.CheckStatus
		problem  string
		timeout  time.Duration
		breakGls bool
	}{
		{"a check that passed lets the rule approve", &fakeLookup{kind: "ticket",
			res: grants.LookupResult{Checks: []grants.Check{passedTicket()}}}, true, grants.CheckPassed, "", 0, false},
		{"a check that failed leaves the request to approvers", &fakeLookup{kind: "ticket",
			res: grants.LookupResult{Checks: []grants.Check{{Kind: "ticket", Subject: "INC-7", Status: grants.CheckFailed, Problem: "INC-7 is closed."}}}},
			false, grants.CheckFailed, "INC-7 is closed.", 0, false},
		{"a system that is down is shown as not checked and never approves", &fakeLookup{kind: "oncall",
			err: errors.New("pagerduty answered 503")}, false, grants.CheckUnknown, "pagerduty answered 503", 0, false},
		{"a system that does not answer in time is not waited for", &fakeLookup{kind: "oncall", block: true},
			false, grants.CheckUnknown, "no answer in time", 20 * time.Millisecond, false},
		{"a lookup that ignores its deadline does not hold the request", &fakeLookup{kind: "oncall", block: true, ignore: true},
			false, grants.CheckUnknown, "no answer in time", 20 * time.Millisecond, false},
		{"a check with a kind that is not a name is not trusted", &fakeLookup{kind: "ticket",
			res: grants.LookupResult{Checks: []grants.Check{{Kind: "Ticket Check", Status: grants.CheckPassed}}}},
			false, grants.CheckUnknown, "is not a name", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.lookup.release = make(chan struct{})
			t.Cleanup(func() { close(tc.lookup.release) })
			h := gt.New(t, gt.Options{Resources: []*grants.Resource{autoResource(t)},
				Lookups: []grants.Lookup{tc.lookup}, LookupTimeout: tc.timeout})
			out := h.Request(gt.Alice, "prod-db", 30*time.Minute, "INC-7 looking")
			if out.AutoApproved != tc.auto {
				t.Fatalf("AutoApproved = %v, want %v", out.AutoApproved, tc.auto)
			}
			stored := h.StoredRequest(out.Request.ID).Checks
			if len(stored) != 1 || stored[0].Status != tc.status || !strings.Contains(stored[0].Problem, tc.problem) {
				t.Fatalf("stored checks %+v, want one %s check with problem %q", stored, tc.status, tc.problem)
			}
			if stored[0].Kind != tc.lookup.kind {
				t.Errorf("stored check kind %q, want %q", stored[0].Kind, tc.lookup.kind)
			}
			created := h.AuditEvents(audit.Filter{}, audit.RequestCreated)
			p, err := audit.Decode[audit.RequestCreatedData](created[len(created)-1])
			if err != nil || len(p.Checks) != 1 || p.Checks[0].Status != string(tc.status) || p.Checks[0].Problem != stored[0].Problem {
				t.Errorf("request.created checks %+v (%v), want the stored %+v", p.Checks, err, stored)
			}
		})
	}
}

func TestALookupRefusalRefusesTheRequestButNotBreakGlass(t *testing.T) {
	l := &fakeLookup{kind: "ticket", res: grants.LookupResult{
		Checks: []grants.Check{{Kind: "ticket", Subject: "INC-7", Status: grants.CheckFailed, Problem: "INC-7 is closed."}},
		Refuse: "INC-7 is closed; access to prod-db needs an open ticket.",
	}}
	h := gt.New(t, gt.Options{Lookups: []grants.Lookup{l}})
	_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-7"})
	var ge *grants.Error
	if !errors.As(err, &ge) || ge.Reason != grants.ReasonCheckFailed || !strings.Contains(ge.Message, "needs an open ticket") {
		t.Fatalf("request error %v, want a check_failed refusal naming the ticket", err)
	}
	refused := h.AuditEvents(audit.Filter{}, audit.RequestRefused)
	if len(refused) != 1 {
		t.Fatalf("%d request.refused events, want 1", len(refused))
	}
	if p, _ := audit.Decode[audit.RequestRefusedData](refused[0]); p.Refused != grants.ReasonCheckFailed {
		t.Errorf("refused for %q, want %q", p.Refused, grants.ReasonCheckFailed)
	}
	out, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-7 outage"})
	if err != nil || out.Grant == nil {
		t.Fatalf("break-glass %+v, %v: want a grant whatever the ticket says", out, err)
	}
	if cs := h.StoredRequest(out.Request.ID).Checks; len(cs) != 1 || cs[0].Status != grants.CheckFailed {
		t.Errorf("break-glass request checks %+v, want the failed ticket shown", cs)
	}
}

func TestALookupRunsOnlyForTheResourcesItApplies(t *testing.T) {
	other := gt.DefaultResource()
	other.Name = "staging-db"
	l := &fakeLookup{kind: "ticket", only: "staging-db", res: grants.LookupResult{Checks: []grants.Check{passedTicket()}}}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{gt.DefaultResource(), other}, Lookups: []grants.Lookup{l}})
	out := h.Request(gt.Alice, "prod-db", time.Hour, "INC-7")
	if l.calls != 0 || h.StoredRequest(out.Request.ID).Checks != nil {
		t.Errorf("prod-db request: %d lookups, checks %+v; want none", l.calls, h.StoredRequest(out.Request.ID).Checks)
	}
	out = h.Request(gt.Alice, "staging-db", time.Hour, "INC-7")
	if l.calls != 1 || len(h.StoredRequest(out.Request.ID).Checks) != 1 {
		t.Errorf("staging-db request: %d lookups, checks %+v; want one", l.calls, h.StoredRequest(out.Request.ID).Checks)
	}
}

func TestRulesSeeTheTicketOfTheRequest(t *testing.T) {
	checks := []grants.Check{{Kind: "ticket", Subject: "OPS-42", Status: grants.CheckPassed,
		Attrs: map[string]string{"status": "In Progress", "priority": "P1", "project": "OPS"}}}
	tests := []struct {
		name   string
		rule   string
		checks []grants.Check
		want   bool
	}{
		{"a rule reads the status, priority, project and key", `ticket.status == "In Progress" && ticket.priority == "P1" && ticket.project == "OPS" && ticket.key == "OPS-42"`, checks, true},
		{"a request without a ticket check has empty facts", `ticket.key == "" && ticket.status == ""`, nil, true},
		{"an unknown check has empty facts", `ticket.priority == "P1"`, []grants.Check{{Kind: "ticket", Subject: "OPS-42", Status: grants.CheckUnknown}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := grants.CompileRule(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Eval(grants.RuleInput{Checks: tt.checks})
			if err != nil || got != tt.want {
				t.Fatalf("Eval = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := grants.CompileRule(`ticket.staus == "Open"`); err == nil {
		t.Fatal("a misspelt ticket field compiled")
	}
}
