package grants_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// holdOptions are the scheduler options of the process owner under the owner hold rule, with
// the default call timeout (a claim holds for a minute) and no sweep.
func holdOptions(owner string) grants.SchedulerOptions {
	return grants.SchedulerOptions{Sweep: -1, CallTimeout: 30 * time.Second, Owner: owner}
}

// hangIn runs a pass of sc in the background whose first adapter call of op hangs until the
// test ends (the process is dead to the others), and returns once that call has started. At
// the end the call returns and the pass is waited for.
func hangIn(t *testing.T, h *gt.Harness, sc *grants.Scheduler, op string) {
	started, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	h.Adapter.Before(func(_ context.Context, o, _ string) {
		if o == op && first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc.RunDue(context.Background()) // after a restart its result cannot be stored: the store is gone
	}()
	t.Cleanup(func() { close(release); <-done })
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatalf("the %s call did not start", op)
	}
}

// crashMidRevoke makes an active grant, lets the process "p-old" claim it at its expiry and hang
// in the revoke call, and restarts as the process "p-new". Both beat at the expiry; the test
// decides who beats after. It returns the grant as made.
func crashMidRevoke(t *testing.T, h *gt.Harness) grants.Grant {
	t.Helper()
	h.Beat("p-old")
	g := h.ActiveGrant(time.Hour)
	h.Clock.Set(g.ExpiresAt)
	h.Beat("p-old")
	hangIn(t, h, h.Scheduler, gt.OpRevoke)
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoking || s.ClaimOwner != "p-old" {
		t.Fatalf("the old process's claim: state %s owner %q, want revoking by p-old", s.State, s.ClaimOwner)
	}
	h.ReopenAs(holdOptions("p-new"))
	h.Beat("p-new")
	return g
}

func TestAHoldOfAProcessWhoseHeartbeatStoppedIsTakenOverWithinASecondOfExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, o gt.Options) {
		o.Scheduler = holdOptions("p-old")
		h := gt.New(t, o)
		g := crashMidRevoke(t, h)

		startRun(t, h)
		// The old process beat at the expiry: its hold stands for one heartbeat timeout, and
		// the new process's timer is on the moment it lapses, not on the claim's minute.
		lapse := g.ExpiresAt.Add(grants.DefaultHeartbeatTimeout + time.Microsecond)
		gt.Eventually(t, 5*time.Second, "a timer on the lapse of the dead process's hold", func() bool {
			next, ok := h.Clock.NextTimer()
			return ok && next.Equal(lapse)
		})
		// (The fake adapter records a call when it returns: the old one still hangs.)
		if n := h.Adapter.Count(gt.OpRevoke, g.ID); n != 0 {
			t.Fatalf("the new process called revoke %d times before the old one's heartbeat went stale", n)
		}
		h.Clock.Set(lapse)
		h.Beat("p-new")
		gt.Eventually(t, 5*time.Second, "the grant revoked", func() bool {
			return h.StoredGrant(g.ID).State == grants.GrantRevoked
		})
		s := h.StoredGrant(g.ID)
		if late := s.RevokedAt.Sub(g.ExpiresAt); late > 1100*time.Millisecond {
			t.Errorf("revoked %s after the expiry, want within about a second", late)
		}
		if h.Adapter.HasAccess(g.ID) {
			t.Error("the access still exists at the target")
		}
		if s.ClaimOwner != "" {
			t.Errorf("a revoked grant still names the claim owner %q", s.ClaimOwner)
		}
		n := map[string]int{}
		for _, typ := range h.EventTypes(g.ID) {
			n[typ]++
		}
		if n[audit.GrantRevoking] != 1 || n[audit.GrantRevoked] != 1 {
			t.Errorf("events %v, want one grant.revoking and one grant.revoked", h.EventTypes(g.ID))
		}
	})
}

func TestALiveOwnersHoldLastsItsWholeClaim(t *testing.T) {
	eachStore(t, func(t *testing.T, o gt.Options) {
		o.Scheduler = holdOptions("p-old")
		h := gt.New(t, o)
		g := crashMidRevoke(t, h)
		claim := h.StoredGrant(g.ID).NextAttemptAt

		// The old process is alive (a long adapter call): its beats go on, and its grant is
		// left alone until its claim (2 × 30 s) runs out.
		for _, at := range []time.Duration{time.Second + time.Microsecond, 10 * time.Second, 59 * time.Second} {
			h.Clock.Set(g.ExpiresAt.Add(at))
			h.Beat("p-old")
			h.Beat("p-new")
			h.RunDue()
			if n := h.Adapter.Count(gt.OpRevoke, g.ID); n != 0 {
				t.Fatalf("at expiry + %s: the new process called revoke %d times: a live owner's hold was taken", at, n)
			}
			if s := h.StoredGrant(g.ID); s.ClaimOwner != "p-old" || s.State != grants.GrantRevoking {
				t.Fatalf("at expiry + %s: owner %q state %s, want p-old's hold", at, s.ClaimOwner, s.State)
			}
		}
		h.Clock.Set(claim)
		h.Beat("p-old")
		h.RunDue()
		if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
			t.Fatalf("once the claim ran out the grant is %s, want revoked", s.State)
		}
	})
}

func TestTheLegacyHoldRuleWaitsForTheClaimToRunOut(t *testing.T) {
	// Without an owner (scheduler.hold_rule: legacy) nothing is recorded on the claim, so a
	// dead process's hold lasts its whole minute: the behaviour the owner rule replaces.
	o := gt.Options{Scheduler: grants.SchedulerOptions{Sweep: -1, CallTimeout: 30 * time.Second}}
	h := gt.New(t, o)
	g := h.ActiveGrant(time.Hour)
	h.Clock.Set(g.ExpiresAt)
	hangIn(t, h, h.Scheduler, gt.OpRevoke)
	h.ReopenAs(o.Scheduler)
	h.Clock.Set(g.ExpiresAt.Add(59 * time.Second))
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoking || s.ClaimOwner != "" {
		t.Fatalf("under the legacy rule at expiry + 59s: state %s owner %q, want revoking, no owner", s.State, s.ClaimOwner)
	}
	h.Clock.Set(g.ExpiresAt.Add(time.Minute))
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("after the claim's minute the grant is %s, want revoked", s.State)
	}
}

func TestTwoReplicasOnOnePostgreSQLShareHoldsAndTakeOverADeadOnes(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	adapter := gt.NewFakeAdapter()
	a := gt.New(t, gt.Options{Driver: "postgres", DSN: dsn, Adapter: adapter, Scheduler: holdOptions("replica-a")})
	b := gt.New(t, gt.Options{Driver: "postgres", DSN: dsn, Adapter: adapter, Scheduler: holdOptions("replica-b")})
	// One clock for both, as NTP would have it.
	b.Clock = a.Clock
	b.ReopenAs(holdOptions("replica-b"))
	beat := func() { a.Beat("replica-a"); b.Beat("replica-b") }
	beat()

	// Both alive: every grant is made and revoked exactly once between them.
	var ids []string
	for range 12 {
		req := a.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
		ids = append(ids, a.Approve(gt.Bob, req.Request.ID).Grant.ID)
	}
	both := func() {
		var wg sync.WaitGroup
		for _, h := range []*gt.Harness{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); h.Scheduler.RunDue(h.Ctx) }()
		}
		wg.Wait()
	}
	both()
	a.Clock.Advance(time.Hour)
	beat()
	both()
	for _, id := range ids {
		if g, r := adapter.Count(gt.OpGrant, id), adapter.Count(gt.OpRevoke, id); g != 1 || r != 1 {
			t.Fatalf("grant %s: %d grant and %d revoke calls with both replicas alive, want 1 and 1", id, g, r)
		}
	}

	// Replica A claims a revocation and dies inside the call (it hangs and stops beating);
	// replica B, alive, leaves the hold alone while A's last beat is fresh, then takes it over.
	req := a.Request(gt.Alice, "prod-db", time.Hour, "INC-2")
	g := *a.Approve(gt.Bob, req.Request.ID).Grant
	a.RunDue()
	a.Clock.Set(a.StoredGrant(g.ID).ExpiresAt)
	beat()
	hangIn(t, a, a.Scheduler, gt.OpRevoke)
	a.Clock.Advance(500 * time.Millisecond)
	b.Beat("replica-b")
	b.RunDue()
	if n := adapter.Count(gt.OpRevoke, g.ID); n != 0 {
		t.Fatalf("replica B called revoke %d times while A's heartbeat was fresh", n)
	}
	a.Clock.Advance(501 * time.Millisecond)
	b.Beat("replica-b")
	b.RunDue()
	s := b.StoredGrant(g.ID)
	if s.State != grants.GrantRevoked || adapter.HasAccess(g.ID) {
		t.Fatalf("after A's heartbeat went stale the grant is %s (access at the target: %v), want revoked by B", s.State, adapter.HasAccess(g.ID))
	}
	if late := s.RevokedAt.Sub(s.ExpiresAt); late > 1100*time.Millisecond {
		t.Errorf("revoked %s after the expiry, want within about a second", late)
	}
}
