package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// holdsGateway reads the replica's accessbot_discord_gateway_holder gauge from /metrics.
func holdsGateway(p *serveProcess) (bool, error) {
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "accessbot_discord_gateway_holder "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, fmt.Errorf("no accessbot_discord_gateway_holder on %s/metrics", p.addr)
}

// Two `serve` processes in Discord gateway mode on one PostgreSQL database: Discord sends every
// interaction to every session of the bot, so each used to open one and every interaction was
// handled twice. Now one holds the gateway session; when it is killed (SIGKILL, its database
// connection and websocket dropped by the kernel) the other opens its own within seconds.
func TestTwoProcessesShareOneDiscordGatewaySessionAndTheSurvivorTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs PostgreSQL and two servers")
	}
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	bin := buildBinary(t)
	work := t.TempDir()
	fake := discordtest.New(t)
	cfg := fmt.Sprintf(`server:
  listen: "${LISTEN}"
storage:
  driver: postgres
  dsn: %q
discord:
  application_id: %q
  bot_token: "${DISCORD_BOT_TOKEN}"
  gateway: true
  api_url: %q
  guild_id: %q
  approver_channel: "300000000000000001"
resources:
  - name: scratch
    adapter: {type: noop}
    policy: {auto_approve: 'true'}
`, dsn, discordtest.ApplicationID, fake.APIURL(), discordtest.GuildID)
	if err := os.WriteFile(filepath.Join(work, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var procs []*serveProcess
	for range 2 {
		addr := freePort(t)
		procs = append(procs, launchReplica(t, bin, work, addr, "LISTEN="+addr, "DISCORD_BOT_TOKEN="+discordtest.BotToken))
	}
	for _, p := range procs {
		waitReplicaReady(t, p, 30*time.Second)
	}
	// holder returns the one replica whose gauge says it holds the session while the fake has
	// exactly one session open, or nil.
	holder := func(alive []*serveProcess) (*serveProcess, string) {
		var holders []*serveProcess
		for _, p := range alive {
			ok, err := holdsGateway(p)
			if err != nil {
				return nil, err.Error()
			}
			if ok {
				holders = append(holders, p)
			}
		}
		n := fake.GatewaySessions()
		if len(holders) != 1 || n != 1 {
			return nil, fmt.Sprintf("%d replicas say they hold the gateway, %d sessions open", len(holders), n)
		}
		return holders[0], ""
	}
	var first *serveProcess
	replicaWait(t, 20*time.Second, "one replica holding the only gateway session", func() (bool, string) {
		h, status := holder(procs)
		first = h
		return h != nil, status
	})
	survivor := procs[0]
	if first == procs[0] {
		survivor = procs[1]
	}
	user := discordtest.User{ID: "400000000000000001", Username: "alice"}
	callbacks := 0
	ask := func(who string) {
		t.Helper()
		if n := fake.Push(t, discordtest.Command(user, "help")); n != 1 {
			t.Fatalf("the interaction went to %d gateway sessions, want 1", n)
		}
		callbacks++
		fake.WaitFor(t, discordtest.RouteCallback, callbacks, 15*time.Second)
		if got := fake.Count(discordtest.RouteCallback); got != callbacks {
			t.Errorf("%s: %d interaction callbacks, want %d (an interaction answered twice)", who, got, callbacks)
		}
	}
	ask("before the kill")

	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	killed := time.Now()
	replicaWait(t, 15*time.Second, "the surviving replica taking over the gateway session", func() (bool, string) {
		h, status := holder([]*serveProcess{survivor})
		return h == survivor, status
	})
	took := time.Since(killed)
	t.Logf("the survivor held the only session %s after the holder was killed", took.Round(10*time.Millisecond))
	if took > 8*time.Second {
		t.Errorf("the survivor took %s to take over, want a few seconds", took)
	}
	ask("after the kill")
	if !strings.Contains(survivor.logs.String(), "this replica holds the gateway lock") {
		t.Errorf("the survivor did not log that it holds the gateway:\n%s", replicaLogTail(survivor.logs.String(), 20))
	}
}
