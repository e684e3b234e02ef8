// Package digesttest holds the fixed data set that the digest's golden files are made from: a
// week of access at example.com, as the audit events grants writes for it (same types, same
// data keys), at fixed times. Tests append the events through storage into a temporary
// database and build the digest of Since..Until from it.
package digesttest

import (
	"context"
	"fmt"
	"slices"
	"time"

	// The data set is in Europe/Berlin, whatever zone database the machine has.
	_ "time/tzdata"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/duration"
)

// Location is the data set's time zone.
var Location = mustLoad("Europe/Berlin")

// Since and Until are the window of the data set's digest: Monday 16 November 2026 09:00 to
// Monday 23 November 09:00, Berlin time. Events lie on both sides of it too.
var (
	Since = time.Date(2026, 11, 16, 9, 0, 0, 0, Location)
	Until = time.Date(2026, 11, 23, 9, 0, 0, 0, Location)
)

// People of the data set.
const (
	Alice   = "alice@example.com"   // asks often
	Bob     = "bob@example.com"     // approver (sre)
	Carol   = "carol@example.com"   // approver (sre)
	Dana    = "dana@example.com"    // on call: break-glass
	Erin    = "erin@example.com"    // admin
	Mallory = "mallory@example.com" // neither
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// Appender stores one event (storage.DB.AppendAudit).
type Appender func(context.Context, audit.Event) (audit.Event, error)

// Seed appends Events in order and returns the last one stored.
func Seed(ctx context.Context, appendEvent Appender) (audit.Event, error) {
	var last audit.Event
	for _, e := range Events() {
		var err error
		if last, err = appendEvent(ctx, e); err != nil {
			return last, fmt.Errorf("seed %s at %s: %w", e.Type, e.At.Format(time.RFC3339), err)
		}
	}
	return last, nil
}

type gen struct{ events []audit.Event }

// at is a time on a day of November 2026, Berlin time.
func at(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, Location)
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (g *gen) add(t time.Time, typ, actor, resource, subject, requestID, grantID string, data map[string]string) {
	g.events = append(g.events, audit.Event{At: t, Type: typ, Actor: actor, Resource: resource,
		Subject: subject, RequestID: requestID, GrantID: grantID, Data: data})
}

type request struct {
	id, kind, resource, person, reason string
	d                                  time.Duration
	grantID                            string // the grant an extension extends
}

func (g *gen) request(t time.Time, r request) {
	kind := r.kind
	if kind == "" {
		kind = "access"
	}
	g.add(t, audit.RequestCreated, r.person, r.resource, r.person, r.id, r.grantID, map[string]string{
		"kind": kind, "duration": duration.Format(r.d), "reason": r.reason, "approvals_needed": "1",
		"pending_until": utc(t.Add(24 * time.Hour)),
	})
}

// grant makes the grant of an approved request and returns when it expires.
func (g *gen) grant(t time.Time, r request, gid string, breakGlass bool) time.Time {
	exp := t.Add(r.d)
	data := map[string]string{"account": account(r.person), "duration": duration.Format(r.d), "expires_at": utc(exp)}
	if breakGlass {
		data["breakglass"] = "true"
	}
	g.add(t, audit.GrantActivating, "accessbot", r.resource, r.person, r.id, gid, data)
	g.add(t.Add(50*time.Millisecond), audit.GrantActive, "accessbot", r.resource, r.person, r.id, gid,
		map[string]string{"attempts": "1", "expires_at": utc(exp)})
	return exp
}

func (g *gen) approve(t time.Time, r request, reviewer, gid string) time.Time {
	g.add(t, audit.ReviewApproved, reviewer, r.resource, r.person, r.id, r.grantID, map[string]string{"approvals": "1/1"})
	g.add(t, audit.RequestApproved, reviewer, r.resource, r.person, r.id, r.grantID, map[string]string{"approvals": "1/1"})
	if r.kind == "extend" {
		return t
	}
	return g.grant(t, r, gid, false)
}

func (g *gen) auto(t time.Time, r request, gid string) time.Time {
	g.request(t, r)
	g.add(t, audit.RequestApproved, "policy", r.resource, r.person, r.id, r.grantID,
		map[string]string{"rule": `resource == "staging-db"`, "approvals": "auto"})
	return g.grant(t, r, gid, false)
}

// revoke revokes a grant on expiry, lateness after it.
func (g *gen) revoke(exp time.Time, r request, gid string, lateness time.Duration) {
	g.add(exp, audit.GrantRevoking, "accessbot", r.resource, r.person, r.id, gid, map[string]string{"expires_at": utc(exp)})
	g.add(exp.Add(lateness), audit.GrantRevoked, "accessbot", r.resource, r.person, r.id, gid,
		map[string]string{"lateness_ms": fmt.Sprint(lateness.Milliseconds()), "attempts": "1"})
}

func (g *gen) scan(t time.Time, findings string, errs int) {
	data := map[string]string{"resources": "ldap-admins,prod-db", "findings": "0", "errors": fmt.Sprint(errs)}
	if findings != "" {
		data["findings"] = "1"
		data["list"] = findings
		data["alert"] = "standing_access"
		data["message"] = "Standing access found: 1 holder on prod-db no grant explains (prod-db: mallory)."
	}
	if errs > 0 {
		data["error_list"] = `{"ldap-admins":"list access at ldap-admins: ldap: connection refused"}`
	}
	g.add(t, audit.ScanCompleted, "accessbot", "", "", "", "", data)
}

func account(email string) string {
	for i, c := range email {
		if c == '@' {
			return email[:i]
		}
	}
	return email
}

// Events returns the data set, unsealed, in time order.
func Events() []audit.Event {
	g := &gen{}
	ms := time.Millisecond
	g.add(at(15, 20, 0), audit.ConfigLoaded, "accessbot", "", "", "", "", map[string]string{"config_sha256": "5e1f", "resources": "3", "version": "test"})

	// Made before the window, approved in it: counted as approved, not timed.
	r0 := request{id: "r-0", resource: "prod-db", person: Alice, reason: "INC-100 early start", d: time.Hour}
	g.request(at(16, 8, 50), r0)
	exp := g.approve(at(16, 9, 10), r0, Bob, "g-0")
	g.revoke(exp, r0, "g-0", 300*ms)

	// Monday: an approval in 4 minutes, an automatic one, a refused self-approval.
	r1 := request{id: "r-1", resource: "prod-db", person: Alice, reason: "INC-101 slow queries", d: 2 * time.Hour}
	g.request(at(16, 9, 30), r1)
	exp = g.approve(at(16, 9, 34), r1, Bob, "g-1")
	g.revoke(exp, r1, "g-1", 400*ms)
	r2 := request{id: "r-2", resource: "staging-db", person: Dana, reason: "load test", d: 30 * time.Minute}
	exp = g.auto(at(16, 10, 0), r2, "g-2")
	g.revoke(exp, r2, "g-2", 200*ms)
	r3 := request{id: "r-3", resource: "prod-db", person: Alice, reason: "INC-102 fix a row", d: time.Hour}
	g.request(at(16, 14, 0), r3)
	g.add(at(16, 14, 1), audit.ReviewRefused, Alice, "prod-db", Alice, "r-3", "", map[string]string{"decision": "approve", "refused": "self_approval"})
	g.approve(at(16, 14, 20), r3, Carol, "g-3")
	g.add(at(16, 14, 50), audit.GrantRevoking, Alice, "prod-db", Alice, "r-3", "g-3", map[string]string{"early": "true", "expires_at": utc(at(16, 15, 20))})
	g.add(at(16, 14, 50).Add(120*ms), audit.GrantRevoked, "accessbot", "prod-db", Alice, "r-3", "g-3", map[string]string{"lateness_ms": "120", "attempts": "1"})

	// Tuesday: a click by someone who may not decide, then a denial.
	g.scan(at(17, 7, 0), "", 0)
	r4 := request{id: "r-4", resource: "prod-db", person: Dana, reason: "schema migration", d: 4 * time.Hour}
	g.request(at(17, 11, 0), r4)
	g.add(at(17, 11, 2), audit.ReviewRefused, Mallory, "prod-db", Dana, "r-4", "", map[string]string{"decision": "approve", "refused": "not_approver", "allowed": "sre"})
	g.add(at(17, 11, 45), audit.ReviewDenied, Bob, "prod-db", Dana, "r-4", "", map[string]string{"reason": "run it on staging first"})
	g.add(at(17, 11, 45), audit.RequestDenied, Bob, "prod-db", Dana, "r-4", "", map[string]string{"reason": "run it on staging first"})

	// Wednesday night: break-glass, reviewed in the morning (after Dana tried to review it).
	bg1 := request{id: "r-bg1", kind: "breakglass", resource: "prod-db", person: Dana, reason: "db down INC-9", d: time.Hour}
	g.scan(at(18, 7, 0), "", 0)
	g.request(at(18, 2, 14), bg1)
	g.add(at(18, 2, 14), audit.BreakGlassUsed, Dana, "prod-db", Dana, "r-bg1", "", map[string]string{"duration": "1h", "reason": "db down INC-9", "grant_id": "g-bg1"})
	g.add(at(18, 2, 14), audit.AlertRaised, Dana, "prod-db", Dana, "r-bg1", "g-bg1", map[string]string{"alert": "breakglass", "message": "Dana used break-glass access to prod-db for 1h: db down INC-9"})
	exp = g.grant(at(18, 2, 14), bg1, "g-bg1", true)
	g.revoke(exp, bg1, "g-bg1", 300*ms)
	g.add(at(18, 9, 0), audit.ReviewRefused, Dana, "prod-db", Dana, "r-bg1", "g-bg1", map[string]string{"decision": "breakglass_review", "refused": "self_approval"})
	g.add(at(18, 9, 30), audit.BreakGlassReviewed, Erin, "prod-db", Dana, "r-bg1", "g-bg1", map[string]string{"note": "checked the session log"})

	// Wednesday: a long grant, extended, whose revocation fails and is forced on Thursday.
	r5 := request{id: "r-5", resource: "ldap-admins", person: Bob, reason: "quarterly access review", d: 8 * time.Hour}
	g.request(at(18, 10, 0), r5)
	exp = g.approve(at(18, 10, 12), r5, Carol, "g-5")
	r6 := request{id: "r-6", kind: "extend", resource: "ldap-admins", person: Bob, reason: "review not done", d: 2 * time.Hour, grantID: "g-5"}
	g.request(at(18, 17, 0), r6)
	g.approve(at(18, 17, 30), r6, Carol, "")
	newExp := exp.Add(2 * time.Hour)
	g.add(at(18, 17, 30), audit.GrantExtended, Carol, "ldap-admins", Bob, "r-5", "g-5", map[string]string{
		"by": "2h", "expires_at": utc(newExp), "previous_expires_at": utc(exp), "extend_request_id": "r-6"})
	g.add(newExp, audit.GrantRevoking, "accessbot", "ldap-admins", Bob, "r-5", "g-5", map[string]string{"expires_at": utc(newExp)})
	g.add(newExp.Add(2*time.Second), audit.GrantRetry, "accessbot", "ldap-admins", Bob, "r-5", "g-5", map[string]string{"op": "revoke", "attempt": "1", "error": "ldap: connection refused"})
	g.add(newExp.Add(8*time.Minute), audit.GrantRevokeFailed, "accessbot", "ldap-admins", Bob, "r-5", "g-5", map[string]string{
		"error": "ldap: connection refused", "attempts": "8", "next_attempt_at": utc(newExp.Add(18 * time.Minute))})
	g.add(newExp.Add(8*time.Minute), audit.AlertRaised, "accessbot", "ldap-admins", Bob, "r-5", "g-5", map[string]string{"alert": "revoke_failed"})
	g.add(at(19, 9, 5), audit.GrantRevoked, Erin, "ldap-admins", Bob, "r-5", "g-5", map[string]string{
		"forced": "true", "note": "removed from the group by hand", "previous_state": "revoke_failed",
		"attempts": "14", "last_error": "ldap: connection refused"})

	// Thursday: an automatic grant revoked late; the scan finds a hand-made role.
	mallory := `[{"resource":"prod-db","account":"mallory","detail":"member of analyst","reason":"no_grant","why":"no active grant"}]`
	g.scan(at(19, 7, 0), "", 0)
	r7 := request{id: "r-7", resource: "staging-db", person: Carol, reason: "check a report", d: time.Hour}
	exp = g.auto(at(19, 13, 0), r7, "g-7")
	g.revoke(exp, r7, "g-7", 95*time.Second)
	g.scan(at(19, 19, 0), mallory, 0)

	// Friday: a request that expires undecided, one cancelled, one the policy refused.
	g.scan(at(20, 7, 0), mallory, 0)
	r8 := request{id: "r-8", resource: "prod-db", person: Alice, reason: "look at logs", d: time.Hour}
	g.request(at(20, 16, 0), r8)
	r9 := request{id: "r-9", resource: "staging-db", person: Dana, reason: "oops", d: time.Hour}
	g.request(at(20, 17, 0), r9)
	g.add(at(20, 17, 5), audit.RequestCancelled, Dana, "staging-db", Dana, "r-9", "", nil)
	g.add(at(20, 18, 0), audit.RequestRefused, Mallory, "prod-db", Mallory, "", "", map[string]string{"kind": "access", "refused": "not_allowed", "reason": "curious"})

	// The weekend: break-glass nobody reviews, a Sunday evening approval.
	g.scan(at(21, 7, 0), "", 0)
	g.add(at(21, 16, 0), audit.RequestExpired, "accessbot", "prod-db", Alice, "r-8", "", map[string]string{"pending_until": utc(at(21, 16, 0))})
	bg2 := request{id: "r-bg2", kind: "breakglass", resource: "staging-db", person: Alice, reason: "deploy hotfix", d: 30 * time.Minute}
	g.request(at(21, 23, 10), bg2)
	g.add(at(21, 23, 10), audit.BreakGlassUsed, Alice, "staging-db", Alice, "r-bg2", "", map[string]string{"duration": "30m", "reason": "deploy hotfix", "grant_id": "g-bg2"})
	g.add(at(21, 23, 10), audit.AlertRaised, Alice, "staging-db", Alice, "r-bg2", "g-bg2", map[string]string{"alert": "breakglass"})
	exp = g.grant(at(21, 23, 10), bg2, "g-bg2", true)
	g.revoke(exp, bg2, "g-bg2", 250*ms)
	g.scan(at(22, 7, 0), "", 1)
	r10 := request{id: "r-10", resource: "prod-db", person: Carol, reason: "INC-104 weekend alert", d: 2 * time.Hour}
	g.request(at(22, 20, 0), r10)
	exp = g.approve(at(22, 20, 45), r10, Bob, "g-10")
	g.revoke(exp, r10, "g-10", 350*ms)

	// Monday morning, before 09:00: still active when the window ends.
	g.scan(at(23, 7, 0), "", 0)
	r11 := request{id: "r-11", resource: "prod-db", person: Alice, reason: "INC-105 early fix", d: 3 * time.Hour}
	g.request(at(23, 8, 30), r11)
	exp = g.approve(at(23, 8, 55), r11, Bob, "g-11")

	// After the window: not in its digest.
	r12 := request{id: "r-12", resource: "prod-db", person: Dana, reason: "after the window", d: time.Hour}
	g.request(at(23, 9, 30), r12)
	g.add(at(23, 9, 31), audit.ReviewRefused, Dana, "prod-db", Dana, "r-12", "", map[string]string{"decision": "approve", "refused": "self_approval"})
	g.revoke(exp, r11, "g-11", 300*ms)

	slices.SortStableFunc(g.events, func(a, b audit.Event) int { return a.At.Compare(b.At) })
	return g.events
}
