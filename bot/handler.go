package bot

import (
	"context"

	"github.com/accessbot/accessbot/grants"
)

// Handler is what a platform calls with what a person did, once it has verified the request and
// knows who the person is. *Bot implements it; platform tests may use a fake.
type Handler interface {
	// Command handles the text after `/access` ("request prod-db 1h INC-42 fixing").
	Command(ctx context.Context, actor grants.Actor, text string) Reply
	// Act handles a button click or a form submission.
	Act(ctx context.Context, actor grants.Actor, a Action) Reply
}
