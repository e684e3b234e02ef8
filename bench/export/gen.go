package main

import (
	"container/heap"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	_ "modernc.org/sqlite"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/storage"
)

// sqliteParams are storage.openSQLite's defaults, for the writer that fills the database and
// the baselines that read it without the storage package.
const sqliteParams = "_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1"

// genStats says what the generated log holds.
type genStats struct {
	Events, Requests, Grants int
	Elapsed                  time.Duration
}

// fill creates a migrated database at path holding n audit events: the lives of requests and
// grants as accessbot writes them (types, actors, data keys), one request every 20 s, each
// grant lasting about an hour, so that a few hundred are open at any time and their events
// interleave. The rows are sealed by audit.Seal and stored by plain INSERTs in large
// transactions (not through storage's Append, which would take minutes); the chain and the
// head are real.
func fill(ctx context.Context, path string, n int) (genStats, error) {
	start := time.Now()
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: path})
	if err != nil {
		return genStats{}, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return genStats{}, err
	}
	db.Close()

	raw, err := sql.Open("sqlite", path+"?"+sqliteParams+"&_txlock=immediate")
	if err != nil {
		return genStats{}, err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	var (
		head  = audit.EmptyHead()
		tx    *sql.Tx
		stmt  *sql.Stmt
		batch int
	)
	flush := func() error {
		if tx == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, head.Seq, head.Hash); err != nil {
			return err
		}
		err := tx.Commit()
		tx, stmt, batch = nil, nil, 0
		return err
	}
	g := newGenerator(1)
	for int(head.Seq) < n {
		e := g.next()
		if tx == nil {
			if tx, err = raw.BeginTx(ctx, nil); err != nil {
				return genStats{}, err
			}
			if stmt, err = tx.PrepareContext(ctx, `INSERT INTO audit_events (seq, at, type, actor, resource, subject,
				request_id, grant_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
				return genStats{}, err
			}
		}
		e = audit.Seal(head, e)
		head = audit.Head{Seq: e.Seq, Hash: e.Hash}
		data := "{}"
		if len(e.Data) > 0 {
			b, err := json.Marshal(e.Data)
			if err != nil {
				return genStats{}, err
			}
			data = string(b)
		}
		if _, err := stmt.ExecContext(ctx, e.Seq, e.At.UnixMicro(), e.Type, e.Actor, e.Resource, e.Subject,
			e.RequestID, e.GrantID, data, e.PrevHash, e.Hash); err != nil {
			return genStats{}, fmt.Errorf("insert event %d: %w", e.Seq, err)
		}
		if batch++; batch == 20_000 {
			if err := flush(); err != nil {
				return genStats{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return genStats{}, err
	}
	if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return genStats{}, err
	}
	return genStats{Events: n, Requests: g.requests, Grants: g.grants, Elapsed: time.Since(start)}, nil
}

// generator makes the events of many overlapping request lives, in time order.
type generator struct {
	rng      *rand.Rand
	now      time.Time
	i        int
	pending  eventHeap
	order    int
	requests int
	grants   int
}

func newGenerator(seed uint64) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, 42)), now: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)}
}

// next returns the next event in time order.
func (g *generator) next() audit.Event {
	for len(g.pending) == 0 || g.pending[0].e.At.After(g.now) {
		g.request()
		g.now = g.now.Add(20 * time.Second)
	}
	return heap.Pop(&g.pending).(pendingEvent).e
}

func (g *generator) push(e audit.Event) {
	g.order++
	heap.Push(&g.pending, pendingEvent{e: e, order: g.order})
}

var resources = []string{"prod-db", "prod-ssh", "billing-db", "k8s-prod", "vpn", "redis-cache", "ldap-admins", "analytics"}

// request starts the i-th request's life at g.now and queues all its events.
func (g *generator) request() {
	g.i++
	i, t := g.i, g.now
	if i%1000 == 1 {
		g.push(audit.Event{At: t, Type: audit.ConfigLoaded, Actor: "accessbot", Data: map[string]string{
			"config_sha256": fmt.Sprintf("%064x", i/5000), "resources": "8", "version": "v1.4.0"}})
	}
	if i%500 == 0 {
		g.push(audit.Event{At: t, Type: audit.ScanCompleted, Actor: "accessbot", Data: map[string]string{
			"resources": "prod-db,k8s-prod,ldap-admins", "findings": "0", "errors": "0"}})
	}
	subject := fmt.Sprintf("user%03d@example.com", g.rng.IntN(300))
	approver := fmt.Sprintf("lead%02d@example.com", g.rng.IntN(20))
	res := resources[g.rng.IntN(len(resources))]
	rid, gid := fmt.Sprintf("r-%08d", i), fmt.Sprintf("g-%08d", i)
	dur := time.Duration(30+g.rng.IntN(90)) * time.Minute
	reason := "INC-" + strconv.Itoa(10000+i) + " investigating the nightly job failure on " + res
	ev := func(at time.Time, typ, actor string, grant bool, data map[string]string) {
		e := audit.Event{At: at, Type: typ, Actor: actor, Resource: res, Subject: subject, RequestID: rid, Data: data}
		if grant {
			e.GrantID = gid
		}
		g.push(e)
	}
	p := g.rng.IntN(100)
	if p < 2 { // refused by the policy: one event, no request
		g.push(audit.Event{At: t, Type: audit.RequestRefused, Actor: subject, Resource: res, Subject: subject,
			Data: map[string]string{"kind": "access", "refused": "duration_too_long", "reason": reason, "duration": "12h"}})
		return
	}
	g.requests++
	kind := "access"
	if p >= 99 {
		kind = "breakglass"
	}
	ev(t, audit.RequestCreated, subject, false, map[string]string{"kind": kind, "duration": dur.String(), "reason": reason,
		"approvals_needed": "1", "pending_until": t.Add(time.Hour).Format(time.RFC3339)})
	decided := t.Add(time.Duration(1+g.rng.IntN(300)) * time.Second)
	switch {
	case p < 8: // denied
		ev(decided, audit.ReviewDenied, approver, false, map[string]string{"reason": "not during the freeze"})
		ev(decided, audit.RequestDenied, approver, false, map[string]string{"reason": "not during the freeze"})
		return
	case p < 11: // no decision in time
		if p == 10 {
			ev(decided, audit.ReviewRefused, subject, false, map[string]string{"decision": "approve", "refused": "self_approval"})
		}
		ev(t.Add(time.Hour), audit.RequestExpired, "accessbot", false, map[string]string{"pending_until": t.Add(time.Hour).Format(time.RFC3339)})
		return
	case p < 31: // auto-approved
		decided = t
		ev(t, audit.RequestApproved, "policy", false, map[string]string{"rule": `resource == "analytics"`, "approvals": "auto"})
	case p >= 99: // break-glass
		decided = t
		ev(t, audit.BreakGlassUsed, subject, false, map[string]string{"duration": dur.String(), "reason": reason, "grant_id": gid})
		ev(t, audit.AlertRaised, subject, true, map[string]string{"alert": "breakglass", "message": subject + " used break-glass access to " + res})
	default:
		ev(decided, audit.ReviewApproved, approver, false, map[string]string{"approvals": "1/1"})
		ev(decided, audit.RequestApproved, approver, false, map[string]string{"approvals": "1/1"})
	}
	g.grants++
	expires := decided.Add(dur)
	ev(decided, audit.GrantActivating, "accessbot", true, map[string]string{"account": subject[:7], "duration": dur.String(),
		"expires_at": expires.Format(time.RFC3339)})
	active := decided.Add(time.Duration(20+g.rng.IntN(400)) * time.Millisecond)
	ev(active, audit.GrantActive, "accessbot", true, map[string]string{"attempts": "1", "expires_at": expires.Format(time.RFC3339)})
	if kind == "breakglass" {
		ev(active.Add(20*time.Minute), audit.BreakGlassReviewed, approver, true, map[string]string{"note": "checked the incident"})
	}
	end := expires
	if p >= 31 && p < 40 { // revoked early by the holder
		end = active.Add(dur / 3)
		ev(end, audit.GrantRevoking, subject, true, map[string]string{"early": "true", "expires_at": expires.Format(time.RFC3339)})
	} else {
		ev(expires.Add(-10*time.Minute), audit.GrantWarned, "accessbot", true, map[string]string{
			"expires_at": expires.Format(time.RFC3339), "remaining": "10m"})
		ev(expires, audit.GrantRevoking, "accessbot", true, map[string]string{"expires_at": expires.Format(time.RFC3339)})
	}
	ev(end.Add(80*time.Millisecond), audit.GrantRevoked, "accessbot", true, map[string]string{"lateness_ms": "80", "attempts": "1"})
}

type pendingEvent struct {
	e     audit.Event
	order int
}

// eventHeap orders events by time, then by when they were queued (a request's events that
// share a time stay in their order).
type eventHeap []pendingEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].e.At.Equal(h[j].e.At) {
		return h[i].e.At.Before(h[j].e.At)
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
