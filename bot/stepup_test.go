package bot_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
)

// fakeLinker records the step-up links it issues.
type fakeLinker struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeLinker) Link(_ context.Context, a grants.Actor, requestID string, d grants.Decision) (string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, a.ID+" "+requestID+" "+string(d))
	return "https://accessbot.example.com/stepup/start?s=opaque", time.Date(2026, 3, 3, 10, 5, 0, 0, time.UTC), nil
}

func (f *fakeLinker) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// stepUpHarness has prod-db with step_up: oidc, prod-api without.
func stepUpHarness(t *testing.T, linker bot.StepUpLinker) *bottest.Harness {
	rs := resources()
	rs[0].StepUp = grants.StepUp{Approve: true}
	return bottest.New(t, bottest.Options{
		Resources: rs,
		Groups:    map[string][]string{"sre": {bob.ID, carol.ID}, "finance": {dave.ID}},
		StepUp:    linker,
	})
}

func TestAnApproveClickOnAStepUpResourceAnswersWithALinkAndApprovesNothing(t *testing.T) {
	linker := &fakeLinker{}
	h := stepUpHarness(t, linker)
	h.Command(alice, "request prod-db 1h INC-42")
	h.Deliver()
	updatesBefore := len(h.Platform.Calls(bottest.OpUpdate))

	v := view(t, h.Click(bob, bot.ActionApprove, "r-1"))
	says(t, v, "Log in to confirm your approval", "https://accessbot.example.com/stepup/start?s=opaque", "within 5m", "only for you")
	if got := linker.Calls(); len(got) != 1 || got[0] != bob.ID+" r-1 approve" {
		t.Errorf("links issued: %v, want one for bob on r-1", got)
	}
	if r := h.Request("r-1"); r.State != grants.RequestPending {
		t.Errorf("request is %s after the click, want pending until the login", r.State)
	}
	if n := len(h.AuditEvents(audit.ReviewApproved)); n != 0 {
		t.Errorf("%d review.approved events before the login", n)
	}
	// A refused login leaves the approval message as it was.
	h.Service.RefuseStepUp(h.Ctx, bob, "r-1", grants.Approve, "wrong_person", "The login is carol@example.com.", "sub")
	h.Deliver()
	if n := len(h.Platform.Calls(bottest.OpUpdate)); n != updatesBefore {
		t.Errorf("%d message updates after a refused step-up, want %d", n, updatesBefore)
	}
}

func TestAStepUpClickGivesNoLinkToSomeoneWhoMayNotDecide(t *testing.T) {
	tests := []struct {
		name string
		who  grants.Actor
		want string
	}{
		{"the requester", alice, "You cannot decide your own request"},
		{"someone outside the approver groups", dave, "You are not an approver for prod-db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			linker := &fakeLinker{}
			h := stepUpHarness(t, linker)
			h.Command(alice, "request prod-db 1h INC-42")
			says(t, view(t, h.Click(tt.who, bot.ActionApprove, "r-1")), tt.want)
			if got := linker.Calls(); len(got) != 0 {
				t.Errorf("links issued: %v, want none", got)
			}
		})
	}
}

func TestAnApproveClickOnAResourceWithoutStepUpApprovesAtOnce(t *testing.T) {
	linker := &fakeLinker{}
	h := stepUpHarness(t, linker)
	h.Command(alice, "request prod-api 1h INC-42 deploy")
	h.Click(bob, bot.ActionApprove, "r-1")
	if got := linker.Calls(); len(got) != 0 {
		t.Errorf("links issued: %v, want none", got)
	}
	if n := len(h.AuditEvents(audit.ReviewApproved)); n != 1 {
		t.Errorf("%d review.approved events, want 1", n)
	}
}

func TestWithoutStepUpConfiguredAStepUpResourceRefusesTheClick(t *testing.T) {
	h := stepUpHarness(t, nil)
	h.Command(alice, "request prod-db 1h INC-42")
	says(t, view(t, h.Click(bob, bot.ActionApprove, "r-1")), "need you to log in again at the identity provider")
	if r := h.Request("r-1"); r.State != grants.RequestPending {
		t.Errorf("request is %s, want pending", r.State)
	}
}
