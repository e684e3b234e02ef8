package grants

import (
	"context"
	"errors"
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
	_, _, _, _, err := s.reviewer(ctx, a, requestID, d)
	return err
}

// MayReview answers whether the actor may decide the request, as CheckReview, but records
// nothing: it is asked when a message is drawn for someone (which buttons they see), not
// because they did anything. A refusal is false with a nil error; an error is a lookup that
// failed.
func (s *Service) MayReview(ctx context.Context, a Actor, requestID string) (bool, error) {
	_, _, _, _, err := s.checkReviewer(ctx, a, requestID, Approve, false)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) {
		return false, nil
	}
	return false, err
}

// reviewer checks that the actor may decide the request (they are not its requester, under any
// of their aliases, and they are in one of its resource's approver groups) and returns the
// resource, the reviewer's person key (their canonical, alias-resolved ID, under which the
// review is stored and counted, so that one person is one review whatever platform or letter
// case they click with), the requester's, and how the reviewer counts as an approver when a
// RequestDirectory said (via: who was on call). A refusal is recorded (review.refused) before
// it is returned.
func (s *Service) reviewer(ctx context.Context, a Actor, requestID string, d Decision) (r *Resource, who, owner, via string, err error) {
	return s.checkReviewer(ctx, a, requestID, d, true)
}

// checkReviewer is reviewer; record says whether a refusal is recorded (review.refused).
func (s *Service) checkReviewer(ctx context.Context, a Actor, requestID string, d Decision, record bool) (r *Resource, who, owner, via string, err error) {
	refuse := func(req Request, e *Error) error {
		if !record {
			return e
		}
		return s.refuseReview(ctx, a, req, d, e)
	}
	a = a.Canonical()
	if a.ID == "" {
		return nil, "", "", "", newError(ErrInvalid, ReasonUnknownActor, "accessbot does not know who you are.", nil)
	}
	req, err := s.GetRequest(ctx, requestID)
	if err != nil {
		return nil, "", "", "", err
	}
	r, err = s.lookup(req.Resource)
	if err != nil {
		return nil, "", "", "", err
	}
	who, err = s.actorPerson(ctx, a)
	if err != nil {
		return nil, "", "", "", fmt.Errorf("check reviewer of request %s: %w", requestID, err)
	}
	owner, err = s.person(ctx, req.Requester)
	if err != nil {
		return nil, "", "", "", fmt.Errorf("check requester of request %s: %w", requestID, err)
	}
	self, err := s.isPerson(ctx, a, req.Requester)
	if err != nil {
		return nil, "", "", "", fmt.Errorf("check reviewer of request %s: %w", requestID, err)
	}
	if self || who == CanonicalPerson(req.Requester) {
		return nil, "", "", "", refuse(req, newError(ErrForbidden, ReasonSelfApproval,
			"You cannot decide your own request; another approver must.", nil))
	}
	m, err := s.membershipAny(ctx, a, r.Policy.ApproverGroups, &MembershipQuery{RequestID: req.ID, Requester: owner})
	if err != nil {
		return nil, "", "", "", fmt.Errorf("check approver for request %s: %w", requestID, err)
	}
	if !m.Member {
		groups := strings.Join(r.Policy.ApproverGroups, ", ")
		return nil, "", "", "", refuse(req, newError(ErrForbidden, ReasonNotApprover,
			fmt.Sprintf("You are not an approver for %s; approvers are in %s.", r.Name, orNobody(groups)),
			map[string]string{"allowed": groups}))
	}
	return r, who, owner, m.Via, nil
}

// approvalsOf counts the distinct people who approved, in their canonical form, leaving out the
// requester: reviews stored before person keys were canonical may spell one person twice.
func approvalsOf(reviews []Review, requester string) int {
	seen := map[string]bool{}
	for _, rv := range reviews {
		if who := CanonicalPerson(rv.Reviewer); rv.Decision == Approve && who != requester {
			seen[who] = true
		}
	}
	return len(seen)
}
