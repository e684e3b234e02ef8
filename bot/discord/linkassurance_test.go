package discord_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// dana is an admin's own, second Discord account: the one Dana links to someone else.
var dana = discordtest.User{ID: "600000000000000020", Username: "dana-alt"}

// click presses the button actionID of the reply r, as a.
func (h *harness) click(t *testing.T, a grants.Actor, r bot.Reply, actionID string) bot.Reply {
	t.Helper()
	if r.View == nil {
		t.Fatalf("no view to click %s on", actionID)
	}
	for _, b := range r.View.Buttons {
		if b.ActionID == actionID {
			out, ok := h.linker.Act(ctx(t), a, bot.Action{ID: actionID, Value: b.Value})
			if !ok {
				t.Fatalf("Links did not answer %s", actionID)
			}
			return out
		}
	}
	t.Fatalf("no %s button in %+v", actionID, r.View)
	return bot.Reply{}
}

// ask asks for a link on Discord as u and returns the code.
func (h *harness) ask(t *testing.T, u discordtest.User, email string) string {
	t.Helper()
	a := h.do(t, linkCmd(u, email))
	code := codePattern.FindString(a.text())
	if code == "" {
		t.Fatalf("no code in %s", a.text())
	}
	return code
}

// link links u to email the only way there is: asked on Discord, confirmed by the person on
// Slack.
func (h *harness) link(t *testing.T, u discordtest.User, email string) {
	t.Helper()
	code := h.ask(t, u, email)
	r, _ := h.linker.Command(ctx(t), onSlack(email), "link "+code)
	if r = h.click(t, onSlack(email), r, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "Discord account linked" {
		t.Fatalf("link %s to %s: %+v", u.ID, email, r.View)
	}
}

// last returns the last event recorded.
func (f *fakeLinks) last() audit.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		return audit.Event{}
	}
	return f.events[len(f.events)-1]
}

// linkedAs returns who u acts as on Discord ("" for nobody).
func (h *harness) linkedAs(t *testing.T, u discordtest.User) string {
	t.Helper()
	h.handler.mu.Lock()
	h.handler.commands = nil
	h.handler.mu.Unlock()
	h.do(t, discordtest.Command(u, "list"))
	cmds, _ := h.handler.got()
	if len(cmds) == 0 {
		return ""
	}
	return cmds[0].actor.ID
}

// Finding 2 of issue 13: Dana, an admin, asked for a link of her second Discord account to
// carol@example.com and confirmed it herself with `/access link confirm <id>`; "Carol" then
// requested and approved access. Now no admin command, click or code makes the link.
func TestAnAdminCannotLinkADiscordAccountToSomeoneElse(t *testing.T) {
	h := newHarness(t)
	h.admins["dana@example.com"] = true
	code := h.ask(t, dana, "carol@example.com")
	danaOnSlack := onSlack("dana@example.com")
	for _, text := range []string{"link confirm " + dana.ID, "link approve <@" + dana.ID + ">", "link " + code} {
		r, _ := h.linker.Command(ctx(t), danaOnSlack, text)
		if r.View == nil || r.View.Tone != bot.ToneDanger || len(r.View.Buttons) != 0 {
			t.Errorf("%q by the admin: %+v", text, r.View)
		}
	}
	if a := h.do(t, linkCmd(bob, "confirm "+dana.ID)); !strings.Contains(a.text(), "Admins cannot confirm links") {
		t.Errorf("an admin confirming on Discord: %s", a.text())
	}
	// Nor can the admin press the buttons of Carol's prompt.
	prompt, _ := h.linker.Command(ctx(t), onSlack("carol@example.com"), "link "+code)
	if r := h.click(t, danaOnSlack, prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "Not yours to confirm" {
		t.Errorf("the admin clicking Carol's prompt: %+v", r.View)
	}
	if got := h.links.types(); len(got) != 1 || got[0] != audit.IdentityLinkRequested {
		t.Errorf("events = %v, want the request only", got)
	}
	if who := h.linkedAs(t, dana); who != "" {
		t.Errorf("Dana's account acts as %q", who)
	}
}

// "A link started on Discord can be completed by a victim typing the code on Slack with no
// prompt": now the victim sees whose account it is and nothing is linked until they confirm;
// they can refuse, and nobody else's code works for them.
func TestAVictimTypingTheCodeIsShownTheAccountAndNothingIsLinked(t *testing.T) {
	h := newHarness(t)
	code := h.ask(t, dana, "carol@example.com")
	carol := onSlack("carol@example.com")
	// Someone else typing the code finds nothing to confirm.
	if r, _ := h.linker.Command(ctx(t), onSlack("mallory@example.com"), "link "+code); r.View == nil || r.View.Title != "No link to confirm" {
		t.Errorf("mallory typing the code: %+v", r.View)
	}
	prompt, _ := h.linker.Command(ctx(t), carol, "link "+code)
	v := prompt.View
	if v == nil || !prompt.Private || v.Title != "Is this Discord account yours?" {
		t.Fatalf("carol typing the code: %+v", v)
	}
	shown := v.Text
	for _, f := range v.Fields {
		shown += "\n" + f.Label + ": " + f.Value
	}
	for _, want := range []string{"Discord user: dana-alt", "Discord user ID: " + dana.ID, "Email: carol@example.com", "Cancel"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the prompt does not show %q:\n%s", want, shown)
		}
	}
	if got := h.links.types(); len(got) != 1 {
		t.Errorf("typing the code recorded %v", got)
	}
	if who := h.linkedAs(t, dana); who != "" {
		t.Fatalf("before any confirmation the account acts as %q", who)
	}
	// Someone else pressing Carol's buttons decides nothing.
	if r := h.click(t, onSlack("mallory@example.com"), prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "Not yours to confirm" {
		t.Errorf("mallory pressing confirm: %+v", r.View)
	}
	// Carol refuses: the request is gone, and the refusal recorded.
	if r := h.click(t, carol, prompt, bot.ActionLinkCancel); r.View == nil || r.View.Title != "Nothing was linked" {
		t.Fatalf("carol refusing: %+v", r.View)
	}
	if r := h.click(t, carol, prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "No link to confirm" {
		t.Errorf("confirming after refusing: %+v", r.View)
	}
	want := []string{audit.IdentityLinkRequested, audit.IdentityUnlinked}
	if got := h.links.types(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v", got, want)
	}
	if who := h.linkedAs(t, dana); who != "" {
		t.Errorf("after the refusal the account acts as %q", who)
	}
}

func TestAPromptConfirmsOnlyTheLinkItShowed(t *testing.T) {
	h := newHarness(t)
	carol := onSlack("carol@example.com")
	code := h.ask(t, dana, "carol@example.com")
	prompt, _ := h.linker.Command(ctx(t), carol, "link "+code)
	// Asked again (a new code): the old prompt's buttons no longer work.
	h.ask(t, dana, "carol@example.com")
	if r := h.click(t, carol, prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "No link to confirm" {
		t.Errorf("an old prompt: %+v", r.View)
	}
	// A prompt is answered from the verified platform, not from Discord.
	code = h.ask(t, dana, "carol@example.com")
	prompt, _ = h.linker.Command(ctx(t), carol, "link "+code)
	carolOnDiscord := grants.Actor{ID: "carol@example.com", Platform: discord.PlatformName, PlatformID: dana.ID}
	if r := h.click(t, carolOnDiscord, prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Tone != bot.ToneDanger {
		t.Errorf("a click from Discord: %+v", r.View)
	}
	// A prompt works for as long as the code.
	h.clk.Advance(discord.DefaultCodeTTL + time.Minute)
	if r := h.click(t, carol, prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "No link to confirm" {
		t.Errorf("a prompt older than the code: %+v", r.View)
	}
	for _, typ := range h.links.types() {
		if typ == audit.IdentityLinked {
			t.Fatal("something was linked")
		}
	}
	// A forged value matches nothing.
	for _, v := range []string{"", dana.ID, dana.ID + ":00", "x:y", dana.ID + ":" + strings.Repeat("0", 32)} {
		r, _ := h.linker.Act(ctx(t), carol, bot.Action{ID: bot.ActionLinkConfirm, Value: v})
		if r.View == nil || r.View.Title != "No link to confirm" {
			t.Errorf("value %q: %+v", v, r.View)
		}
	}
}

// The "already linked" check covers the config: bob@example.com has his Discord account from
// discord.users, so no other account can be linked to him, and a mapped account to nobody.
func TestPeopleAndAccountsTheConfigMapsCannotBeLinked(t *testing.T) {
	h := newHarness(t)
	if a := h.do(t, linkCmd(dana, "Bob@Example.com")); !strings.Contains(a.text(), "That email has its Discord account") || codePattern.MatchString(a.text()) {
		t.Errorf("asking for bob's email: %s", a.text())
	}
	if a := h.do(t, linkCmd(alice, "carol@example.com")); !strings.Contains(a.text(), "already linked") {
		t.Errorf("a mapped account asking: %s", a.text())
	}
	if len(h.links.types()) != 0 {
		t.Errorf("events = %v", h.links.types())
	}
	// A pending link made before (or while the config did not map bob) cannot be confirmed.
	code := h.ask(t, dana, "carol@example.com")
	h.links.mu.Lock()
	l := h.links.links[dana.ID]
	l.Person = "bob@example.com"
	h.links.links[dana.ID] = l
	h.links.mu.Unlock()
	if r, _ := h.linker.Command(ctx(t), onSlack("bob@example.com"), "link "+code); r.View == nil || r.View.Title != "That email has its Discord account" || len(r.View.Buttons) != 0 {
		t.Errorf("bob typing the code of a link to him: %+v", r.View)
	}
	if got := h.links.types(); len(got) != 1 || got[0] != audit.IdentityLinkRequested {
		t.Errorf("events = %v", got)
	}
	// A link in force from before is ignored while the config maps the person elsewhere.
	h.links.mu.Lock()
	h.links.links[dana.ID] = discord.Link{UserID: dana.ID, Person: "bob@example.com", Name: "dana-alt",
		RequestedAt: t0, ConfirmedAt: t0, ConfirmedBy: "bob@example.com", Via: discord.LinkViaCode}
	h.links.mu.Unlock()
	if who := h.linkedAs(t, dana); who != "" {
		t.Errorf("a second account of a mapped person acts as %q", who)
	}
	if a := h.do(t, linkCmd(dana, "")); !strings.Contains(a.text(), "not in force") {
		t.Errorf("its status: %s", a.text())
	}
}

// Links an admin confirmed alone before issue 13 (finding 2's) are not in force: the person
// links again, after an admin removes it.
func TestALinkAnAdminConfirmedAloneIsNotInForce(t *testing.T) {
	h := newHarness(t)
	h.links.mu.Lock()
	h.links.links[dana.ID] = discord.Link{UserID: dana.ID, Person: "carol@example.com", Name: "dana-alt",
		RequestedAt: t0, ConfirmedAt: t0, ConfirmedBy: "dana@example.com", Via: discord.LinkViaAdmin}
	h.links.mu.Unlock()
	if who := h.linkedAs(t, dana); who != "" {
		t.Errorf("an admin-confirmed link acts as %q", who)
	}
	if a := h.do(t, linkCmd(dana, "")); !strings.Contains(a.text(), "An admin confirmed your link") {
		t.Errorf("its status: %s", a.text())
	}
	fake := discordtest.New(t)
	fake.AddRole("700000000000000001", "On-Call")
	fake.SetMember(dana.ID, "700000000000000001")
	c := newClient(t, fake, h.clk, h.links)
	if ok, err := c.MemberOf(ctx(t), onSlack("carol@example.com"), "discord-role:700000000000000001"); ok || err != nil {
		t.Errorf("carol has the Discord account's roles through an admin-confirmed link: %v, %v", ok, err)
	}
}

func TestTwoRolesWithOneNameAreAnErrorNamingBoth(t *testing.T) {
	fake := discordtest.New(t)
	fake.AddRole("700000000000000001", "On-Call")
	fake.AddRole("700000000000000002", "on-call")
	fake.AddRole("700000000000000003", "SRE")
	fake.SetMember(bobID, "700000000000000002", "700000000000000003")
	c := newClient(t, fake, clock.NewFake(t0), nil)
	bobOnDiscord := grants.Actor{ID: "bob@example.com", Platform: "discord", PlatformID: bobID}
	ok, err := c.MemberOf(ctx(t), bobOnDiscord, "discord-role:On-Call")
	if ok || err == nil || !strings.Contains(err.Error(), "700000000000000001") || !strings.Contains(err.Error(), "700000000000000002") {
		t.Errorf("an ambiguous name = %v, %v; want an error naming both IDs", ok, err)
	}
	if ok, err := c.MemberOf(ctx(t), bobOnDiscord, "discord-role:700000000000000002"); !ok || err != nil {
		t.Errorf("by ID = %v, %v", ok, err)
	}
	if ok, err := c.MemberOf(ctx(t), bobOnDiscord, "discord-role:sre"); !ok || err != nil {
		t.Errorf("a unique name = %v, %v", ok, err)
	}
}

func TestAPersonConfirmsFromTheWebChatToo(t *testing.T) {
	h := newHarness(t)
	carolOnWeb := grants.Actor{ID: "carol@example.com", Email: "carol@example.com", Platform: "web", PlatformID: "carol"}
	code := h.ask(t, dana, "carol@example.com")
	prompt, _ := h.linker.Command(ctx(t), carolOnWeb, "/access link "+code)
	if r := h.click(t, carolOnWeb, prompt, bot.ActionLinkConfirm); r.View == nil || r.View.Title != "Discord account linked" {
		t.Fatalf("confirm from the web chat: %+v", r.View)
	}
	if e := h.links.last(); e.Type != audit.IdentityLinked {
		t.Fatalf("last event = %s", e.Type)
	} else if p, err := audit.Decode[audit.IdentityLinkedData](e); err != nil || p.ConfirmedOn != "web" || p.Name != "dana-alt" || p.Via != discord.LinkViaCode || e.Actor != "carol@example.com" {
		t.Errorf("identity.linked = %+v, %v (actor %s)", p, err, e.Actor)
	}
	if who := h.linkedAs(t, dana); who != "carol@example.com" {
		t.Errorf("the linked account acts as %q", who)
	}
}
