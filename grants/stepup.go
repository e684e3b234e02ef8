package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// ReasonStepUpRequired refuses an approval of a step-up resource that came without a proof of
// a fresh login at the identity provider (a click answered with a link, or a path that cannot
// re-authenticate at all, such as the CLI).
const ReasonStepUpRequired = "stepup_required"

// StepUp says which decisions on a resource count only after the person who makes them logs in
// again at the company's identity provider. A chat click says who clicked as far as the chat
// platform knows; it cannot enforce the identity provider's MFA, so a resource whose approvals
// matter that much asks for the login as well.
type StepUp struct {
	// Approve: an approval is recorded only with a Proof (ApproveVerified).
	Approve bool
}

// Proof is what the identity provider vouched for when an approver re-authenticated: checked
// by the caller (signature, issuer, audience, expiry, nonce, person, freshness, MFA) before it
// reaches ApproveVerified, and kept in the review.approved event.
type Proof struct {
	// Issuer is the identity provider; Subject the person's stable ID there.
	Issuer  string
	Subject string
	// Email is the verified address (or configured claim) that matched the approver.
	Email string
	// AMR and ACR are the authentication methods and context class the provider reported.
	AMR []string
	ACR string
	// AuthTime is when the person logged in.
	AuthTime time.Time
}

// ApproveVerified records an approval that came with a proof of a fresh login at the identity
// provider. It takes the same path as Approve (the approver groups, nobody approving their own
// request, distinct approvers), and the proof lands in the review.approved event.
func (s *Service) ApproveVerified(ctx context.Context, a Actor, requestID string, p Proof) (Outcome, error) {
	if p.Issuer == "" || p.Subject == "" {
		return Outcome{}, newError(ErrInvalid, ReasonStepUpRequired, "The login at the identity provider did not say who you are.", nil)
	}
	return s.decide(ctx, a, requestID, Approve, "", &p)
}

// NeedsStepUp reports whether deciding the request as d waits for a login at the identity
// provider (its resource's StepUp).
func (s *Service) NeedsStepUp(ctx context.Context, requestID string, d Decision) (bool, error) {
	req, err := s.GetRequest(ctx, requestID)
	if err != nil {
		return false, err
	}
	r, err := s.lookup(req.Resource)
	if err != nil {
		return false, err
	}
	return d == Approve && r.StepUp.Approve, nil
}

// RefuseStepUp records (stepup.refused) that a step-up approval of the request by the actor was
// refused at the identity provider step; refused is a short code, detail a sentence for the
// auditor, subject the provider's subject when a login was checked. The request is untouched.
func (s *Service) RefuseStepUp(ctx context.Context, a Actor, requestID string, d Decision, refused, detail, subject string) {
	p := audit.StepUpRefusedData{Decision: string(d), Refused: refused, Detail: detail, Subject: subject}
	req, err := s.GetRequest(ctx, requestID)
	if err != nil {
		var de *Error
		if !errors.As(err, &de) {
			s.log.Warn().Err(err).Str("request_id", requestID).Msg("read request for a step-up refusal")
		}
		s.record(ctx, audit.Event{Actor: a.ID, RequestID: requestID}.With(p))
		return
	}
	s.record(ctx, requestEvent(a.ID, req, p))
}

// stepUpRefusal is the refusal of an approval without a proof on a step-up resource.
func stepUpRefusal(r *Resource) *Error {
	return newError(ErrForbidden, ReasonStepUpRequired,
		fmt.Sprintf("Approvals for %s need you to log in again at the identity provider: use the Approve button in chat and follow its link.", r.Name), nil)
}
