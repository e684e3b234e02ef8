package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
)

// Issue 13: every link and unlink of a chat account is told to the person by DM on every
// platform where accessbot reaches them (not only the one they used last), and the linked
// account itself hears of it; once unlinked, the account is told nothing more.
func TestEveryLinkAndUnlinkIsToldToThePersonOnEveryPlatform(t *testing.T) {
	h := newHarness(t)
	web, dc := bottest.NewFakePlatform("web"), bottest.NewFakePlatform("discord")
	for _, p := range []*bottest.FakePlatform{web, dc} {
		if err := h.Bot.AddPlatform(p); err != nil {
			t.Fatal(err)
		}
		d, _ := h.Bot.Workers(p.Name())
		if _, err := d.DispatchOnce(h.Ctx); err != nil { // create its cursor
			t.Fatal(err)
		}
	}
	deliverAll := func() {
		t.Helper()
		for _, name := range []string{h.Platform.Name(), "web", "discord"} {
			d, o := h.Bot.Workers(name)
			if _, err := d.DispatchOnce(h.Ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := o.SendDue(h.Ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// alice uses Slack and, later, the web chat.
	h.Command(alice, "list")
	h.Advance(time.Minute)
	webAlice := alice
	webAlice.Platform, webAlice.PlatformID = "web", "alice-web"
	h.Command(webAlice, "list")

	const account = "623456789012345678"
	link := bot.Link{UserID: account, Person: alice.ID, Name: "alice-dc", CodeHash: "h1", RequestedAt: h.Clock.Now()}
	if err := h.DB.RequestDiscordLink(h.Ctx, link, audit.Event{At: h.Clock.Now(), Actor: "discord:" + account, Subject: alice.ID}.
		With(audit.IdentityLinkRequestedData{Platform: "discord", PlatformID: account, Person: alice.ID, Name: "alice-dc"})); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DB.ConfirmDiscordLink(h.Ctx, account, "h1", alice.ID, bot.LinkViaCode, h.Clock.Now(),
		audit.Event{At: h.Clock.Now(), Actor: alice.ID, Subject: alice.ID}.With(audit.IdentityLinkedData{
			Platform: "discord", PlatformID: account, Person: alice.ID, Via: bot.LinkViaCode, ConfirmedOn: "web", Name: "alice-dc"})); err != nil {
		t.Fatal(err)
	}
	deliverAll()
	want := "A Discord account was linked to you"
	for name, dms := range map[string][]bottest.Call{
		"slack": h.Platform.DMs(alice.PlatformID), "web": web.DMs("alice-web"), "discord": dc.DMs(account),
	} {
		if len(dms) != 1 || dms[0].View.Title != want || !strings.Contains(dms[0].View.Text, "alice-dc ("+account+")") {
			t.Errorf("DMs on %s = %+v, want one %q", name, dms, want)
		}
	}

	if _, err := h.DB.RemoveDiscordLink(h.Ctx, account, audit.Event{At: h.Clock.Now(), Actor: erin.ID}.
		With(audit.IdentityUnlinkedData{Platform: "discord", PlatformID: account})); err != nil {
		t.Fatal(err)
	}
	deliverAll()
	want = "A Discord link was removed"
	for name, dms := range map[string][]bottest.Call{"slack": h.Platform.DMs(alice.PlatformID), "web": web.DMs("alice-web")} {
		if len(dms) != 2 || dms[1].View.Title != want || !strings.Contains(dms[1].View.Text, erin.ID) {
			t.Errorf("DMs on %s = %+v, want the link then %q", name, dms, want)
		}
	}
	if n := len(dc.DMs(account)); n != 1 {
		t.Errorf("the unlinked account got %d DMs, want only the link's", n)
	}
	// A replayed pass sends nothing twice.
	deliverAll()
	if n := len(h.Platform.DMs(alice.PlatformID)); n != 2 {
		t.Errorf("%d DMs on Slack after another pass, want 2", n)
	}
}
