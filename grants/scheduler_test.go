package grants_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/internal/testwait"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// eachStore runs test on SQLite and on PostgreSQL (skipped, outside CI, when PostgreSQL is not
// installed). PostgreSQL runs write transactions concurrently (read committed), so there the
// compare-and-swap on versions is what keeps races safe.
func eachStore(t *testing.T, test func(t *testing.T, o gt.Options)) {
	t.Run("sqlite", func(t *testing.T) { test(t, gt.Options{}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Shared(t).NewDatabase(t)
		test(t, gt.Options{Driver: "postgres", DSN: dsn})
	})
}

func TestBackoffDoublesUpToTheMaximumWithinItsJitter(t *testing.T) {
	p := grants.RetryPolicy{Initial: time.Second, Max: time.Minute, Jitter: 0.2}
	for failures := 1; failures <= 10; failures++ {
		base := min(time.Second<<(failures-1), time.Minute)
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(failures)
			if d < lo || d > hi {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", failures, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("Backoff(%d) took only %d values in 200 draws: no jitter", failures, len(seen))
		}
	}
	exact := grants.RetryPolicy{Initial: time.Second, Max: 5 * time.Second, Jitter: -1}
	for failures, want := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		if failures == 0 {
			continue
		}
		if got := exact.Backoff(failures); got != want {
			t.Errorf("without jitter Backoff(%d) = %s, want %s", failures, got, want)
		}
	}
	if got := (grants.RetryPolicy{Jitter: -1}).Backoff(1); got != grants.DefaultRetry.Initial {
		t.Errorf("the zero policy starts at %s, want the default %s", got, grants.DefaultRetry.Initial)
	}
}

func TestAFailingActivationIsRetriedWithBackoffUntilItWorks(t *testing.T) {
	h := gt.New(t, gt.Options{})
	h.Adapter.FailGrant(gt.Retryable, gt.Retryable)
	req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant

	for attempt := 1; attempt <= 2; attempt++ {
		h.RunDue()
		s := h.StoredGrant(g.ID)
		base := time.Second << (attempt - 1)
		wait := s.NextAttemptAt.Sub(h.Clock.Now())
		if s.State != grants.GrantActivating || s.Attempts != attempt || s.LastError != "target unreachable" ||
			wait < base*8/10 || wait > base*12/10 {
			t.Fatalf("after failure %d: state %s attempts %d error %q next in %s", attempt, s.State, s.Attempts, s.LastError, wait)
		}
		// Not due yet: nothing happens.
		h.RunDue()
		if n := h.Adapter.Count(gt.OpGrant, g.ID); n != attempt {
			t.Fatalf("%d grant calls before the retry was due", n)
		}
		h.Clock.Set(s.NextAttemptAt)
	}
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantActive || s.Attempts != 0 || s.LastError != "" {
		t.Fatalf("after the third call: %+v", s)
	}
	retries := h.AuditEvents(audit.Filter{}, audit.GrantRetry)
	if len(retries) != 2 || retries[0].Data["op"] != "grant" || retries[1].Data["attempt"] != "2" || retries[0].Data["error"] != "target unreachable" {
		t.Fatalf("grant.retry = %+v", retries)
	}
	if a := h.AuditEvents(audit.Filter{}, audit.GrantActive); len(a) != 1 || a[0].Data["attempts"] != "3" {
		t.Fatalf("grant.active = %+v", a)
	}
}

func TestAPermanentGrantErrorFailsTheGrant(t *testing.T) {
	h := gt.New(t, gt.Options{})
	h.Adapter.FailGrant(gt.Permanent)
	req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantFailed || !s.State.Final() || s.LastError != "no such user at the target" {
		t.Fatalf("grant = %+v", s)
	}
	h.Advance(2 * time.Hour)
	h.RunDue()
	if n := len(h.Adapter.Calls()); n != 1 {
		t.Fatalf("%d adapter calls; a failed grant is final", n)
	}
	want := []string{audit.RequestCreated, audit.ReviewApproved, audit.RequestApproved, audit.GrantActivating, audit.GrantFailed}
	if got := h.EventTypes(req.Request.ID); !slices.Equal(got, want) {
		t.Fatalf("events = %v", got)
	}
}

func TestAGrantStillActivatingAtItsExpiryIsRevokedNotGranted(t *testing.T) {
	h := gt.New(t, gt.Options{})
	h.Adapter.OnGrant(func(adapters.GrantRequest) error { return gt.Retryable })
	req := h.Request(gt.Alice, "prod-db", 30*time.Minute, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant
	for h.StoredGrant(g.ID).NextAttemptAt.Before(g.ExpiresAt) {
		h.RunDue()
		h.Clock.Set(h.StoredGrant(g.ID).NextAttemptAt)
	}
	grantCalls := h.Adapter.Count(gt.OpGrant, g.ID)
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantRevoked {
		t.Fatalf("grant is %s, want revoked", s.State)
	}
	// The partial grant is revoked; it is not granted once more.
	if h.Adapter.Count(gt.OpGrant, g.ID) != grantCalls || h.Adapter.Count(gt.OpRevoke, g.ID) != 1 {
		t.Fatalf("%d grant calls (was %d), %d revoke calls", h.Adapter.Count(gt.OpGrant, g.ID), grantCalls, h.Adapter.Count(gt.OpRevoke, g.ID))
	}
	revoking := h.AuditEvents(audit.Filter{}, audit.GrantRevoking)
	if len(revoking) != 1 || revoking[0].Data["from"] != "activating" {
		t.Fatalf("grant.revoking = %+v", revoking)
	}
}

func TestAFailingRevocationBacksOffThenIsAlertedAndRetriedSlowlyUntilItWorks(t *testing.T) {
	retry := grants.RetryPolicy{Initial: time.Second, Max: 4 * time.Second, Attempts: 5, Slow: time.Hour, Jitter: 0.2}
	h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{Retry: retry}})
	g := h.ActiveGrant(time.Hour)
	h.Adapter.OnRevoke(func(adapters.RevokeRequest) error { return errors.New("connection refused") })
	h.Clock.Set(g.ExpiresAt)

	for failure, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		h.RunDue()
		s := h.StoredGrant(g.ID)
		wait := s.NextAttemptAt.Sub(h.Clock.Now())
		if s.State != grants.GrantRevoking || s.Attempts != failure+1 || wait < base*8/10 || wait > base*12/10 {
			t.Fatalf("after failure %d: %s, %d attempts, next in %s (want about %s)", failure+1, s.State, s.Attempts, wait, base)
		}
		if s.LeaseData["role"] != "fake_alice" {
			t.Fatal("the lease data was lost while retrying")
		}
		h.Clock.Set(s.NextAttemptAt)
	}
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantRevokeFailed || s.Attempts != 5 || !s.NextAttemptAt.Equal(h.Clock.Now().Add(time.Hour)) {
		t.Fatalf("after 5 failures: %+v", s)
	}
	alerts := h.Events.Events(audit.AlertRaised)
	if len(alerts) != 1 || alerts[0].Data["alert"] != "revoke_failed" || alerts[0].GrantID != g.ID ||
		!strings.Contains(alerts[0].Data["message"], "connection refused") {
		t.Fatalf("alerts heard = %+v", alerts)
	}
	if _, failures, _ := h.Metrics.Snapshot(); failures["prod-db"] != 1 {
		t.Fatalf("revoke failure metric = %v", failures)
	}
	listed, err := h.Service.ListGrants(h.Ctx, grants.GrantFilter{States: []grants.GrantState{grants.GrantRevokeFailed}})
	if err != nil || len(listed) != 1 || listed[0].ID != g.ID {
		t.Fatalf("revoke_failed list = %+v, %v", listed, err)
	}

	// The slow loop: nothing before Slow, one more try at it, still failing.
	h.Advance(59 * time.Minute)
	h.RunDue()
	if n := h.Adapter.Count(gt.OpRevoke, g.ID); n != 5 {
		t.Fatalf("%d revoke calls before the slow retry was due", n)
	}
	h.Advance(time.Minute)
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevokeFailed || s.Attempts != 6 || h.Adapter.Count(gt.OpRevoke, g.ID) != 6 {
		t.Fatalf("after a slow retry: %+v", s)
	}
	if _, failures, _ := h.Metrics.Snapshot(); failures["prod-db"] != 1 {
		t.Fatalf("the failure was counted again: %v", failures)
	}

	h.Adapter.OnRevoke(nil)
	h.Advance(time.Hour)
	h.RunDue()
	s = h.StoredGrant(g.ID)
	if s.State != grants.GrantRevoked || s.LastError != "" || h.Adapter.HasAccess(g.ID) {
		t.Fatalf("after the target came back: %+v", s)
	}
	lateness, _, _ := h.Metrics.Snapshot()
	if got := lateness[len(lateness)-1]; got != s.RevokedAt.Sub(g.ExpiresAt) || got < 2*time.Hour {
		t.Errorf("lateness = %s, want the time since expiry", got)
	}
	var types []string
	for _, e := range h.AuditEvents(audit.Filter{}) {
		if e.GrantID == g.ID && e.Type != audit.GrantActivating && e.Type != audit.GrantActive {
			types = append(types, e.Type)
		}
	}
	want := []string{audit.GrantRevoking, audit.GrantRetry, audit.GrantRetry, audit.GrantRetry, audit.GrantRetry,
		audit.GrantRevokeFailed, audit.AlertRaised, audit.GrantRetry, audit.GrantRevoked}
	if !slices.Equal(types, want) {
		t.Fatalf("events = %v\nwant     %v", types, want)
	}
}

func TestAPermanentRevokeErrorIsAlertedAtOnce(t *testing.T) {
	h := gt.New(t, gt.Options{})
	g := h.ActiveGrant(time.Hour)
	h.Adapter.FailRevoke(adapters.Permanentf("permission denied"))
	h.Clock.Set(g.ExpiresAt)
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevokeFailed || s.Attempts != 1 {
		t.Fatalf("grant = %+v", s)
	}
	// Still retried on the slow loop: the next try works.
	h.Advance(grants.DefaultRetry.Slow)
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("grant = %s", s.State)
	}
}

func TestAGrantOfAResourceNoLongerConfiguredIsAlertedNotForgotten(t *testing.T) {
	other := gt.DefaultResource()
	other.Name = "old-db"
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{gt.DefaultResource(), other}})
	req := h.Request(gt.Alice, "old-db", time.Hour, "INC-1")
	h.Approve(gt.Bob, req.Request.ID)
	h.RunDue()

	// The config no longer has old-db.
	svc, err := grants.NewService(grants.Options{Store: h.DB, Resources: h.Resources[:1], Clock: h.Clock})
	if err != nil {
		t.Fatal(err)
	}
	sc := grants.NewScheduler(svc, grants.SchedulerOptions{})
	h.Advance(time.Hour)
	if _, err := sc.RunDue(h.Ctx); err != nil {
		t.Fatal(err)
	}
	gs, _ := svc.ListGrants(h.Ctx, grants.GrantFilter{Resource: "old-db"})
	if len(gs) != 1 || gs[0].State != grants.GrantRevokeFailed || !strings.Contains(gs[0].LastError, "no longer configured") {
		t.Fatalf("grants = %+v", gs)
	}
}

func TestAPanickingAdapterIsAFailedAttemptNotACrash(t *testing.T) {
	h := gt.New(t, gt.Options{})
	h.Adapter.OnGrant(func(adapters.GrantRequest) error { panic("nil map") })
	req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantActivating || s.Attempts != 1 || !strings.Contains(s.LastError, "panicked") {
		t.Fatalf("grant = %+v", s)
	}
}

func TestAdapterCallsHaveADeadline(t *testing.T) {
	h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{CallTimeout: 30 * time.Millisecond}})
	var first atomic.Bool
	h.Adapter.Before(func(ctx context.Context, op, _ string) {
		if first.CompareAndSwap(false, true) {
			// A target that never answers; a bounded wait, so that a scheduler that gives
			// its calls no deadline fails the test instead of hanging it.
			select {
			case <-ctx.Done():
			case <-time.After(testwait.Deadline):
				t.Errorf("the adapter call had no deadline: still running after %s", testwait.Deadline)
			}
		}
	})
	req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant
	h.RunDue()
	s := h.StoredGrant(g.ID)
	if s.State != grants.GrantActivating || s.Attempts != 1 || !strings.Contains(s.LastError, "deadline") {
		t.Fatalf("after a call that hung: %+v", s)
	}
	h.Clock.Set(s.NextAttemptAt)
	h.RunDue()
	if s := h.StoredGrant(g.ID); s.State != grants.GrantActive {
		t.Fatalf("after the retry: %s", s.State)
	}
}

func TestTheExpiryWarningFiresOnceAtItsTimeAndNotForShortGrants(t *testing.T) {
	h := gt.New(t, gt.Options{})
	long := h.ActiveGrant(time.Hour)
	short := h.ActiveGrant(5 * time.Minute) // shorter than the 10m warning
	if !short.WarnAt.IsZero() {
		t.Fatalf("a 5m grant has WarnAt %s", short.WarnAt)
	}
	h.Clock.Set(long.WarnAt.Add(-time.Microsecond))
	h.RunDue()
	if n := len(h.Events.Events(audit.GrantWarned)); n != 0 {
		t.Fatalf("%d warnings early", n)
	}
	h.Clock.Set(long.WarnAt)
	for range 3 {
		h.RunDue()
	}
	warned := h.Events.Events(audit.GrantWarned)
	if len(warned) != 1 || warned[0].GrantID != long.ID || warned[0].At != long.WarnAt {
		t.Fatalf("warnings = %+v", warned)
	}
	if s := h.StoredGrant(long.ID); !s.WarnAt.IsZero() || s.State != grants.GrantActive {
		t.Fatalf("after the warning: %+v", s)
	}
}

func TestARestartFinishesWhatACrashLeftHalfway(t *testing.T) {
	tests := []struct {
		name string
		// crash sets up the state and returns the grant; the crash happens during op (if set).
		op      string
		expired bool
		want    grants.GrantState
	}{
		{name: "after the approval, before any adapter call", want: grants.GrantActive},
		{name: "during the grant call", op: gt.OpGrant, want: grants.GrantActive},
		{name: "during the grant call, restarting after the expiry", op: gt.OpGrant, expired: true, want: grants.GrantRevoked},
		{name: "during the revoke call", op: gt.OpRevoke, want: grants.GrantRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{CallTimeout: time.Minute}})
			var g grants.Grant
			if tt.op == gt.OpRevoke {
				g = h.ActiveGrant(time.Hour)
				h.Clock.Set(g.ExpiresAt)
			} else {
				req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
				g = *h.Approve(gt.Bob, req.Request.ID).Grant
			}
			calls := h.Adapter.Count(tt.op, g.ID)
			if tt.op != "" {
				// The old process hangs inside the adapter call and then dies.
				started, release := make(chan struct{}), make(chan struct{})
				var first atomic.Bool
				h.Adapter.Before(func(_ context.Context, op, _ string) {
					if op == tt.op && first.CompareAndSwap(false, true) {
						close(started)
						<-release
					}
				})
				old := h.Scheduler
				done := make(chan struct{})
				go func() {
					defer close(done)
					old.RunDue(context.Background()) // its result cannot be stored: the store is gone
				}()
				testwait.Receive(t, started, "the old process's adapter call")
				h.Reopen()
				t.Cleanup(func() { close(release); testwait.Receive(t, done, "the old process's RunDue to return") })
			} else {
				h.Reopen()
			}

			// The new process must not call the adapter while the old claim may still be live...
			h.RunDue()
			if tt.op != "" && h.Adapter.Count(tt.op, g.ID) != calls {
				t.Fatal("the adapter was called again while the crashed call's claim was live")
			}
			// ...and finishes the grant once it has lapsed (after 2 call timeouts).
			if tt.expired {
				h.Clock.Set(g.ExpiresAt)
			} else {
				h.Advance(2 * time.Minute)
			}
			h.RunDue()
			if s := h.StoredGrant(g.ID); s.State != tt.want {
				t.Fatalf("after the restart the grant is %s, want %s (last error %q)", s.State, tt.want, s.LastError)
			}
			if tt.want == grants.GrantRevoked && h.Adapter.HasAccess(g.ID) {
				t.Fatal("the access still exists at the target")
			}
		})
	}
}

// startRun runs the scheduler's Run until the test ends.
func startRun(t *testing.T, h *gt.Harness) (stop func()) {
	ctx, cancel := context.WithCancel(h.Ctx)
	done := make(chan error, 1)
	go func() { done <- h.Scheduler.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := testwait.Receive(t, done, "the scheduler's Run to stop"); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestRunRevokesWhatIsOverdueAtStart(t *testing.T) {
	h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{Sweep: -1, Batch: 7}})
	var ids []string
	for range 30 {
		ids = append(ids, h.ActiveGrant(time.Hour).ID)
	}
	// accessbot was down across the expiry.
	h.Advance(3 * time.Hour)
	startRun(t, h)
	gt.Eventually(t, 10*time.Second, "every overdue grant revoked", func() bool {
		gs, _ := h.Service.ListGrants(h.Ctx, grants.GrantFilter{States: []grants.GrantState{grants.GrantRevoked}})
		return len(gs) == len(ids)
	})
	for _, id := range ids {
		if n := h.Adapter.Count(gt.OpRevoke, id); n != 1 {
			t.Fatalf("grant %s: %d revoke calls", id, n)
		}
	}
}

func TestRunGrantsWhenWokenAndRevokesOnItsTimer(t *testing.T) {
	// No sweep: only the wake-ups and the timer can make things happen.
	h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{Sweep: -1}})
	stop := startRun(t, h)

	req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
	g := *h.Approve(gt.Bob, req.Request.ID).Grant
	gt.Eventually(t, 5*time.Second, "the grant active", func() bool {
		return h.StoredGrant(g.ID).State == grants.GrantActive
	})
	g = h.StoredGrant(g.ID)

	timerAt := func(at time.Time) func() bool {
		return func() bool { next, ok := h.Clock.NextTimer(); return ok && next.Equal(at) }
	}
	gt.Eventually(t, 5*time.Second, "a timer on the expiry warning", timerAt(g.WarnAt))
	h.Clock.Set(g.WarnAt)
	gt.Eventually(t, 5*time.Second, "the warning", func() bool { return len(h.Events.Events(audit.GrantWarned)) == 1 })
	gt.Eventually(t, 5*time.Second, "a timer on the expiry", timerAt(g.ExpiresAt))
	if h.Adapter.Count(gt.OpRevoke, g.ID) != 0 {
		t.Fatal("revoked before the expiry")
	}
	h.Clock.Set(g.ExpiresAt)
	gt.Eventually(t, 5*time.Second, "the grant revoked", func() bool {
		return h.StoredGrant(g.ID).State == grants.GrantRevoked
	})
	// An early revocation wakes it too.
	g2 := h.Approve(gt.Bob, h.Request(gt.Alice, "prod-db", time.Hour, "INC-2").Request.ID).Grant
	gt.Eventually(t, 5*time.Second, "the second grant active", func() bool {
		return h.StoredGrant(g2.ID).State == grants.GrantActive
	})
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g2.ID); err != nil {
		t.Fatal(err)
	}
	gt.Eventually(t, 5*time.Second, "the second grant revoked", func() bool {
		return h.StoredGrant(g2.ID).State == grants.GrantRevoked
	})
	stop()
	if lateness, _, _ := h.Metrics.Snapshot(); len(lateness) != 2 || lateness[0] != 0 || lateness[1] != 0 {
		t.Fatalf("lateness = %v, want 0 on the fake clock", lateness)
	}
}

func TestRunWaitsForAdapterCallsInFlightWhenStopped(t *testing.T) {
	h := gt.New(t, gt.Options{Scheduler: grants.SchedulerOptions{Sweep: -1}})
	g := h.ActiveGrant(time.Hour)
	started, release := make(chan struct{}), make(chan struct{})
	h.Adapter.Before(func(_ context.Context, op, _ string) {
		if op == gt.OpRevoke {
			close(started)
			<-release
		}
	})
	h.Clock.Set(g.ExpiresAt)
	ctx, cancel := context.WithCancel(h.Ctx)
	done := make(chan error, 1)
	go func() { done <- h.Scheduler.Run(ctx) }()
	testwait.Receive(t, started, "the revocation to reach the adapter")
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while an adapter call was in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := testwait.Receive(t, done, "Run to return once the call in flight finished"); err != nil {
		t.Fatal(err)
	}
	if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
		t.Fatalf("the call in flight finished but its result was not stored: %s", s.State)
	}
}

func TestTwoApprovalsAtOnceMakeOneGrantAndOneAdapterCall(t *testing.T) {
	for _, approvals := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d approvals needed", approvals), func(t *testing.T) {
			eachStore(t, func(t *testing.T, o gt.Options) {
				r := gt.DefaultResource()
				r.Policy.Approvals = approvals
				o.Resources = []*grants.Resource{r}
				o.Groups = map[string][]string{"sre": {gt.Bob.ID, gt.Carol.ID, gt.Dave.ID, gt.Erin.ID}}
				h := gt.New(t, o)
				for round := range 10 {
					req := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
					approvers := []grants.Actor{gt.Bob, gt.Carol, gt.Dave, gt.Erin}
					var wg sync.WaitGroup
					var mu sync.Mutex
					made := 0
					var errs []error
					for _, a := range approvers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							out, err := h.Service.Approve(h.Ctx, a, req.Request.ID)
							mu.Lock()
							defer mu.Unlock()
							if err != nil {
								errs = append(errs, err)
							} else if out.Grant != nil {
								made++
							}
						}()
					}
					testwait.Wait(t, &wg, "the concurrent approvals")
					if made != 1 {
						t.Fatalf("approvals=%d round %d: %d grants made", approvals, round, made)
					}
					for _, err := range errs {
						var ge *grants.Error
						if !errors.As(err, &ge) || ge.Reason != grants.ReasonAlreadyDecided {
							t.Fatalf("a losing approval failed with %v, want already_decided", err)
						}
					}
					reviews, _ := h.Service.Reviews(h.Ctx, req.Request.ID)
					if len(reviews) != approvals {
						t.Fatalf("approvals=%d: %d reviews stored", approvals, len(reviews))
					}
					h.RunDue()
					gs, _ := h.Service.ListGrants(h.Ctx, grants.GrantFilter{})
					if len(gs) != round+1 {
						t.Fatalf("%d grants after %d requests", len(gs), round+1)
					}
					if n := h.Adapter.Count(gt.OpGrant, gs[0].ID); n != 1 {
						t.Fatalf("%d adapter grant calls", n)
					}
				}
				h.VerifyAudit()
			})
		})
	}
}

func TestTwoRevocationsAndAPassAtOnceRevokeOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, o gt.Options) {
		h := gt.New(t, o)
		for round := range 10 {
			g := h.ActiveGrant(time.Hour)
			if round%2 == 1 {
				h.Clock.Set(g.ExpiresAt) // the scheduler races the revocations too
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := 0
			for _, a := range []grants.Actor{gt.Alice, gt.Erin} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := h.Service.Revoke(h.Ctx, a, g.ID)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						ok++
					} else if !errors.Is(err, grants.ErrConflict) {
						t.Errorf("revoke: %v", err)
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.Scheduler.RunDue(h.Ctx); err != nil {
					t.Errorf("RunDue: %v", err)
				}
			}()
			testwait.Wait(t, &wg, "the concurrent RunDue calls")
			h.RunDue()
			if round%2 == 0 && ok != 1 {
				t.Fatalf("round %d: %d revocations succeeded, want 1", round, ok)
			}
			if ok > 1 {
				t.Fatalf("round %d: %d revocations succeeded", round, ok)
			}
			if s := h.StoredGrant(g.ID); s.State != grants.GrantRevoked {
				t.Fatalf("round %d: grant is %s", round, s.State)
			}
			if n := h.Adapter.Count(gt.OpRevoke, g.ID); n != 1 {
				t.Fatalf("round %d: %d adapter revoke calls", round, n)
			}
			if n := len(h.AuditEvents(audit.Filter{}, audit.GrantRevoked)); n != round+1 {
				t.Fatalf("round %d: %d grant.revoked events", round, n)
			}
		}
	})
}

func TestConcurrentPassesCallTheAdapterOncePerGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, o gt.Options) {
		o.Scheduler = grants.SchedulerOptions{Batch: 16, Workers: 4}
		h := gt.New(t, o)
		const n = 120
		rule, _ := grants.CompileRule("true")
		h.Resources[0].Policy.AutoApprove = rule
		for range n {
			h.Request(gt.Alice, "prod-db", time.Hour, "INC-1")
		}
		// A second scheduler over the same store plays a second replica.
		other := grants.NewScheduler(h.Service, grants.SchedulerOptions{Batch: 16, Workers: 4})
		runBoth := func() {
			var wg sync.WaitGroup
			for _, sc := range []*grants.Scheduler{h.Scheduler, other, h.Scheduler} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := sc.RunDue(h.Ctx); err != nil {
						t.Errorf("RunDue: %v", err)
					}
				}()
			}
			testwait.Wait(t, &wg, "the concurrent RunDue calls")
		}
		runBoth()
		h.Clock.Set(gt.Start.Add(time.Hour))
		runBoth()
		gs, _ := h.Service.ListGrants(h.Ctx, grants.GrantFilter{})
		if len(gs) != n {
			t.Fatalf("%d grants", len(gs))
		}
		for _, g := range gs {
			if g.State != grants.GrantRevoked || h.Adapter.Count(gt.OpGrant, g.ID) != 1 || h.Adapter.Count(gt.OpRevoke, g.ID) != 1 {
				t.Fatalf("grant %s: %s after %d grant and %d revoke calls", g.ID, g.State,
					h.Adapter.Count(gt.OpGrant, g.ID), h.Adapter.Count(gt.OpRevoke, g.ID))
			}
		}
	})
}
