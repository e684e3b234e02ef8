package bot

import "context"

// CurrentApproval renders the approval message of a request as it stands now, the message the
// outbox keeps up to date in the approver channel. A platform whose clicks are answered with
// the message itself (Teams' Universal Actions replace the card for the person who clicked)
// shows it rather than a separate reply.
func (b *Bot) CurrentApproval(ctx context.Context, requestID string) (View, error) {
	s, err := b.read.snapshot(ctx, requestID)
	if err != nil {
		return View{}, err
	}
	return ApprovalView(s, b.clock.Now()), nil
}
