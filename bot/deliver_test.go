package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/storage"
)

const (
	approvals = bottest.ApprovalsChannel
	security  = bottest.SecurityChannel
)

// approvalMessage returns the one approval message of request r-1 in the approver channel, as
// it shows now.
func approvalMessage(t *testing.T, h *bottest.Harness) bot.View {
	t.Helper()
	return messageOf(t, h, "r-1")
}

// messageOf returns the one approval message of a request, as it shows now.
func messageOf(t *testing.T, h *bottest.Harness, requestID string) bot.View {
	t.Helper()
	var found []bottest.Call
	for _, c := range h.Platform.Posts(approvals) {
		if strings.HasPrefix(c.View.Footer, "Request "+requestID+" ") || c.View.Footer == "Request "+requestID {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d posts of %s in the approver channel, want exactly 1: %+v", len(found), requestID, found)
	}
	v, ok := h.Platform.Message(found[0].Ref)
	if !ok {
		t.Fatal("the approval message is gone")
	}
	return v
}

// dmTitles returns the titles of the DMs a person received.
func dmTitles(h *bottest.Harness, a grants.Actor) []string {
	var out []string
	for _, c := range h.Platform.DMs(a.PlatformID) {
		out = append(out, c.View.Title)
	}
	return out
}

func noPending(t *testing.T, h *bottest.Harness) {
	t.Helper()
	if p := h.Pending(); len(p) != 0 {
		t.Errorf("%d deliveries still pending: %+v", len(p), p)
	}
}

func TestApprovalMessageIsPostedOnceThenUpdatedOnEveryChange(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42 fixing the index")
	h.Deliver()
	v := approvalMessage(t, h)
	says(t, v, "alice requests prod-db for 1h", "Requester: alice (alice@example.com)", "Reason: INC-42 fixing the index",
		"Policy: 1 approval from sre", "Waiting for 1 approval from sre until 11:00 UTC, in 1h")
	if got := strings.Join(buttonIDs(v), ","); got != "approve,deny" {
		t.Errorf("buttons %s, want approve,deny", got)
	}

	h.Click(bob, bot.ActionApprove, "r-1")
	h.Deliver()
	v = approvalMessage(t, h)
	says(t, v, "Approved by bob. Granting access…")
	if len(v.Buttons) != 0 {
		t.Errorf("buttons %v on a decided request", buttonIDs(v))
	}

	h.RunDue()
	h.Deliver()
	says(t, approvalMessage(t, h), "Approved by bob. Granted until 11:00 UTC, in 1h.")

	h.Advance(time.Hour)
	h.RunDue()
	h.Deliver()
	v = approvalMessage(t, h)
	says(t, v, "Ended on time at 11:00 UTC, just now; access removed.")

	if n := len(h.Platform.Sent(bottest.OpUpdate)); n < 3 {
		t.Errorf("%d updates, want one per change at least (approved, granted, ended)", n)
	}
	want := []string{
		"Your request for prod-db was approved",
		"Your access to prod-db is active",
		"Your access to prod-db ends in 10m",
		"Your access to prod-db has ended",
	}
	// The warning fires 10m before expiry, which the hour jumped over: it is skipped, not late.
	want = []string{want[0], want[1], want[3]}
	if got := dmTitles(h, alice); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("alice's DMs\n got  %q\n want %q", got, want)
	}
	if n := len(h.Platform.Sent(bottest.OpDM)); n != 3 {
		t.Errorf("%d DMs in all, want 3 (only the requester hears)", n)
	}
	noPending(t, h)
}

func TestTheMessageShowsEachOutcome(t *testing.T) {
	tests := []struct {
		name string
		act  func(h *bottest.Harness)
		say  []string
		tone bot.Tone
		dm   string
	}{
		{"partly approved", func(h *bottest.Harness) {
			h.Command(alice, "request prod-api 1h INC-1")
			h.Click(bob, bot.ActionApprove, "r-1")
		}, []string{"Approvals: 1 of 2: bob", "1 of 2 approvals: bob. Waiting for 1 more until 11:00 UTC, in 1h."}, bot.TonePending,
			"bob approved your request for prod-api"},
		{"denied with a reason", func(h *bottest.Harness) {
			h.Command(alice, "request prod-db 1h INC-1")
			h.Submit(carol, bot.FormDeny, "r-1", map[string]string{"reason": "use the replica"})
		}, []string{"Denied by carol: use the replica."}, bot.ToneDanger, "Your request for prod-db was denied"},
		{"cancelled", func(h *bottest.Harness) {
			h.Command(alice, "request prod-db 1h INC-1")
			h.Command(alice, "cancel r-1")
		}, []string{"Cancelled by alice."}, bot.ToneNeutral, ""},
		{"expired unanswered", func(h *bottest.Harness) {
			h.Command(alice, "request prod-db 1h INC-1")
			h.Advance(time.Hour)
			h.RunDue()
		}, []string{"Expired unanswered at 11:00 UTC, just now."}, bot.ToneNeutral, "Your request for prod-db expired"},
		{"revoked early", func(h *bottest.Harness) {
			h.Command(alice, "request prod-db 1h INC-1")
			h.Click(bob, bot.ActionApprove, "r-1")
			h.RunDue()
			h.Advance(5 * time.Minute)
			h.Click(alice, bot.ActionRevoke, "g-1")
			h.RunDue()
		}, []string{"Revoked early by alice at 10:05 UTC, just now."}, bot.ToneNeutral, "Your access to prod-db has ended"},
		{"failed", func(h *bottest.Harness) {
			h.Adapter.FailGrant(grantstest.Permanent)
			h.Command(alice, "request prod-db 1h INC-1")
			h.Click(bob, bot.ActionApprove, "r-1")
			h.RunDue()
		}, []string{"Granting failed: the access was not given."}, bot.ToneDanger, "Your access to prod-db could not be granted"},
		{"revoke failed", func(h *bottest.Harness) {
			h.Command(alice, "request prod-db 1h INC-1")
			h.Click(bob, bot.ActionApprove, "r-1")
			h.RunDue()
			h.Adapter.FailRevoke(grantstest.Permanent)
			h.Click(alice, bot.ActionRevoke, "g-1")
			h.RunDue()
		}, []string{"Removing the access keeps failing", "security has been alerted"}, bot.ToneDanger,
			"Removing your access to prod-db keeps failing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.act(h)
			h.Deliver()
			v := approvalMessage(t, h)
			says(t, v, tt.say...)
			if v.Tone != tt.tone {
				t.Errorf("tone %s, want %s", v.Tone, tt.tone)
			}
			titles := dmTitles(h, alice)
			if tt.dm == "" && len(titles) != 0 {
				t.Errorf("alice got DMs %q, want none", titles)
			}
			if tt.dm != "" && (len(titles) == 0 || titles[len(titles)-1] != tt.dm) {
				t.Errorf("alice's DMs %q, want the last to be %q", titles, tt.dm)
			}
			noPending(t, h)
		})
	}
}

func TestEngineAlertsGoToTheSecurityChannel(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-1")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	h.Adapter.FailRevoke(grantstest.Permanent)
	h.Click(alice, bot.ActionRevoke, "g-1")
	h.RunDue()
	h.Deliver()
	posts := h.Platform.Posts(security)
	if len(posts) != 1 {
		t.Fatalf("%d posts in the security channel, want the one alert", len(posts))
	}
	says(t, posts[0].View, "Revocation failing on prod-db", "Revoking alice@example.com's access to prod-db (grant g-1) failed 1 times",
		"Person: alice@example.com", "Grant: g-1")
}

func TestBreakGlassIsAnnouncedLoudlyToApproversAndSecurity(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "breakglass prod-db 30m INC-99 site down")
	h.RunDue()
	h.Deliver()
	for _, ch := range []string{approvals, security} {
		posts := h.Platform.Posts(ch)
		if len(posts) != 1 {
			t.Fatalf("%d posts in %s, want the one announcement", len(posts), ch)
		}
		v, _ := h.Platform.Message(posts[0].Ref)
		says(t, v, "BREAK-GLASS: alice took prod-db for 30m without approval", "Reason: INC-99 site down",
			"Granted until 10:30 UTC, in 30m", "Review: Not reviewed yet.")
		if v.Tone != bot.ToneDanger || strings.Join(buttonIDs(v), ",") != "review,revoke" {
			t.Errorf("announcement in %s: tone %s, buttons %v", ch, v.Tone, buttonIDs(v))
		}
	}
	h.Click(bob, bot.ActionReview, "g-1")
	h.Deliver()
	for _, ch := range []string{approvals, security} {
		v, _ := h.Platform.Message(h.Platform.Posts(ch)[0].Ref)
		says(t, v, "Review: Reviewed by bob at 10:00 UTC, just now.")
		if strings.Join(buttonIDs(v), ",") != "revoke" {
			t.Errorf("buttons after review %v", buttonIDs(v))
		}
	}
	if got := dmTitles(h, alice); strings.Join(got, "|") != "Your access to prod-db is active|Your break-glass use of prod-db was reviewed" {
		t.Errorf("alice's DMs %q", got)
	}
}

func TestExpiryWarningOffersExtendAndImDone(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-1")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	h.Advance(50 * time.Minute)
	h.RunDue()
	h.Deliver()
	dms := h.Platform.DMs(alice.PlatformID)
	last := dms[len(dms)-1].View
	says(t, last, "Your access to prod-db ends in 10m", "At 11:00 UTC, in 10m")
	if got := strings.Join(buttonIDs(last), ","); got != "extend,revoke" {
		t.Errorf("warning buttons %s, want extend,revoke", got)
	}
	if last.Tone != bot.ToneWarning {
		t.Errorf("tone %s", last.Tone)
	}
	// Extending from the warning, approved: the DM says until when, the message shows it.
	h.Submit(alice, bot.FormExtend, "g-1", map[string]string{"duration": "30m"})
	h.Click(bob, bot.ActionApprove, "r-2")
	h.Deliver()
	dms = h.Platform.DMs(alice.PlatformID)
	says(t, dms[len(dms)-1].View, "Your access to prod-db was extended", "By 30m: it now ends 11:30 UTC, in 40m.")
	says(t, approvalMessage(t, h), "Granted until 11:30 UTC, in 40m.")
	// The extension request has its own approval message, decided.
	says(t, messageOf(t, h, "r-2"), "alice asks to extend their access to prod-db by 30m",
		"Approved by bob: grant g-1 now ends 11:30 UTC, in 40m.")
}

func TestSecretsGoOnlyByDMAndNeverToStorageOrLogs(t *testing.T) {
	const password = "hunter2-very-secret"
	h := newHarness(t)
	h.Adapter.ReturnSecret(&adapters.Secret{Kind: "password", Label: "Password for alice", Value: password})
	h.Command(alice, "request prod-db 1h INC-1")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	// Delivered at once, by the Service, before any outbox pass.
	dms := h.Platform.DMs(alice.PlatformID)
	if len(dms) != 1 {
		t.Fatalf("%d DMs right after the grant, want the secret", len(dms))
	}
	says(t, dms[0].View, "Your password for prod-db", "Password for alice: "+password, "Shown once")
	h.Deliver()
	for _, c := range h.Platform.Calls() {
		if c.Op != bottest.OpDM && strings.Contains(viewText(c.View), password) {
			t.Errorf("the secret reached %s %s", c.Op, c.Channel)
		}
	}
	sent := 0
	for _, c := range h.Platform.Sent() {
		if strings.Contains(viewText(c.View), password) {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("the secret was sent %d times, want once", sent)
	}
	for _, d := range h.Deliveries() {
		if d.View != nil && strings.Contains(viewText(*d.View), password) {
			t.Errorf("the secret is in the outbox: %+v", d)
		}
	}
	if strings.Contains(h.Logs.String(), password) {
		t.Errorf("the secret is in the logs")
	}
}

func TestASecretThatCannotBeDeliveredIsNotRetriedButTheHolderIsTold(t *testing.T) {
	const password = "hunter2-very-secret"
	h := newHarness(t)
	h.Adapter.ReturnSecret(&adapters.Secret{Kind: "password", Value: password})
	h.Command(alice, "request prod-db 1h INC-1")
	h.Click(bob, bot.ActionApprove, "r-1")
	// The platform's error quotes what it was sent.
	h.Platform.FailNext(fmt.Errorf("invalid_blocks near %q: %w", password, bot.ErrPermanent))
	h.RunDue()
	if n := len(h.Platform.DMs(alice.PlatformID)); n != 0 {
		t.Fatalf("%d DMs, want none yet", n)
	}
	h.Deliver()
	h.Advance(5 * time.Second) // the notice waits a moment for the grant's own DM
	h.Deliver()
	titles := dmTitles(h, alice)
	if len(titles) != 3 || titles[2] != "Your credentials for prod-db could not be delivered" {
		t.Fatalf("alice's DMs %q, want approved, active, then the failure notice", titles)
	}
	says(t, h.Platform.DMs(alice.PlatformID)[2].View, "/access revoke g-1", "request access again")
	logs := h.Logs.String()
	if strings.Contains(logs, password) {
		t.Errorf("the secret reached the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "could not deliver a secret") || !strings.Contains(logs, "[redacted]") {
		t.Errorf("the failure was not logged (with the value redacted):\n%s", logs)
	}
	attempts := 0
	for _, c := range h.Platform.Calls() {
		if strings.Contains(viewText(c.View), password) {
			attempts++
		}
	}
	if attempts != 1 {
		t.Errorf("the secret was attempted %d times, want once (a permanent error)", attempts)
	}
}

func TestPlatformDownForAWhileThenEverythingArrivesOnce(t *testing.T) {
	h := newHarness(t)
	h.Platform.SetDown(bottest.ErrDown)
	h.Command(alice, "request prod-db 1h INC-1")
	h.Deliver()
	h.Click(bob, bot.ActionApprove, "r-1")
	h.RunDue()
	for i := 0; i < 5; i++ {
		h.Advance(30 * time.Second)
		h.Deliver()
	}
	if n := len(h.Platform.Sent()); n != 0 {
		t.Fatalf("%d messages sent while down", n)
	}
	if n := len(h.Platform.Calls()); n < 3 {
		t.Errorf("%d attempts while down, want retries", n)
	}
	// Attempts back off (1s, 2s, 4s...): five passes 30s apart make at most six attempts.
	if d := h.Pending()[0]; d.Kind != bot.DeliverApproval || d.Attempts < 2 || d.Attempts > 6 || d.LastError != bottest.ErrDown.Error() {
		t.Errorf("head of the outbox %+v, want the approval post with a few attempts and the error", d)
	}
	h.Platform.SetDown(nil)
	h.Advance(10 * time.Minute)
	h.Deliver()
	if n := len(h.Platform.Posts(approvals)); n != 1 {
		t.Fatalf("%d approval posts, want 1", n)
	}
	says(t, approvalMessage(t, h), "Approved by bob. Granted until 11:00 UTC, in 48m")
	if got := dmTitles(h, alice); strings.Join(got, "|") != "Your request for prod-db was approved|Your access to prod-db is active" {
		t.Errorf("alice's DMs %q, want each once, in order", got)
	}
	// Nothing more to send, however often asked.
	before := len(h.Platform.Calls())
	h.Advance(time.Minute)
	h.Deliver()
	if after := len(h.Platform.Calls()); after != before {
		t.Errorf("%d more calls after everything was sent", after-before)
	}
	noPending(t, h)
}

func TestARateLimitIsHonoured(t *testing.T) {
	h := newHarness(t)
	h.Platform.FailNext(&bot.RetryAfterError{After: 30 * time.Second, Err: errors.New("ratelimited")})
	h.Command(alice, "request prod-db 1h INC-1")
	h.Deliver()
	if n := len(h.Platform.Calls()); n != 1 {
		t.Fatalf("%d calls, want the one that was rate limited", n)
	}
	h.Advance(29 * time.Second)
	if n := h.Deliver(); n != 0 {
		t.Fatalf("sent %d before Retry-After passed", n)
	}
	h.Advance(time.Second)
	if n := h.Deliver(); n != 1 {
		t.Fatalf("sent %d after Retry-After, want the approval message", n)
	}
	if d := h.Deliveries()[0]; d.Attempts != 0 {
		t.Errorf("a rate limit counted as %d failed attempts", d.Attempts)
	}
}

func TestAPermanentErrorStopsRetryingAndAlertsSecurity(t *testing.T) {
	h := newHarness(t)
	h.Platform.FailNext(fmt.Errorf("channel_not_found: %w", bot.ErrPermanent))
	h.Command(alice, "request prod-db 1h INC-1")
	h.Deliver()
	ds := h.Deliveries()
	if ds[0].State != bot.DeliveryFailed || !strings.Contains(ds[0].LastError, "channel_not_found") {
		t.Errorf("delivery %+v, want failed with the error", ds[0])
	}
	alerts := h.Platform.Posts(security)
	if len(alerts) != 1 {
		t.Fatalf("%d security posts, want the alert", len(alerts))
	}
	says(t, alerts[0].View, "A chat message could not be delivered", "approval message on slack failed and will not be retried: channel_not_found",
		"Request: r-1", "Channel: "+approvals)
	if !strings.Contains(h.Logs.String(), "giving up on a chat message") {
		t.Error("giving up was not logged")
	}
	// The next change posts the message afresh.
	h.Click(bob, bot.ActionApprove, "r-1")
	h.Deliver()
	says(t, approvalMessage(t, h), "Approved by bob")
}

func TestARestartResumesFromTheCursorWithoutDuplicates(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-1")
	h.Deliver()
	h.Click(bob, bot.ActionApprove, "r-1")
	h.Dispatch() // queued, not sent: then the process dies
	h.Reopen()
	h.RunDue()
	h.Deliver()
	if n := len(h.Platform.Posts(approvals)); n != 1 {
		t.Fatalf("%d approval posts after a restart, want 1 (updated through the stored reference)", n)
	}
	says(t, approvalMessage(t, h), "Granted until")
	if got := dmTitles(h, alice); strings.Join(got, "|") != "Your request for prod-db was approved|Your access to prod-db is active" {
		t.Errorf("alice's DMs %q", got)
	}
	// A dispatcher that replays the whole log (a cursor reset) sends nothing twice.
	calls := len(h.Platform.Sent())
	if err := h.DB.SetCursor(h.Ctx, bot.CursorName("slack"), 0); err != nil {
		t.Fatal(err)
	}
	if n := h.Dispatch(); n == 0 {
		t.Fatal("the replay passed no events")
	}
	h.Send()
	if after := len(h.Platform.Sent()); after != calls {
		t.Errorf("%d messages sent again by a replay", after-calls)
	}
}

func TestANewPlatformStartsFromNowNotFromHistory(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-1")
	h.Deliver()
	late := bottest.NewFakePlatform("discord")
	if err := h.Bot.AddPlatform(late); err != nil {
		t.Fatal(err)
	}
	d, o := h.Bot.Workers("discord")
	if _, err := d.DispatchOnce(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := o.SendDue(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(late.Calls()); n != 0 {
		t.Errorf("a platform added later replayed %d messages of the past", n)
	}
}

func TestDMsGoToThePlatformThePersonUsedLast(t *testing.T) {
	h := newHarness(t)
	web := bottest.NewFakePlatform("web")
	if err := h.Bot.AddPlatform(web); err != nil {
		t.Fatal(err)
	}
	wd, wo := h.Bot.Workers("web")
	wd.DispatchOnce(h.Ctx) // create its cursor
	h.Command(alice, "request prod-db 1h INC-1")
	h.Advance(time.Minute)
	webAlice := alice
	webAlice.Platform, webAlice.PlatformID = "web", "alice-web"
	h.Command(webAlice, "list")
	h.Click(bob, bot.ActionApprove, "r-1")
	h.Deliver()
	wd.DispatchOnce(h.Ctx)
	wo.SendDue(h.Ctx)
	if n := len(h.Platform.DMs(alice.PlatformID)); n != 0 {
		t.Errorf("%d DMs on slack, want none: alice last used the web chat", n)
	}
	if n := len(web.DMs("alice-web")); n != 1 {
		t.Errorf("%d DMs on the web chat, want the approval", n)
	}
	if n := len(web.Posts(approvals)); n != 0 {
		t.Errorf("the web chat, which has no channels configured, got %d posts", n)
	}
}

func TestRunDeliversAsSoonAsTheServiceNotifies(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(h.Ctx)
	done := make(chan error, 1)
	go func() { done <- h.Bot.Run(ctx) }()
	h.Command(alice, "request prod-db 1h INC-1")
	bottest.Eventually(t, 5*time.Second, "the approval message", func() bool {
		return len(h.Platform.Posts(approvals)) == 1
	})
	h.Click(bob, bot.ActionApprove, "r-1")
	bottest.Eventually(t, 5*time.Second, "the update and the DM", func() bool {
		return len(h.Platform.Sent(bottest.OpUpdate)) == 1 && len(h.Platform.DMs(alice.PlatformID)) == 1
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestRunRetriesWhenTheClockReachesTheBackoff(t *testing.T) {
	h := newHarness(t)
	h.Platform.FailNext(errors.New("connection reset"))
	ctx, cancel := context.WithCancel(h.Ctx)
	defer cancel()
	go h.Bot.Run(ctx)
	h.Command(alice, "request prod-db 1h INC-1")
	bottest.Eventually(t, 5*time.Second, "the failed attempt", func() bool { return len(h.Platform.Calls()) == 1 })
	// The outbox waits on the clock for the retry (1s): move it there.
	bottest.Eventually(t, 5*time.Second, "the retry timer", func() bool {
		at, ok := h.Clock.NextTimer()
		return ok && !at.After(grantstest.Start.Add(time.Second))
	})
	h.Advance(time.Second)
	bottest.Eventually(t, 5*time.Second, "the retried post", func() bool { return len(h.Platform.Posts(approvals)) == 1 })
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// The outbox's SQL runs on PostgreSQL too: the whole story, down and up, crash and restart.
func TestDeliveryOnPostgreSQL(t *testing.T) {
	h := bottest.New(t, bottest.Options{
		Resources: resources(),
		Groups:    map[string][]string{"sre": {bob.ID, carol.ID}},
		Driver:    storage.Postgres,
		DSN:       pgtest.Shared(t).NewDatabase(t),
	})
	h.Command(alice, "request prod-api 1h INC-1")
	h.Deliver()
	h.Platform.SetDown(bottest.ErrDown)
	h.Click(bob, bot.ActionApprove, "r-1")
	h.Deliver()
	h.Click(carol, bot.ActionApprove, "r-1")
	h.Dispatch()
	h.Reopen()
	h.RunDue()
	h.Platform.SetDown(nil)
	h.Advance(time.Minute)
	h.Deliver()
	says(t, approvalMessage(t, h), "Approved by bob, carol. Granted until 11:00 UTC, in 59m.")
	want := "bob approved your request for prod-api|Your request for prod-api was approved|Your access to prod-api is active"
	if got := strings.Join(dmTitles(h, alice), "|"); got != want {
		t.Errorf("alice's DMs\n got  %s\n want %s", got, want)
	}
	noPending(t, h)
}

func TestAnAlertRuleOnSignalsPostsOnceToSecurityAndTheCardShowsTheSignals(t *testing.T) {
	when, err := grants.CompileCondition("alert condition", `signals.first_access && signals.outside_hours`)
	if err != nil {
		t.Fatal(err)
	}
	h := bottest.New(t, bottest.Options{
		Resources: resources(),
		Groups:    map[string][]string{"sre": {bob.ID, carol.ID}, "finance": {dave.ID}},
		Alerts:    []grants.AlertRule{{Name: "first_access_after_hours", Severity: "high", When: when}},
	})
	h.Clock.Advance(10 * time.Hour) // Tuesday 20:00 UTC
	h.Command(alice, "request prod-db 1h INC-1")
	h.Deliver()
	h.Deliver()
	says(t, approvalMessage(t, h), "Signals: first access · outside working hours")
	posts := h.Platform.Posts(security)
	if len(posts) != 1 {
		t.Fatalf("%d posts in the security channel, want the one alert", len(posts))
	}
	says(t, posts[0].View, "Alert: first access after hours on prod-db", "Severity: high",
		"alice requested prod-db for 1h (alert rule first_access_after_hours); signals: first access, outside working hours")
}
