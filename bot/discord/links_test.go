package discord_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/grants"
)

var codePattern = regexp.MustCompile(`[A-Z2-9]{4}-[A-Z2-9]{4}`)

func linkCmd(u discordtest.User, email string) *discordtest.Interaction {
	return discordtest.Command(u, "link", discordtest.Opt{Name: "email", Value: email})
}

// onSlack is how the same people act from another platform, where accessbot knows their email.
func onSlack(email string) grants.Actor {
	return grants.Actor{ID: email, Email: email, Platform: "slack", PlatformID: "U" + strings.ToUpper(email[:3])}
}

func TestAPersonLinksTheirDiscordAccountAndConfirmsItFromAnotherPlatform(t *testing.T) {
	h := newHarness(t)
	a := h.do(t, linkCmd(eve, "Eve@Example.com"))
	code := codePattern.FindString(a.text())
	if a.Type != 4 || a.Data.Flags != 64 || code == "" || !strings.Contains(a.text(), "eve@example.com") || !strings.Contains(a.text(), eveID) {
		t.Fatalf("answer = %s, want a private answer with a code", a.text())
	}
	if got := h.links.types(); len(got) != 1 || got[0] != audit.IdentityLinkRequested {
		t.Fatalf("events = %v", got)
	}
	// Still not linked: a pending link lets nobody in.
	if a := h.do(t, discordtest.Command(eve, "list")); !strings.Contains(a.text(), "Link your Discord account first") {
		t.Errorf("eve before confirming: %s", a.text())
	}
	// The code is for the other platform, and only for that email there.
	if a := h.do(t, linkCmd(eve, code)); !strings.Contains(a.text(), "other chat") {
		t.Errorf("the code on Discord: %s", a.text())
	}
	r, _ := h.linker.Command(ctx(t), onSlack("mallory@example.com"), "link "+code)
	if r.View == nil || !strings.Contains(r.View.Title, "No link to confirm") {
		t.Errorf("someone else's code: %+v", r.View)
	}
	// Typing the code shows what would be linked and links nothing yet.
	r, ok := h.linker.Command(ctx(t), onSlack("eve@example.com"), "/access link "+strings.ToLower(code))
	if !ok || r.View == nil || r.View.Title != "Is this Discord account yours?" || !r.Private || len(r.View.Buttons) != 2 {
		t.Fatalf("the code typed on Slack: %+v", r.View)
	}
	if got := h.links.types(); len(got) != 1 {
		t.Fatalf("typing the code recorded %v", got)
	}
	r = h.click(t, onSlack("eve@example.com"), r, bot.ActionLinkConfirm)
	if r.View == nil || r.View.Title != "Discord account linked" || !r.Private {
		t.Fatalf("confirm from Slack: %+v", r.View)
	}
	if got := h.links.types(); len(got) != 2 || got[1] != audit.IdentityLinked {
		t.Fatalf("events = %v", got)
	}
	h.do(t, discordtest.Command(eve, "list"))
	cmds, _ := h.handler.got()
	if len(cmds) != 1 || cmds[0].actor.ID != "eve@example.com" || cmds[0].actor.PlatformID != eveID {
		t.Errorf("eve after the link reached the handler as %+v", cmds)
	}
	if a := h.do(t, linkCmd(eve, "")); !strings.Contains(a.text(), "linked to eve@example.com") {
		t.Errorf("eve's link status: %s", a.text())
	}
}

func TestACodeWorksForADayOnly(t *testing.T) {
	h := newHarness(t)
	code := codePattern.FindString(h.do(t, linkCmd(eve, "eve@example.com")).text())
	h.clk.Advance(25 * time.Hour)
	r, _ := h.linker.Command(ctx(t), onSlack("eve@example.com"), "link "+code)
	if r.View == nil || !strings.Contains(r.View.Title, "No link to confirm") {
		t.Errorf("a code a day old: %+v", r.View)
	}
}

func TestAnAdminListsAndRemovesLinksAndOthersCannot(t *testing.T) {
	h := newHarness(t)
	h.link(t, eve, "eve@example.com")
	h.do(t, linkCmd(alice, "")) // alice is not an admin; bob is (on Discord or anywhere).
	if a := h.do(t, linkCmd(alice, "remove "+eveID)); !strings.Contains(a.text(), "Only admins") {
		t.Errorf("a non-admin removing: %s", a.text())
	}
	if a := h.do(t, linkCmd(eve, "eve2@example.com")); !strings.Contains(a.text(), "already linked") {
		t.Errorf("asking again once linked: %s", a.text())
	}
	code := codePattern.FindString(h.do(t, linkCmd(discordtest.User{ID: "600000000000000010", Username: "carl"}, "carol@example.com")).text())
	if code == "" {
		t.Fatal("no code")
	}
	if a := h.do(t, linkCmd(bob, "pending")); !strings.Contains(a.text(), "carol@example.com") || !strings.Contains(a.text(), "600000000000000010") {
		t.Errorf("pending links: %s", a.text())
	}
	if a := h.do(t, linkCmd(alice, "pending")); !strings.Contains(a.text(), "Only admins") {
		t.Errorf("a non-admin listing: %s", a.text())
	}
	r, _ := h.linker.Command(ctx(t), onSlack("bob@example.com"), "link remove "+eveID)
	if r.View == nil || r.View.Title != "Discord link removed" {
		t.Fatalf("remove from Slack: %+v", r.View)
	}
	if a := h.do(t, discordtest.Command(eve, "list")); !strings.Contains(a.text(), "Link your Discord account first") {
		t.Errorf("eve after the removal: %s", a.text())
	}
	want := []string{audit.IdentityLinkRequested, audit.IdentityLinked, audit.IdentityLinkRequested, audit.IdentityUnlinked}
	if got := h.links.types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v", got, want)
	}
	if e := h.links.last(); e.Actor != "bob@example.com" || e.Subject != "eve@example.com" {
		t.Errorf("the unlink event = %+v", e)
	}
}

func TestLinkMistakesGetAPlainAnswer(t *testing.T) {
	h := newHarness(t)
	if a := h.do(t, linkCmd(eve, "eve")); !strings.Contains(a.text(), "That is not an email") {
		t.Errorf("a name for an email: %s", a.text())
	}
	if a := h.do(t, linkCmd(alice, "")); !strings.Contains(a.text(), "The config maps it to alice@example.com") {
		t.Errorf("a mapped person's status: %s", a.text())
	}
	if a := h.do(t, linkCmd(alice, "alice2@example.com")); !strings.Contains(a.text(), "already linked") {
		t.Errorf("a mapped person asking for a link: %s", a.text())
	}
	r, _ := h.linker.Command(ctx(t), onSlack("eve@example.com"), "link eve@example.com")
	if r.View == nil || !strings.Contains(r.View.Text, "on Discord") {
		t.Errorf("asking for a link from Slack: %+v", r.View)
	}
	if _, ok := h.linker.Command(ctx(t), onSlack("eve@example.com"), "list"); ok {
		t.Error("Links answered a command that is not link")
	}
	if len(h.links.types()) != 0 {
		t.Errorf("mistakes recorded events: %v", h.links.types())
	}
}
