package grants_test

import (
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// MayReview answers who may decide a request, as CheckReview, but records nothing: it is asked
// when a card is drawn for someone, not because they clicked.
func TestMayReviewAnswersWithoutRecordingRefusals(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	for _, tt := range []struct {
		name string
		who  grants.Actor
		want bool
	}{
		{"the requester", gt.Alice, false},
		{"someone outside the approver groups", gt.Dave, false},
		{"an approver", gt.Bob, true},
		{"nobody known", grants.Actor{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Service.MayReview(h.Ctx, tt.who, req.Request.ID)
			if err != nil || got != tt.want {
				t.Errorf("MayReview = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if refused := h.AuditEvents(audit.Filter{}, audit.ReviewRefused); len(refused) != 0 {
		t.Errorf("MayReview recorded %d review.refused events, want none", len(refused))
	}
	if _, err := h.Service.MayReview(h.Ctx, gt.Bob, "r-nothere"); err == nil {
		t.Error("an unknown request is an error, not a refusal")
	}
}
