package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// recoveryResult is one run of the recovery benchmark.
type recoveryResult struct {
	N int
	// Seed is the time to make and activate the overdue grants (not part of the measure).
	Seed time.Duration
	// Ready is from starting `accessbot serve` to /readyz answering 200; Recovered to the
	// database holding no grant that is activating, active, revoking or revoke_failed.
	Ready, Recovered time.Duration
	// Floor is the baseline: N single-row UPDATE + audit append transactions, one after the
	// other, through storage.Update.
	Floor time.Duration
}

// seedOverdue makes n grants that are overdue now: through the Service with a clock set 2 h
// ago, 1 h each, activated by Scheduler.RunDue at that time.
func seedOverdue(ctx context.Context, path string, n int) error {
	db, err := openStore(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	past := clock.NewFake(time.Now().Add(-2 * time.Hour))
	rec := newRecorder(n)
	svc, err := newService(db, past, zerolog.Nop(), rec)
	if err != nil {
		return err
	}
	expires := past.Now().Add(time.Hour)
	if err := requestGrants(ctx, svc, past, n, func(int) time.Time { return expires }); err != nil {
		return err
	}
	if _, err := grants.NewScheduler(svc, grants.SchedulerOptions{}).RunDue(ctx); err != nil {
		return fmt.Errorf("activate overdue grants: %w", err)
	}
	c, err := countGrants(ctx, db)
	if err != nil {
		return err
	}
	if c[grants.GrantActive] != n {
		return fmt.Errorf("seeded %d active grants, want %d (%v)", c[grants.GrantActive], n, c)
	}
	return nil
}

// runRecovery starts the built binary on a database holding n overdue grants and measures how
// long until every one is revoked; then the floor on a copy of the same database.
func runRecovery(ctx context.Context, dir, bin string, n int) (recoveryResult, error) {
	res := recoveryResult{N: n}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	dbPath := filepath.Join(dir, "accessbot.db")
	floorPath := filepath.Join(dir, "floor.db")
	start := time.Now()
	if err := seedOverdue(ctx, dbPath, n); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	res.Seed = time.Since(start)
	if err := copyDB(dbPath, floorPath); err != nil {
		return res, fmt.Errorf("copy database: %w", err)
	}

	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	cfg, err := writeConfig(dir, addr, dbPath)
	if err != nil {
		return res, err
	}
	// The poller opens the database before serve starts, so that opening costs serve nothing.
	poll, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: dbPath, MaxOpenConns: 1})
	if err != nil {
		return res, err
	}
	defer poll.Close()

	start = time.Now()
	p, err := startServe(bin, cfg, dir)
	if err != nil {
		return res, err
	}
	defer p.stop()
	ready := false
	deadline := start.Add(5 * time.Minute)
	for {
		if !ready {
			if status, _, err := get(ctx, addr, "/readyz"); err == nil && status == http.StatusOK {
				res.Ready = time.Since(start)
				ready = true
			}
		}
		c, err := countGrants(ctx, poll)
		if err != nil {
			return res, fmt.Errorf("poll the database: %w", err)
		}
		if unfinished(c) == 0 {
			res.Recovered = time.Since(start)
			if c[grants.GrantRevoked] != n {
				return res, fmt.Errorf("after recovery %d grants are revoked, want %d (%v)", c[grants.GrantRevoked], n, c)
			}
			break
		}
		if p.exited() {
			return res, fmt.Errorf("serve exited during recovery: %v", p.exitErr())
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d grants still not revoked after 5 minutes (%v)", unfinished(c), c)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return res, err
		}
	}
	if err := p.stop(); err != nil {
		return res, err
	}

	res.Floor, err = floor(ctx, floorPath, n)
	return res, err
}

// startServe starts `accessbot serve` with cfg.
func startServe(bin, cfg, dir string) (*process, error) {
	return start("accessbot serve", bin, []string{"serve", "--config", cfg}, dir, filepath.Join(dir, "serve.log"))
}

// floor revokes the n overdue grants of the database at path the cheapest correct way: for each,
// one transaction that reads the row, updates it by compare-and-swap and appends its audit
// event, one after the other. Revocation cannot write less per grant.
func floor(ctx context.Context, path string, n int) (time.Duration, error) {
	db, err := openStore(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	due, err := dueIDs(ctx, db)
	if err != nil {
		return 0, err
	}
	if len(due) != n {
		return 0, fmt.Errorf("floor: %d overdue grants, want %d", len(due), n)
	}
	start := time.Now()
	for _, id := range due {
		if err := revokeOne(ctx, db, id); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func dueIDs(ctx context.Context, db *storage.DB) ([]string, error) {
	var ids []string
	err := db.View(ctx, func(tx grants.ReadTx) error {
		list, err := tx.Grants(ctx, grants.GrantFilter{States: []grants.GrantState{grants.GrantActive}})
		for _, g := range list {
			ids = append(ids, g.ID)
		}
		return err
	})
	return ids, err
}

// revokeOne is one floor transaction.
func revokeOne(ctx context.Context, db *storage.DB, id string) error {
	return db.Update(ctx, func(tx grants.Tx) error {
		g, err := tx.Grant(ctx, id)
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		lateness := now.Sub(g.ExpiresAt)
		g.State = grants.GrantRevoked
		g.RevokedAt, g.RevokedBy, g.UpdatedAt = now, grants.System.ID, now
		g.LeaseData, g.NextAttemptAt = nil, time.Time{}
		if _, err := tx.UpdateGrant(ctx, g); err != nil {
			return fmt.Errorf("revoke grant %s: %w", id, err)
		}
		_, err = tx.Append(ctx, audit.Event{
			At: now, Type: audit.GrantRevoked, Actor: grants.System.ID, Resource: g.Resource,
			Subject: g.Subject, RequestID: g.RequestID, GrantID: g.ID,
			Data: map[string]string{"lateness_ms": strconv.FormatInt(lateness.Milliseconds(), 10), "attempts": "1"},
		})
		return err
	})
}
