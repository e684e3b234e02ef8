package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/storage"
)

const replaySigningSecret = "replay-test-signing-secret"

// quietHandler answers every command and click with nothing.
type quietHandler struct{}

func (quietHandler) Command(context.Context, grants.Actor, string) bot.Reply { return bot.Reply{} }
func (quietHandler) Act(context.Context, grants.Actor, bot.Action) bot.Reply { return bot.Reply{} }

// refusals records the reasons of auth.failed events.
type refusals struct {
	mu      sync.Mutex
	reasons []string
}

func (r *refusals) AppendAudit(_ context.Context, e audit.Event) (audit.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Type == audit.AuthFailed {
		r.reasons = append(r.reasons, e.Data["reason"])
	}
	return e, nil
}

func (r *refusals) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

// replica is one accessbot process's Slack and Discord endpoints, on its own database pool,
// with the replay store app.ReplayStore chooses for it.
type replica struct {
	url      string
	refusals *refusals
}

func startReplica(t *testing.T, driver, dsn string) replica {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r := replica{refusals: &refusals{}}
	fakeSlack := slacktest.New(t)
	fakeSlack.AddUser(slacktest.User{ID: "U0ALICE", Name: "alice", RealName: "Alice", Email: "alice@example.com"})
	sc, err := slack.NewClient(slack.ClientOptions{BotToken: slacktest.BotToken, APIURL: fakeSlack.APIURL(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := slack.NewServer(sc, slack.ServerOptions{SigningSecret: replaySigningSecret, Handler: quietHandler{},
		Audit: r.refusals, Log: zerolog.Nop(), ReplayStore: app.ReplayStore(db)})
	if err != nil {
		t.Fatal(err)
	}
	fakeDiscord := discordtest.New(t)
	dc, err := discord.NewClient(discord.ClientOptions{BotToken: discordtest.BotToken, ApplicationID: discordtest.ApplicationID,
		APIURL: fakeDiscord.APIURL(), GuildID: discordtest.GuildID, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := discord.NewServer(dc, discord.ServerOptions{PublicKey: discordtest.PublicKeyHex(), Handler: quietHandler{},
		Audit: r.refusals, Log: zerolog.Nop(), ReplayStore: app.ReplayStore(db)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ss.Mount(mux)
	ds.Mount(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(func() {
		web.Close()
		ss.Wait()
		ds.Wait()
	})
	r.url = web.URL
	return r
}

// capturedRequest is a signed request as an attacker captures it: sent as it is, to any replica.
type capturedRequest struct {
	path   string
	header http.Header
	body   []byte
}

func captureRequests(t *testing.T) map[string]capturedRequest {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	command := []byte(slacktest.Command{Text: "help", UserID: "U0ALICE", UserName: "alice"}.Form().Encode())
	sreq, err := slacktest.SignedRequest(ctx, "http://captured"+slack.PathCommands, replaySigningSecret, now, slacktest.FormContentType, command)
	if err != nil {
		t.Fatal(err)
	}
	ping := discordtest.Ping().JSON()
	dreq, err := discordtest.SignedRequest(ctx, "http://captured"+discord.PathInteractions, discordtest.PrivateKey(), now, ping)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]capturedRequest{
		"slack":   {slack.PathCommands, sreq.Header, command},
		"discord": {discord.PathInteractions, dreq.Header, ping},
	}
}

func (r replica) send(t *testing.T, c capturedRequest) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// A signed request captured on its way to one replica and sent again to another used to be
// accepted once per replica: each kept its replay cache in memory. On PostgreSQL the replicas
// share the database's, so the second replica refuses it as a replay.
func TestReplicasOnPostgreSQLAcceptACapturedRequestOnce(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	one, two := startReplica(t, storage.Postgres, dsn), startReplica(t, storage.Postgres, dsn)
	for platform, c := range captureRequests(t) {
		t.Run(platform, func(t *testing.T) {
			if status := one.send(t, c); status != http.StatusOK {
				t.Fatalf("replica one answered %d, want 200", status)
			}
			if status := two.send(t, c); status != http.StatusUnauthorized {
				t.Errorf("replica two answered the same request %d, want 401", status)
			}
			if status := one.send(t, c); status != http.StatusUnauthorized {
				t.Errorf("replica one answered the same request again %d, want 401", status)
			}
			if got := two.refusals.all(); len(got) == 0 || !strings.Contains(got[len(got)-1], "already used") {
				t.Errorf("replica two's auth.failed reasons %q, want a replay", got)
			}
		})
	}
}

// On SQLite (one process) each server keeps its replay cache in memory, as before.
func TestOnSQLiteTheReplayCacheIsTheProcesss(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "accessbot.db")
	one := startReplica(t, storage.SQLite, dsn)
	for platform, c := range captureRequests(t) {
		t.Run(platform, func(t *testing.T) {
			if status := one.send(t, c); status != http.StatusOK {
				t.Fatalf("first delivery answered %d, want 200", status)
			}
			if status := one.send(t, c); status != http.StatusUnauthorized {
				t.Errorf("the same request again answered %d, want 401", status)
			}
		})
	}
	db, err := storage.Open(context.Background(), storage.Options{Driver: storage.SQLite, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if app.ReplayStore(db) != nil {
		t.Error("on SQLite the servers are given a shared store, want their own caches")
	}
	if n, err := db.ReplayKeys(context.Background()); err != nil || n != 0 {
		t.Errorf("%d replay keys in the SQLite database (%v), want none: they are kept in memory", n, err)
	}
}

// When the shared store cannot be reached, a signed request is refused (503), not accepted
// unchecked.
func TestASignedRequestIsRefusedWhenTheSharedReplayStoreIsDown(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	one := startReplica(t, storage.Postgres, dsn)
	pg.Stop()
	for platform, c := range captureRequests(t) {
		t.Run(platform, func(t *testing.T) {
			if status := one.send(t, c); status != http.StatusServiceUnavailable {
				t.Errorf("answered %d with the database down, want 503", status)
			}
		})
	}
}
