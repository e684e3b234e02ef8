package bot_test

import (
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

func TestARefusedDenyClickLeavesTheRequestAsItWas(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42")
	before := h.Request("r-1")

	r := h.Click(dave, bot.ActionDeny, "r-1")
	if r.Form != nil {
		t.Fatalf("a deny form opened for someone who may not decide")
	}
	says(t, view(t, r), "You are not an approver for prod-db")

	after := h.Request("r-1")
	if after.State != grants.RequestPending || after.Version != before.Version {
		t.Errorf("after a refused deny click the request is %s at version %d, want pending at %d",
			after.State, after.Version, before.Version)
	}
	refused := h.AuditEvents(audit.ReviewRefused)
	if len(refused) != 1 {
		t.Fatalf("%d review.refused events, want 1: %+v", len(refused), refused)
	}
	ev := refused[0]
	if ev.Actor != dave.ID || ev.RequestID != "r-1" || ev.Data["decision"] != string(grants.Deny) ||
		ev.Data["refused"] != grants.ReasonNotApprover {
		t.Errorf("review.refused event %+v, want dave's refused deny of r-1 (not_approver)", ev)
	}
	if n := len(h.AuditEvents(audit.ReviewDenied, audit.RequestDenied)); n != 0 {
		t.Errorf("%d denial events after a refused click, want none", n)
	}
}
