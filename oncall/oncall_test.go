package oncall_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/oncall"
)

func TestRotaGroupsParseOrSayWhatIsRight(t *testing.T) {
	tests := []struct {
		name, group string
		want        oncall.Rota
		wantErr     string
	}{
		{name: "a PagerDuty schedule", group: "pagerduty:schedule/PABC123", want: oncall.Rota{Provider: "pagerduty", Kind: "schedule", ID: "PABC123"}},
		{name: "a PagerDuty escalation level", group: "pagerduty:escalation/PESC001/level/2", want: oncall.Rota{Provider: "pagerduty", Kind: "escalation", ID: "PESC001", Level: 2}},
		{name: "an Opsgenie schedule by name", group: "opsgenie:schedule/DB team_1", want: oncall.Rota{Provider: "opsgenie", Kind: "schedule", ID: "DB team_1"}},
		{name: "a level zero", group: "pagerduty:escalation/PESC001/level/0", wantErr: "must be a number from 1"},
		{name: "a level that is not a number", group: "pagerduty:escalation/PESC001/level/one", wantErr: "must be a number from 1"},
		{name: "an escalation without a level", group: "pagerduty:escalation/PESC001", wantErr: "pagerduty:escalation/<ID>/level/<n>"},
		{name: "a lower-case PagerDuty ID", group: "pagerduty:schedule/pabc123", wantErr: "IDs are like PABC123"},
		{name: "an Opsgenie escalation", group: "opsgenie:escalation/x", wantErr: "opsgenie:schedule/<schedule name>"},
		{name: "an Opsgenie name with a slash", group: "opsgenie:schedule/a/b", wantErr: "opsgenie:schedule/<schedule name>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !oncall.IsRotaGroup(tt.group) {
				t.Fatalf("%q not seen as a rota group", tt.group)
			}
			got, err := oncall.ParseRota(tt.group)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRota(%q) = %+v, %v; want an error saying %q", tt.group, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || got.String() != tt.group {
				t.Fatalf("ParseRota(%q) = %+v (%s), %v; want %+v", tt.group, got, got, err, tt.want)
			}
		})
	}
	if oncall.IsRotaGroup("sre") || oncall.IsRotaGroup("@oncall") {
		t.Fatal("a config or Slack group seen as a rota")
	}
}

// provider answers from a map of targets, counting fetches; gate, when set, holds every fetch
// until closed.
type provider struct {
	mu     sync.Mutex
	shifts map[string][]oncall.Shift
	err    error
	gate   chan struct{}
	// entered hears of each fetch as it starts, when set.
	entered chan struct{}
	calls   atomic.Int32
}

func (p *provider) OnCall(ctx context.Context, t oncall.Target) ([]oncall.Shift, error) {
	p.calls.Add(1)
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	sh, ok := p.shifts[t.ID]
	if !ok {
		return nil, oncall.Refused("no such schedule", oncall.ErrNotFound, errors.New("404"))
	}
	return sh, nil
}

func (p *provider) set(id string, sh ...oncall.Shift) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shifts[id] = sh
}

var (
	sched = mustRota("pagerduty:schedule/PSCHED1")
	lvl1  = mustRota("pagerduty:escalation/PESC001/level/1")
	lvl2  = mustRota("pagerduty:escalation/PESC001/level/2")
)

func mustRota(s string) oncall.Rota {
	r, err := oncall.ParseRota(s)
	if err != nil {
		panic(err)
	}
	return r
}

func newRotas(p *provider, clk clock.Clock, rotas ...oncall.Rota) *oncall.Rotas {
	return oncall.New(oncall.Options{Providers: map[string]oncall.Provider{oncall.PagerDuty: p}, Rotas: rotas,
		Clock: clk, Log: zerolog.Nop(), Timeout: time.Second})
}

func TestConcurrentCallersShareOneFetchAndTheAnswerIsKeptBriefly(t *testing.T) {
	p := &provider{shifts: map[string][]oncall.Shift{"PSCHED1": {{Email: "alice@example.com"}}}, gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	clk := clock.NewFake(time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
	rs := newRotas(p, clk, sched)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if sh, err := rs.OnCall(t.Context(), sched); err != nil || len(sh) != 1 {
				t.Errorf("OnCall = %v, %v", sh, err)
			}
		})
	}
	<-p.entered // the one fetch has started; callers that come after it wait for it or use it
	close(p.gate)
	wg.Wait()
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d fetches for 5 concurrent callers, want 1", n)
	}
	p.set("PSCHED1", oncall.Shift{Email: "bob@example.com"})
	clk.Advance(59 * time.Second)
	if sh, _ := rs.OnCall(t.Context(), sched); sh[0].Email != "alice@example.com" {
		t.Fatalf("within the minute the cache answered %v", sh)
	}
	clk.Advance(time.Second)
	if sh, _ := rs.OnCall(t.Context(), sched); sh[0].Email != "bob@example.com" || p.calls.Load() != 2 {
		t.Fatalf("after the minute: %v after %d fetches, want bob after 2", sh, p.calls.Load())
	}
}

func TestAnErrorIsKeptSecondsNotTheMinute(t *testing.T) {
	p := &provider{shifts: map[string][]oncall.Shift{"PSCHED1": {{Email: "alice@example.com"}}}, err: errors.New("503")}
	clk := clock.NewFake(time.Now())
	rs := newRotas(p, clk, sched)
	if _, err := rs.OnCall(t.Context(), sched); err == nil || !strings.Contains(err.Error(), "pagerduty:schedule/PSCHED1") {
		t.Fatalf("error %v, want one naming the rota", err)
	}
	p.mu.Lock()
	p.err = nil
	p.mu.Unlock()
	if _, err := rs.OnCall(t.Context(), sched); err == nil || p.calls.Load() != 1 {
		t.Fatalf("right after the failure: %v after %d fetches; want the kept error, one fetch", err, p.calls.Load())
	}
	clk.Advance(5 * time.Second)
	if sh, err := rs.OnCall(t.Context(), sched); err != nil || len(sh) != 1 {
		t.Fatalf("five seconds after the outage: %v, %v", sh, err)
	}
}

func TestACallerLeavingDoesNotHoldItsDeadlineOverOthers(t *testing.T) {
	p := &provider{shifts: map[string][]oncall.Shift{"PSCHED1": {{Email: "alice@example.com"}}}, gate: make(chan struct{})}
	rs := newRotas(p, clock.NewFake(time.Now()), sched)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rs.OnCall(ctx, sched); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled caller got %v", err)
	}
	close(p.gate)
	if sh, err := rs.OnCall(t.Context(), sched); err != nil || len(sh) != 1 {
		t.Fatalf("the next caller got %v, %v; want the fetch the first one started", sh, err)
	}
}

func actor(email string) grants.Actor {
	return grants.Actor{ID: email, Email: email, Platform: "slack"}
}

func TestTheDirectoryMatchesByEmailAndAsksTheNextLevelWhenTheRequesterIsOnCall(t *testing.T) {
	p := &provider{shifts: map[string][]oncall.Shift{
		"PSCHED1": {{Email: "alice@example.com"}},
		"PESC001": {{Email: "alice@example.com", Level: 1}, {Email: "bob@example.com", Level: 2}},
	}}
	inner := groups{"sre": "carol@example.com"}
	d := oncall.NewDirectory(inner, newRotas(p, clock.NewFake(time.Now()), sched, lvl1))
	ctx := t.Context()
	member := func(who, group, requester string) grants.Membership {
		t.Helper()
		m, err := d.MemberForRequest(ctx, actor(who), group, grants.MembershipQuery{RequestID: "r-1", Requester: requester})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if ok, err := d.MemberOf(ctx, actor("ALICE@example.com"), sched.String()); !ok || err != nil {
		t.Fatalf("alice, on call, in another letter case: %v, %v", ok, err)
	}
	if ok, _ := d.MemberOf(ctx, actor("carol@example.com"), "sre"); !ok {
		t.Fatal("a config group is no longer answered through the layer")
	}
	if m := member("bob@example.com", lvl1.String(), "dave@example.com"); m.Member {
		t.Fatal("bob, at level 2, counted for level 1 while the requester is not on call")
	}
	if m := member("alice@example.com", lvl1.String(), "dave@example.com"); !m.Member || !strings.Contains(m.Via, "on call for pagerduty:escalation/PESC001/level/1: alice@example.com") {
		t.Fatalf("alice at level 1 for dave's request: %+v", m)
	}
	if m := member("alice@example.com", lvl1.String(), "alice@example.com"); m.Member {
		t.Fatal("the requester counted as an approver of her own request")
	}
	m := member("bob@example.com", lvl1.String(), "alice@example.com")
	if !m.Member || !strings.Contains(m.Via, "level 2") || !strings.Contains(m.Via, "requester is on call at level 1") {
		t.Fatalf("bob at level 2 while the requester is on call at level 1: %+v", m)
	}
	if m := member("bob@example.com", lvl2.String(), "alice@example.com"); !m.Member || strings.Contains(m.Via, "requester") {
		t.Fatalf("bob at his own level: %+v", m)
	}
	if m := member("alice@example.com", sched.String(), "alice@example.com"); m.Member {
		t.Fatal("the requester counted on a schedule for her own request")
	}
}

type groups map[string]string

func (g groups) MemberOf(_ context.Context, a grants.Actor, group string) (bool, error) {
	return grants.MatchesPerson(a, g[group]), nil
}

func TestTheCardNamesAndCallsOnWhoIsOnCall(t *testing.T) {
	p := &provider{shifts: map[string][]oncall.Shift{
		"PSCHED1": {{Email: "bob@example.com", Name: "Bob"}, {Email: "alice@example.com", Name: "Alice"}},
		"PESC001": {{Email: "dave@example.com", Name: "Dave", Level: 1}, {Email: "erin@example.com", Name: "Erin", Level: 2}},
	}}
	rs := newRotas(p, clock.NewFake(time.Now()), sched, lvl1)
	l := oncall.NewLookup(rs)
	res := &grants.Resource{Name: "prod-db", Policy: grants.Policy{ApproverGroups: []string{"sre", sched.String(), lvl1.String()}}}
	if !l.Applies(res) || l.Applies(&grants.Resource{Name: "x", Policy: grants.Policy{ApproverGroups: []string{"sre"}}}) {
		t.Fatal("Applies does not follow the approver groups")
	}
	out, err := l.Lookup(t.Context(), grants.LookupQuery{Requester: actor("dave@example.com"), Resource: res})
	if err != nil || len(out.Checks) != 2 {
		t.Fatalf("Lookup = %+v, %v", out, err)
	}
	c := out.Checks[0]
	if c.Kind != "oncall" || c.Subject != sched.String() || c.Status != grants.CheckPassed || c.Summary != "Alice, Bob" ||
		!slices.Equal(c.Notify, []string{"alice@example.com", "bob@example.com"}) {
		t.Fatalf("schedule check = %+v", c)
	}
	c = out.Checks[1]
	if c.Summary != "Erin (level 2: the requester is on call at level 1)" || !slices.Equal(c.Notify, []string{"erin@example.com"}) {
		t.Fatalf("escalation check, dave asking while on call at level 1 = %+v", c)
	}
	if got := c.Attrs[grants.CheckAttrRequesterOnCall]; got != lvl1.String() {
		t.Fatalf("requester on call = %q, want %q", got, lvl1.String())
	}

	p.mu.Lock()
	p.err = errors.New("PagerDuty answered 503")
	p.mu.Unlock()
	rs = newRotas(p, clock.NewFake(time.Now()), sched, lvl1)
	out, _ = oncall.NewLookup(rs).Lookup(t.Context(), grants.LookupQuery{Requester: actor("dave@example.com"), Resource: res})
	for _, c := range out.Checks {
		if c.Status != grants.CheckUnknown || !strings.Contains(c.Problem, "503") || len(c.Notify) != 0 {
			t.Fatalf("during an outage: %+v", c)
		}
	}
}

func TestTheReadinessCheckNamesAScheduleThatDoesNotExist(t *testing.T) {
	p := &provider{shifts: map[string][]oncall.Shift{"PSCHED1": {}}}
	missing := mustRota("pagerduty:schedule/PGONE00")
	rs := newRotas(p, clock.NewFake(time.Now()), sched, missing)
	err := rs.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "pagerduty:schedule/PGONE00") || !strings.Contains(err.Error(), "no such schedule") {
		t.Fatalf("Check = %v, want the missing schedule named", err)
	}
	og := mustRota("opsgenie:schedule/db")
	if _, err := newRotas(p, clock.NewFake(time.Now()), og).OnCall(t.Context(), og); !errors.Is(err, oncall.ErrNotConfigured) {
		t.Fatalf("a rota of an unconfigured provider: %v", err)
	}
}

func TestEveryRotaTheConfigNamesIsAskedOnce(t *testing.T) {
	auto, err := grants.CompileRule(`oncall_for("opsgenie:schedule/db") || oncall_for("pagerduty:schedule/PSCHED1")`)
	if err != nil {
		t.Fatal(err)
	}
	alert, err := grants.CompileCondition("alert", `!oncall_for("pagerduty:schedule/PNIGHT1")`)
	if err != nil {
		t.Fatal(err)
	}
	res := []*grants.Resource{
		{Name: "a", Policy: grants.Policy{ApproverGroups: []string{"sre", sched.String(), lvl1.String(), lvl2.String()}, AutoApprove: auto}},
		{Name: "b", Policy: grants.Policy{ApproverGroups: []string{sched.String()}}},
	}
	var got []string
	for _, r := range oncall.RotasOf(res, []grants.AlertRule{{Name: "night", When: alert}}) {
		got = append(got, r.String())
	}
	want := []string{sched.String(), lvl1.String(), lvl2.String(), "opsgenie:schedule/db", "pagerduty:schedule/PNIGHT1"}
	if !slices.Equal(got, want) {
		t.Fatalf("RotasOf = %q, want %q", got, want)
	}
	if l := oncall.NewLookup(newRotas(&provider{}, clock.NewFake(time.Now()))); !l.Applies(&grants.Resource{Policy: grants.Policy{AutoApprove: auto}}) {
		t.Fatal("a resource whose rule asks oncall_for is not checked")
	}
}
