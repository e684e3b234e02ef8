package grants_test

import (
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

func stepUpHarness(t *testing.T, approvals int) *gt.Harness {
	r := gt.DefaultResource()
	r.StepUp = grants.StepUp{Approve: true}
	r.Policy.Approvals = approvals
	return gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
}

func proofOf(a grants.Actor) grants.Proof {
	return grants.Proof{Issuer: "https://idp.example.com", Subject: "sub-" + a.Name, Email: a.Email,
		AMR: []string{"pwd", "otp"}, ACR: "urn:mfa", AuthTime: gt.Start.Add(-time.Minute)}
}

func TestAnApprovalWithoutAProofIsRefusedOnAStepUpResource(t *testing.T) {
	h := stepUpHarness(t, 1)
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	_, err := h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrForbidden, grants.ReasonStepUpRequired)
	if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending {
		t.Errorf("request is %s, want pending", got.State)
	}
	if n := len(h.AuditEvents(audit.Filter{}, audit.ReviewApproved)); n != 0 {
		t.Errorf("%d review.approved events, want none", n)
	}
	refused := h.AuditEvents(audit.Filter{}, audit.ReviewRefused)
	if len(refused) != 1 || refused[0].Data[audit.KeyRefused] != grants.ReasonStepUpRequired {
		t.Errorf("review.refused events = %+v", refused)
	}
}

func TestAVerifiedApprovalKeepsTheProofInTheAuditLog(t *testing.T) {
	h := stepUpHarness(t, 1)
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	out, err := h.Service.ApproveVerified(h.Ctx, gt.Bob, req.Request.ID, proofOf(gt.Bob))
	if err != nil {
		t.Fatal(err)
	}
	if out.Request.State != grants.RequestApproved || out.Grant == nil {
		t.Fatalf("outcome %+v, want approved with a grant", out)
	}
	evs := h.AuditEvents(audit.Filter{}, audit.ReviewApproved)
	if len(evs) != 1 {
		t.Fatalf("%d review.approved events", len(evs))
	}
	p, err := audit.Decode[audit.ReviewApprovedData](evs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := proofOf(gt.Bob)
	if p.StepUpIssuer != want.Issuer || p.StepUpSubject != want.Subject || !slices.Equal(p.StepUpAMR, want.AMR) ||
		p.StepUpACR != want.ACR || !p.StepUpAuthTime.Equal(want.AuthTime) {
		t.Errorf("review.approved = %+v, want the proof %+v", p, want)
	}
}

func TestAVerifiedApprovalStillObeysTheReviewRules(t *testing.T) {
	t.Run("the requester cannot approve their own request with a login", func(t *testing.T) {
		h := stepUpHarness(t, 1)
		req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
		_, err := h.Service.ApproveVerified(h.Ctx, gt.Alice, req.Request.ID, proofOf(gt.Alice))
		wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)
	})
	t.Run("someone outside the approver groups cannot approve with a login", func(t *testing.T) {
		h := stepUpHarness(t, 1)
		req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
		_, err := h.Service.ApproveVerified(h.Ctx, gt.Dave, req.Request.ID, proofOf(gt.Dave))
		wantError(t, err, grants.ErrForbidden, grants.ReasonNotApprover)
	})
	t.Run("two approvals need two distinct people, logins or not", func(t *testing.T) {
		h := stepUpHarness(t, 2)
		req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
		if _, err := h.Service.ApproveVerified(h.Ctx, gt.Bob, req.Request.ID, proofOf(gt.Bob)); err != nil {
			t.Fatal(err)
		}
		_, err := h.Service.ApproveVerified(h.Ctx, gt.Bob, req.Request.ID, proofOf(gt.Bob))
		wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyReviewed)
		out, err := h.Service.ApproveVerified(h.Ctx, gt.Carol, req.Request.ID, proofOf(gt.Carol))
		if err != nil || out.Request.State != grants.RequestApproved {
			t.Fatalf("carol's approval: %+v, %v", out.Request.State, err)
		}
	})
	t.Run("a proof that names nobody is refused", func(t *testing.T) {
		h := stepUpHarness(t, 1)
		req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
		_, err := h.Service.ApproveVerified(h.Ctx, gt.Bob, req.Request.ID, grants.Proof{})
		wantError(t, err, grants.ErrInvalid, grants.ReasonStepUpRequired)
	})
}

func TestARefusedStepUpIsRecordedAndLeavesTheRequestAlone(t *testing.T) {
	h := stepUpHarness(t, 1)
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	before := h.StoredRequest(req.Request.ID)
	h.Service.RefuseStepUp(h.Ctx, gt.Bob, req.Request.ID, grants.Approve, "wrong_person", "The login is carol@example.com.", "sub-carol")
	evs := h.AuditEvents(audit.Filter{}, audit.StepUpRefused)
	if len(evs) != 1 || evs[0].RequestID != req.Request.ID || evs[0].Actor != gt.Bob.ID || evs[0].Resource != "prod-db" {
		t.Fatalf("stepup.refused events = %+v", evs)
	}
	p, _ := audit.Decode[audit.StepUpRefusedData](evs[0])
	if p.Refused != "wrong_person" || p.Subject != "sub-carol" || p.Decision != "approve" {
		t.Errorf("payload %+v", p)
	}
	if got := h.StoredRequest(req.Request.ID); got.Version != before.Version || got.State != grants.RequestPending {
		t.Errorf("request moved to %s v%d", got.State, got.Version)
	}
}

func TestAResourceWithoutStepUpApprovesAsBefore(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	if need, err := h.Service.NeedsStepUp(h.Ctx, req.Request.ID, grants.Approve); err != nil || need {
		t.Fatalf("NeedsStepUp = %v, %v", need, err)
	}
	out := h.Approve(gt.Bob, req.Request.ID)
	evs := h.AuditEvents(audit.Filter{}, audit.ReviewApproved)
	if out.Request.State != grants.RequestApproved || len(evs) != 1 {
		t.Fatalf("state %s, %d review.approved", out.Request.State, len(evs))
	}
	// No step-up keys: the event encodes as every approval did before step-up existed.
	if len(evs[0].Data) != 1 || evs[0].Data[audit.KeyApprovals] != "1/1" {
		t.Errorf("review.approved data = %v, want only approvals", evs[0].Data)
	}
}
