package grants_test

import (
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/duration"
)

// TestDurationsAreWrittenAsTheConfigAndTheChatWriteThem holds the domain's messages, details and
// audit data to duration.Format, the one spelling people read: a maximum of 36h is "1d12h" in a
// refusal, as it is in the config and in chat.
func TestDurationsAreWrittenAsTheConfigAndTheChatWriteThem(t *testing.T) {
	r := gt.DefaultResource()
	r.Policy.MaxDuration = 36 * time.Hour
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: r.Name, Duration: 49 * time.Hour, Reason: "x"})
	ge := wantError(t, err, grants.ErrInvalid, grants.ReasonDurationTooLong)
	if want := "2d1h is longer than the maximum of 1d12h for " + r.Name + "."; ge.Message != want {
		t.Errorf("message %q, want %q", ge.Message, want)
	}
	for k, d := range map[string]time.Duration{"max": 36 * time.Hour, "requested": 49 * time.Hour} {
		if got, want := ge.Details[k], duration.Format(d); got != want {
			t.Errorf("details[%s] = %q, want %q", k, got, want)
		}
	}
	refused := h.AuditEvents(audit.Filter{}, audit.RequestRefused)
	if len(refused) != 1 || refused[0].Data["duration"] != duration.Format(49*time.Hour) {
		t.Errorf("request.refused events = %+v, want one with duration %q", refused, duration.Format(49*time.Hour))
	}
}
