package grants_test

import (
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// granted has a (approved by bob) hold a grant to prod-db for d.
func granted(t *testing.T, h *gt.Harness, a grants.Actor, d time.Duration) {
	t.Helper()
	out := h.Request(a, "prod-db", d, "INC-1 routine")
	if out.Grant == nil {
		h.Approve(gt.Bob, out.Request.ID)
	}
}

// signalsOf makes alice's request for prod-db for d and returns its signals, after checking that
// the request.created event recorded the same.
func signalsOf(t *testing.T, h *gt.Harness, d time.Duration) grants.Signals {
	t.Helper()
	out := h.Request(gt.Alice, "prod-db", d, "INC-2 looking into it")
	created := h.AuditEvents(audit.Filter{}, audit.RequestCreated)
	p, err := audit.Decode[audit.RequestCreatedData](created[len(created)-1])
	if err != nil || p.Signals == nil {
		t.Fatalf("request.created payload %+v (%v), want signals", p, err)
	}
	if !slices.Equal(p.Signals.Raised, out.Signals.Raised) || p.Signals.FirstAccess != out.Signals.FirstAccess ||
		p.Signals.Requests24h != out.Signals.Requests24h {
		t.Errorf("request.created recorded %+v, the request had %+v", *p.Signals, out.Signals)
	}
	if !slices.Equal(h.StoredRequest(out.Request.ID).Signals, out.Signals.Raised) {
		t.Errorf("stored request signals %v, want %v", h.StoredRequest(out.Request.ID).Signals, out.Signals.Raised)
	}
	return out.Signals
}

func TestEachSignalIsOnWhenTheLogSaysSoAndOffOtherwise(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, h *gt.Harness)
		d     time.Duration
		check func(s grants.Signals) bool
		want  bool
	}{
		{"a person who never had the resource makes a first access", nil, time.Hour,
			func(s grants.Signals) bool { return s.FirstAccess && s.FirstAccess90d }, true},
		{"a person who had the resource before does not", func(t *testing.T, h *gt.Harness) {
			granted(t, h, gt.Alice, time.Hour)
			h.Advance(2 * time.Hour)
		}, time.Hour, func(s grants.Signals) bool { return s.FirstAccess || s.FirstAccess90d }, false},
		{"a person whose last grant is 91 days old makes a first access in 90 days", func(t *testing.T, h *gt.Harness) {
			granted(t, h, gt.Alice, time.Hour)
			h.Advance(91 * 24 * time.Hour)
		}, time.Hour, func(s grants.Signals) bool { return !s.FirstAccess && s.FirstAccess90d }, true},
		{"another person's grant does not count as this person's", func(t *testing.T, h *gt.Harness) {
			granted(t, h, gt.Dave, time.Hour)
		}, time.Hour, func(s grants.Signals) bool { return s.FirstAccess }, true},
		{"a request at 20:00 is outside working hours", func(t *testing.T, h *gt.Harness) {
			h.Advance(10 * time.Hour)
		}, time.Hour, func(s grants.Signals) bool { return s.OutsideHours }, true},
		{"a request on Tuesday at 10:00 is inside them", nil, time.Hour,
			func(s grants.Signals) bool { return s.OutsideHours }, false},
		{"a sixth request in a day from a person who asks for nothing is a high volume", func(t *testing.T, h *gt.Harness) {
			for range 5 {
				h.Request(gt.Alice, "prod-db", time.Hour, "INC-3 again")
			}
		}, time.Hour, func(s grants.Signals) bool {
			return s.Requests24h == 6 && s.MedianRequests30d == 0 && slices.Contains(s.Raised, grants.SignalHighVolume)
		}, true},
		{"a first request of the day is not", nil, time.Hour, func(s grants.Signals) bool {
			return s.Requests24h != 1 || slices.Contains(s.Raised, grants.SignalHighVolume)
		}, false},
		{"4h where the resource's median is 1h is a duration far above it", func(t *testing.T, h *gt.Harness) {
			for range grants.DurationMinSample {
				granted(t, h, gt.Dave, time.Hour)
			}
		}, 4 * time.Hour, func(s grants.Signals) bool {
			return s.DurationRatio == 4 && slices.Contains(s.Raised, grants.SignalLongDuration)
		}, true},
		{"with too few approved requests to know the median there is no ratio", func(t *testing.T, h *gt.Harness) {
			for range grants.DurationMinSample - 1 {
				granted(t, h, gt.Dave, time.Hour)
			}
		}, 4 * time.Hour, func(s grants.Signals) bool { return s.DurationRatio != 0 }, false},
		{"a request denied an hour ago is a recent denial", func(t *testing.T, h *gt.Harness) {
			out := h.Request(gt.Alice, "prod-db", time.Hour, "INC-4 please")
			if _, err := h.Service.Deny(h.Ctx, gt.Bob, out.Request.ID, "not now"); err != nil {
				t.Fatal(err)
			}
			h.Advance(time.Hour)
		}, time.Hour, func(s grants.Signals) bool { return s.RecentDenial }, true},
		{"a denial 25 hours ago is not", func(t *testing.T, h *gt.Harness) {
			out := h.Request(gt.Alice, "prod-db", time.Hour, "INC-4 please")
			if _, err := h.Service.Deny(h.Ctx, gt.Bob, out.Request.ID, "not now"); err != nil {
				t.Fatal(err)
			}
			h.Advance(25 * time.Hour)
		}, time.Hour, func(s grants.Signals) bool { return s.RecentDenial }, false},
		{"a denial of another resource is not", func(t *testing.T, h *gt.Harness) {
			out := h.Request(gt.Alice, "prod-api", time.Hour, "INC-4 please")
			if _, err := h.Service.Deny(h.Ctx, gt.Bob, out.Request.ID, "not now"); err != nil {
				t.Fatal(err)
			}
		}, time.Hour, func(s grants.Signals) bool { return s.RecentDenial }, false},
		{"a normal request is not break-glass", nil, time.Hour,
			func(s grants.Signals) bool { return s.BreakGlass }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := gt.New(t, gt.Options{Resources: twoResources()})
			if tc.setup != nil {
				tc.setup(t, h)
			}
			s := signalsOf(t, h, tc.d)
			if got := tc.check(s); got != tc.want {
				t.Errorf("check is %v, want %v; signals %+v", got, tc.want, s)
			}
		})
	}
}

func TestABreakGlassUseCarriesTheBreakGlassSignal(t *testing.T) {
	h := gt.New(t, gt.Options{})
	out, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-9 outage"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Signals.BreakGlass || !slices.Contains(out.Request.Signals, grants.SignalBreakGlass) {
		t.Errorf("signals %+v, want break_glass", out.Signals)
	}
}

func TestTheVolumeMedianCountsTheDaysWithoutRequests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		daily []int
		want  float64
	}{
		{"no requests at all", nil, 0},
		{"requests on 15 of 30 days", []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 1},
		{"requests every day", slices.Repeat([]int{3}, 30), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := grants.ComputeSignals(grants.SignalFacts{Daily: tc.daily}, grants.KindAccess, time.Hour, gt.Start, grants.DefaultWorkingHours())
			if s.MedianRequests30d != tc.want {
				t.Errorf("median %v, want %v", s.MedianRequests30d, tc.want)
			}
		})
	}
}

func autoUnlessFirstAccess(t *testing.T) []*grants.Resource {
	t.Helper()
	rule, err := grants.CompileRule(`duration <= duration("1h") && !signals.first_access`)
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Policy.AutoApprove = rule
	return []*grants.Resource{r}
}

func TestAnAutoApproveRuleCanRefuseAFirstAccess(t *testing.T) {
	h := gt.New(t, gt.Options{Resources: autoUnlessFirstAccess(t)})
	first := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1 first time")
	if first.AutoApproved || first.Request.State != grants.RequestPending {
		t.Fatalf("a first access was auto-approved (state %s); the rule refuses it", first.Request.State)
	}
	h.Approve(gt.Bob, first.Request.ID)
	h.Advance(2 * time.Hour)
	again := h.Request(gt.Alice, "prod-db", time.Hour, "INC-2 again")
	if !again.AutoApproved {
		t.Errorf("a second access was not auto-approved (state %s, signals %v)", again.Request.State, again.Signals.Raised)
	}
}

func TestAMisspeltSignalIsRefusedWhenTheRuleIsCompiled(t *testing.T) {
	if _, err := grants.CompileRule(`!signals.frist_access`); err == nil {
		t.Fatal("a rule naming signals.frist_access compiled")
	}
	if _, err := grants.CompileCondition("alert condition", `size(signals.raised) >= 2 && signals.duration_ratio > 2.5`); err != nil {
		t.Fatalf("a rule over raised and duration_ratio: %v", err)
	}
}

func TestRequireApprovalsAsksTwoApproversAndStopsAutoApproval(t *testing.T) {
	when, err := grants.CompileCondition("require_approvals condition", `signals.first_access`)
	if err != nil {
		t.Fatal(err)
	}
	auto, err := grants.CompileRule(`true`)
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Policy.AutoApprove = auto
	r.Policy.RequireApprovals = &grants.RequireApprovals{When: when, Approvals: 2}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})

	first := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1 first time")
	if first.AutoApproved || first.Request.ApprovalsNeeded != 2 {
		t.Fatalf("first access: auto %v, approvals needed %d; want a pending request needing 2",
			first.AutoApproved, first.Request.ApprovalsNeeded)
	}
	if out := h.Approve(gt.Bob, first.Request.ID); out.Grant != nil {
		t.Fatal("one approval granted a request that needs two")
	}
	if out := h.Approve(gt.Carol, first.Request.ID); out.Grant == nil {
		t.Fatal("two approvals did not grant")
	}
	h.Advance(2 * time.Hour)
	if again := h.Request(gt.Alice, "prod-db", time.Hour, "INC-2 again"); !again.AutoApproved {
		t.Errorf("a second access needs %d approvals and was not auto-approved", again.Request.ApprovalsNeeded)
	}
}

func TestAnAlertRuleFiresOnceForTheRequestItMatches(t *testing.T) {
	when, err := grants.CompileCondition("alert condition", `signals.first_access && signals.outside_hours`)
	if err != nil {
		t.Fatal(err)
	}
	h := gt.New(t, gt.Options{Alerts: []grants.AlertRule{{Name: "first_access_after_hours", Severity: "high", When: when}}})

	in := h.Request(gt.Alice, "prod-db", time.Hour, "INC-1 in hours") // first access, but in hours
	h.Advance(10 * time.Hour)                                         // 20:00
	out := h.Request(gt.Dave, "prod-db", time.Hour, "INC-2 at night")
	h.Request(gt.Alice, "prod-db", time.Hour, "INC-3 at night") // at night, but alice asked before: still first access
	alerts := h.AuditEvents(audit.Filter{}, audit.AlertRaised)
	var mine []audit.Event
	for _, e := range alerts {
		if p, _ := audit.Decode[audit.AlertRaisedData](e); p.Alert == "first_access_after_hours" {
			mine = append(mine, e)
		}
	}
	// Alice had no grant (her first request is pending), so her night request is a first access too.
	if len(mine) != 2 {
		t.Fatalf("%d alerts, want 2 (dave's and alice's night requests): %+v", len(mine), mine)
	}
	if mine[0].RequestID != out.Request.ID || mine[0].Subject != gt.Dave.ID {
		t.Errorf("first alert is about %s/%s, want dave's request %s", mine[0].Subject, mine[0].RequestID, out.Request.ID)
	}
	p, _ := audit.Decode[audit.AlertRaisedData](mine[0])
	if p.Severity != "high" || p.Message != "dave requested prod-db for 1h (alert rule first_access_after_hours); signals: first access, outside working hours" {
		t.Errorf("alert %+v", p)
	}
	for _, e := range alerts {
		if e.RequestID == in.Request.ID {
			t.Errorf("the request in working hours raised %+v", e)
		}
	}
	// The notifier heard of each alert once: the security channel posts each once.
	if n := len(h.Events.Events(audit.AlertRaised)); n != len(alerts) {
		t.Errorf("notifier heard %d alerts, the log has %d", n, len(alerts))
	}
}

func TestRequireApprovalsHoldsForAnExtensionToo(t *testing.T) {
	when, err := grants.CompileCondition("require_approvals condition", `duration > duration("30m")`)
	if err != nil {
		t.Fatal(err)
	}
	auto, err := grants.CompileRule(`true`)
	if err != nil {
		t.Fatal(err)
	}
	r := gt.DefaultResource()
	r.Policy.AutoApprove = auto
	r.Policy.RequireApprovals = &grants.RequireApprovals{When: when, Approvals: 2}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	first := h.Request(gt.Alice, "prod-db", 30*time.Minute, "INC-1 short")
	if !first.AutoApproved {
		t.Fatalf("a 30m request needs %d approvals; the condition does not hold for it", first.Request.ApprovalsNeeded)
	}
	h.RunDue()
	out, err := h.Service.Extend(h.Ctx, gt.Alice, first.Grant.ID, time.Hour, "INC-1 longer")
	if err != nil {
		t.Fatal(err)
	}
	if out.AutoApproved || out.Request.ApprovalsNeeded != 2 {
		t.Errorf("a 1h extension: auto %v, approvals needed %d; want 2 approvers", out.AutoApproved, out.Request.ApprovalsNeeded)
	}
}
