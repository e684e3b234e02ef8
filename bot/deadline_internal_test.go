package bot

import (
	"context"
	"testing"
	"time"
)

// The platform's own deadline wins: Slack and Discord acknowledge in time themselves and let the
// work finish later, so the bot must not cut a slow database short at 2.5 s.
func TestAPlatformsDeadlineIsKeptAndOnlyAnOpenEndedCallIsBounded(t *testing.T) {
	b := &Bot{}
	long, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, _ := long.Deadline()
	ctx, stop := b.withDeadline(long)
	defer stop()
	if got, ok := ctx.Deadline(); !ok || !got.Equal(want) {
		t.Errorf("deadline %v, want the platform's %v", got, want)
	}

	open, stop2 := b.withDeadline(context.Background())
	defer stop2()
	got, ok := open.Deadline()
	if !ok || time.Until(got) > replyTimeout {
		t.Errorf("an open-ended call got deadline %v (ok %v), want at most %s from now", got, ok, replyTimeout)
	}
}
