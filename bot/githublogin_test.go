package bot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters/github"
	"github.com/accessbot/accessbot/adapters/github/githubtest"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/ghdevice"
)

const ghClientID = "Iv23liAbCdEf12345678"

// ghWaits is the device flow's wait: it records each wait, moves the harness's clock by it, and,
// when gated, holds the flow until the gate opens (the person has not acted yet).
type ghWaits struct {
	mu   sync.Mutex
	got  []time.Duration
	h    *bottest.Harness
	gate chan struct{}
}

func (w *ghWaits) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	gate := w.gate
	w.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.h.Advance(d)
	return nil
}

func (w *ghWaits) waits() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.got...)
}

// ghEnv is a harness with `/access github-login` against a fake GitHub device flow, and an
// org-admin resource (the github adapter in team mode against a fake GitHub API) whose accounts
// are the verified logins.
type ghEnv struct {
	h     *bottest.Harness
	flow  *githubtest.DeviceFlow
	api   *githubtest.Server
	waits *ghWaits
	dsn   string
}

func newGHEnv(t *testing.T, gated bool) *ghEnv {
	t.Helper()
	flow := githubtest.NewDeviceFlow(t, ghClientID)
	api := githubtest.New(t, githubtest.Options{})
	cfg := github.NewConfig()
	cfg.Mode, cfg.Org, cfg.Team = github.ModeTeam, githubtest.Org, githubtest.Team
	cfg.Auth, cfg.Token, cfg.APIURL = github.AuthToken, githubtest.Token, api.URL
	adapter, err := github.New(*cfg, zerolog.Nop(), github.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Name, r.AdapterType, r.Adapter = "org-admin", "github", adapter
	r.AccountFrom = &grants.AccountSource{Name: bot.GitHubLoginSource, Label: "GitHub account"}
	w := &ghWaits{}
	if gated {
		w.gate = make(chan struct{})
	}
	client := &ghdevice.Client{ClientID: ghClientID, OAuthURL: flow.URL, APIURL: flow.URL, Wait: w.wait}
	dsn := filepath.Join(t.TempDir(), "accessbot.db")
	h := bottest.New(t, bottest.Options{
		Resources: []*grants.Resource{r}, GitHubVerifier: client, DSN: dsn, Verbose: true,
	})
	client.Clock, w.h = h.Clock, h
	t.Cleanup(func() {
		w.open()
		h.Bot.WaitGitHubLogins()
	})
	return &ghEnv{h: h, flow: flow, api: api, waits: w, dsn: dsn}
}

// open lets a gated flow go on.
func (w *ghWaits) open() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gate != nil {
		close(w.gate)
		w.gate = nil
	}
}

// link runs `/access github-login <claimed>` as a and waits for the flow to end.
func (e *ghEnv) link(t *testing.T, a grants.Actor, claimed string) bot.Reply {
	t.Helper()
	reply := e.h.Command(a, strings.TrimSpace("github-login "+claimed))
	e.h.Bot.WaitGitHubLogins()
	return reply
}

// dmsTo returns the titles and texts of the DMs sent to a so far.
func (e *ghEnv) dmsTo(a grants.Actor) string {
	var out []string
	for _, c := range e.h.Platform.DMs(a.PlatformID) {
		out = append(out, c.View.Title+": "+c.View.Text)
	}
	return strings.Join(out, "\n")
}

func githubEventsOf(h *bottest.Harness) []audit.Event {
	return h.AuditEvents(audit.GitHubLinked, audit.GitHubLinkRefused, audit.GitHubUnlinked)
}

func TestAGitHubLoginIsVerifiedByGitHubThenGrantsGoToIt(t *testing.T) {
	e := newGHEnv(t, false)
	h := e.h
	alice := gt.Alice

	// No verified login yet: the request is refused, and says how to link one.
	reply := h.Command(alice, "request org-admin 1h INC-1 rotating keys")
	if !reply.Private || !strings.Contains(reply.View.Text, "Link your GitHub account first: /access github-login") {
		t.Fatalf("request without a link: %+v", reply.View)
	}
	refused := h.AuditEvents(audit.RequestRefused)
	if len(refused) != 1 || refused[0].Data["refused"] != grants.ReasonAccountNotLinked {
		t.Fatalf("refusals %+v, want one account_not_linked", refused)
	}

	e.flow.Then("authorization_pending", "slow_down")
	e.flow.Authorize("Alice-GH", 1001)
	reply = e.link(t, alice, "alice-gh")
	if !reply.Private || !strings.Contains(reply.View.Text, githubtest.UserCode) || !strings.Contains(reply.View.Text, e.flow.URL+"/login/device") {
		t.Fatalf("the answer to /access github-login: %+v, want the code and where to enter it, privately", reply)
	}
	if got, want := fmt.Sprint(e.waits.waits()), "[5s 5s 10s]"; got != want {
		t.Errorf("waits between polls %s, want %s (the interval, then 5 s more after slow_down)", got, want)
	}
	evs := githubEventsOf(h)
	if len(evs) != 1 || evs[0].Type != audit.GitHubLinked || evs[0].Subject != alice.ID {
		t.Fatalf("events %+v, want one identity.github_linked about alice", evs)
	}
	if p, _ := audit.Decode[audit.GitHubLinkedData](evs[0]); p.Login != "Alice-GH" || p.ID != 1001 || p.Via != audit.GitHubVia {
		t.Errorf("linked %+v", p)
	}
	h.Deliver()
	if dms := e.dmsTo(alice); !strings.Contains(dms, "GitHub login verified") || !strings.Contains(dms, "Alice-GH") {
		t.Errorf("DMs to alice:\n%s\nwant the verified login", dms)
	}

	// The request now goes to the verified login at GitHub.
	e.api.AddOrgMember("alice-gh")
	out := h.Command(alice, "request org-admin 1h INC-2 rotating keys")
	if out.View == nil || out.View.Tone == bot.ToneDanger {
		t.Fatalf("request after the link: %+v", out.View)
	}
	if r := h.Click(gt.Bob, bot.ActionApprove, "r-1"); r.View != nil && r.View.Tone == bot.ToneDanger {
		t.Fatalf("approve: %+v", r.View)
	}
	h.RunDue()
	if g := h.Grant("g-1"); g.State != grants.GrantActive || g.Account != "Alice-GH" {
		t.Fatalf("grant %+v, want active for Alice-GH", g)
	}
	if role, state := e.api.Membership("alice-gh"); state != "active" || role != "member" {
		t.Errorf("team membership of alice-gh at GitHub: %s %s, want an active member", role, state)
	}

	// Neither the token nor the device code is anywhere: not in the log, not in the database.
	h.Bot.WaitGitHubLogins()
	issued := e.flow.Issued()
	if len(issued) != 2 {
		t.Fatalf("the fake issued %v, want a device code and a token", issued)
	}
	var stored strings.Builder
	for _, f := range []string{e.dsn, e.dsn + "-wal"} {
		if b, err := os.ReadFile(f); err == nil {
			stored.Write(b)
		}
	}
	if stored.Len() == 0 || !strings.Contains(stored.String(), "Alice-GH") {
		t.Fatal("the database files hold nothing of the link: the search below would prove nothing")
	}
	for _, s := range issued {
		if strings.Contains(h.Logs.String(), s) {
			t.Errorf("the log holds %s", s)
		}
		if strings.Contains(stored.String(), s) {
			t.Errorf("the database holds %s", s)
		}
	}
	if !strings.Contains(h.Logs.String(), "GitHub login verified") {
		t.Error("the log does not hold the verification: the search above looked at nothing")
	}
}

func TestAGitHubVerificationThatStoresNothingIsRecordedAndToldToThePerson(t *testing.T) {
	for _, tc := range []struct {
		name    string
		claimed string
		act     func(f *githubtest.DeviceFlow)
		refused string
		dm      string
	}{
		{"GitHub says the person is someone else than they claimed", "alice-gh",
			func(f *githubtest.DeviceFlow) { f.Authorize("mallory-gh", 666) }, audit.GitHubRefusedMismatch, "GitHub says you are `mallory-gh`, not `alice-gh`"},
		{"the person declines at GitHub", "",
			func(f *githubtest.DeviceFlow) { f.Then("authorization_pending"); f.Deny() }, audit.GitHubRefusedDenied, "You declined the authorization at GitHub"},
		{"the code expires at GitHub", "",
			func(f *githubtest.DeviceFlow) { f.Expire() }, audit.GitHubRefusedExpired, "The code expired"},
		{"the code is never entered", "",
			func(*githubtest.DeviceFlow) {}, audit.GitHubRefusedExpired, "The code expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGHEnv(t, false)
			tc.act(e.flow)
			e.link(t, gt.Alice, tc.claimed)
			evs := githubEventsOf(e.h)
			if len(evs) != 1 || evs[0].Type != audit.GitHubLinkRefused {
				t.Fatalf("events %+v, want one identity.github_link_refused", evs)
			}
			if p, _ := audit.Decode[audit.GitHubLinkRefusedData](evs[0]); p.Refused != tc.refused || p.Claimed != tc.claimed {
				t.Errorf("refused %+v, want %s", p, tc.refused)
			}
			if _, err := e.h.DB.GitHubLink(e.h.Ctx, gt.Alice.ID); err == nil {
				t.Error("a login was stored")
			}
			e.h.Deliver()
			if dms := e.dmsTo(gt.Alice); !strings.Contains(dms, tc.dm) {
				t.Errorf("DMs to alice:\n%s\nwant %q", dms, tc.dm)
			}
		})
	}
}

func TestAGitHubLoginLinkedToAnotherPersonIsRefusedAndTheSecurityChannelAlerted(t *testing.T) {
	e := newGHEnv(t, false)
	e.flow.Authorize("octo", 7)
	e.link(t, gt.Alice, "")
	e.flow.Authorize("octo", 7)
	e.link(t, gt.Dave, "octo")
	if l, err := e.h.DB.GitHubLink(e.h.Ctx, gt.Alice.ID); err != nil || l.Login != "octo" {
		t.Fatalf("alice's link %+v, %v", l, err)
	}
	if _, err := e.h.DB.GitHubLink(e.h.Ctx, gt.Dave.ID); err == nil {
		t.Fatal("dave got alice's GitHub account")
	}
	e.h.Deliver()
	alerts := e.h.Platform.Posts(bottest.SecurityChannel)
	if len(alerts) != 1 || !strings.Contains(alerts[0].View.Text+fmt.Sprint(alerts[0].View.Fields), "linked to alice@example.com") {
		t.Errorf("security channel: %+v, want one alert naming the owner", alerts)
	}
	if dms := e.dmsTo(gt.Dave); !strings.Contains(dms, "linked to another person") || strings.Contains(dms, "alice") {
		t.Errorf("DMs to dave:\n%s\nwant the refusal, without the owner", dms)
	}
}

func TestOneGitHubLoginFlowPerPersonAtATimeAndRemoveUnlinks(t *testing.T) {
	e := newGHEnv(t, true)
	h := e.h
	first := h.Command(gt.Alice, "github-login")
	if first.View == nil || first.View.Tone != bot.TonePending {
		t.Fatalf("first: %+v", first.View)
	}
	second := h.Command(gt.Alice, "github-login")
	if second.View == nil || second.View.Title != "Already waiting for GitHub" {
		t.Errorf("a second flow while the first waits: %+v", second.View)
	}
	other := h.Command(gt.Dave, "github-login")
	if other.View == nil || other.View.Tone != bot.TonePending || userCodeOf(other) == userCodeOf(first) {
		t.Fatalf("another person's flow: %+v, want it started with its own code", other.View)
	}
	// Alice enters her code; Dave never enters his.
	e.flow.AuthorizeCode(userCodeOf(first), "alice-gh", 11)
	e.waits.open()
	h.Bot.WaitGitHubLogins()
	if evs := h.AuditEvents(audit.GitHubLinkRefused); len(evs) != 1 || evs[0].Subject != gt.Dave.ID || evs[0].Data["refused"] != audit.GitHubRefusedExpired {
		t.Errorf("refusals %+v, want dave's code expired", evs)
	}
	if n := len(e.flow.Calls()); n == 0 {
		t.Fatal("no call reached the fake")
	}
	if l, err := h.DB.GitHubLink(h.Ctx, gt.Alice.ID); err != nil || l.Login != "alice-gh" {
		t.Fatalf("alice's link %+v, %v", l, err)
	}

	gone := h.Command(gt.Alice, "github-login remove")
	if gone.View == nil || gone.View.Title != "GitHub login removed" {
		t.Fatalf("remove: %+v", gone.View)
	}
	if again := h.Command(gt.Alice, "github-login remove"); again.View == nil || again.View.Title != "No GitHub login linked" {
		t.Errorf("remove again: %+v", again.View)
	}
	evs := h.AuditEvents(audit.GitHubUnlinked)
	if len(evs) != 1 || evs[0].Data["login"] != "alice-gh" {
		t.Errorf("unlink events %+v", evs)
	}
	reply := h.Command(gt.Alice, "request org-admin 1h INC-3 again")
	if reply.View == nil || !strings.Contains(reply.View.Text, "/access github-login") {
		t.Errorf("request after the unlink: %+v, want the refusal that says to link", reply.View)
	}
}

// userCodeOf reads the code a /access github-login answer shows.
func userCodeOf(r bot.Reply) string {
	if r.View == nil {
		return ""
	}
	for _, f := range r.View.Fields {
		if f.Label == "Code" {
			return strings.Trim(f.Value, "`")
		}
	}
	return ""
}

func TestGitHubLoginIsOffWithoutItsSetup(t *testing.T) {
	h := bottest.New(t, bottest.Options{})
	reply := h.Command(gt.Alice, "github-login alice-gh")
	if reply.View == nil || reply.View.Title != "GitHub login is not set up" || !reply.Private {
		t.Errorf("without github_login: %+v", reply)
	}
}
