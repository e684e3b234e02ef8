package discord_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// People of the tests, by Discord user ID.
const (
	aliceID = "600000000000000001"
	bobID   = "600000000000000002"
	eveID   = "600000000000000009" // not mapped, not linked
)

var (
	alice = discordtest.User{ID: aliceID, Username: "alice", GlobalName: "Alice Liddell"}
	bob   = discordtest.User{ID: bobID, Username: "bob", GlobalName: "Bob"}
	eve   = discordtest.User{ID: eveID, Username: "eve"}
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// fakeLinks is an in-memory LinkStore that records the audit events it is given.
type fakeLinks struct {
	mu     sync.Mutex
	links  map[string]discord.Link
	events []audit.Event
	err    error
}

func newFakeLinks() *fakeLinks { return &fakeLinks{links: map[string]discord.Link{}} }

func (f *fakeLinks) RequestDiscordLink(_ context.Context, l discord.Link, e audit.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if old, ok := f.links[l.UserID]; ok && old.Confirmed() {
		return discord.ErrAlreadyLinked
	}
	f.links[l.UserID] = l
	f.events = append(f.events, e)
	return nil
}

func (f *fakeLinks) ConfirmDiscordLink(_ context.Context, userID, codeHash, by, via string, at time.Time, e audit.Event) (discord.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[userID]
	if !ok || l.Confirmed() || codeHash == "" || codeHash != l.CodeHash {
		return discord.Link{}, discord.ErrNoPendingLink
	}
	for _, other := range f.links {
		if other.Confirmed() && other.Person == l.Person {
			return discord.Link{}, discord.ErrAlreadyLinked
		}
	}
	l.ConfirmedAt, l.ConfirmedBy, l.Via, l.CodeHash = at, by, via, ""
	f.links[userID] = l
	e.Subject = l.Person
	f.events = append(f.events, e)
	return l, nil
}

func (f *fakeLinks) DiscordLink(_ context.Context, userID string) (discord.Link, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return discord.Link{}, false, f.err
	}
	l, ok := f.links[userID]
	return l, ok, nil
}

func (f *fakeLinks) DiscordLinkOf(_ context.Context, person string) (discord.Link, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.links {
		if l.Confirmed() && l.Person == person {
			return l, true, nil
		}
	}
	return discord.Link{}, false, nil
}

func (f *fakeLinks) PendingDiscordLinks(_ context.Context, person string) ([]discord.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []discord.Link
	for _, l := range f.links {
		if !l.Confirmed() && (person == "" || l.Person == person) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakeLinks) RemoveDiscordLink(_ context.Context, userID string, e audit.Event) (discord.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[userID]
	if !ok {
		return discord.Link{}, grants.ErrNotFound
	}
	delete(f.links, userID)
	e.Subject = l.Person
	f.events = append(f.events, e)
	return l, nil
}

func (f *fakeLinks) types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, e.Type)
	}
	return out
}

func newClient(t *testing.T, fake *discordtest.Server, clk clock.Clock, links discord.LinkStore) *discord.Client {
	t.Helper()
	c, err := discord.NewClient(discord.ClientOptions{
		BotToken:      discordtest.BotToken,
		ApplicationID: discordtest.ApplicationID,
		APIURL:        fake.APIURL(),
		GuildID:       discordtest.GuildID,
		Users:         map[string]string{aliceID: "Alice@Example.com", bobID: "bob@example.com"},
		Links:         links,
		Clock:         clk,
		RoleTTL:       time.Minute,
		Log:           zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPostAndUpdateDeliverTheRenderedMessageWithTheBotToken(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	v := bot.View{Title: "Access request", Text: "Alice asks", Tone: bot.TonePending,
		Buttons: []bot.Button{{ActionID: bot.ActionApprove, Label: "Approve", Value: "r-1", Style: bot.StylePrimary}}}
	ref, err := c.Post(ctx(t), "300000000000000001", v)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Platform != discord.PlatformName || ref.Channel != "300000000000000001" || ref.ID == "" {
		t.Fatalf("ref = %+v", ref)
	}
	post := fake.Calls(discordtest.RoutePostMessage)[0]
	if post.Auth != "Bot "+discordtest.BotToken {
		t.Errorf("Authorization = %q", post.Auth)
	}
	var sent struct {
		Embeds []struct {
			Title string `json:"title"`
		} `json:"embeds"`
	}
	if err := post.Decode(&sent); err != nil || len(sent.Embeds) != 1 || sent.Embeds[0].Title != "⏳ Access request" {
		t.Fatalf("posted %s (%v)", post.Body, err)
	}
	if !strings.Contains(string(post.Body), `"custom_id":"approve:r-1"`) {
		t.Errorf("no approve button in %s", post.Body)
	}

	v.Title, v.Tone, v.Buttons = "Approved", bot.ToneSuccess, nil
	if err := c.Update(ctx(t), ref, v); err != nil {
		t.Fatal(err)
	}
	m, ok := fake.Message(ref.Channel, ref.ID)
	if !ok || m.Edits != 1 || !strings.Contains(string(m.Body), "Approved") || !strings.Contains(string(m.Body), `"components":[]`) {
		t.Errorf("the message after the update: %s (edits %d): the buttons must go", m.Body, m.Edits)
	}
}

func TestDMOpensTheDMChannelOnceThenPostsInIt(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	for i := 0; i < 2; i++ {
		ref, err := c.DM(ctx(t), aliceID, bot.View{Title: "Granted"})
		if err != nil {
			t.Fatal(err)
		}
		if ref.Channel != fake.DMChannel(aliceID) {
			t.Errorf("DM went to %s, not the DM channel %s", ref.Channel, fake.DMChannel(aliceID))
		}
	}
	if n := fake.Count(discordtest.RouteOpenDM); n != 1 {
		t.Errorf("opened the DM channel %d times, want once", n)
	}
	if got := fake.Calls(discordtest.RouteOpenDM)[0].JSON()["recipient_id"]; got != aliceID {
		t.Errorf("recipient_id = %v", got)
	}
}

func TestAPIFailuresBecomeWhatTheOutboxUnderstands(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	v := bot.View{Title: "x"}

	fake.RateLimit(1, 2500*time.Millisecond)
	_, err := c.Post(ctx(t), "300000000000000001", v)
	var ra *bot.RetryAfterError
	if !errors.As(err, &ra) || ra.After != 2500*time.Millisecond {
		t.Errorf("429: %v, want a RetryAfterError of 2.5s", err)
	}

	fake.FailNext(discordtest.RoutePostMessage, http.StatusForbidden, 50001, "Missing Access")
	if _, err := c.Post(ctx(t), "300000000000000001", v); !errors.Is(err, bot.ErrPermanent) || !strings.Contains(err.Error(), "50001") {
		t.Errorf("Missing Access: %v, want ErrPermanent naming the code", err)
	}
	fake.FailNext(discordtest.RouteOpenDM, http.StatusForbidden, 50007, "Cannot send messages to this user")
	if _, err := c.DM(ctx(t), eveID, v); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("a user who takes no DMs: %v, want ErrPermanent", err)
	}
	if err := c.Update(ctx(t), bot.MessageRef{Channel: "300000000000000001", ID: "1"}, v); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("Unknown Message: %v, want ErrPermanent", err)
	}

	fake.FailNext(discordtest.RoutePostMessage, http.StatusBadGateway, 0, "bad gateway")
	_, err = c.Post(ctx(t), "300000000000000001", v)
	if err == nil || errors.Is(err, bot.ErrPermanent) || errors.As(err, &ra) {
		t.Errorf("502: %v, want a plain (retryable) error", err)
	}

	fake.SetToken("another")
	_, err = c.Post(ctx(t), "300000000000000001", v)
	if !errors.Is(err, bot.ErrPermanent) || strings.Contains(err.Error(), discordtest.BotToken) {
		t.Errorf("a refused token: %v, want ErrPermanent without the token", err)
	}
	if err := c.Check(ctx(t)); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") || strings.Contains(err.Error(), discordtest.BotToken) {
		t.Errorf("Check with a refused token: %v, want Discord's 401 without the token", err)
	}
}

func TestCheckCallsUsersMe(t *testing.T) {
	fake := discordtest.New(t)
	if err := newClient(t, fake, clock.NewFake(t0), nil).Check(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if fake.Count(discordtest.RouteMe) != 1 {
		t.Error("no GET /users/@me")
	}
}

func TestTheConfigMapsDiscordUsersToPeopleAndLinksDoTheRest(t *testing.T) {
	fake := discordtest.New(t)
	links := newFakeLinks()
	c := newClient(t, fake, clock.NewFake(t0), links)
	a, err := c.Actor(ctx(t), discord.Person{ID: aliceID, Name: "Alice Liddell"})
	if err != nil || a.ID != "alice@example.com" || a.Email != "alice@example.com" || a.Platform != "discord" || a.PlatformID != aliceID || a.Name != "Alice Liddell" {
		t.Errorf("Actor(alice) = %+v, %v", a, err)
	}
	if _, err := c.Actor(ctx(t), discord.Person{ID: eveID, Name: "eve"}); !errors.Is(err, discord.ErrNotLinked) {
		t.Errorf("Actor(eve) error %v, want ErrNotLinked", err)
	}
	links.links[eveID] = discord.Link{UserID: eveID, Person: "eve@example.com"}
	if _, err := c.Actor(ctx(t), discord.Person{ID: eveID}); !errors.Is(err, discord.ErrNotLinked) {
		t.Errorf("a pending link counts: %v", err)
	}
	links.links[eveID] = discord.Link{UserID: eveID, Person: "eve@example.com", ConfirmedAt: t0}
	if a, err := c.Actor(ctx(t), discord.Person{ID: eveID}); err != nil || a.ID != "eve@example.com" {
		t.Errorf("Actor(eve) with a confirmed link = %+v, %v", a, err)
	}
	links.err = errors.New("database down")
	if _, err := c.Actor(ctx(t), discord.Person{ID: "600000000000000077"}); err == nil || errors.Is(err, discord.ErrNotLinked) {
		t.Errorf("a store failure: %v, want an error that is not ErrNotLinked", err)
	}
	if fake.Count(discordtest.RouteMember) != 0 {
		t.Error("working out who someone is called Discord")
	}
}

func TestDiscordRolesAnswerForDiscordRoleGroupsAfterTheConfig(t *testing.T) {
	fake := discordtest.New(t)
	fake.AddRole("700000000000000001", "On-Call")
	fake.SetMember(bobID, "700000000000000001")
	fake.SetMember(aliceID)
	clk := clock.NewFake(t0)
	links := newFakeLinks()
	c := newClient(t, fake, clk, links)
	dir := c.Directory(nil)
	bobOnDiscord := grants.Actor{ID: "bob@example.com", Platform: "discord", PlatformID: bobID}
	for _, group := range []string{"discord-role:on-call", "discord-role:700000000000000001"} {
		if ok, err := dir.MemberOf(ctx(t), bobOnDiscord, group); err != nil || !ok {
			t.Errorf("bob in %s = %v, %v", group, ok, err)
		}
	}
	if ok, err := dir.MemberOf(ctx(t), grants.Actor{ID: "alice@example.com", Platform: "discord", PlatformID: aliceID}, "discord-role:on-call"); err != nil || ok {
		t.Errorf("alice in on-call = %v, %v", ok, err)
	}
	// Bob acting from Slack is found through the config's mapping; someone unknown to Discord
	// has no role; other groups are not Discord's.
	if ok, err := dir.MemberOf(ctx(t), grants.Actor{ID: "bob@example.com", Platform: "slack", PlatformID: "U1"}, "discord-role:on-call"); err != nil || !ok {
		t.Errorf("bob from Slack = %v, %v", ok, err)
	}
	if ok, _ := dir.MemberOf(ctx(t), grants.Actor{ID: "zed@example.com", Platform: "slack"}, "discord-role:on-call"); ok {
		t.Error("someone without a Discord account has the role")
	}
	if ok, _ := dir.MemberOf(ctx(t), bobOnDiscord, "@on-call"); ok {
		t.Error("Discord answered for a Slack group")
	}
	if ok, _ := dir.MemberOf(ctx(t), bobOnDiscord, "discord-role:nobody"); ok {
		t.Error("an unknown role has members")
	}
	if n := fake.Count(discordtest.RouteMember); n != 2 {
		t.Errorf("%d member look-ups, want one per person within the TTL", n)
	}

	// Bob loses the role: seen once the TTL has passed.
	fake.SetMember(bobID)
	if ok, _ := dir.MemberOf(ctx(t), bobOnDiscord, "discord-role:on-call"); !ok {
		t.Error("the cache did not hold for the TTL")
	}
	clk.Advance(2 * time.Minute)
	if ok, _ := dir.MemberOf(ctx(t), bobOnDiscord, "discord-role:on-call"); ok {
		t.Error("a removed role still counts after the TTL")
	}

	// A failure is an error: authorization fails closed.
	clk.Advance(2 * time.Minute)
	fake.FailNext(discordtest.RouteMember, http.StatusInternalServerError, 0, "oops")
	if ok, err := dir.MemberOf(ctx(t), bobOnDiscord, "discord-role:700000000000000001"); err == nil || ok {
		t.Errorf("a failed look-up = %v, %v; want an error", ok, err)
	}
}

func TestUploadPostsTheFileAsAnAttachmentWithItsCaption(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	png := []byte("\x89PNG\r\n\x1a\nnot really a chart")
	if err := c.Upload(ctx(t), "300000000000000001", "grants.png", png, "Grants per day"); err != nil {
		t.Fatal(err)
	}
	post := fake.Calls(discordtest.RoutePostMessage)[0]
	if post.Auth != "Bot "+discordtest.BotToken || post.Params["channel"] != "300000000000000001" {
		t.Errorf("posted to %q with %q", post.Params["channel"], post.Auth)
	}
	if !bytes.Equal(post.Files["grants.png"], png) {
		t.Errorf("attachment = %q, want the PNG's bytes", post.Files["grants.png"])
	}
	var sent struct {
		Content     string `json:"content"`
		Attachments []struct {
			ID       int    `json:"id"`
			Filename string `json:"filename"`
		} `json:"attachments"`
	}
	if err := post.Decode(&sent); err != nil || sent.Content != "Grants per day" ||
		len(sent.Attachments) != 1 || sent.Attachments[0].Filename != "grants.png" {
		t.Errorf("payload_json = %s (%v)", post.Body, err)
	}

	fake.FailNext(discordtest.RoutePostMessage, http.StatusForbidden, 50001, "Missing Access")
	if err := c.Upload(ctx(t), "300000000000000001", "grants.png", png, "x"); !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("a refused upload is %v, want a permanent delivery error", err)
	}
}
