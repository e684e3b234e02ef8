package grants_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

func TestEarlyRevocationByTheHolderOrAnAdmin(t *testing.T) {
	tests := []struct {
		name   string
		who    grants.Actor
		reason string // empty: allowed
	}{
		{"the holder", gt.Alice, ""},
		{"an admin", gt.Erin, ""},
		{"the CLI operator", grants.Actor{ID: "cli:root", Platform: "cli", PlatformID: "root"}, ""},
		{"an approver who is not an admin", gt.Bob, grants.ReasonNotOwner},
		{"someone else", gt.Dave, grants.ReasonNotOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := gt.New(t, gt.Options{})
			g := h.ActiveGrant(time.Hour)
			h.Advance(10 * time.Minute)
			got, err := h.Service.Revoke(h.Ctx, tt.who, g.ID)
			if tt.reason != "" {
				wantError(t, err, grants.ErrForbidden, tt.reason)
				if s := h.StoredGrant(g.ID); s.State != grants.GrantActive {
					t.Fatalf("grant is %s after a refused revoke", s.State)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			now := h.Clock.Now()
			// One revocation path: the expiry moves to now and the scheduler does the rest.
			if got.State != grants.GrantRevoking || !got.ExpiresAt.Equal(now) || got.RevokedBy != tt.who.ID || got.LeaseData != nil {
				t.Fatalf("after Revoke: %+v", got)
			}
			if h.Adapter.Count(gt.OpRevoke, "") != 0 {
				t.Fatal("Revoke called the adapter itself")
			}
			h.RunDue()
			s := h.StoredGrant(g.ID)
			if s.State != grants.GrantRevoked || s.RevokedBy != tt.who.ID || !s.RevokedAt.Equal(now) || h.Adapter.HasAccess(g.ID) {
				t.Fatalf("after a pass: %+v", s)
			}
			revoking := h.AuditEvents(audit.Filter{}, audit.GrantRevoking)
			if len(revoking) != 1 || revoking[0].Actor != tt.who.ID || revoking[0].Data["early"] != "true" {
				t.Fatalf("grant.revoking = %+v", revoking)
			}
			_, err = h.Service.Revoke(h.Ctx, tt.who, g.ID)
			wantError(t, err, grants.ErrConflict, grants.ReasonNotActive)
		})
	}
}

func TestRevokingAGrantStillActivatingWaitsForTheActivationToSettle(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant

	got, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != grants.GrantActivating || !got.ExpiresAt.Equal(h.Clock.Now()) {
		t.Fatalf("after Revoke: %+v; want still activating with its expiry now", got)
	}
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantRevoked || h.Adapter.Count(gt.OpGrant, g.ID) != 0 || h.Adapter.Count(gt.OpRevoke, g.ID) != 1 {
		t.Fatalf("after a pass: %s with %d grant and %d revoke calls; want revoked without granting",
			s.State, h.Adapter.Count(gt.OpGrant, g.ID), h.Adapter.Count(gt.OpRevoke, g.ID))
	}
	if s.RevokedBy != gt.Alice.ID {
		t.Errorf("RevokedBy = %q", s.RevokedBy)
	}
}

func TestExtendingAGrant(t *testing.T) {
	autoRule, err := grants.CompileRule(`duration <= duration("30m")`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		auto     bool
		extender bool
		failExt  bool
	}{
		{name: "approved by an approver", extender: true},
		{name: "approved by the policy's rule", auto: true, extender: true},
		{name: "on a target without its own expiry", auto: true},
		{name: "when the target refuses to move its expiry", auto: true, extender: true, failExt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gt.DefaultResource()
			ext := gt.NewFakeExtender()
			fake := ext.FakeAdapter
			if tt.extender {
				r.Adapter = ext
			}
			h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}, Adapter: fake})
			g := h.ActiveGrant(time.Hour)
			if tt.auto {
				r.Policy.AutoApprove = autoRule
			}
			if tt.failExt {
				ext.FailExtend(adapters.Retryablef("target down"))
			}
			h.Advance(40 * time.Minute)
			out, err := h.Service.Extend(h.Ctx, gt.Alice, g.ID, 30*time.Minute, "")
			if err != nil {
				t.Fatal(err)
			}
			if out.Request.Kind != grants.KindExtend || out.Request.GrantID != g.ID || out.Request.Reason != g.Reason {
				t.Fatalf("extend request = %+v", out.Request)
			}
			if !tt.auto {
				if out.Request.State != grants.RequestPending || out.Grant != nil {
					t.Fatalf("outcome = %+v; want waiting for approvers", out)
				}
				if s := h.StoredGrant(g.ID); !s.ExpiresAt.Equal(g.ExpiresAt) {
					t.Fatal("the expiry moved before the extension was approved")
				}
				out = h.Approve(gt.Bob, out.Request.ID)
			}
			wantExpiry := g.ExpiresAt.Add(30 * time.Minute)
			if out.Grant == nil || !out.Grant.ExpiresAt.Equal(wantExpiry) {
				t.Fatalf("outcome grant = %+v, want expiry %s", out.Grant, wantExpiry)
			}
			s := h.StoredGrant(g.ID)
			if !s.ExpiresAt.Equal(wantExpiry) || !s.WarnAt.Equal(wantExpiry.Add(-10*time.Minute)) || s.State != grants.GrantActive {
				t.Fatalf("stored = %+v", s)
			}
			if n := fake.Count(gt.OpExtend, g.ID); tt.extender != (n == 1) {
				t.Fatalf("%d Extend calls at the target", n)
			}
			if tt.extender {
				c := fake.Calls()[len(fake.Calls())-1]
				if !c.Expires.Equal(wantExpiry) || c.Data["role"] != "fake_alice" {
					t.Errorf("Extend call = %+v", c)
				}
			}
			extended := h.AuditEvents(audit.Filter{}, audit.GrantExtended)
			if len(extended) < 1 || extended[0].Data["by"] != "30m" || extended[0].GrantID != g.ID {
				t.Fatalf("grant.extended = %+v", extended)
			}
			if tt.failExt != (len(extended) == 2 && extended[1].Data["target_extended"] == "false") {
				t.Fatalf("grant.extended events = %+v", extended)
			}
			// The old expiry passes without a revocation; the new one revokes.
			h.Clock.Set(g.ExpiresAt)
			h.RunDue()
			if s := h.StoredGrant(g.ID); s.State != grants.GrantActive {
				t.Fatalf("at the old expiry the grant is %s", s.State)
			}
			h.Clock.Set(wantExpiry)
			h.RunDue()
			if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
				t.Fatalf("at the new expiry the grant is %s", s.State)
			}
		})
	}
}

func TestAnExtensionFollowsThePolicy(t *testing.T) {
	h := gt.New(t, gt.Options{})
	g := h.ActiveGrant(time.Hour)

	_, err := h.Service.Extend(h.Ctx, gt.Bob, g.ID, time.Hour, "INC-1")
	wantError(t, err, grants.ErrForbidden, grants.ReasonNotOwner)
	_, err = h.Service.Extend(h.Ctx, gt.Alice, g.ID, 5*time.Hour, "INC-1")
	ge := wantError(t, err, grants.ErrInvalid, grants.ReasonDurationTooLong)
	if ge.Details["max"] != "4h" {
		t.Errorf("details = %v", ge.Details)
	}
	// Zero asks for the policy's default.
	out, err := h.Service.Extend(h.Ctx, gt.Alice, g.ID, 0, "")
	if err != nil || out.Request.Duration != time.Hour {
		t.Fatalf("extend by 0 = %+v, %v", out.Request, err)
	}
	// Nobody approves their own extension either.
	_, err = h.Service.Approve(h.Ctx, gt.Alice, out.Request.ID)
	wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)

	// Once the grant has ended, neither a new extension nor the pending one goes through.
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	_, err = h.Service.Extend(h.Ctx, gt.Alice, g.ID, time.Hour, "INC-1")
	wantError(t, err, grants.ErrConflict, grants.ReasonNotActive)
	_, err = h.Service.Approve(h.Ctx, gt.Bob, out.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonNotActive)
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("grant is %s", s.State)
	}
}

func TestBreakGlassIsGrantedAtOnceFlaggedAndReviewedAfterwards(t *testing.T) {
	h := gt.New(t, gt.Options{})
	out, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: 30 * time.Minute, Reason: "INC-9 outage"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Request.Kind != grants.KindBreakGlass || out.Request.State != grants.RequestApproved || out.Grant == nil || !out.Grant.BreakGlass {
		t.Fatalf("outcome = %+v", out)
	}
	g := *out.Grant
	want := []string{audit.RequestCreated, audit.BreakGlassUsed, audit.AlertRaised, audit.GrantActivating}
	if got := h.EventTypes(out.Request.ID); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if alerts := h.Events.Events(audit.AlertRaised); len(alerts) != 1 || alerts[0].Data["alert"] != "breakglass" || alerts[0].GrantID != g.ID {
		t.Fatalf("alerts heard = %+v", alerts)
	}
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantActive || !h.Adapter.HasAccess(g.ID) {
		t.Fatalf("break-glass grant is %s", s.State)
	}

	unreviewed, err := h.Service.UnreviewedBreakGlass(h.Ctx)
	if err != nil || len(unreviewed) != 1 || unreviewed[0].ID != g.ID {
		t.Fatalf("unreviewed = %+v, %v", unreviewed, err)
	}

	_, err = h.Service.ReviewBreakGlass(h.Ctx, gt.Alice, g.ID, "all fine")
	wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)
	_, err = h.Service.ReviewBreakGlass(h.Ctx, gt.Dave, g.ID, "looks fine to me")
	wantError(t, err, grants.ErrForbidden, grants.ReasonNotApprover)
	if n := len(h.AuditEvents(audit.Filter{}, audit.ReviewRefused)); n != 2 {
		t.Errorf("%d review.refused events, want 2", n)
	}

	reviewed, err := h.Service.ReviewBreakGlass(h.Ctx, gt.Bob, g.ID, "matches INC-9")
	if err != nil || reviewed.ReviewedBy != gt.Bob.ID || !reviewed.ReviewedAt.Equal(h.Clock.Now()) {
		t.Fatalf("review = %+v, %v", reviewed, err)
	}
	_, err = h.Service.ReviewBreakGlass(h.Ctx, gt.Erin, g.ID, "again")
	wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyReviewed)
	if unreviewed, _ := h.Service.UnreviewedBreakGlass(h.Ctx); len(unreviewed) != 0 {
		t.Fatalf("still unreviewed: %+v", unreviewed)
	}
	ev := h.AuditEvents(audit.Filter{}, audit.BreakGlassReviewed)
	if len(ev) != 1 || ev[0].Actor != gt.Bob.ID || ev[0].Data["note"] != "matches INC-9" {
		t.Fatalf("breakglass.reviewed = %+v", ev)
	}

	// A normal grant is not reviewable; an admin who is not an approver may review.
	normal := h.ActiveGrant(time.Hour)
	_, err = h.Service.ReviewBreakGlass(h.Ctx, gt.Bob, normal.ID, "x")
	wantError(t, err, grants.ErrInvalid, grants.ReasonNotBreakGlass)
	out2, err := h.Service.BreakGlass(h.Ctx, gt.Dave, grants.RequestInput{Resource: "prod-db", Reason: "INC-10"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Service.ReviewBreakGlass(h.Ctx, gt.Erin, out2.Grant.ID, "ok"); err != nil {
		t.Fatalf("admin review: %v", err)
	}
}

func TestForcingARevocationIsForAdminsAndFailingRevocations(t *testing.T) {
	h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{Retry: grants.RetryPolicy{Attempts: 1}}})
	g := h.ActiveGrant(time.Hour)

	_, err := h.Service.ForceRevoke(h.Ctx, gt.Erin, g.ID, "removed by hand")
	wantError(t, err, grants.ErrConflict, grants.ReasonNotRevoking)

	h.Adapter.OnRevoke(func(adapters.RevokeRequest) error { return errors.New("connection refused") })
	h.Clock.Set(g.ExpiresAt)
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevokeFailed {
		t.Fatalf("grant is %s, want revoke_failed", s.State)
	}

	_, err = h.Service.ForceRevoke(h.Ctx, gt.Alice, g.ID, "I removed it")
	wantError(t, err, grants.ErrForbidden, grants.ReasonNotAdmin)
	_, err = h.Service.ForceRevoke(h.Ctx, gt.Erin, g.ID, " ")
	wantError(t, err, grants.ErrInvalid, grants.ReasonNoteRequired)

	got, err := h.Service.ForceRevoke(h.Ctx, gt.Erin, g.ID, "dropped the role by hand")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != grants.GrantRevoked || got.RevokedBy != gt.Erin.ID {
		t.Fatalf("forced = %+v", got)
	}
	ev := h.AuditEvents(audit.Filter{}, audit.GrantRevoked)
	if len(ev) != 1 || ev[0].Data["forced"] != "true" || ev[0].Data["note"] != "dropped the role by hand" || ev[0].Actor != gt.Erin.ID {
		t.Fatalf("grant.revoked = %+v", ev)
	}
	// The slow loop stops: a forced grant is not retried.
	calls := h.Adapter.Count(gt.OpRevoke, g.ID)
	h.Advance(time.Hour)
	h.RunDue()
	if h.Adapter.Count(gt.OpRevoke, g.ID) != calls {
		t.Fatal("a forced grant was retried")
	}
	_, err = h.Service.ForceRevoke(h.Ctx, gt.Erin, g.ID, "again")
	wantError(t, err, grants.ErrConflict, grants.ReasonNotRevoking)
}

func TestTheServiceNeverHandsOutLeaseData(t *testing.T) {
	h := gt.New(t, gt.Options{})
	g := h.ActiveGrant(time.Hour)
	if h.StoredGrant(g.ID).LeaseData == nil {
		t.Fatal("the store has no lease data to hide")
	}
	list, err := h.Service.ListGrants(h.Ctx, grants.GrantFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	one, err := h.Service.GetGrant(h.Ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []grants.Grant{list[0], one, revoked} {
		if got.LeaseData != nil {
			t.Fatalf("lease data handed out: %+v", got)
		}
	}
}
