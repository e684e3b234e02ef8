package grants

import (
	"context"
	"fmt"
	"strings"
)

// CheckReview answers, without deciding anything, whether the actor may decide the request:
// nil when they may, otherwise the refusal that Approve or Deny (d says which) would return,
// recorded in the audit log (review.refused) exactly as they record it. A chat click that opens
// a form before the decision asks here, so that a refused click leaves a record and the request
// untouched. Whether the request is still pending is not checked: the decision itself answers
// that, in its transaction.
func (s *Service) CheckReview(ctx context.Context, a Actor, requestID string, d Decision) error {
	_, err := s.reviewer(ctx, a, requestID, d)
	return err
}

// reviewer checks that the actor may decide the request (they are not its requester, and they
// are in one of its resource's approver groups) and returns the resource. A refusal is recorded
// (review.refused) before it is returned.
func (s *Service) reviewer(ctx context.Context, a Actor, requestID string, d Decision) (*Resource, error) {
	if a.ID == "" {
		return nil, newError(ErrInvalid, ReasonUnknownActor, "accessbot does not know who you are.", nil)
	}
	req, err := s.GetRequest(ctx, requestID)
	if err != nil {
		return nil, err
	}
	r, err := s.lookup(req.Resource)
	if err != nil {
		return nil, err
	}
	if a.ID == req.Requester || MatchesPerson(a, req.Requester) {
		return nil, s.refuseReview(ctx, a, req, d, newError(ErrForbidden, ReasonSelfApproval,
			"You cannot decide your own request; another approver must.", nil))
	}
	ok, err := s.memberOfAny(ctx, a, r.Policy.ApproverGroups)
	if err != nil {
		return nil, fmt.Errorf("check approver for request %s: %w", requestID, err)
	}
	if !ok {
		groups := strings.Join(r.Policy.ApproverGroups, ", ")
		return nil, s.refuseReview(ctx, a, req, d, newError(ErrForbidden, ReasonNotApprover,
			fmt.Sprintf("You are not an approver for %s; approvers are in %s.", r.Name, orNobody(groups)),
			map[string]string{"allowed": groups}))
	}
	return r, nil
}
