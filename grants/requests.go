package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
)

// defaultPendingTTL applies when a policy leaves PendingTTL zero.
const defaultPendingTTL = 24 * time.Hour

// RequestInput is what a person asks for.
type RequestInput struct {
	Resource string
	// Duration 0 means the policy's default.
	Duration time.Duration
	Reason   string
}

// Outcome is the result of an action that may make or change a grant.
type Outcome struct {
	Request Request
	// Grant is set when the action made a grant (approval, auto-approval, break-glass) or
	// extended one.
	Grant *Grant
	// AutoApproved is true when the policy's auto-approve rule approved the request.
	AutoApproved bool
	// Signals are the misuse signals of a new access or break-glass request.
	Signals Signals
}

// Request asks for access. The policy decides at once whether the person may ask and whether
// the duration and reason are acceptable; then its auto-approve rule may approve the request (and
// the grant is made), or it waits for approvers until its TTL.
func (s *Service) Request(ctx context.Context, a Actor, in RequestInput) (Outcome, error) {
	return s.ask(ctx, a, in, KindAccess)
}

// BreakGlass grants access at once, without approval, where the policy allows it. The grant is
// flagged, an alert is raised, and it must be reviewed afterwards (ReviewBreakGlass). A reason
// is always required.
func (s *Service) BreakGlass(ctx context.Context, a Actor, in RequestInput) (Outcome, error) {
	return s.ask(ctx, a, in, KindBreakGlass)
}

func (s *Service) ask(ctx context.Context, a Actor, in RequestInput, kind RequestKind) (Outcome, error) {
	a = a.Canonical()
	if a.ID == "" {
		return Outcome{}, newError(ErrInvalid, ReasonUnknownActor, "accessbot does not know who you are.", nil)
	}
	r, err := s.lookup(strings.TrimSpace(in.Resource))
	if err != nil {
		return Outcome{}, err
	}
	now := s.now()
	d, reason, err := s.checkAsk(ctx, a, r, kind, in.Duration, in.Reason)
	if err != nil {
		return Outcome{}, s.refuseAsk(ctx, a, r, kind, in, err)
	}
	acct, err := s.askAccount(ctx, a, r, kind, in)
	if err != nil {
		return Outcome{}, err
	}
	if err := s.checkHeld(ctx, a, r, acct); err != nil {
		return Outcome{}, s.refuseAsk(ctx, a, r, kind, in, err)
	}
	checks, refuse := s.lookups(ctx, LookupQuery{Requester: a, Resource: r, Kind: kind, Duration: d, Reason: reason, Now: now})
	if refuse != "" && kind != KindBreakGlass {
		// Break-glass is for when the usual ways fail: its checks are shown, never a refusal.
		return Outcome{}, s.refuseAsk(ctx, a, r, kind, in, newError(ErrInvalid, ReasonCheckFailed, refuse, nil))
	}

	person, err := s.actorPerson(ctx, a)
	if err != nil {
		return Outcome{}, fmt.Errorf("work out who asks for %s: %w", r.Name, err)
	}

	sig, err := s.signalsFor(ctx, a, r, kind, d, now)
	if err != nil {
		return Outcome{}, err
	}

	p := r.Policy
	req := Request{
		ID:              s.newID("r-"),
		Kind:            kind,
		Resource:        r.Name,
		Requester:       a.ID,
		RequesterName:   a.Name,
		Duration:        d,
		Reason:          reason,
		State:           RequestPending,
		ApprovalsNeeded: max(1, p.Approvals),
		CreatedAt:       now,
		PendingUntil:    now.Add(pendingTTL(p)),
		Signals:         sig.Raised,
		Checks:          checks,
		Version:         1,
	}
	ruleIn := s.ruleInput(ctx, a, r, d, reason, now, sig)
	ruleIn.Checks, ruleIn.OnCall = checks, onCallOf(checks)
	escalated := s.requiresMoreApprovals(r, ruleIn)
	if escalated {
		req.ApprovalsNeeded = max(req.ApprovalsNeeded, p.RequireApprovals.Approvals)
	}
	alerts := s.firedAlerts(r, ruleIn)
	auto := false
	switch {
	case kind == KindBreakGlass:
		req.State, req.DecidedAt, req.DecidedBy, req.Note = RequestApproved, now, a.ID, "break-glass"
	case !escalated && allPassed(checks) && s.autoApprovesInput(r, ruleIn):
		auto = true
		req.State, req.DecidedAt, req.DecidedBy = RequestApproved, now, PolicyActor
		req.Note = "auto-approved by rule: " + p.AutoApprove.Source
	}
	granted := req.State == RequestApproved
	if granted {
		req.GrantID = s.newID("g-")
	}

	var g Grant
	err = s.update(ctx, now, func(t *txn) error {
		if err := s.checkLimits(ctx, t, req); err != nil {
			return err
		}
		if err := t.InsertRequest(ctx, req); err != nil {
			return fmt.Errorf("insert request %s: %w", req.ID, err)
		}
		if err := s.claimAccount(ctx, t, r, acct, person, req.ID, fmt.Sprintf(
			"Your account name on %s would be %s, which belongs to another person; ask an admin to give you your own account name (resources' accounts mapping).",
			r.Name, acct)); err != nil {
			return err
		}
		if err := t.event(ctx, requestEvent(a.ID, req, audit.RequestCreatedData{
			Kind: string(kind), Duration: d, Reason: reason,
			ApprovalsNeeded: req.ApprovalsNeeded, PendingUntil: req.PendingUntil,
			Signals: sig.record(), Checks: auditChecks(checks),
		})); err != nil {
			return err
		}
		for _, al := range alerts {
			if err := t.event(ctx, requestEvent(a.ID, req, s.alertPayload(al, a, req, sig))); err != nil {
				return err
			}
		}
		if !granted {
			return nil
		}
		if auto {
			if err := t.event(ctx, requestEvent(PolicyActor, req, audit.RequestApprovedData{
				Auto: true, Rule: p.AutoApprove.Source,
			})); err != nil {
				return err
			}
		}
		if kind == KindBreakGlass {
			if err := t.event(ctx, requestEvent(a.ID, req, audit.BreakGlassUsedData{
				Duration: d, Reason: reason, GrantID: req.GrantID,
			})); err != nil {
				return err
			}
			alert := requestEvent(a.ID, req, audit.AlertRaisedData{
				Alert:   audit.AlertBreakGlass,
				Message: fmt.Sprintf("%s used break-glass access to %s for %s: %s", displayName(a), r.Name, fmtDuration(d), reason),
			})
			alert.GrantID = req.GrantID
			if err := t.event(ctx, alert); err != nil {
				return err
			}
		}
		var err error
		g, err = s.insertGrant(ctx, t, req, r, acct, a.Email, kind == KindBreakGlass)
		return err
	})
	if isRateLimited(err) {
		return Outcome{}, s.refuseAsk(ctx, a, r, kind, in, err)
	}
	if taken, ok := errors.AsType[*accountTaken](err); ok {
		s.raiseAccountTaken(ctx, a, req, acct, taken, &audit.RequestRefusedData{
			Kind: string(kind), Refused: ReasonAccountTaken, Reason: reason, Duration: in.Duration,
		})
		return Outcome{}, taken.refusal
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("store %s request for %s: %w", kind, r.Name, err)
	}
	out := Outcome{Request: req, AutoApproved: auto, Signals: sig}
	if granted {
		pg := public(g)
		out.Grant = &pg
	}
	// A grant is due now; a pending request's TTL may be the earliest due time.
	s.wakeScheduler()
	s.log.Info().Str("request_id", req.ID).Str("resource", r.Name).Str("actor", a.ID).
		Str("kind", string(kind)).Str("state", string(req.State)).Msg("request stored")
	return out, nil
}

// askAccount works out a's account name on r for a request: from the resource's mapping,
// template or verified account source. A person who has not linked the account the resource
// needs is refused (and the refusal recorded); a mapping that yields nothing is an admin's
// problem, said as such.
func (s *Service) askAccount(ctx context.Context, a Actor, r *Resource, kind RequestKind, in RequestInput) (string, error) {
	linked, err := s.linkedAccount(ctx, r, a)
	if err != nil {
		return "", fmt.Errorf("work out the account for %s: %w", r.Name, err)
	}
	acct, err := r.accountWith(a, linked)
	if ge, ok := errors.AsType[*Error](err); ok && ge.Reason == ReasonAccountNotLinked {
		return "", s.refuseAsk(ctx, a, r, kind, in, err)
	}
	if err != nil || acct == "" {
		s.log.Error().Err(err).Str("resource", r.Name).Str("actor", a.ID).Msg("account template failed")
		return "", newError(ErrInvalid, ReasonAccount,
			fmt.Sprintf("accessbot cannot work out your account name on %s; ask an admin to check its account mapping.", r.Name), nil)
	}
	return acct, nil
}

func pendingTTL(p Policy) time.Duration {
	if p.PendingTTL > 0 {
		return p.PendingTTL
	}
	return defaultPendingTTL
}

func displayName(a Actor) string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// requestEvent is an event about a request, with its details p.
func requestEvent(actor string, req Request, p audit.Payload) audit.Event {
	e := audit.Event{
		Actor:     actor,
		Resource:  req.Resource,
		Subject:   req.Requester,
		RequestID: req.ID,
	}.With(p)
	if req.Kind == KindExtend {
		e.GrantID = req.GrantID
	}
	return e
}

// grantEvent is an event about a grant, with its details p.
func grantEvent(actor string, g Grant, p audit.Payload) audit.Event {
	return audit.Event{
		Actor:     actor,
		Resource:  g.Resource,
		Subject:   g.Subject,
		RequestID: g.RequestID,
		GrantID:   g.ID,
	}.With(p)
}

// checkAsk applies the policy to an ask: who may ask, for how long, with what reason. It returns
// the effective duration and the trimmed reason.
func (s *Service) checkAsk(ctx context.Context, a Actor, r *Resource, kind RequestKind, d time.Duration, reason string) (time.Duration, string, error) {
	p := r.Policy
	ok, err := s.mayRequest(ctx, a, r)
	if err != nil {
		return 0, "", err
	}
	if !ok {
		allowed := append(append([]string(nil), p.RequesterGroups...), p.Requesters...)
		return 0, "", newError(ErrForbidden, ReasonNotAllowed,
			fmt.Sprintf("You may not request %s; it is open to %s.", r.Name, strings.Join(allowed, ", ")),
			map[string]string{"allowed": strings.Join(allowed, ", ")})
	}
	if kind == KindBreakGlass && !p.BreakGlass {
		return 0, "", newError(ErrForbidden, ReasonBreakGlassDisabled,
			fmt.Sprintf("Break-glass access is not enabled for %s; make a normal request instead.", r.Name), nil)
	}
	if d == 0 {
		d = p.DefaultDuration
	}
	if d <= 0 {
		return 0, "", newError(ErrInvalid, ReasonDurationInvalid,
			"The duration must be more than zero (for example 30m, 1h or 4h).", nil)
	}
	if p.MaxDuration > 0 && d > p.MaxDuration {
		return 0, "", newError(ErrInvalid, ReasonDurationTooLong,
			fmt.Sprintf("%s is longer than the maximum of %s for %s.", fmtDuration(d), fmtDuration(p.MaxDuration), r.Name),
			map[string]string{"max": fmtDuration(p.MaxDuration), "requested": fmtDuration(d)})
	}
	reason = strings.TrimSpace(reason)
	if reason == "" && (p.ReasonRequired || p.ReasonPattern != nil || kind == KindBreakGlass) {
		details := map[string]string{}
		msg := fmt.Sprintf("A reason is required for %s.", r.Name)
		if p.ReasonPattern != nil {
			details["pattern"] = p.ReasonPattern.String()
			msg = fmt.Sprintf("A reason matching %s is required for %s.", p.ReasonPattern, r.Name)
		}
		return 0, "", newError(ErrInvalid, ReasonReasonRequired, msg, details)
	}
	if p.ReasonPattern != nil && !p.ReasonPattern.MatchString(reason) {
		return 0, "", newError(ErrInvalid, ReasonReasonMismatch,
			fmt.Sprintf("The reason must match %s for %s.", p.ReasonPattern, r.Name),
			map[string]string{"pattern": p.ReasonPattern.String()})
	}
	return d, reason, nil
}

// checkHeld refuses a request for access the person holds already by other means than accessbot
// (adapters.Holder): a grant would add nothing, and its revocation must not take away what
// accessbot did not give. When the target cannot answer, the request goes on; the adapter
// leaves standing access in place on revoke all the same.
func (s *Service) checkHeld(ctx context.Context, a Actor, r *Resource, account string) error {
	h, ok := r.Adapter.(adapters.Holder)
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	held, err := h.Holds(cctx, adapters.Subject{ID: a.ID, Email: a.Email, Account: account})
	if err != nil {
		s.log.Warn().Err(err).Str("resource", r.Name).Str("actor", a.ID).Msg("could not check for standing access; the request goes on")
		return nil
	}
	if held {
		return newError(ErrConflict, ReasonAlreadyHeld,
			fmt.Sprintf("You already have this access: your account %s holds %s without a grant, so there is nothing to request (accessbot neither grants nor removes it).", account, r.Name),
			map[string]string{"account": account})
	}
	return nil
}

// refuseAsk records a request the policy refused (request.refused) and returns the refusal.
func (s *Service) refuseAsk(ctx context.Context, a Actor, r *Resource, kind RequestKind, in RequestInput, err error) error {
	var de *Error
	if !errors.As(err, &de) {
		return fmt.Errorf("check request for %s: %w", r.Name, err)
	}
	s.record(ctx, audit.Event{Actor: a.ID, Resource: r.Name, Subject: a.ID}.With(audit.RequestRefusedData{
		Kind: string(kind), Refused: de.Reason, Reason: strings.TrimSpace(in.Reason), Duration: in.Duration,
	}))
	return err
}

// ruleInput is what the policy's CEL rules see of a's request.
func (s *Service) ruleInput(ctx context.Context, a Actor, r *Resource, d time.Duration, reason string, now time.Time, sig Signals) RuleInput {
	var groups []string
	if r.Policy.AutoApprove != nil || r.Policy.RequireApprovals != nil || len(s.alerts) > 0 {
		// Membership may ask a platform; only a rule can use it.
		groups = s.groupsOf(ctx, a)
	}
	return RuleInput{
		Requester: a.ID,
		Groups:    groups,
		Resource:  r.Name,
		Duration:  d,
		Reason:    reason,
		Now:       now.In(s.loc),
		Signals:   sig,
	}
}

// autoApprovesInput evaluates the policy's auto-approve rule over in. An error counts as "no".
func (s *Service) autoApprovesInput(r *Resource, in RuleInput) bool {
	rule := r.Policy.AutoApprove
	if rule == nil {
		return false
	}
	ok, err := rule.Eval(in)
	if err != nil {
		s.log.Warn().Err(err).Str("resource", r.Name).Msg("auto-approve rule failed; the request waits for approvers")
		return false
	}
	return ok
}

// insertGrant stores the intent: the grant in state activating, due for the scheduler now.
// Nothing has happened at the target yet.
func (s *Service) insertGrant(ctx context.Context, t *txn, req Request, r *Resource, account, email string, breakGlass bool) (Grant, error) {
	now := t.now
	g := Grant{
		ID:            req.GrantID,
		RequestID:     req.ID,
		Resource:      r.Name,
		Subject:       req.Requester,
		Account:       account,
		Email:         email,
		State:         GrantActivating,
		BreakGlass:    breakGlass,
		Reason:        req.Reason,
		StartsAt:      now,
		ExpiresAt:     now.Add(req.Duration),
		NextAttemptAt: now,
		CreatedAt:     now,
		UpdatedAt:     now,
		Version:       1,
	}
	if g.ID == "" {
		g.ID = s.newID("g-")
	}
	g.WarnAt = warnAt(r.Policy, g.ExpiresAt, now)
	if err := t.InsertGrant(ctx, g); err != nil {
		return Grant{}, fmt.Errorf("insert grant %s: %w", g.ID, err)
	}
	if err := t.event(ctx, grantEvent(System.ID, g, audit.GrantActivatingData{
		Account: account, Duration: req.Duration, ExpiresAt: g.ExpiresAt, BreakGlass: breakGlass,
	})); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// warnAt is when the expiry warning fires: WarnBefore ahead of expiry, if the grant has longer
// than that left.
func warnAt(p Policy, expires, now time.Time) time.Time {
	if p.WarnBefore <= 0 || expires.Sub(now) <= p.WarnBefore {
		return time.Time{}
	}
	return expires.Add(-p.WarnBefore)
}

// Approve records the actor's approval. When the request has all the approvals it needs, it is
// approved and, in the same transaction, the grant is stored (to be made by the scheduler) or,
// for an extend request, the grant's expiry moves.
func (s *Service) Approve(ctx context.Context, a Actor, requestID string) (Outcome, error) {
	return s.decide(ctx, a, requestID, Approve, "", nil)
}

// Deny denies the request; any one approver's denial decides it.
func (s *Service) Deny(ctx context.Context, a Actor, requestID, reason string) (Request, error) {
	out, err := s.decide(ctx, a, requestID, Deny, reason, nil)
	return out.Request, err
}

// decide records one review. proof, for an approval, is the approver's fresh login at the
// identity provider (ApproveVerified); a step-up resource refuses an approval without one.
func (s *Service) decide(ctx context.Context, a Actor, requestID string, d Decision, reason string, proof *Proof) (Outcome, error) {
	r, who, requester, via, err := s.reviewer(ctx, a, requestID, d)
	if err != nil {
		return Outcome{}, err
	}
	if d == Approve && r.StepUp.Approve && proof == nil {
		req, err := s.GetRequest(ctx, requestID)
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{}, s.refuseReview(ctx, a, req, d, stepUpRefusal(r))
	}
	a = a.Canonical()
	var acct string // the account a final approval claims for the requester
	linked, err := s.linkedAccountOfRequest(ctx, r, requestID, d)
	if err != nil {
		return Outcome{}, err
	}

	now := s.now()
	reason = strings.TrimSpace(reason)
	var (
		cur  Request
		g    Grant
		made bool
	)
	err = s.update(ctx, now, func(t *txn) error {
		made = false
		var err error
		cur, err = t.Request(ctx, requestID)
		if err != nil {
			return fmt.Errorf("read request %s: %w", requestID, err)
		}
		if cur.State != RequestPending {
			return newError(ErrConflict, ReasonAlreadyDecided,
				fmt.Sprintf("Request %s is already %s.", cur.ID, cur.State), map[string]string{"state": string(cur.State)})
		}
		if !now.Before(cur.PendingUntil) {
			return newError(ErrConflict, ReasonRequestExpired,
				fmt.Sprintf("Request %s waited too long for a decision and has expired.", cur.ID), nil)
		}
		if err := t.InsertReview(ctx, Review{RequestID: cur.ID, Reviewer: who, Decision: d, Reason: reason, At: now}); err != nil {
			if errors.Is(err, ErrConflict) {
				return newError(ErrConflict, ReasonAlreadyReviewed,
					fmt.Sprintf("You have already reviewed request %s.", cur.ID), nil)
			}
			return fmt.Errorf("insert review of request %s: %w", cur.ID, err)
		}
		if d == Deny {
			cur.State, cur.DecidedAt, cur.DecidedBy, cur.Note = RequestDenied, now, a.ID, reason
			if err := t.event(ctx, requestEvent(a.ID, cur, audit.ReviewDeniedData{Reason: reason})); err != nil {
				return err
			}
			if err := t.event(ctx, requestEvent(a.ID, cur, audit.RequestDeniedData{Reason: reason})); err != nil {
				return err
			}
			return updateRequest(ctx, t, &cur)
		}

		reviews, err := t.Reviews(ctx, cur.ID)
		if err != nil {
			return fmt.Errorf("read reviews of request %s: %w", cur.ID, err)
		}
		approvals := approvalsOf(reviews, CanonicalPerson(cur.Requester))
		tally := audit.Tally{Got: approvals, Need: cur.ApprovalsNeeded}
		approved := audit.ReviewApprovedData{Approvals: tally, Via: via}
		if proof != nil {
			approved.StepUpIssuer, approved.StepUpSubject = proof.Issuer, proof.Subject
			approved.StepUpAMR, approved.StepUpACR, approved.StepUpAuthTime = proof.AMR, proof.ACR, proof.AuthTime
		}
		if err := t.event(ctx, requestEvent(a.ID, cur, approved)); err != nil {
			return err
		}
		if approvals >= cur.ApprovalsNeeded {
			cur.State, cur.DecidedAt, cur.DecidedBy = RequestApproved, now, a.ID
			if cur.Kind != KindExtend {
				cur.GrantID = s.newID("g-")
			}
			if err := t.event(ctx, requestEvent(a.ID, cur, audit.RequestApprovedData{Approvals: tally})); err != nil {
				return err
			}
			if cur.Kind == KindExtend {
				g, err = s.applyExtension(ctx, t, cur, r)
			} else {
				subject := actorFromID(cur.Requester, cur.RequesterName)
				var aerr error
				acct, aerr = r.accountWith(subject, linked)
				if ge, ok := errors.AsType[*Error](aerr); ok && ge.Reason == ReasonAccountNotLinked {
					return notLinked(r, cur.Requester)
				}
				if aerr != nil || acct == "" {
					return newError(ErrInvalid, ReasonAccount,
						fmt.Sprintf("accessbot cannot work out the account name of %s on %s; ask an admin to check its account mapping.", cur.Requester, r.Name), nil)
				}
				// Claimed again at the grant: a request stored before owners were recorded,
				// or a mapping changed since, must not hand over another person's account.
				if err := s.claimAccount(ctx, t, r, acct, requester, cur.ID, fmt.Sprintf(
					"Request %s cannot be approved: its account name %s on %s belongs to another person.", cur.ID, acct, r.Name)); err != nil {
					return err
				}
				g, err = s.insertGrant(ctx, t, cur, r, acct, subject.Email, false)
			}
			if err != nil {
				return err
			}
			made = true
		}
		// The request row is written even when more approvals are needed: its version then
		// orders concurrent reviews, so two partial approvals cannot both miss each other.
		return updateRequest(ctx, t, &cur)
	})
	if taken, ok := errors.AsType[*accountTaken](err); ok {
		s.raiseAccountTaken(ctx, a, cur, acct, taken, nil)
		return Outcome{}, taken.refusal
	}
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Outcome{}, err
		}
		return Outcome{}, fmt.Errorf("%s request %s: %w", d, requestID, err)
	}
	out := Outcome{Request: cur}
	if made {
		if cur.Kind == KindExtend {
			g = s.afterExtend(ctx, r, g)
		}
		pg := public(g)
		out.Grant = &pg
		s.wakeScheduler()
	}
	return out, nil
}

func orNobody(s string) string {
	if s == "" {
		return "no group (ask an admin)"
	}
	return s
}

func updateRequest(ctx context.Context, t *txn, r *Request) error {
	v, err := t.UpdateRequest(ctx, *r)
	if err != nil {
		return fmt.Errorf("update request %s: %w", r.ID, err)
	}
	r.Version = v
	return nil
}

func updateGrant(ctx context.Context, t Tx, g *Grant) error {
	v, err := t.UpdateGrant(ctx, *g)
	if err != nil {
		return fmt.Errorf("update grant %s: %w", g.ID, err)
	}
	g.Version = v
	return nil
}

// refuseReview records a click by someone who may not decide (review.refused) and returns the
// refusal.
func (s *Service) refuseReview(ctx context.Context, a Actor, req Request, d Decision, e *Error) error {
	s.record(ctx, requestEvent(a.ID, req, audit.ReviewRefusedData{Decision: string(d), Refused: e.Reason}))
	return e
}

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, a Actor, requestID string) (Request, error) {
	req, err := s.GetRequest(ctx, requestID)
	if err != nil {
		return Request{}, err
	}
	if a = a.Canonical(); a.ID == "" || a.ID != CanonicalPerson(req.Requester) {
		return Request{}, newError(ErrForbidden, ReasonNotRequester, "Only the person who made a request can cancel it.", nil)
	}
	now := s.now()
	err = s.update(ctx, now, func(t *txn) error {
		var err error
		req, err = t.Request(ctx, requestID)
		if err != nil {
			return fmt.Errorf("read request %s: %w", requestID, err)
		}
		if req.State != RequestPending {
			return newError(ErrConflict, ReasonNotPending,
				fmt.Sprintf("Request %s is already %s.", req.ID, req.State), map[string]string{"state": string(req.State)})
		}
		req.State, req.DecidedAt, req.DecidedBy = RequestCancelled, now, a.ID
		if err := t.event(ctx, requestEvent(a.ID, req, audit.RequestCancelledData{})); err != nil {
			return err
		}
		return updateRequest(ctx, t, &req)
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Request{}, err
		}
		return Request{}, fmt.Errorf("cancel request %s: %w", requestID, err)
	}
	return req, nil
}

// Extend asks for more time on an active grant. It is a request of kind extend under the same
// policy as a new one (who may ask, the maximum per extension, reason rules, auto-approve,
// approvals); only the grant's owner may ask. An empty reason reuses the grant's. When approved,
// the grant's expiry moves by the duration and, if the adapter is an adapters.Extender, the
// target's own expiry too (if that call fails the target ends access at the old time: the safe
// side).
func (s *Service) Extend(ctx context.Context, a Actor, grantID string, by time.Duration, reason string) (Outcome, error) {
	a = a.Canonical()
	if a.ID == "" {
		return Outcome{}, newError(ErrInvalid, ReasonUnknownActor, "accessbot does not know who you are.", nil)
	}
	g, err := s.GetGrant(ctx, grantID)
	if err != nil {
		return Outcome{}, err
	}
	r, err := s.lookup(g.Resource)
	if err != nil {
		return Outcome{}, err
	}
	if a.ID != CanonicalPerson(g.Subject) {
		return Outcome{}, newError(ErrForbidden, ReasonNotOwner, "Only the person who holds a grant can extend it.", nil)
	}
	now := s.now()
	if err := extendable(g, now); err != nil {
		return Outcome{}, err
	}
	if strings.TrimSpace(reason) == "" {
		reason = g.Reason
	}
	d, reason, err := s.checkAsk(ctx, a, r, KindExtend, by, reason)
	if err != nil {
		return Outcome{}, s.refuseAsk(ctx, a, r, KindExtend, RequestInput{Resource: r.Name, Duration: by, Reason: reason}, err)
	}
	p := r.Policy
	req := Request{
		ID:              s.newID("r-"),
		Kind:            KindExtend,
		Resource:        r.Name,
		Requester:       a.ID,
		RequesterName:   a.Name,
		Duration:        d,
		Reason:          reason,
		State:           RequestPending,
		ApprovalsNeeded: max(1, p.Approvals),
		GrantID:         g.ID,
		CreatedAt:       now,
		PendingUntil:    now.Add(pendingTTL(p)),
		Version:         1,
	}
	// An extension has no signals (they read as all off), but a require_approvals condition
	// that holds without them (on the duration, say) holds for it too.
	ruleIn := s.ruleInput(ctx, a, r, d, reason, now, Signals{})
	escalated := s.requiresMoreApprovals(r, ruleIn)
	if escalated {
		req.ApprovalsNeeded = max(req.ApprovalsNeeded, p.RequireApprovals.Approvals)
	}
	auto := !escalated && s.autoApprovesInput(r, ruleIn)
	if auto {
		req.State, req.DecidedAt, req.DecidedBy = RequestApproved, now, PolicyActor
		req.Note = "auto-approved by rule: " + p.AutoApprove.Source
	}
	var extended Grant
	err = s.update(ctx, now, func(t *txn) error {
		cur, err := t.Grant(ctx, g.ID)
		if err != nil {
			return fmt.Errorf("read grant %s: %w", g.ID, err)
		}
		if err := extendable(cur, now); err != nil {
			return err
		}
		if err := s.checkLimits(ctx, t, req); err != nil {
			return err
		}
		if err := t.InsertRequest(ctx, req); err != nil {
			return fmt.Errorf("insert request %s: %w", req.ID, err)
		}
		if err := t.event(ctx, requestEvent(a.ID, req, audit.RequestCreatedData{
			Kind: string(KindExtend), Duration: d, Reason: reason,
			ApprovalsNeeded: req.ApprovalsNeeded, PendingUntil: req.PendingUntil,
		})); err != nil {
			return err
		}
		if !auto {
			return nil
		}
		if err := t.event(ctx, requestEvent(PolicyActor, req, audit.RequestApprovedData{
			Auto: true, Rule: p.AutoApprove.Source,
		})); err != nil {
			return err
		}
		extended, err = s.applyExtension(ctx, t, req, r)
		return err
	})
	if isRateLimited(err) {
		return Outcome{}, s.refuseAsk(ctx, a, r, KindExtend, RequestInput{Resource: r.Name, Duration: by, Reason: reason}, err)
	}
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Outcome{}, err
		}
		return Outcome{}, fmt.Errorf("extend grant %s: %w", g.ID, err)
	}
	out := Outcome{Request: req, AutoApproved: auto}
	if auto {
		extended = s.afterExtend(ctx, r, extended)
		pg := public(extended)
		out.Grant = &pg
	}
	s.wakeScheduler()
	return out, nil
}

// extendable says whether a grant can still be extended: it must be active and not yet expired.
func extendable(g Grant, now time.Time) error {
	if g.State != GrantActive || !g.ExpiresAt.After(now) {
		return newError(ErrConflict, ReasonNotActive,
			fmt.Sprintf("Grant %s is %s and can no longer be extended.", g.ID, describeState(g, now)),
			map[string]string{"state": string(g.State)})
	}
	return nil
}

func describeState(g Grant, now time.Time) string {
	if g.State == GrantActive && !g.ExpiresAt.After(now) {
		return "expired"
	}
	return string(g.State)
}

// applyExtension moves the grant's expiry by the approved extend request's duration, in the
// transaction that approves it.
func (s *Service) applyExtension(ctx context.Context, t *txn, req Request, r *Resource) (Grant, error) {
	g, err := t.Grant(ctx, req.GrantID)
	if err != nil {
		return Grant{}, fmt.Errorf("read grant %s: %w", req.GrantID, err)
	}
	if err := extendable(g, t.now); err != nil {
		return Grant{}, err
	}
	prev := g.ExpiresAt
	g.ExpiresAt = prev.Add(req.Duration)
	g.WarnAt = warnAt(r.Policy, g.ExpiresAt, t.now)
	g.UpdatedAt = t.now
	if err := updateGrant(ctx, t, &g); err != nil {
		return Grant{}, err
	}
	e := grantEvent(req.Requester, g, audit.GrantExtendedData{
		By: req.Duration, ExpiresAt: g.ExpiresAt, PreviousExpiresAt: prev, ExtendRequestID: req.ID,
	})
	if err := t.event(ctx, e); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// afterExtend pushes the new expiry to a target that keeps its own, after the extension
// committed. A failure is logged and audited; access then ends at the target's old expiry.
func (s *Service) afterExtend(ctx context.Context, r *Resource, g Grant) Grant {
	ext, ok := r.Adapter.(adapters.Extender)
	if !ok {
		return g
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.callTimeout)
	defer cancel()
	start := time.Now()
	err := ext.Extend(cctx, adapters.RevokeRequest{
		GrantID:  g.ID,
		Resource: g.Resource,
		Subject:  adapters.Subject{ID: g.Subject, Email: g.Email, Account: g.Account},
		Data:     g.LeaseData,
	}, g.ExpiresAt)
	s.metrics.AdapterCall(r.Name, "extend", time.Since(start), err)
	if err != nil {
		s.log.Error().Err(err).Str("grant_id", g.ID).Str("resource", r.Name).
			Msg("extending the target's own expiry failed; access there ends at the old expiry")
		s.record(ctx, grantEvent(System.ID, g, audit.GrantExtendedData{TargetNotExtended: true, Error: err.Error()}))
	}
	return g
}
