package discord_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
)

// memLock is one lock that the replicas of a test share, in memory, as they would share a
// PostgreSQL advisory lock. kill ends the current hold as a broken database connection ends a
// session: the lock is free at once, and only the holder's next check tells it so.
type memLock struct {
	mu     sync.Mutex
	holder int // 0: free
	last   int
	broken map[int]bool
}

func (m *memLock) HoldLock(_ context.Context, name string) (func(context.Context) error, func(), bool, error) {
	if name != discord.GatewayLockName {
		return nil, nil, false, errors.New("unexpected lock " + name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder != 0 {
		return nil, nil, false, nil
	}
	m.last++
	id := m.last
	m.holder = id
	check := func(context.Context) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.broken[id] || m.holder != id {
			return errors.New("the lock's connection broke")
		}
		return nil
	}
	release := func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.holder == id {
			m.holder = 0
		}
	}
	return check, release, true, nil
}

// kill ends the current holder's hold, as if the database had dropped its connection.
func (m *memLock) kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken == nil {
		m.broken = map[int]bool{}
	}
	m.broken[m.holder] = true
	m.holder = 0
}

// gatewayReplica is one process's Discord server in gateway mode, with its own handler.
type gatewayReplica struct {
	srv     *discord.Server
	handler *fakeHandler
	stop    context.CancelFunc
	done    chan struct{}
	err     error
}

func startGatewayReplica(t *testing.T, fake *discordtest.Server, lock discord.GatewayLock, name string) *gatewayReplica {
	t.Helper()
	r := &gatewayReplica{handler: &fakeHandler{reply: bot.Reply{Private: true, View: &bot.View{Title: "from " + name}}}, done: make(chan struct{})}
	srv, err := discord.NewServer(newClient(t, fake, clock.Real{}, newFakeLinks()), discord.ServerOptions{
		Handler: r.handler, Log: zerolog.Nop(), GatewayLock: lock, GatewayLockInterval: 20 * time.Millisecond, Replica: name,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go func() {
		r.err = srv.RunGateway(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		stop()
		<-r.done
		srv.Wait()
	})
	return r
}

func (r *gatewayReplica) commands() int {
	c, _ := r.handler.got()
	return len(c)
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Discord sends every interaction to every session of the bot, so two replicas that each
// opened one answered each interaction twice. With the gateway lock one replica holds the
// session; when its hold ends (its database connection broke, or the process stopped) it
// closes its session and the other opens its own, and never are two sessions open at once.
func TestOnlyTheGatewayLockHolderOpensASessionAndAnotherTakesOver(t *testing.T) {
	fake := discordtest.New(t)
	lock := &memLock{}
	// The fake's open sessions are watched throughout: never more than one.
	var most atomic.Int32
	watching, stopWatching := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watching.Err() == nil {
			if n := int32(fake.GatewaySessions()); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	one := startGatewayReplica(t, fake, lock, "one")
	two := startGatewayReplica(t, fake, lock, "two")
	replicas := []*gatewayReplica{one, two}
	holding := func() (holders []*gatewayReplica) {
		for _, r := range replicas {
			if r.srv.HoldsGateway() {
				holders = append(holders, r)
			}
		}
		return holders
	}
	waitUntil(t, 10*time.Second, "one replica holding an open session", func() bool {
		return len(holding()) == 1 && fake.GatewaySessions() == 1
	})
	first := holding()[0]
	second := two
	if first == two {
		second = one
	}

	callbacks := 0
	push := func(want *gatewayReplica, other *gatewayReplica) {
		t.Helper()
		wantBefore, otherBefore := want.commands(), other.commands()
		if n := fake.Push(t, discordtest.Command(alice, "list")); n != 1 {
			t.Fatalf("the interaction went to %d sessions, want 1", n)
		}
		callbacks++
		fake.WaitFor(t, discordtest.RouteCallback, callbacks, 10*time.Second)
		if got := fake.Count(discordtest.RouteCallback); got != callbacks {
			t.Errorf("%d callbacks, want %d: an interaction was answered twice", got, callbacks)
		}
		if w, o := want.commands()-wantBefore, other.commands()-otherBefore; w != 1 || o != 0 {
			t.Errorf("the holder handled %d commands, the other %d; want 1 and 0", w, o)
		}
	}
	push(first, second)

	// The holder's connection breaks: it must close its session, the other take over.
	lock.kill()
	killed := time.Now()
	waitUntil(t, 10*time.Second, "the other replica taking over the session", func() bool {
		h := holding()
		return len(h) == 1 && h[0] == second && fake.GatewaySessions() == 1
	})
	took := time.Since(killed)
	t.Logf("took over %s after the holder's lock was lost", took.Round(time.Millisecond))
	push(second, first)
	select {
	case <-first.done:
		t.Fatalf("the replica that lost the lock stopped (%v); it should stand by", first.err)
	default:
	}

	// The new holder stops, as a process does: the first takes the session back.
	second.stop()
	<-second.done
	if second.err != nil {
		t.Errorf("RunGateway of a stopped replica = %v", second.err)
	}
	if second.srv.HoldsGateway() {
		t.Error("a stopped replica still says it holds the gateway")
	}
	waitUntil(t, 10*time.Second, "the first replica taking the session back", func() bool {
		return first.srv.HoldsGateway() && fake.GatewaySessions() == 1
	})
	push(first, second)

	stopWatching()
	<-watched
	if most.Load() != 1 {
		t.Errorf("at most %d gateway sessions were open at once, want 1", most.Load())
	}
}
