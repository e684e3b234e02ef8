package bot

import (
	"context"
	"strings"

	"github.com/accessbot/accessbot/grants"
)

// CurrentApproval renders the approval message of a request as it stands now, the message the
// outbox keeps up to date in the approver channel, for a person who may see the request (its
// requester, an approver of its resource, an admin); to anyone else it is not found, as for
// `/access status`. A platform whose clicks are answered with the message itself (Teams'
// Universal Actions replace the card for the person who clicked) shows it rather than a
// separate reply.
func (b *Bot) CurrentApproval(ctx context.Context, a grants.Actor, requestID string) (View, error) {
	if !strings.HasPrefix(requestID, "r-") {
		return View{}, grants.NotFound("request", requestID)
	}
	s, err := b.statusOf(ctx, a, requestID)
	if err != nil {
		return View{}, err
	}
	return ApprovalView(s, b.clock.Now()), nil
}
