package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/duration"
)

// StepUpLinker issues one-time links with which an approver logs in again at the identity
// provider before an approval of a `step_up: oidc` resource counts (internal/stepup).
type StepUpLinker interface {
	Link(ctx context.Context, a grants.Actor, requestID string, d grants.Decision) (string, time.Time, error)
}

// stepUpApprove answers an Approve click on a request whose resource needs step-up with a
// private one-time link, after the same checks a decision makes (an approver, not their own
// request, still pending), so a link goes only to someone whose login could count. ok is false
// when the request needs no step-up: the click then approves as usual.
func (b *Bot) stepUpApprove(ctx context.Context, a grants.Actor, requestID string) (r Reply, ok bool) {
	need, err := b.svc.NeedsStepUp(ctx, requestID, grants.Approve)
	if err != nil {
		return b.fail(a, ActionApprove, err), true
	}
	if !need {
		return Reply{}, false
	}
	if err := b.svc.CheckReview(ctx, a, requestID, grants.Approve); err != nil {
		return b.fail(a, ActionApprove, err), true
	}
	req, err := b.svc.GetRequest(ctx, requestID)
	if err != nil {
		return b.fail(a, ActionApprove, err), true
	}
	if req.State != grants.RequestPending {
		return private(ErrorView(&grants.Error{Code: grants.ErrConflict, Reason: grants.ReasonAlreadyDecided,
			Message: fmt.Sprintf("Request %s is already %s.", req.ID, req.State)})), true
	}
	link, expires, err := b.stepUp.Link(ctx, a, requestID, grants.Approve)
	if err != nil {
		return b.fail(a, ActionApprove, err), true
	}
	return private(StepUpView(req, link, expires.Sub(b.clock.Now()))), true
}

// StepUpView is the private answer to an Approve click that needs a login at the identity
// provider: the one-time link, and how long it is valid.
func StepUpView(req grants.Request, link string, valid time.Duration) View {
	return View{
		Title: "Log in to confirm your approval",
		Text: fmt.Sprintf("Approvals for %s count only after you log in again at your company's identity provider. "+
			"Open this link within %s; it works once, and only for you:\n\n%s", req.Resource, duration.Format(valid.Round(time.Second)), link),
		Tone:   TonePending,
		Footer: "Request " + code(req.ID),
	}
}
