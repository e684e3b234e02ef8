package grants_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// wantError fails unless err is a *grants.Error with the code and reason.
func wantError(t *testing.T, err error, code error, reason string) *grants.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v (%s)", code, reason)
	}
	var ge *grants.Error
	if !errors.As(err, &ge) {
		t.Fatalf("got %T %v, want a *grants.Error", err, err)
	}
	if !errors.Is(err, code) || ge.Reason != reason {
		t.Fatalf("got %v / %q (%s), want %v / %q", ge.Code, ge.Reason, ge.Message, code, reason)
	}
	if ge.Message == "" || !strings.HasSuffix(ge.Message, ".") && !strings.HasSuffix(ge.Message, "?") {
		t.Errorf("message %q is not one sentence for a person", ge.Message)
	}
	return ge
}

func TestALifecycleFromRequestToRevocationIsRecordedAndVerifies(t *testing.T) {
	h := gt.New(t, gt.Options{})
	h.Adapter.ReturnSecret(&adapters.Secret{Kind: "password", Label: "prod-db password", Value: "hunter2-s3cret"})

	req := h.Request(gt.Alice, "prod-db", 2*time.Hour, "INC-42 fixing the index")
	if req.Request.State != grants.RequestPending || req.Grant != nil || req.AutoApproved {
		t.Fatalf("request = %+v, grant %v; want pending without a grant", req.Request, req.Grant)
	}
	if got, want := req.Request.PendingUntil, gt.Start.Add(time.Hour); !got.Equal(want) {
		t.Errorf("PendingUntil = %s, want %s", got, want)
	}

	h.Advance(5 * time.Minute)
	out := h.Approve(gt.Bob, req.Request.ID)
	if out.Request.State != grants.RequestApproved || out.Request.DecidedBy != gt.Bob.ID || out.Grant == nil {
		t.Fatalf("after approval: %+v grant %v", out.Request, out.Grant)
	}
	g := h.StoredGrant(out.Grant.ID)
	decided := gt.Start.Add(5 * time.Minute)
	// Intent before effect: the row is stored, activating, with its expiry, and nothing has
	// been asked of the target yet.
	if g.State != grants.GrantActivating || !g.ExpiresAt.Equal(decided.Add(2*time.Hour)) || !g.NextAttemptAt.Equal(decided) {
		t.Fatalf("stored grant = %+v; want activating, expiring 2h after the decision, due now", g)
	}
	if n := len(h.Adapter.Calls()); n != 0 {
		t.Fatalf("adapter was called %d times before the scheduler ran", n)
	}
	if g.Account != "alice" || g.Subject != gt.Alice.ID || g.Email != gt.Alice.Email {
		t.Errorf("grant subject/account/email = %q/%q/%q", g.Subject, g.Account, g.Email)
	}
	if want := g.ExpiresAt.Add(-10 * time.Minute); !g.WarnAt.Equal(want) {
		t.Errorf("WarnAt = %s, want %s", g.WarnAt, want)
	}

	h.RunDue()
	g = h.StoredGrant(g.ID)
	if g.State != grants.GrantActive || g.LeaseData["role"] != "fake_alice" {
		t.Fatalf("after a pass: state %s lease %v; want active with the lease data stored", g.State, g.LeaseData)
	}
	if !h.Adapter.HasAccess(g.ID) || h.Adapter.Count(gt.OpGrant, g.ID) != 1 {
		t.Fatalf("target access %v after %d grant calls", h.Adapter.HasAccess(g.ID), h.Adapter.Count(gt.OpGrant, g.ID))
	}
	// The target learns the expiry, so one that can end access by itself does (invariant 7).
	if c := h.Adapter.Calls()[0]; !c.Expires.Equal(g.ExpiresAt) || c.Subject.Account != "alice" {
		t.Errorf("Grant call = %+v, want the grant's expiry and account", c)
	}
	if d := h.Secrets.Delivered(); len(d) != 1 || d[0].Secret.Value != "hunter2-s3cret" || d[0].Grant.ID != g.ID {
		t.Fatalf("secret deliveries = %+v, want the one secret for %s", d, g.ID)
	}
	if pub, err := h.Service.GetGrant(h.Ctx, g.ID); err != nil || pub.LeaseData != nil {
		t.Fatalf("GetGrant = %+v, %v; want the grant without lease data", pub, err)
	}

	// Up to the warning: nothing; at it: one warning; after it: no second one.
	h.Clock.Set(g.WarnAt.Add(-time.Second))
	h.RunDue()
	if n := len(h.AuditEvents(audit.Filter{}, audit.GrantWarned)); n != 0 {
		t.Fatalf("%d warnings before WarnAt", n)
	}
	h.Clock.Set(g.WarnAt)
	h.RunDue()
	h.Advance(time.Minute)
	h.RunDue()
	if w := h.AuditEvents(audit.Filter{}, audit.GrantWarned); len(w) != 1 || w[0].Data["remaining"] != "10m" {
		t.Fatalf("warnings = %+v, want exactly one saying 10m remain", w)
	}

	// At expiry, one pass revokes.
	h.Clock.Set(g.ExpiresAt)
	h.RunDue()
	g = h.StoredGrant(g.ID)
	if g.State != grants.GrantRevoked || !g.RevokedAt.Equal(g.ExpiresAt) || g.RevokedBy != grants.System.ID || g.LeaseData != nil {
		t.Fatalf("after expiry: %+v; want revoked at expiry by accessbot, lease data gone", g)
	}
	if h.Adapter.HasAccess(g.ID) || h.Adapter.Count(gt.OpRevoke, g.ID) != 1 {
		t.Fatalf("target access %v after %d revoke calls", h.Adapter.HasAccess(g.ID), h.Adapter.Count(gt.OpRevoke, g.ID))
	}
	if c := h.Adapter.Calls(); c[len(c)-1].Data["role"] != "fake_alice" {
		t.Errorf("revoke got lease data %v, want what Grant returned", c[len(c)-1].Data)
	}
	lateness, _, _ := h.Metrics.Snapshot()
	if len(lateness) != 1 || lateness[0] != 0 {
		t.Errorf("lateness metrics = %v, want one of 0", lateness)
	}

	wantTypes := []string{
		audit.RequestCreated, audit.ReviewApproved, audit.RequestApproved, audit.GrantActivating,
		audit.GrantActive, audit.GrantWarned, audit.GrantRevoking, audit.GrantRevoked,
	}
	got := h.EventTypes(req.Request.ID)
	if !slices.Equal(got, wantTypes) {
		t.Fatalf("events = %v\nwant     %v", got, wantTypes)
	}
	for _, e := range h.AuditEvents(audit.Filter{}) {
		if e.Resource != "prod-db" || e.Subject != gt.Alice.ID || e.RequestID != req.Request.ID {
			t.Errorf("event %s lacks resource/subject/request: %+v", e.Type, e)
		}
		if strings.HasPrefix(e.Type, "grant.") && e.GrantID != g.ID {
			t.Errorf("event %s has grant %q, want %s", e.Type, e.GrantID, g.ID)
		}
		for k, v := range e.Data {
			if strings.Contains(v, "hunter2") || strings.Contains(v, "fake_alice") {
				t.Errorf("event %s data %s=%q holds a secret or lease data", e.Type, k, v)
			}
		}
	}
	approved := h.AuditEvents(audit.Filter{}, audit.RequestApproved)[0]
	if approved.Actor != gt.Bob.ID || approved.Data["approvals"] != "1/1" {
		t.Errorf("request.approved = %+v", approved)
	}
	if heard := h.Events.Events(); len(heard) != len(wantTypes) {
		t.Errorf("notifier heard %d events, want %d", len(heard), len(wantTypes))
	}
	rep := h.VerifyAudit()
	if rep.Events != int64(len(wantTypes)) {
		t.Errorf("verified %d events, want %d", rep.Events, len(wantTypes))
	}

	// The secret is in neither the audit log nor the database file.
	h.DB.Close()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(h.DBPath() + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("the database file%s holds the secret", suffix)
		}
	}
	h.Reopen()
}

func TestARequestThePolicyRefusesIsRecordedAndExplained(t *testing.T) {
	limited := gt.DefaultResource()
	limited.Name = "billing"
	limited.Policy.Requesters = []string{"frank@example.com"}
	limited.Policy.RequesterGroups = []string{"finance"}
	limited.Policy.BreakGlass = false
	ticket := gt.DefaultResource()
	ticket.Name = "prod-cache"
	ticket.Policy.ReasonPattern = gt.TicketPattern

	tests := []struct {
		name       string
		breakGlass bool
		in         grants.RequestInput
		code       error
		reason     string
		details    map[string]string
		recorded   bool
	}{
		{name: "an unknown resource names the closest ones", in: grants.RequestInput{Resource: "prod-bd", Reason: "x"},
			code: grants.ErrNotFound, reason: grants.ReasonUnknownResource, details: map[string]string{"closest": "prod-db"}},
		{name: "a person outside the requesters is told who may", in: grants.RequestInput{Resource: "billing", Reason: "x"},
			code: grants.ErrForbidden, reason: grants.ReasonNotAllowed, details: map[string]string{"allowed": "finance, frank@example.com"}, recorded: true},
		{name: "a duration above the maximum gives the maximum", in: grants.RequestInput{Resource: "prod-db", Duration: 5 * time.Hour, Reason: "x"},
			code: grants.ErrInvalid, reason: grants.ReasonDurationTooLong, details: map[string]string{"max": "4h"}, recorded: true},
		{name: "a negative duration is invalid", in: grants.RequestInput{Resource: "prod-db", Duration: -time.Hour, Reason: "x"},
			code: grants.ErrInvalid, reason: grants.ReasonDurationInvalid, recorded: true},
		{name: "a missing reason is required", in: grants.RequestInput{Resource: "prod-db", Reason: "  "},
			code: grants.ErrInvalid, reason: grants.ReasonReasonRequired, recorded: true},
		{name: "a reason that misses the pattern gives the pattern", in: grants.RequestInput{Resource: "prod-cache", Reason: "just looking"},
			code: grants.ErrInvalid, reason: grants.ReasonReasonMismatch, details: map[string]string{"pattern": "^INC-[0-9]+"}, recorded: true},
		{name: "break-glass where the policy does not allow it", breakGlass: true, in: grants.RequestInput{Resource: "billing", Reason: "x"},
			code: grants.ErrForbidden, reason: grants.ReasonNotAllowed, recorded: true},
		{name: "break-glass without a reason", breakGlass: true, in: grants.RequestInput{Resource: "prod-db"},
			code: grants.ErrInvalid, reason: grants.ReasonReasonRequired, recorded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := gt.New(t, gt.Options{Resources: []*grants.Resource{gt.DefaultResource(), limited, ticket}})
			var err error
			if tt.breakGlass {
				_, err = h.Service.BreakGlass(h.Ctx, gt.Alice, tt.in)
			} else {
				_, err = h.Service.Request(h.Ctx, gt.Alice, tt.in)
			}
			ge := wantError(t, err, tt.code, tt.reason)
			for k, v := range tt.details {
				if ge.Details[k] != v {
					t.Errorf("details[%s] = %q, want %q", k, ge.Details[k], v)
				}
			}
			reqs, _ := h.Service.ListRequests(h.Ctx, grants.RequestFilter{})
			if len(reqs) != 0 {
				t.Errorf("a refused request was stored: %+v", reqs)
			}
			refused := h.AuditEvents(audit.Filter{}, audit.RequestRefused)
			if !tt.recorded {
				if len(refused) != 0 {
					t.Errorf("refusal recorded: %+v", refused)
				}
				return
			}
			if len(refused) != 1 || refused[0].Data["refused"] != tt.reason || refused[0].Actor != gt.Alice.ID {
				t.Fatalf("request.refused events = %+v", refused)
			}
		})
	}
}

func TestBreakGlassIsRefusedWhereThePolicyDisablesIt(t *testing.T) {
	r := gt.DefaultResource()
	r.Policy.BreakGlass = false
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	_, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-9 outage"})
	wantError(t, err, grants.ErrForbidden, grants.ReasonBreakGlassDisabled)
}

func TestARequestWithoutADurationGetsThePolicyDefault(t *testing.T) {
	h := gt.New(t, gt.Options{})
	out := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	if out.Request.Duration != time.Hour || out.Request.ApprovalsNeeded != 1 {
		t.Fatalf("request = %+v, want the default 1h and 1 approval", out.Request)
	}
	stored := h.StoredRequest(out.Request.ID)
	if stored.Duration != time.Hour || stored.State != grants.RequestPending || stored.Requester != gt.Alice.ID {
		t.Fatalf("stored = %+v", stored)
	}
	if !strings.HasPrefix(out.Request.ID, "r-") || len(out.Request.ID) != 12 {
		t.Errorf("request ID %q, want r- and 10 characters", out.Request.ID)
	}
}

func TestAnAutoApproveRuleApprovesAndGrantsAtOnce(t *testing.T) {
	rule, err := grants.CompileRule(`duration <= duration("1h") && "oncall" in groups && hour >= 9 && hour < 18`)
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Policy.AutoApprove = rule
	h := gt.New(t, gt.Options{
		Resources: []*grants.Resource{r},
		Groups:    map[string][]string{"sre": {gt.Bob.ID}, "oncall": {gt.Alice.ID}},
	})

	tests := []struct {
		name string
		who  grants.Actor
		d    time.Duration
		auto bool
	}{
		{"a short request by someone on call", gt.Alice, 30 * time.Minute, true},
		{"a request longer than the rule allows", gt.Alice, 2 * time.Hour, false},
		{"a request by someone not on call", gt.Dave, 30 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := h.Request(tt.who, "prod-db", tt.d, "INC-7")
			if out.AutoApproved != tt.auto {
				t.Fatalf("AutoApproved = %v, want %v", out.AutoApproved, tt.auto)
			}
			if !tt.auto {
				if out.Request.State != grants.RequestPending || out.Grant != nil {
					t.Fatalf("outcome = %+v", out)
				}
				return
			}
			if out.Request.State != grants.RequestApproved || out.Request.DecidedBy != grants.PolicyActor || out.Grant == nil {
				t.Fatalf("outcome = %+v", out)
			}
			if out.Grant.State != grants.GrantActivating || !out.Grant.ExpiresAt.Equal(h.Clock.Now().Add(tt.d)) {
				t.Fatalf("grant = %+v", out.Grant)
			}
			types := h.EventTypes(out.Request.ID)
			want := []string{audit.RequestCreated, audit.RequestApproved, audit.GrantActivating}
			if !slices.Equal(types, want) {
				t.Fatalf("events = %v, want %v", types, want)
			}
			h.RunDue()
			if g := h.StoredGrant(out.Grant.ID); g.State != grants.GrantActive {
				t.Fatalf("grant after a pass is %s", g.State)
			}
		})
	}
}

func TestTheAutoApproveRuleSeesTheConfiguredTimeZone(t *testing.T) {
	// 10:00 UTC is 19:00 in Tokyo: outside office hours there.
	rule, err := grants.CompileRule(`hour >= 9 && hour < 18`)
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Policy.AutoApprove = rule
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	if out := h.Request(gt.Alice, "prod-db", 0, "INC-1"); !out.AutoApproved {
		t.Fatal("10:00 UTC is office hours in UTC, but the rule said no")
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo") // time/tzdata is linked in: never missing
	if err != nil {
		t.Fatal(err)
	}
	svc, err := grants.NewService(grants.Options{Store: h.DB, Resources: h.Resources, Clock: h.Clock, Location: tokyo})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-1"})
	if err != nil || out.AutoApproved {
		t.Fatalf("in Tokyo at 19:00: %+v, %v; want waiting for approvers", out, err)
	}
}
