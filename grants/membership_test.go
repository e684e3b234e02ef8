package grants_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// rotaDirectory is a Directory layer like the on-call one: the group "rota" is answered by
// it (failing with down when set), for a request by its rule; every other group by inner.
type rotaDirectory struct {
	inner *gt.Directory
	down  error
	// onCall is who is on call for "rota"; next is who is on call at the next level, who
	// counts too when the requester is the one on call.
	onCall, next string
	asked        []grants.MembershipQuery
}

func (d *rotaDirectory) MemberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	m, err := d.MemberForRequest(ctx, a, group, grants.MembershipQuery{})
	return m.Member, err
}

func (d *rotaDirectory) MemberForRequest(ctx context.Context, a grants.Actor, group string, q grants.MembershipQuery) (grants.Membership, error) {
	if group != "rota" {
		ok, err := d.inner.MemberOf(ctx, a, group)
		return grants.Membership{Member: ok}, err
	}
	d.asked = append(d.asked, q)
	if d.down != nil {
		return grants.Membership{}, d.down
	}
	on := []string{d.onCall}
	if q.Requester == d.onCall {
		on = []string{d.next}
	}
	if slices.Contains(on, a.ID) {
		return grants.Membership{Member: true, Via: "on call for rota: " + a.ID}, nil
	}
	return grants.Membership{}, nil
}

func rotaHarness(t *testing.T, dir *rotaDirectory) *gt.Harness {
	t.Helper()
	r := gt.DefaultResource()
	r.Policy.ApproverGroups = []string{"rota", "sre"}
	// The Service asks dir only when a request is made or decided: its inner is set by then.
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}, Groups: map[string][]string{"sre": {gt.Bob.ID}}, Directory: dir})
	dir.inner = h.Dir
	return h
}

func TestAnOutageOfOneGroupDoesNotHideMembershipInAnother(t *testing.T) {
	dir := &rotaDirectory{onCall: gt.Carol.ID, down: errors.New("pagerduty down")}
	h := rotaHarness(t, dir)
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")

	// Dave is in no group, and the rota could not be asked: the error, not "not an approver".
	if _, err := h.Service.Approve(h.Ctx, gt.Dave, req.Request.ID); !errors.Is(err, dir.down) || errors.Is(err, grants.ErrForbidden) {
		t.Fatalf("approval by a non-member while the rota is down: %v, want the rota's error", err)
	}
	// Carol is on call, but the rota cannot say so: an outage never grants by itself.
	if _, err := h.Service.Approve(h.Ctx, gt.Carol, req.Request.ID); err == nil {
		t.Fatal("the on-call person approved while the rota could not be asked")
	}
	// Bob is in the named group sre, listed after the rota: he approves.
	out := h.Approve(gt.Bob, req.Request.ID)
	if out.Grant == nil {
		t.Fatalf("bob of sre approved during the rota's outage, but no grant: %+v", out.Request)
	}
}

func TestARotaMemberApprovesAndTheLogSaysWhoWasOnCall(t *testing.T) {
	dir := &rotaDirectory{onCall: gt.Carol.ID, next: gt.Dave.ID}
	h := rotaHarness(t, dir)
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	if _, err := h.Service.Approve(h.Ctx, gt.Dave, req.Request.ID); !errors.Is(err, grants.ErrForbidden) {
		t.Fatalf("dave, at the next level while alice is not on call, approved: %v", err)
	}
	if out := h.Approve(gt.Carol, req.Request.ID); out.Grant == nil {
		t.Fatalf("carol, on call, approved but no grant: %+v", out.Request)
	}
	ev := h.AuditEvents(audit.Filter{}, audit.ReviewApproved)
	if len(ev) != 1 || ev[0].Data["via"] != "on call for rota: "+gt.Carol.ID {
		t.Fatalf("review.approved = %+v, want via naming carol on call", ev)
	}
	if q := dir.asked[len(dir.asked)-1]; q.RequestID != req.Request.ID || q.Requester != gt.Alice.ID {
		t.Fatalf("the directory was asked %+v, want the request and its requester", q)
	}
}

func TestTheRequesterOnCallIsNeverTheirOwnApproverAndTheNextLevelIs(t *testing.T) {
	dir := &rotaDirectory{onCall: gt.Alice.ID, next: gt.Dave.ID}
	h := rotaHarness(t, dir)
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	_, err := h.Service.Approve(h.Ctx, gt.Alice, req.Request.ID)
	wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)
	if out := h.Approve(gt.Dave, req.Request.ID); out.Grant == nil {
		t.Fatalf("dave, at the next level while the requester is on call, approved but no grant: %+v", out.Request)
	}
}

// onCallLookup reports the requester on call on the rotas it is given, as the oncall package's
// Lookup does, or fails.
type onCallLookup struct {
	on  []string
	err error
}

func (onCallLookup) Kind() string                  { return grants.CheckKindOnCall }
func (onCallLookup) Applies(*grants.Resource) bool { return true }
func (l onCallLookup) Lookup(context.Context, grants.LookupQuery) (grants.LookupResult, error) {
	if l.err != nil {
		return grants.LookupResult{}, l.err
	}
	return grants.LookupResult{Checks: []grants.Check{{Kind: grants.CheckKindOnCall, Status: grants.CheckPassed,
		Attrs: map[string]string{grants.CheckAttrRequesterOnCall: strings.Join(l.on, " ")}}}}, nil
}

func TestOnCallRulesAutoApproveWhoeverIsOnCallAndNobodyDuringAnOutage(t *testing.T) {
	const rota = "pagerduty:schedule/PABC123"
	tests := []struct {
		name     string
		rule     string
		lookup   onCallLookup
		duration time.Duration
		want     grants.RequestState
	}{
		{name: "on call for the named rota, within the hour", rule: `oncall_for("` + rota + `") && duration <= duration("1h")`,
			lookup: onCallLookup{on: []string{rota}}, duration: time.Hour, want: grants.RequestApproved},
		{name: "on call for the named rota, asking too long", rule: `oncall_for("` + rota + `") && duration <= duration("1h")`,
			lookup: onCallLookup{on: []string{rota}}, duration: 2 * time.Hour, want: grants.RequestPending},
		{name: "on call for another rota only", rule: `oncall_for("` + rota + `")`,
			lookup: onCallLookup{on: []string{"opsgenie:schedule/db"}}, duration: time.Hour, want: grants.RequestPending},
		{name: "on call anywhere", rule: `oncall`,
			lookup: onCallLookup{on: []string{"opsgenie:schedule/db"}}, duration: time.Hour, want: grants.RequestApproved},
		{name: "on call nowhere", rule: `oncall`, lookup: onCallLookup{}, duration: time.Hour, want: grants.RequestPending},
		{name: "the rota could not be asked", rule: `oncall || !oncall`,
			lookup: onCallLookup{err: errors.New("pagerduty down")}, duration: time.Hour, want: grants.RequestPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := grants.CompileRule(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			r := gt.DefaultResource()
			r.Policy.AutoApprove = rule
			h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}, Lookups: []grants.Lookup{tt.lookup}})
			if got := h.Request(gt.Alice, "prod-db", tt.duration, "INC-1").Request.State; got != tt.want {
				t.Fatalf("request is %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOnCallForNamesItsRotaAtCompileTime(t *testing.T) {
	rule, err := grants.CompileRule(`oncall_for("pagerduty:schedule/P1") || oncall_for("opsgenie:schedule/db team")`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pagerduty:schedule/P1", "opsgenie:schedule/db team"}; !slices.Equal(rule.OnCallRotas, want) {
		t.Fatalf("OnCallRotas = %q, want %q", rule.OnCallRotas, want)
	}
	if _, err := grants.CompileRule(`oncall_for(resource)`); err == nil || !strings.Contains(err.Error(), "rota name in quotes") {
		t.Fatalf("oncall_for over a variable compiled: %v", err)
	}
}
