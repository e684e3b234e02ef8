package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/accessbot/accessbot/adapters/postgres"
)

// grantRow is a grant as stored.
type grantRow struct {
	ID, RequestID, Resource, Subject, Account, State string
	Expires, NextAttempt, Revoked, Created           time.Time
	Attempts                                         int
	LastError                                        string
}

type requestRow struct {
	ID, State, Requester, Resource string
}

// eventRow is an audit event about a request or a grant.
type eventRow struct {
	Seq                    int64
	At                     time.Time
	Type, GrantID, Request string
	Data                   map[string]string
}

// snapshot is accessbot's database at one moment (one REPEATABLE READ transaction).
type snapshot struct {
	At       time.Time
	Grants   map[string]grantRow
	Requests map[string]requestRow
	// Events are the request, review and grant events, in order.
	Events []eventRow
	Head   eventRow // the last event of any kind
}

func (e *env) snapshot(ctx context.Context) (*snapshot, error) {
	tx, err := e.store.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// At is taken before the first query, which is when the snapshot begins: whatever was
	// committed before At is in it.
	s := &snapshot{At: time.Now(), Grants: map[string]grantRow{}, Requests: map[string]requestRow{}}
	rows, err := tx.QueryContext(ctx, `SELECT id, COALESCE(request_id, ''), resource, subject, account, state,
		expires_at, next_attempt_at, revoked_at, created_at, attempts, last_error FROM grants`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var g grantRow
		var exp, next, rev, created int64
		if err := rows.Scan(&g.ID, &g.RequestID, &g.Resource, &g.Subject, &g.Account, &g.State,
			&exp, &next, &rev, &created, &g.Attempts, &g.LastError); err != nil {
			rows.Close()
			return nil, err
		}
		g.Expires, g.NextAttempt, g.Revoked, g.Created = micros(exp), micros(next), micros(rev), micros(created)
		s.Grants[g.ID] = g
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT id, state, requester, resource FROM requests`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r requestRow
		if err := rows.Scan(&r.ID, &r.State, &r.Requester, &r.Resource); err != nil {
			rows.Close()
			return nil, err
		}
		s.Requests[r.ID] = r
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT seq, at, type, grant_id, request_id, data FROM audit_events
		WHERE type LIKE 'grant.%' OR type LIKE 'request.%' OR type LIKE 'review.%' ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		s.Events = append(s.Events, ev)
	}
	rows.Close()
	row := tx.QueryRowContext(ctx, `SELECT seq, at, type, grant_id, request_id, data FROM audit_events ORDER BY seq DESC LIMIT 1`)
	if s.Head, err = scanEvent(row); err != nil && err != sql.ErrNoRows {
		return nil, err
	}
	return s, nil
}

type scanner interface{ Scan(...any) error }

func scanEvent(r scanner) (eventRow, error) {
	var ev eventRow
	var at int64
	var data string
	if err := r.Scan(&ev.Seq, &at, &ev.Type, &ev.GrantID, &ev.Request, &data); err != nil {
		return ev, err
	}
	ev.At = micros(at)
	_ = json.Unmarshal([]byte(data), &ev.Data)
	return ev, nil
}

// targetState is what access exists at the target.
type targetState struct {
	// Roles are the ephemeral login roles (rolname → can log in).
	Roles map[string]bool
	// Members are the roles that hold memberRole, the bot's own left out.
	Members map[string]bool
	// At is when the reading began. A grant whose revocation was stored after it may have
	// been revoked at the target after the reading too (serve runs on meanwhile).
	At time.Time
}

func (e *env) targetState(ctx context.Context) (targetState, error) {
	ts := targetState{Roles: map[string]bool{}, Members: map[string]bool{}, At: time.Now()}
	rows, err := e.target.QueryContext(ctx, `SELECT rolname, rolcanlogin FROM pg_roles WHERE starts_with(rolname, $1)`, rolePrefix)
	if err != nil {
		return ts, err
	}
	for rows.Next() {
		var name string
		var login bool
		if err := rows.Scan(&name, &login); err != nil {
			rows.Close()
			return ts, err
		}
		ts.Roles[name] = login
	}
	rows.Close()
	rows, err = e.target.QueryContext(ctx, `SELECT m.rolname FROM pg_auth_members am
		JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
		WHERE r.rolname = $1 AND m.rolname <> $2`, memberRole, botMem)
	if err != nil {
		return ts, err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return ts, err
		}
		ts.Members[name] = true
	}
	rows.Close()
	return ts, nil
}

// Violation kinds.
const (
	vAccessLate    = "access left after expiry + 5s"
	vAccessClaim   = "access left after expiry + 5s, held by a killed process's claim"
	vAccessEnded   = "access left after the grant ended"
	vOrphan        = "access no grant explains"
	vStuck         = "grant stuck in a transitional state"
	vStuckClaim    = "grant transitional past expiry + 5s, held by a killed process's claim"
	vActiveExpired = "grant active past expiry + 5s"
	vRevokeFailed  = "grant revoke_failed with the target up"
	vStateEvent    = "grant state differs from its last audit event"
	vRequestEvent  = "request state differs from its last audit event"
	vNoEvent       = "state without its audit event"
	vBadOrder      = "audit events in an impossible order"
	vLostRequest   = "acknowledged request missing"
	vLostApproval  = "acknowledged approval missing"
	vVerify        = "audit verify failed"
	vNotFinal      = "grant not final at the end"
)

// expected reports whether a violation kind is a known limitation of hold_rule legacy rather than
// a failure: there a claim taken by a process that was then killed holds its grant for the
// claim's lifetime (2 × scheduler.call_timeout), since a restarted process cannot tell it from a
// live replica's. Under the owner rule (the default) the claim lapses when the process's
// heartbeat stops, and these are failures.
func expected(kind string) bool { return kind == vAccessClaim || kind == vStuckClaim }

type violation struct {
	Kind, GrantID, Detail string
	Round                 int
}

const grace = 5 * time.Second

// stateAfter is the grant state an event leaves, or "" for an event that changes none.
func stateAfter(ev eventRow) string {
	switch ev.Type {
	case "grant.activating":
		return "activating"
	case "grant.active":
		return "active"
	case "grant.failed":
		return "failed"
	case "grant.revoking":
		if ev.Data["state"] == "activating" {
			return "activating" // revoked early while activating: the state waits for the call
		}
		return "revoking"
	case "grant.revoked":
		return "revoked"
	case "grant.revoke_failed":
		return "revoke_failed"
	}
	return ""
}

func requestStateAfter(ev eventRow) string {
	switch ev.Type {
	case "request.created":
		return "pending"
	case "request.approved":
		return "approved"
	case "request.denied":
		return "denied"
	case "request.cancelled":
		return "cancelled"
	case "request.expired":
		return "expired"
	}
	return ""
}

// allowed transitions of a grant, by the events it gets.
var allowedNext = map[string][]string{
	"":              {"activating"},
	"activating":    {"active", "failed", "revoking", "activating"},
	"active":        {"revoking"},
	"revoking":      {"revoked", "revoke_failed"},
	"revoke_failed": {"revoked"},
}

// checker holds what the checks need across rounds.
type checker struct {
	e *env
	// claims are the claims taken by killed processes: grant ID → when the claim lapses.
	claims map[string]time.Time
}

// deadline is when a grant's access must be gone: 5 s after its expiry, or after a dead
// process's claim on it lapses when that is later (then byClaim is true).
func (c *checker) deadline(g grantRow) (at time.Time, byClaim bool) {
	at = g.Expires.Add(grace)
	if l, ok := c.claims[g.ID]; ok && l.Add(grace).After(at) {
		return l.Add(grace), true
	}
	return at, false
}

// check runs every invariant on the target (read first) and a snapshot of accessbot's database
// (read after), and on what the driver was told. final asks for everything to be over.
func (c *checker) check(ctx context.Context, d *driver, round int, final bool) ([]violation, *snapshot, error) {
	ts, err := c.e.targetState(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the target: %w", err)
	}
	s, err := c.e.snapshot(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read accessbot's database: %w", err)
	}
	now := s.At
	var out []violation
	add := func(kind, gid, format string, args ...any) {
		out = append(out, violation{Kind: kind, GrantID: gid, Detail: fmt.Sprintf(format, args...), Round: round})
	}

	// 1. Access at the target: every ephemeral role belongs to a grant that may still hold it.
	byRole := map[string]grantRow{}
	for _, g := range s.Grants {
		if g.Resource == resEphemeral {
			name, err := postgres.EphemeralRoleName(rolePrefix, g.Account, g.ID)
			if err == nil {
				byRole[name] = g
			}
		}
	}
	for role := range ts.Roles {
		g, ok := byRole[role]
		if !ok {
			add(vOrphan, "", "role %s exists at the target and no grant in accessbot's database makes it", role)
			continue
		}
		c.accessCheck(g, now, ts.At, "role "+role, add)
	}
	// Membership mode: a person holds the role only while one of their grants may.
	for account := range ts.Members {
		var mine []grantRow
		for _, g := range s.Grants {
			if g.Resource == resMember && g.Account == account {
				mine = append(mine, g)
			}
		}
		if len(mine) == 0 {
			add(vOrphan, "", "%s is a member of %s and has never had a grant", account, memberRole)
			continue
		}
		// The membership is fine if any of the person's grants may still hold it; else it is
		// reported against the grant that ended last.
		var latest []violation
		var latestExp time.Time
		fine := false
		for _, g := range mine {
			var vs []violation
			c.accessCheck(g, now, ts.At, "membership of "+account, func(kind, gid, format string, args ...any) {
				vs = append(vs, violation{Kind: kind, GrantID: gid, Detail: fmt.Sprintf(format, args...), Round: round})
			})
			if len(vs) == 0 {
				fine = true
				break
			}
			if latest == nil || g.Expires.After(latestExp) {
				latest, latestExp = vs, g.Expires
			}
		}
		if !fine {
			out = append(out, latest...)
		}
	}

	// 2. No grant stuck in a transitional state, none active past its expiry.
	for _, g := range s.Grants {
		switch g.State {
		case "activating", "revoking":
			l, held := c.claims[g.ID]
			held = held && g.NextAttempt.Equal(l) && now.Before(l.Add(grace))
			switch {
			case held && now.After(g.Expires.Add(grace)):
				// Held by a dead process's claim: nothing happens to it until the claim lapses.
				add(vStuckClaim, g.ID, "%s %s, expired %s ago, claim lapses in %s",
					g.Resource, g.State, now.Sub(g.Expires).Round(time.Millisecond), l.Sub(now).Round(time.Second))
			case held:
			case now.After(g.NextAttempt.Add(grace)):
				add(vStuck, g.ID, "%s %s, due %s ago (expired %s ago, attempts %d, last error %q)", g.Resource, g.State,
					now.Sub(g.NextAttempt).Round(time.Millisecond), now.Sub(g.Expires).Round(time.Millisecond), g.Attempts, g.LastError)
			}
		case "active":
			if now.After(g.Expires.Add(grace)) {
				add(vActiveExpired, g.ID, "%s active, expired %s ago", g.Resource, now.Sub(g.Expires).Round(time.Millisecond))
			}
		case "revoke_failed":
			add(vRevokeFailed, g.ID, "%s revoke_failed after %d attempts: %s", g.Resource, g.Attempts, g.LastError)
		}
		if final && g.State != "revoked" && g.State != "failed" {
			add(vNotFinal, g.ID, "%s still %s at the end", g.Resource, g.State)
		}
	}

	// 3. Every state change is in the audit chain: each row's state is its last event's, and
	// the events of each grant follow the lifecycle.
	last := map[string]string{}
	lastReq := map[string]string{}
	for _, ev := range s.Events {
		if st := stateAfter(ev); st != "" && ev.GrantID != "" {
			prev := last[ev.GrantID]
			if !contains(allowedNext[prev], st) {
				add(vBadOrder, ev.GrantID, "event %d %s moves the grant from %q to %q", ev.Seq, ev.Type, prev, st)
			}
			last[ev.GrantID] = st
		}
		if st := requestStateAfter(ev); st != "" && ev.Request != "" {
			lastReq[ev.Request] = st
		}
	}
	for _, g := range s.Grants {
		switch st, ok := last[g.ID]; {
		case !ok:
			add(vNoEvent, g.ID, "grant %s (%s) has no grant event", g.ID, g.State)
		case st != g.State:
			add(vStateEvent, g.ID, "row says %s, last event says %s", g.State, st)
		}
	}
	for _, r := range s.Requests {
		switch st, ok := lastReq[r.ID]; {
		case !ok:
			add(vNoEvent, "", "request %s (%s) has no request event", r.ID, r.State)
		case st != r.State:
			add(vRequestEvent, "", "request %s: row says %s, last event says %s", r.ID, r.State, st)
		}
	}
	for id := range last {
		if _, ok := s.Grants[id]; !ok {
			add(vNoEvent, id, "events name grant %s, which is not stored", id)
		}
	}

	// 4. Nothing accessbot acknowledged is lost.
	d.mu.Lock()
	for id, a := range d.acked {
		// An answer that came after the snapshot began may be for a commit it does not see.
		if !a.At.Before(s.At) {
			continue
		}
		if _, ok := s.Requests[id]; !ok {
			add(vLostRequest, "", "request %s of %s was answered with its ID at %s and is not stored", id, a.By.Email, a.At.Format(time.RFC3339Nano))
		}
	}
	for id, at := range d.clicked {
		if r, ok := s.Requests[id]; ok && r.State == "pending" && now.Sub(at) > grace {
			add(vLostApproval, "", "request %s still pending %s after an approval answered 200", id, now.Sub(at).Round(time.Millisecond))
		}
	}
	d.mu.Unlock()

	// 5. The chain verifies.
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.e.serve.Verify(vctx); err != nil {
		add(vVerify, "", "%v", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].GrantID < out[j].Kind+out[j].GrantID })
	return out, s, nil
}

// accessCheck reports access held through grant g at now that g no longer explains.
func (c *checker) accessCheck(g grantRow, now, seen time.Time, what string, add func(kind, gid, format string, args ...any)) {
	switch g.State {
	case "revoked", "failed":
		if g.Revoked.After(seen) {
			// Revoked at the target between the target's reading and the database's: the
			// revocation is stored after the adapter's call returns. A revocation that did not
			// take would show again at the next check.
			return
		}
		add(vAccessEnded, g.ID, "%s exists but grant %s is %s (revoked at %s)", what, g.ID, g.State, g.Revoked.Format(time.RFC3339Nano))
		return
	}
	if !now.After(g.Expires.Add(grace)) {
		return
	}
	dl, byClaim := c.deadline(g)
	switch {
	case byClaim && now.Before(dl):
		add(vAccessClaim, g.ID, "%s, grant %s expired %s ago, claim lapses in %s", what, g.State,
			now.Sub(g.Expires).Round(time.Millisecond), dl.Add(-grace).Sub(now).Round(time.Second))
	default:
		add(vAccessLate, g.ID, "%s, grant %s expired %s ago", what, g.State, now.Sub(g.Expires).Round(time.Millisecond))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// recordClaims notes the claims a killed process held: grants in a transitional state whose
// next attempt is a claim period after a moment just before the kill (the claim of an adapter
// call the kill interrupted). It returns the new ones by operation ("grant" for an activating
// grant, "revoke" otherwise).
func (c *checker) recordClaims(s *snapshot, killedAt time.Time) map[string]int {
	n := map[string]int{}
	for _, g := range s.Grants {
		switch g.State {
		case "activating", "revoking", "revoke_failed":
			// A claim is the call timeout twice over (4 s with the harness's 2 s) ahead; a
			// retry's backoff is 1 s at most here.
			if !g.NextAttempt.After(killedAt.Add(2*time.Second)) || c.claims[g.ID].Equal(g.NextAttempt) {
				continue
			}
			c.claims[g.ID] = g.NextAttempt
			if g.State == "activating" {
				n["grant"]++
			} else {
				n["revoke"]++
			}
		}
	}
	return n
}

func summarize(vs []violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  round %d: %s: %s\n", v.Round, v.Kind, v.Detail)
	}
	return b.String()
}
