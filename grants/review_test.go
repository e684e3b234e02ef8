package grants_test

import (
	"maps"
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

func TestCheckReviewRefusesAsDenyWouldWithoutTouchingTheRequest(t *testing.T) {
	tests := []struct {
		name   string
		who    grants.Actor
		reason string
	}{
		{"the requester", gt.Alice, grants.ReasonSelfApproval},
		{"someone outside the approver groups", gt.Dave, grants.ReasonNotApprover},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := gt.New(t, gt.Options{})
			req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
			before := h.StoredRequest(req.Request.ID)

			checkErr := h.Service.CheckReview(h.Ctx, tt.who, req.Request.ID, grants.Deny)
			checked := wantError(t, checkErr, grants.ErrForbidden, tt.reason)
			if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending || got.Version != before.Version {
				t.Errorf("after CheckReview the request is %s at version %d, want pending at %d", got.State, got.Version, before.Version)
			}
			refused := h.AuditEvents(audit.Filter{}, audit.ReviewRefused)
			if len(refused) != 1 {
				t.Fatalf("CheckReview wrote %d review.refused events, want 1", len(refused))
			}

			_, denyErr := h.Service.Deny(h.Ctx, tt.who, req.Request.ID, "")
			denied := wantError(t, denyErr, grants.ErrForbidden, tt.reason)
			if checked.Message != denied.Message || !maps.Equal(checked.Details, denied.Details) {
				t.Errorf("CheckReview refused with %+v, Deny with %+v", checked, denied)
			}
			refused = h.AuditEvents(audit.Filter{}, audit.ReviewRefused)
			if len(refused) != 2 {
				t.Fatalf("%d review.refused events, want 2", len(refused))
			}
			first, second := refused[0], refused[1]
			if first.Actor != second.Actor || first.RequestID != second.RequestID || !maps.Equal(first.Data, second.Data) {
				t.Errorf("CheckReview recorded %+v, Deny %+v", first, second)
			}
		})
	}
}

func TestCheckReviewLetsAnApproverThroughAndRecordsNothing(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	before := h.StoredRequest(req.Request.ID)
	if err := h.Service.CheckReview(h.Ctx, gt.Bob, req.Request.ID, grants.Deny); err != nil {
		t.Fatalf("CheckReview(bob) = %v, want nil", err)
	}
	if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending || got.Version != before.Version {
		t.Errorf("after CheckReview the request is %s at version %d, want pending at %d", got.State, got.Version, before.Version)
	}
	if refused := h.AuditEvents(audit.Filter{}, audit.ReviewRefused); len(refused) != 0 {
		t.Errorf("review.refused events %+v, want none", refused)
	}
	if rv, _ := h.Service.Reviews(h.Ctx, req.Request.ID); len(rv) != 0 {
		t.Errorf("CheckReview left reviews %+v", rv)
	}
	wantError(t, h.Service.CheckReview(h.Ctx, grants.Actor{}, req.Request.ID, grants.Deny), grants.ErrInvalid, grants.ReasonUnknownActor)
	wantError(t, h.Service.CheckReview(h.Ctx, gt.Bob, "r-nope", grants.Deny), grants.ErrNotFound, grants.ReasonUnknownRequest)
}
