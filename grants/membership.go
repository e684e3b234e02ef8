package grants

import (
	"context"
	"errors"
	"fmt"
)

// RequestDirectory is a Directory whose answer may depend on the request being decided, and
// that can say how a person came to count: an on-call rota, where the people on call at the
// next escalation level count for a level whose one person on call is the requester (so that
// a request is never stuck waiting for its own requester), and where the audit log should
// show who was on call when the approval was made. The Service asks it, when the Directory
// implements it, for the approver groups of a request being decided; everywhere else it asks
// MemberOf.
type RequestDirectory interface {
	Directory
	// MemberForRequest reports whether the actor belongs to the group for deciding a request
	// of q.Requester's.
	MemberForRequest(ctx context.Context, a Actor, group string, q MembershipQuery) (Membership, error)
}

// MembershipQuery is what a RequestDirectory learns of the request being decided.
type MembershipQuery struct {
	RequestID string
	// Requester is the requester's person ID (canonical).
	Requester string
}

// Membership is a RequestDirectory's answer.
type Membership struct {
	Member bool
	// Via says how the person counts when it is not plain membership ("on call now for
	// pagerduty:schedule/PABC"); it is recorded in review.approved. Empty otherwise.
	Via string
}

// memberOfAny reports whether a belongs to any of groups. An error looking up one group does
// not hide membership in another: an on-call provider's outage must not keep a member of a
// named approver group from approving. The error is returned only when no group matched, so
// callers still fail closed.
func (s *Service) memberOfAny(ctx context.Context, a Actor, groups []string) (bool, error) {
	m, err := s.membershipAny(ctx, a, groups, nil)
	return m.Member, err
}

// membershipAny is memberOfAny, asking a RequestDirectory about the request q when the
// Directory is one and q is not nil.
func (s *Service) membershipAny(ctx context.Context, a Actor, groups []string, q *MembershipQuery) (Membership, error) {
	if s.dir == nil {
		return Membership{}, nil
	}
	rd, _ := s.dir.(RequestDirectory)
	var errs []error
	for _, g := range groups {
		var (
			m   Membership
			err error
		)
		if rd != nil && q != nil {
			m, err = rd.MemberForRequest(ctx, a, g, *q)
		} else {
			m.Member, err = s.dir.MemberOf(ctx, a, g)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("check membership of %s in group %s: %w", a.ID, g, err))
			continue
		}
		if m.Member {
			if len(errs) > 0 {
				s.log.Warn().Err(errors.Join(errs...)).Str("actor", a.ID).Str("group", g).
					Msg("a group lookup failed; membership found in another group")
			}
			return m, nil
		}
	}
	return Membership{}, errors.Join(errs...)
}
