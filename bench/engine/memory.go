package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// rss is a process's resident memory: VmRSS (the most seen over the samples) and VmHWM (the
// peak since it started), in kB, and at the largest VmRSS its parts: RssAnon (heap, stacks,
// written data) and RssFile (pages of the binary mapped in, which the page cache and the
// kernel's fault-around make vary from run to run).
type rss struct{ RSS, HWM, Anon, File int64 }

// memoryResult is one run of the memory benchmark.
type memoryResult struct {
	Grants int
	// Seed is the time to insert the grants (not part of the measure).
	Seed time.Duration
	// Baseline is a trivial Go HTTP server; Idle is serve on an empty database; Loaded is serve
	// with Grants active grants, after its first scheduler pass.
	Baseline, Idle, Loaded rss
}

// sampleRSS reads the process's memory 10 times over a second.
func sampleRSS(ctx context.Context, p *process) (rss, error) {
	var r rss
	for i := range 10 {
		st, err := procStatus(p.cmd.Process.Pid)
		if err != nil {
			return r, fmt.Errorf("read memory of %s: %w", p.name, err)
		}
		if st["VmRSS"] > r.RSS {
			r.RSS, r.Anon, r.File = st["VmRSS"], st["RssAnon"], st["RssFile"]
		}
		r.HWM = st["VmHWM"]
		if i < 9 {
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// runMemory measures the resident memory of the trivial HTTP server, of serve idle, and of
// serve over n active grants.
func runMemory(ctx context.Context, dir, bin, httpBin string, n int) (memoryResult, error) {
	res := memoryResult{Grants: n}
	var err error
	if res.Baseline, err = memBaseline(ctx, filepath.Join(dir, "httpserver"), httpBin); err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	if res.Idle, err = memServe(ctx, filepath.Join(dir, "idle"), bin, 0, nil); err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	res.Loaded, err = memServe(ctx, filepath.Join(dir, "loaded"), bin, n, &res.Seed)
	if err != nil {
		return res, fmt.Errorf("%d grants: %w", n, err)
	}
	return res, nil
}

func memBaseline(ctx context.Context, dir, httpBin string) (rss, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return rss{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return rss{}, err
	}
	p, err := start("httpserver", httpBin, []string{"-listen", addr}, dir, filepath.Join(dir, "httpserver.log"))
	if err != nil {
		return rss{}, err
	}
	defer p.stop()
	if err := waitReady(ctx, p, addr, 30*time.Second); err != nil {
		return rss{}, err
	}
	if _, _, err := get(ctx, addr, "/"); err != nil {
		return rss{}, err
	}
	r, err := sampleRSS(ctx, p)
	if err != nil {
		return r, err
	}
	return r, p.stop()
}

// memServe starts serve on a database with n active grants (none: a fresh database that serve
// creates) and measures it once it is ready and its first scheduler pass has run.
func memServe(ctx context.Context, dir, bin string, n int, seedTime *time.Duration) (rss, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return rss{}, err
	}
	dbPath := filepath.Join(dir, "accessbot.db")
	sentinel := 0
	if n > 0 {
		start := time.Now()
		if err := seedActive(ctx, dbPath, n); err != nil {
			return rss{}, fmt.Errorf("seed: %w", err)
		}
		*seedTime = time.Since(start)
		sentinel = 1
	}
	addr, err := freeAddr()
	if err != nil {
		return rss{}, err
	}
	cfg, err := writeConfig(dir, addr, dbPath)
	if err != nil {
		return rss{}, err
	}
	p, err := startServe(bin, cfg, dir)
	if err != nil {
		return rss{}, err
	}
	defer p.stop()
	if err := waitReady(ctx, p, addr, time.Minute); err != nil {
		return rss{}, err
	}
	// /metrics counts grants by state from the database. The one overdue grant among the
	// seeded ones shows revoked once the scheduler's start-up pass has run.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, body, err := get(ctx, addr, "/metrics")
		if err != nil || status != http.StatusOK {
			return rss{}, fmt.Errorf("GET /metrics: %d %v", status, err)
		}
		active, ok1 := metricValue(body, `accessbot_grants{state="active"}`)
		revoked, ok2 := metricValue(body, `accessbot_grants{state="revoked"}`)
		if !ok1 || !ok2 {
			return rss{}, fmt.Errorf("/metrics has no accessbot_grants by state")
		}
		if int(active) == n && int(revoked) == sentinel {
			break
		}
		if time.Now().After(deadline) {
			return rss{}, fmt.Errorf("after 2 minutes /metrics says %v active and %v revoked, want %d and %d", active, revoked, n, sentinel)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return rss{}, err
		}
	}
	r, err := sampleRSS(ctx, p)
	if err != nil {
		return r, err
	}
	return r, p.stop()
}

// seedActive inserts n active grants that expire in 8 hours, each with its approved request
// and the four audit events the Service and Scheduler would have written, 500 grants per
// transaction; plus one grant that is already overdue, whose revocation shows that serve's
// scheduler has made its first pass.
func seedActive(ctx context.Context, path string, n int) error {
	db, err := openStore(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const batch = 500
	for lo := 0; lo <= n; lo += batch {
		err := db.Update(ctx, func(tx grants.Tx) error {
			for i := lo; i < min(lo+batch, n+1); i++ {
				expires := now.Add(8 * time.Hour)
				if i == n {
					expires = now.Add(-time.Minute) // the sentinel
				}
				if err := insertActive(ctx, tx, i, now, expires); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// insertActive stores what an auto-approved request leaves once the scheduler has made the
// grant: the request, the active grant and their four events.
func insertActive(ctx context.Context, tx grants.Tx, i int, now, expires time.Time) error {
	a := actor(i)
	req := grants.Request{
		ID: fmt.Sprintf("r-seed%07d", i), Kind: grants.KindAccess, Resource: resourceName,
		Requester: a.ID, RequesterName: a.Name, Duration: expires.Sub(now), Reason: fmt.Sprintf("benchmark INC-%d", i),
		State: grants.RequestApproved, ApprovalsNeeded: 1, GrantID: fmt.Sprintf("g-seed%07d", i),
		CreatedAt: now, PendingUntil: now.Add(24 * time.Hour), DecidedAt: now, DecidedBy: grants.PolicyActor,
		Note: "auto-approved by rule: true", Version: 1,
	}
	g := grants.Grant{
		ID: req.GrantID, RequestID: req.ID, Resource: resourceName, Subject: a.ID,
		Account: a.Email[:6], Email: a.Email, State: grants.GrantActive, Reason: req.Reason,
		StartsAt: now, ExpiresAt: expires, LeaseData: map[string]string{"account": a.Email[:6]},
		CreatedAt: now, UpdatedAt: now, Version: 2,
	}
	if err := tx.InsertRequest(ctx, req); err != nil {
		return fmt.Errorf("insert request %s: %w", req.ID, err)
	}
	if err := tx.InsertGrant(ctx, g); err != nil {
		return fmt.Errorf("insert grant %s: %w", g.ID, err)
	}
	events := []audit.Event{
		{Type: audit.RequestCreated, Actor: a.ID, Data: map[string]string{"kind": "access", "duration": req.Duration.String(), "reason": req.Reason}},
		{Type: audit.RequestApproved, Actor: grants.PolicyActor, Data: map[string]string{"rule": "true", "approvals": "auto"}},
		{Type: audit.GrantActivating, Actor: grants.System.ID, GrantID: g.ID, Data: map[string]string{"account": g.Account, "expires_at": expires.Format(time.RFC3339)}},
		{Type: audit.GrantActive, Actor: grants.System.ID, GrantID: g.ID, Data: map[string]string{"attempts": "1", "expires_at": expires.Format(time.RFC3339)}},
	}
	for _, e := range events {
		e.At, e.Resource, e.Subject, e.RequestID = now, resourceName, a.ID, req.ID
		if _, err := tx.Append(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
