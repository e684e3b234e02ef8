package discord_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

const (
	approvalsChannel = "300000000000000010"
	securityChannel  = "300000000000000011"
	oncallRole       = "700000000000000005"
)

// stack is the whole chat side of accessbot on Discord: a real grants Service, store and Bot
// delivering through the Discord client, the interactions endpoint, all against the fake.
type stack struct {
	fake    *discordtest.Server
	clk     *clock.Fake
	db      *storage.DB
	svc     *grants.Service
	sched   *grants.Scheduler
	bot     *bot.Bot
	adapter *grantstest.FakeAdapter
	send    *discordtest.Sender
	h       *harness // for do()
}

func newStack(t *testing.T) *stack {
	t.Helper()
	c := ctx(t)
	fake := discordtest.New(t)
	fake.AddRole(oncallRole, "on-call")
	fake.SetMember(bobID, oncallRole)
	fake.SetMember(aliceID)
	clk := clock.NewFake(grantstest.Start)
	db, err := storage.Open(c, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(t.TempDir(), "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(c); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, fake, clk, db)
	adapter := grantstest.NewFakeAdapter()
	res := grantstest.DefaultResource()
	res.Adapter = adapter
	res.Policy.ApproverGroups = []string{"discord-role:on-call"}
	relay := &bot.Relay{}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	svc, err := grants.NewService(grants.Options{
		Store: db, Resources: []*grants.Resource{res}, Directory: client.Directory(grantstest.NewDirectory(nil)),
		AdminUsers: []string{"bob@example.com"}, Clock: clk, Log: log, Notifier: relay, Secrets: relay,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bot.New(bot.Options{Service: svc, Store: db, Clock: clk, Log: log,
		Channels:  map[string]bot.Channels{discord.PlatformName: {Approvals: approvalsChannel, Security: securityChannel}},
		Platforms: []bot.Platform{client},
		Delivery:  bot.DeliveryOptions{Retry: grants.RetryPolicy{Jitter: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	relay.Attach(b)
	links, err := discord.NewLinks(discord.LinkOptions{Store: db, Client: client, IsAdmin: svc.IsAdmin, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := discord.NewServer(client, discord.ServerOptions{PublicKey: discordtest.PublicKeyHex(), Handler: links.Wrap(b),
		Links: links, Requestable: svc.Requestable, Audit: db, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(func() {
		web.Close()
		srv.Wait()
	})
	s := &stack{fake: fake, clk: clk, db: db, svc: svc, bot: b, adapter: adapter,
		sched: grants.NewScheduler(svc, grants.SchedulerOptions{CallTimeout: 5 * time.Second, Sweep: -1}),
		send:  &discordtest.Sender{BaseURL: web.URL, Now: clk.Now}}
	s.h = &harness{send: s.send}
	s.deliver(t) // the dispatcher's cursor starts now
	return s
}

// deliver runs the scheduler, then the dispatcher and outbox of Discord, until nothing is left.
func (s *stack) deliver(t *testing.T) {
	t.Helper()
	d, o := s.bot.Workers(discord.PlatformName)
	for i := 0; i < 5; i++ {
		if _, err := s.sched.RunDue(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DispatchOnce(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := o.SendDue(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

type posted struct {
	Embeds []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"embeds"`
	Components []struct {
		Components []struct {
			Label    string `json:"label"`
			CustomID string `json:"custom_id"`
		} `json:"components"`
	} `json:"components"`
}

func decodePosted(t *testing.T, body []byte) posted {
	t.Helper()
	var p posted
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("message %s: %v", body, err)
	}
	return p
}

func (p posted) button(prefix string) string {
	for _, row := range p.Components {
		for _, b := range row.Components {
			if strings.HasPrefix(b.CustomID, prefix+":") {
				return b.CustomID
			}
		}
	}
	return ""
}

// The story on Discord: Alice asks, the approval message appears in the approver channel with
// Approve and Deny, Alice may not approve her own request, Bob (who has the on-call role) does,
// the access is granted, the message is updated in place, Alice hears of each step by DM, is
// warned before expiry with Extend and I'm done, and ends it herself.
func TestTheWholeStoryOnDiscord(t *testing.T) {
	s := newStack(t)
	a := s.h.do(t, discordtest.Command(alice, "request", discordtest.Opt{Name: "resource", Value: "prod-db"},
		discordtest.Opt{Name: "duration", Value: "1h"}, discordtest.Opt{Name: "reason", Value: "INC-42 fixing the index"}))
	if a.Type != 4 || a.Data.Flags != 64 || !strings.Contains(a.text(), "prod-db") {
		t.Fatalf("request answer: %s", a.text())
	}
	s.deliver(t)
	msgs := s.fake.Messages(approvalsChannel)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the approver channel, want the approval message:\n%s", len(msgs), s.fake)
	}
	approval := msgs[0]
	p := decodePosted(t, approval.Body)
	approve, deny := p.button(bot.ActionApprove), p.button(bot.ActionDeny)
	if approve == "" || deny == "" {
		t.Fatalf("the approval message has no Approve and Deny: %s", approval.Body)
	}

	// Alice cannot approve her own request.
	a = s.h.do(t, discordtest.Click(alice, approvalsChannel, approval.ID, approve))
	if !strings.Contains(a.text(), "your own request") {
		t.Errorf("self-approval: %s", a.text())
	}
	// Bob has the on-call role: Discord says so with his click (and GET /guilds/.../members
	// would), never the message.
	onCall := bob
	onCall.Roles = []string{oncallRole}
	a = s.h.do(t, discordtest.Click(onCall, approvalsChannel, approval.ID, approve))
	if a.Type != 4 || a.Data.Flags != 64 {
		t.Errorf("bob's approval answer: %+v", a)
	}
	if !strings.Contains(a.text(), "pprov") {
		t.Errorf("bob's approval answer: %s", a.text())
	}
	s.deliver(t)
	if len(s.adapter.Calls()) == 0 {
		var types []string
		_ = s.db.ScanAudit(ctx(t), audit.Filter{}, func(e audit.Event) error { types = append(types, e.Type+" "+e.Data["reason"]); return nil })
		t.Fatalf("the adapter was never asked to grant; bob's answer: %s; events: %v", a.text(), types)
	}
	now, ok := s.fake.Message(approvalsChannel, approval.ID)
	if !ok || now.Edits == 0 || !strings.Contains(strings.ToLower(string(now.Body)), "granted") {
		t.Errorf("the approval message was not updated in place: %s", now.Body)
	}
	if got := s.fake.Messages(approvalsChannel); len(got) != 1 {
		t.Errorf("%d messages in the approver channel, want the one, edited", len(got))
	}
	dm := s.fake.DMChannel(aliceID)
	if dm == "" || len(s.fake.Messages(dm)) == 0 {
		t.Fatalf("alice got no DM:\n%s", s.fake)
	}

	// The expiry warning, with Extend and I'm done.
	s.clk.Advance(51 * time.Minute)
	s.deliver(t)
	var warning posted
	for _, m := range s.fake.Messages(dm) {
		if pm := decodePosted(t, m.Body); pm.button(bot.ActionExtend) != "" {
			warning = pm
		}
	}
	done := warning.button(bot.ActionRevoke)
	if done == "" {
		t.Fatalf("no expiry warning with Extend and I'm done in alice's DMs")
	}
	a = s.h.do(t, discordtest.Click(alice, dm, "1", done))
	if a.Type != 4 || a.Data.Flags != 64 {
		t.Errorf("I'm done answer: %+v", a)
	}
	s.deliver(t)
	final, _ := s.fake.Message(approvalsChannel, approval.ID)
	if text := strings.ToLower(string(final.Body)); !strings.Contains(text, "revoked") && !strings.Contains(text, "ended") {
		t.Errorf("the approval message does not say the access ended: %s", final.Body)
	}

	// Eve is unknown to the config: she is told how to link, and nothing reaches the engine.
	a = s.h.do(t, discordtest.Command(eve, "request", discordtest.Opt{Name: "resource", Value: "prod-db"},
		discordtest.Opt{Name: "duration", Value: "1h"}, discordtest.Opt{Name: "reason", Value: "INC-1"}))
	if !strings.Contains(a.text(), "/access link") {
		t.Errorf("eve: %s", a.text())
	}
	rs, _ := s.svc.ListRequests(ctx(t), grants.RequestFilter{})
	if len(rs) != 1 {
		t.Errorf("%d requests, want alice's only", len(rs))
	}
}

// The request form on Discord: a text input stands for the select, and the submission makes
// the request.
func TestTheRequestFormOnDiscordMakesTheRequest(t *testing.T) {
	s := newStack(t)
	a := s.h.do(t, discordtest.Command(alice, "request"))
	if a.Type != 9 || a.Data.CustomID != "form:request:" {
		t.Fatalf("answer = %+v, want the request modal", a)
	}
	a = s.h.do(t, discordtest.ModalSubmit(alice, a.Data.CustomID, map[string]string{
		"resource": "prod-db", "duration": "30m", "reason": "INC-7 checking a report"}))
	if a.Type != 4 || !strings.Contains(a.text(), "prod-db") {
		t.Fatalf("submission answer: %s", a.text())
	}
	a = s.h.do(t, discordtest.ModalSubmit(alice, "form:request:", map[string]string{"resource": "prod-db", "duration": "forever"}))
	if !strings.Contains(a.text(), "not a duration") {
		t.Errorf("a bad duration: %s", a.text())
	}
	a = s.h.do(t, discordtest.Autocomplete(alice, "request", discordtest.Opt{Name: "resource", Value: "pr", Focused: true}))
	if len(a.Data.Choices) != 1 || a.Data.Choices[0].Value != "prod-db" {
		t.Errorf("completions = %+v", a.Data.Choices)
	}
}
