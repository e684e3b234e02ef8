package grants_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

// ask makes a request and returns its error.
func ask(h *gt.Harness, a grants.Actor, resource string) (grants.Outcome, error) {
	return h.Service.Request(h.Ctx, a, grants.RequestInput{Resource: resource, Reason: "INC-7 looking into it"})
}

// wantRateLimited checks a refusal by the named limit: its details, its message, and the
// request.refused event it left.
func wantRateLimited(t *testing.T, h *gt.Harness, err error, limit, max string, msg ...string) {
	t.Helper()
	ge := wantError(t, err, grants.ErrForbidden, grants.ReasonRateLimited)
	if ge.Details["limit"] != limit || ge.Details["max"] != max {
		t.Errorf("details %v, want limit %s max %s", ge.Details, limit, max)
	}
	for _, m := range msg {
		if !strings.Contains(ge.Message, m) {
			t.Errorf("message %q does not say %q", ge.Message, m)
		}
	}
	refused := h.AuditEvents(audit.Filter{}, audit.RequestRefused)
	if len(refused) == 0 || refused[len(refused)-1].Data["refused"] != grants.ReasonRateLimited {
		t.Errorf("request.refused events %+v, want the last refused rate_limited", refused)
	}
}

func twoResources() []*grants.Resource {
	other := gt.DefaultResource()
	other.Name = "prod-api"
	return []*grants.Resource{gt.DefaultResource(), other}
}

// Finding 8 of issue 13: 100 requests from one person made 100 approver posts. Now the sixth
// pending request of one person is refused, with what to do, until one is decided.
func TestTheSixthPendingRequestOfOnePersonIsRefusedUntilOneIsDecided(t *testing.T) {
	h := gt.New(t, gt.Options{Resources: twoResources(), Limits: grants.Limits{PendingPerPerson: 5}})
	var ids []string
	for i := range 5 {
		out, err := ask(h, gt.Alice, []string{"prod-db", "prod-api"}[i%2])
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		ids = append(ids, out.Request.ID)
	}
	for range 95 {
		_, err := ask(h, gt.Alice, "prod-db")
		wantRateLimited(t, h, err, grants.LimitPendingPerPerson, "5",
			"You already have 5 requests waiting for a decision, and one person may have at most 5.",
			"Cancel one you no longer need, or wait until one is decided, then ask again.")
	}
	if posts := len(h.Events.Events(audit.RequestCreated)); posts != 5 {
		t.Fatalf("100 requests made %d request.created events (approver posts), want 5", posts)
	}
	if n := len(h.AuditEvents(audit.Filter{}, audit.RequestRefused)); n != 95 {
		t.Errorf("%d request.refused events, want 95", n)
	}

	// Someone else is not held back by alice's requests.
	if _, err := ask(h, gt.Dave, "prod-db"); err != nil {
		t.Fatalf("dave's request: %v", err)
	}
	// Break-glass is never refused by a limit: an emergency goes through.
	if _, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-9 outage"}); err != nil {
		t.Fatalf("break-glass at the pending limit: %v", err)
	}

	h.Approve(gt.Bob, ids[0])
	if _, err := ask(h, gt.Alice, "prod-db"); err != nil {
		t.Fatalf("after one was approved: %v", err)
	}
	_, err := ask(h, gt.Alice, "prod-db")
	wantRateLimited(t, h, err, grants.LimitPendingPerPerson, "5")

	if _, err := h.Service.Cancel(h.Ctx, gt.Alice, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(h, gt.Alice, "prod-db"); err != nil {
		t.Fatalf("after one was cancelled: %v", err)
	}

	// Requests past their TTL wait no more, even before the scheduler marks them expired.
	h.Advance(time.Hour)
	if _, err := ask(h, gt.Alice, "prod-db"); err != nil {
		t.Fatalf("after the pending ones expired: %v", err)
	}
}

func TestPendingRequestsPerResourceAreCapped(t *testing.T) {
	h := gt.New(t, gt.Options{Resources: twoResources(), Limits: grants.Limits{PendingPerPerson: 5, PendingPerResource: 3}})
	for _, who := range []grants.Actor{gt.Alice, gt.Alice, gt.Dave} {
		if _, err := ask(h, who, "prod-db"); err != nil {
			t.Fatalf("request by %s: %v", who.ID, err)
		}
	}
	_, err := ask(h, gt.Erin, "prod-db")
	wantRateLimited(t, h, err, grants.LimitPendingPerResource, "3",
		"prod-db already has 3 requests waiting for a decision, and one resource may have at most 3.",
		"Ask again once its approvers have decided some of them.")
	if _, err := ask(h, gt.Erin, "prod-api"); err != nil {
		t.Fatalf("another resource is not capped by prod-db's requests: %v", err)
	}
}

func TestRequestsPerPersonPerHourAreCappedOnTheClock(t *testing.T) {
	h := gt.New(t, gt.Options{Limits: grants.Limits{PendingPerPerson: 5, PerPersonPerHour: 3}})
	// 10:00, 10:10 (then cancelled: it still counts), and break-glass at 10:20 (counts too).
	if _, err := ask(h, gt.Alice, "prod-db"); err != nil {
		t.Fatal(err)
	}
	h.Advance(10 * time.Minute)
	second, err := ask(h, gt.Alice, "prod-db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Service.Cancel(h.Ctx, gt.Alice, second.Request.ID); err != nil {
		t.Fatal(err)
	}
	h.Advance(10 * time.Minute)
	if _, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-9 outage"}); err != nil {
		t.Fatal(err)
	}

	h.Advance(10*time.Minute + 30*time.Second) // 10:30:30
	_, err = ask(h, gt.Alice, "prod-db")
	wantRateLimited(t, h, err, grants.LimitPerPersonPerHour, "3",
		"You have made 3 requests in the last hour, and one person may make at most 3.",
		"You can ask again in 30m.")
	// Break-glass is still not refused, and an extension counts like a request.
	if _, err := h.Service.BreakGlass(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-9 still down"}); err != nil {
		t.Fatalf("break-glass over the hourly limit: %v", err)
	}
	h.RunDue()
	active, err := h.Service.ListGrants(h.Ctx, grants.GrantFilter{Subject: gt.Alice.ID, States: []grants.GrantState{grants.GrantActive}})
	if err != nil || len(active) == 0 {
		t.Fatalf("alice's active grants: %v %v", active, err)
	}
	_, err = h.Service.Extend(h.Ctx, gt.Alice, active[0].ID, 30*time.Minute, "")
	wantRateLimited(t, h, err, grants.LimitPerPersonPerHour, "3")

	// Others are not held back.
	if _, err := ask(h, gt.Dave, "prod-db"); err != nil {
		t.Fatalf("dave: %v", err)
	}
	h.Advance(29 * time.Minute) // 10:59:30
	_, err = ask(h, gt.Alice, "prod-db")
	// Four in the last hour (the second break-glass counts): room again when the third newest,
	// 10:10, is an hour old, in 10m30s, said rounded up.
	wantRateLimited(t, h, err, grants.LimitPerPersonPerHour, "3", "You have made 4 requests in the last hour", "You can ask again in 11m.")
	h.Advance(30 * time.Second) // 11:00
	_, err = ask(h, gt.Alice, "prod-db")
	wantRateLimited(t, h, err, grants.LimitPerPersonPerHour, "3", "You can ask again in 10m.")
	h.Advance(10 * time.Minute)
	if _, err := ask(h, gt.Alice, "prod-db"); err != nil {
		t.Fatalf("at 11:10, with two requests in the last hour: %v", err)
	}
}
