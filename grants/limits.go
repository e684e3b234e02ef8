package grants

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limits cap the requests people make, so that one person (a script gone wrong, a stolen
// account) cannot flood the approvers with posts nor the targets with grants. They are counted
// from storage in the transaction that would store the new request, so replicas and restarts
// share them. Zero turns a limit off.
//
// Break-glass is never refused by a limit: it exists for when waiting is not an option, it
// needs nobody to act at the time, and every use is alerted and must be reviewed. It still
// counts towards PerPersonPerHour, so it cannot be used to make room for more ordinary requests.
type Limits struct {
	// PendingPerPerson caps the requests one person has waiting for a decision (access and
	// extend, on every resource). Auto-approved requests never wait and are not capped by it.
	PendingPerPerson int
	// PendingPerResource caps the requests, from everyone, waiting for a decision on one
	// resource.
	PendingPerResource int
	// PerPersonPerHour caps the requests one person makes in any hour, whatever became of them.
	PerPersonPerHour int
}

// Names of the limits, in refusals' details and in logs; they are the config keys.
const (
	LimitPendingPerPerson   = "pending_per_person"
	LimitPendingPerResource = "pending_per_resource"
	LimitPerPersonPerHour   = "requests_per_person_per_hour"
)

// checkLimits applies the limits to req, which is about to be stored in t. A refusal is a
// rate_limited *Error saying which limit and what to do; the caller records it.
func (s *Service) checkLimits(ctx context.Context, t *txn, req Request) error {
	l := s.limits
	if req.Kind == KindBreakGlass {
		return nil
	}
	if req.State == RequestPending {
		if n, err := s.countAsks(ctx, t, l.PendingPerPerson, AskCount{Requester: req.Requester, PendingAt: t.now}); err != nil {
			return err
		} else if n >= l.PendingPerPerson && l.PendingPerPerson > 0 {
			return s.rateLimited(req, LimitPendingPerPerson, l.PendingPerPerson, fmt.Sprintf(
				"You already have %d requests waiting for a decision, and one person may have at most %d. "+
					"Cancel one you no longer need, or wait until one is decided, then ask again.", n, l.PendingPerPerson), nil)
		}
		if n, err := s.countAsks(ctx, t, l.PendingPerResource, AskCount{Resource: req.Resource, PendingAt: t.now}); err != nil {
			return err
		} else if n >= l.PendingPerResource && l.PendingPerResource > 0 {
			return s.rateLimited(req, LimitPendingPerResource, l.PendingPerResource, fmt.Sprintf(
				"%s already has %d requests waiting for a decision, and one resource may have at most %d. "+
					"Ask again once its approvers have decided some of them.", req.Resource, n, l.PendingPerResource), nil)
		}
	}
	if l.PerPersonPerHour <= 0 {
		return nil
	}
	n, err := s.countAsks(ctx, t, l.PerPersonPerHour, AskCount{Requester: req.Requester, Since: t.now.Add(-time.Hour)})
	if err != nil || n < l.PerPersonPerHour {
		return err
	}
	wait, err := untilBelowHourly(ctx, t, req.Requester, l.PerPersonPerHour)
	if err != nil {
		return err
	}
	return s.rateLimited(req, LimitPerPersonPerHour, l.PerPersonPerHour, fmt.Sprintf(
		"You have made %d requests in the last hour, and one person may make at most %d. You can ask again in %s.",
		n, l.PerPersonPerHour, fmtDuration(wait)), map[string]string{"retry_in": fmtDuration(wait)})
}

// isRateLimited reports whether err is a refusal by one of the limits.
func isRateLimited(err error) bool {
	var de *Error
	return errors.As(err, &de) && de.Reason == ReasonRateLimited
}

// countAsks counts what c selects when the limit is on.
func (s *Service) countAsks(ctx context.Context, t *txn, limit int, c AskCount) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := t.CountAsks(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("count requests for the request limits: %w", err)
	}
	return n, nil
}

// untilBelowHourly is how long until the person has fewer than limit requests in the last hour:
// until the limit-th newest is an hour old. It is rounded up to the minute, so that asking again
// then succeeds.
func untilBelowHourly(ctx context.Context, t *txn, requester string, limit int) (time.Duration, error) {
	rs, err := t.Requests(ctx, RequestFilter{Requester: requester, Limit: limit})
	if err != nil {
		return 0, fmt.Errorf("list requests of %s for the hourly limit: %w", requester, err)
	}
	wait := time.Hour
	if len(rs) == limit {
		wait = rs[limit-1].CreatedAt.Add(time.Hour).Sub(t.now)
	}
	if rem := wait % time.Minute; rem != 0 {
		wait += time.Minute - rem
	}
	return max(time.Minute, wait), nil
}

// rateLimited is the refusal of req by the named limit, logged because reaching a limit is worth
// an operator's look (a script looping, an account misused).
func (s *Service) rateLimited(req Request, limit string, most int, msg string, details map[string]string) *Error {
	if details == nil {
		details = map[string]string{}
	}
	details["limit"], details["max"] = limit, strconv.Itoa(most)
	s.log.Warn().Str("actor", req.Requester).Str("resource", req.Resource).Str("kind", string(req.Kind)).
		Str("limit", limit).Int("max", most).Msg("request refused: limit reached")
	return newError(ErrForbidden, ReasonRateLimited, msg, details)
}
