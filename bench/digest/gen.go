package main

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/storage"
)

// seedBatch is how many events one storage transaction appends while seeding.
const seedBatch = 1000

// seedStats says what the seeded log holds.
type seedStats struct {
	Events          int
	Requests        int
	First, Last     time.Time
	Elapsed         time.Duration
	EventsPerSecond float64
}

// seed appends n events to db through storage (Update and Append, seedBatch per transaction):
// the lives of requests and grants as grants records them (same types, actors and data keys),
// spread evenly over days from start, interleaved in time order, plus an hourly
// standing-privilege scan.
func seed(ctx context.Context, db *storage.DB, n int, start time.Time, days int) (seedStats, error) {
	begin := time.Now()
	g := newGenerator(start, days, n)
	st := seedStats{First: start}
	batch := make([]audit.Event, 0, seedBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := db.Update(ctx, func(tx grants.Tx) error {
			for _, e := range batch {
				if _, err := tx.Append(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		st.Events += len(batch)
		st.Last = batch[len(batch)-1].At
		batch = batch[:0]
		return err
	}
	for st.Events+len(batch) < n {
		batch = append(batch, g.next())
		if len(batch) == seedBatch {
			if err := flush(); err != nil {
				return st, fmt.Errorf("seed at event %d: %w", st.Events, err)
			}
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	st.Requests = g.requests
	st.Elapsed = time.Since(begin)
	st.EventsPerSecond = float64(st.Events) / st.Elapsed.Seconds()
	return st, nil
}

// generator makes the events of many overlapping request lives, in time order.
type generator struct {
	rng      *rand.Rand
	now      time.Time
	every    time.Duration
	nextScan time.Time
	i        int
	requests int
	pending  eventHeap
	order    int
}

// eventsPerRequest is about how many events one request's life writes in this mix.
const eventsPerRequest = 6.6

func newGenerator(start time.Time, days, n int) *generator {
	span := time.Duration(days) * 24 * time.Hour
	every := time.Duration(float64(span) / (float64(n) / eventsPerRequest))
	return &generator{rng: rand.New(rand.NewPCG(uint64(n), 7)), now: start, every: every, nextScan: start}
}

func (g *generator) next() audit.Event {
	for len(g.pending) == 0 || g.pending[0].e.At.After(g.now) {
		g.request()
		g.now = g.now.Add(g.every)
	}
	return heap.Pop(&g.pending).(pendingEvent).e
}

func (g *generator) push(e audit.Event) {
	g.order++
	heap.Push(&g.pending, pendingEvent{e: e, order: g.order})
}

var resources = []string{"prod-db", "prod-ssh", "billing-db", "k8s-prod", "vpn", "redis-cache",
	"ldap-admins", "analytics", "staging-db", "grafana", "s3-logs", "kafka"}

// request starts the next request's life at g.now and queues all its events.
func (g *generator) request() {
	g.i++
	i, t := g.i, g.now
	for !g.nextScan.After(t) {
		data := map[string]string{"resources": "prod-db,ldap-admins,redis-cache", "findings": "0", "errors": "0"}
		if g.rng.IntN(50) == 0 {
			data["findings"] = "1"
			data["alert"] = "standing_access"
			data["list"] = `[{"resource":"prod-db","account":"svc_report","detail":"member of analyst","reason":"no_grant","why":"no active grant"}]`
		}
		g.push(audit.Event{At: g.nextScan, Type: audit.ScanCompleted, Actor: "accessbot", Data: data})
		g.nextScan = g.nextScan.Add(time.Hour)
	}
	subject := fmt.Sprintf("user%03d@example.com", g.rng.IntN(300))
	approver := fmt.Sprintf("lead%02d@example.com", g.rng.IntN(20))
	res := resources[g.rng.IntN(len(resources))]
	rid, gid := "r-"+strconv.Itoa(i), "g-"+strconv.Itoa(i)
	dur := time.Duration(15+g.rng.IntN(8*60-15)) * time.Minute
	reason := "INC-" + strconv.Itoa(10000+i) + " investigating the nightly job on " + res
	ev := func(at time.Time, typ, actor string, grant bool, data map[string]string) {
		e := audit.Event{At: at, Type: typ, Actor: actor, Resource: res, Subject: subject, RequestID: rid, Data: data}
		if grant {
			e.GrantID = gid
		}
		g.push(e)
	}
	p := g.rng.IntN(1000)
	if p < 10 { // refused by the policy
		g.push(audit.Event{At: t, Type: audit.RequestRefused, Actor: subject, Resource: res, Subject: subject,
			Data: map[string]string{"kind": "access", "refused": "duration_too_long", "reason": reason}})
		return
	}
	g.requests++
	kind := "access"
	if p >= 995 {
		kind = "breakglass"
	}
	ev(t, audit.RequestCreated, subject, false, map[string]string{"kind": kind, "duration": dur.String(), "reason": reason,
		"approvals_needed": "1", "pending_until": t.Add(24 * time.Hour).Format(time.RFC3339)})
	decided := t.Add(time.Duration(20+g.rng.ExpFloat64()*600) * time.Second)
	switch {
	case p < 80: // denied
		ev(decided, audit.ReviewDenied, approver, false, map[string]string{"reason": "not during the freeze"})
		ev(decided, audit.RequestDenied, approver, false, map[string]string{"reason": "not during the freeze"})
		return
	case p < 110: // no decision in time, sometimes a refused click first
		if p < 95 {
			ev(decided, audit.ReviewRefused, subject, false, map[string]string{"decision": "approve", "refused": "self_approval"})
		}
		ev(t.Add(24*time.Hour), audit.RequestExpired, "accessbot", false, map[string]string{"pending_until": t.Add(24 * time.Hour).Format(time.RFC3339)})
		return
	case p < 130: // cancelled
		ev(decided, audit.RequestCancelled, subject, false, nil)
		return
	case p < 330: // auto-approved
		decided = t
		ev(t, audit.RequestApproved, "policy", false, map[string]string{"rule": `resource == "staging-db"`, "approvals": "auto"})
	case p >= 995: // break-glass
		decided = t
		ev(t, audit.BreakGlassUsed, subject, false, map[string]string{"duration": dur.String(), "reason": reason, "grant_id": gid})
		ev(t, audit.AlertRaised, subject, true, map[string]string{"alert": "breakglass", "message": subject + " used break-glass access to " + res})
		if p < 998 {
			ev(t.Add(10*time.Hour), audit.BreakGlassReviewed, approver, true, map[string]string{"note": "looked at the session"})
		}
	default:
		if p < 340 {
			ev(decided.Add(-time.Second), audit.ReviewRefused, "mallory@example.com", false, map[string]string{"decision": "approve", "refused": "not_approver"})
		}
		ev(decided, audit.ReviewApproved, approver, false, map[string]string{"approvals": "1/1"})
		ev(decided, audit.RequestApproved, approver, false, map[string]string{"approvals": "1/1"})
	}
	exp := decided.Add(dur)
	data := map[string]string{"account": subject[:7], "duration": dur.String(), "expires_at": exp.Format(time.RFC3339)}
	if kind == "breakglass" {
		data["breakglass"] = "true"
	}
	ev(decided, audit.GrantActivating, "accessbot", true, data)
	ev(decided.Add(40*time.Millisecond), audit.GrantActive, "accessbot", true, map[string]string{"attempts": "1", "expires_at": exp.Format(time.RFC3339)})
	if p%50 == 7 { // extended once
		by := time.Hour
		ev(exp.Add(-20*time.Minute), audit.GrantExtended, approver, true, map[string]string{"by": "1h",
			"expires_at": exp.Add(by).Format(time.RFC3339), "previous_expires_at": exp.Format(time.RFC3339)})
		exp = exp.Add(by)
	}
	if p%3 == 0 && dur > 20*time.Minute {
		ev(exp.Add(-10*time.Minute), audit.GrantWarned, "accessbot", true, map[string]string{"expires_at": exp.Format(time.RFC3339), "remaining": "10m"})
	}
	switch {
	case p%300 == 11: // revocation fails, an admin forces it
		ev(exp, audit.GrantRevoking, "accessbot", true, map[string]string{"expires_at": exp.Format(time.RFC3339)})
		ev(exp.Add(5*time.Second), audit.GrantRetry, "accessbot", true, map[string]string{"op": "revoke", "attempt": "1", "error": "connection refused"})
		ev(exp.Add(5*time.Minute), audit.GrantRevokeFailed, "accessbot", true, map[string]string{"error": "connection refused", "attempts": "8"})
		ev(exp.Add(5*time.Minute), audit.AlertRaised, "accessbot", true, map[string]string{"alert": "revoke_failed"})
		ev(exp.Add(3*time.Hour), audit.GrantRevoked, "admin@example.com", true, map[string]string{"forced": "true", "note": "removed by hand", "attempts": "20"})
	case p%10 == 3: // revoked early by the holder
		at := decided.Add(dur / 3)
		ev(at, audit.GrantRevoking, subject, true, map[string]string{"early": "true", "expires_at": exp.Format(time.RFC3339)})
		ev(at.Add(200*time.Millisecond), audit.GrantRevoked, "accessbot", true, map[string]string{"lateness_ms": "200", "attempts": "1"})
	default:
		late := time.Duration(100+g.rng.IntN(400)) * time.Millisecond
		if p%100 == 42 {
			late = time.Duration(2+g.rng.IntN(120)) * time.Second
		}
		ev(exp, audit.GrantRevoking, "accessbot", true, map[string]string{"expires_at": exp.Format(time.RFC3339)})
		ev(exp.Add(late), audit.GrantRevoked, "accessbot", true, map[string]string{"lateness_ms": strconv.FormatInt(late.Milliseconds(), 10), "attempts": "1"})
	}
}

type pendingEvent struct {
	e     audit.Event
	order int
}

// eventHeap orders pending events by time, then by the order they were made.
type eventHeap []pendingEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if c := h[i].e.At.Compare(h[j].e.At); c != 0 {
		return c < 0
	}
	return h[i].order < h[j].order
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(pendingEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
