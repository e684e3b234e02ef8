package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// Revoke ends a grant early; its holder or an admin may. Like Vault's lease revocation, it only
// moves the expiry to now, so there is one revocation path: the scheduler's, which it wakes.
//
// An active grant becomes revoking at once (grant.revoking names who revoked it). A grant still
// activating keeps its state until the adapter call in flight settles, so a revocation never
// races a grant at the target; the scheduler then revokes it. Any other state is a conflict
// (not_active): exactly one of two concurrent revocations succeeds.
func (s *Service) Revoke(ctx context.Context, a Actor, grantID string) (Grant, error) {
	if a.ID == "" {
		return Grant{}, newError(ErrInvalid, ReasonUnknownActor, "accessbot does not know who you are.", nil)
	}
	g, err := s.GetGrant(ctx, grantID)
	if err != nil {
		return Grant{}, err
	}
	if a.ID != g.Subject {
		admin, err := s.isAdmin(ctx, a)
		if err != nil {
			return Grant{}, fmt.Errorf("check admin for revoking grant %s: %w", grantID, err)
		}
		if !admin {
			return Grant{}, newError(ErrForbidden, ReasonNotOwner,
				"Only the person who holds a grant, or an admin, can revoke it.", nil)
		}
	}
	return s.revokeEarly(ctx, a, grantID, "")
}

// RevokeAsSystem ends a grant early on accessbot's own authority, for a reason from outside
// accessbot that note says ("ticket OPS-42 closed"); grant.revoking records the note. It is
// Revoke's one path, with the system as actor: the callers (the ticket closer) decide that the
// grant must end, and have no person to authorize.
func (s *Service) RevokeAsSystem(ctx context.Context, grantID, note string) (Grant, error) {
	return s.revokeEarly(ctx, System, grantID, strings.TrimSpace(note))
}

// revokeEarly moves a grant's expiry to now, by a (already authorized), with an optional note.
func (s *Service) revokeEarly(ctx context.Context, a Actor, grantID, note string) (Grant, error) {
	var g Grant
	now := s.now()
	err := s.update(ctx, now, func(t *txn) error {
		var err error
		g, err = t.Grant(ctx, grantID)
		if errors.Is(err, ErrNotFound) {
			return notFound("grant", grantID)
		}
		if err != nil {
			return fmt.Errorf("read grant %s: %w", grantID, err)
		}
		data := audit.GrantRevokingData{Early: true, ExpiresAt: g.ExpiresAt, Note: note}
		switch g.State {
		case GrantActive:
			g.State = GrantRevoking
			g.Attempts = 0
			g.NextAttemptAt = now
			g.LastError = ""
		case GrantActivating:
			// Leave NextAttemptAt alone: it may be the claim of an adapter call in flight.
			data.State = string(GrantActivating)
		default:
			return newError(ErrConflict, ReasonNotActive,
				fmt.Sprintf("Grant %s is already %s.", g.ID, stateWords(g.State)),
				map[string]string{"state": string(g.State)})
		}
		if g.ExpiresAt.After(now) {
			g.ExpiresAt = now
		}
		g.WarnAt = time.Time{}
		g.RevokedBy = a.ID
		g.RevokeNote = note // only RevokeAsSystem gives one
		g.UpdatedAt = now
		if err := updateGrant(ctx, t, &g); err != nil {
			return err
		}
		return t.event(ctx, grantEvent(a.ID, g, data))
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Grant{}, err
		}
		return Grant{}, fmt.Errorf("revoke grant %s: %w", grantID, err)
	}
	s.wakeScheduler()
	s.log.Info().Str("grant_id", g.ID).Str("resource", g.Resource).Str("actor", a.ID).Str("note", note).Msg("grant revoked early")
	return public(g), nil
}

func stateWords(st GrantState) string {
	switch st {
	case GrantRevoking:
		return "being revoked"
	case GrantRevokeFailed:
		return "being revoked (its revocation keeps failing)"
	case GrantFailed:
		return "failed"
	}
	return string(st)
}

// ForceRevoke marks a grant revoked without the adapter's confirmation, for a grant whose
// revocation keeps failing (revoke_failed) or is stuck revoking, after someone has removed the
// access by hand. Admins only; a note saying what was done is required and audited.
func (s *Service) ForceRevoke(ctx context.Context, a Actor, grantID, note string) (Grant, error) {
	admin, err := s.isAdmin(ctx, a)
	if err != nil {
		return Grant{}, fmt.Errorf("check admin for forcing grant %s: %w", grantID, err)
	}
	if !admin {
		return Grant{}, newError(ErrForbidden, ReasonNotAdmin, "Only an admin can force a revocation.", nil)
	}
	note = strings.TrimSpace(note)
	if note == "" {
		return Grant{}, newError(ErrInvalid, ReasonNoteRequired,
			"Say what was done by hand: forcing a revocation needs a note for the audit log.", nil)
	}
	now := s.now()
	var g Grant
	err = s.update(ctx, now, func(t *txn) error {
		var err error
		g, err = t.Grant(ctx, grantID)
		if errors.Is(err, ErrNotFound) {
			return notFound("grant", grantID)
		}
		if err != nil {
			return fmt.Errorf("read grant %s: %w", grantID, err)
		}
		if g.State != GrantRevokeFailed && g.State != GrantRevoking {
			return newError(ErrConflict, ReasonNotRevoking,
				fmt.Sprintf("Grant %s is %s; only a grant whose revocation is failing can be forced (revoke it normally instead).", g.ID, g.State),
				map[string]string{"state": string(g.State)})
		}
		prev := g.State
		g.State = GrantRevoked
		g.RevokedAt = now
		g.RevokedBy = a.ID
		g.NextAttemptAt = time.Time{}
		g.LeaseData = nil
		g.UpdatedAt = now
		if err := updateGrant(ctx, t, &g); err != nil {
			return err
		}
		return t.event(ctx, grantEvent(a.ID, g, audit.GrantRevokedData{
			Forced: true, Note: note, PreviousState: string(prev), Attempts: g.Attempts, LastError: g.LastError,
		}))
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Grant{}, err
		}
		return Grant{}, fmt.Errorf("force revocation of grant %s: %w", grantID, err)
	}
	s.wakeScheduler()
	s.log.Warn().Str("grant_id", g.ID).Str("resource", g.Resource).Str("actor", a.ID).Msg("grant revocation forced")
	return public(g), nil
}

// ReviewBreakGlass records that someone looked at a break-glass use afterwards. An admin or an
// approver of the resource may, but not the person who used it.
func (s *Service) ReviewBreakGlass(ctx context.Context, a Actor, grantID, note string) (Grant, error) {
	if a.ID == "" {
		return Grant{}, newError(ErrInvalid, ReasonUnknownActor, "accessbot does not know who you are.", nil)
	}
	g, err := s.GetGrant(ctx, grantID)
	if err != nil {
		return Grant{}, err
	}
	if !g.BreakGlass {
		return Grant{}, newError(ErrInvalid, ReasonNotBreakGlass, fmt.Sprintf("Grant %s was not a break-glass grant.", g.ID), nil)
	}
	self, err := s.isPerson(ctx, a, g.Subject)
	if err != nil {
		return Grant{}, fmt.Errorf("check reviewer of grant %s: %w", g.ID, err)
	}
	if self {
		s.record(ctx, grantEvent(a.ID, g, audit.ReviewRefusedData{Decision: "breakglass_review", Refused: ReasonSelfApproval}))
		return Grant{}, newError(ErrForbidden, ReasonSelfApproval, "You cannot review your own break-glass use.", nil)
	}
	admin, err := s.isAdmin(ctx, a)
	if err != nil {
		return Grant{}, fmt.Errorf("check admin for reviewing grant %s: %w", grantID, err)
	}
	if !admin {
		approver, err := s.MayApprove(ctx, a, g.Resource)
		if err != nil {
			return Grant{}, err
		}
		if !approver {
			s.record(ctx, grantEvent(a.ID, g, audit.ReviewRefusedData{Decision: "breakglass_review", Refused: ReasonNotApprover}))
			return Grant{}, newError(ErrForbidden, ReasonNotApprover,
				fmt.Sprintf("Only an admin or an approver of %s can review its break-glass use.", g.Resource), nil)
		}
	}
	now := s.now()
	note = strings.TrimSpace(note)
	err = s.update(ctx, now, func(t *txn) error {
		var err error
		g, err = t.Grant(ctx, grantID)
		if err != nil {
			return fmt.Errorf("read grant %s: %w", grantID, err)
		}
		if g.ReviewedBy != "" {
			return newError(ErrConflict, ReasonAlreadyReviewed,
				fmt.Sprintf("Grant %s was already reviewed by %s.", g.ID, g.ReviewedBy), map[string]string{"reviewed_by": g.ReviewedBy})
		}
		g.ReviewedBy, g.ReviewedAt, g.UpdatedAt = a.ID, now, now
		if err := updateGrant(ctx, t, &g); err != nil {
			return err
		}
		return t.event(ctx, grantEvent(a.ID, g, audit.BreakGlassReviewedData{Note: note}))
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Grant{}, err
		}
		return Grant{}, fmt.Errorf("review break-glass grant %s: %w", grantID, err)
	}
	return public(g), nil
}
