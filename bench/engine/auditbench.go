package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/storage"
)

// auditBatch is how many events one batched transaction appends: the scheduler's batch, which
// is where accessbot appends many events in one transaction.
const auditBatch = 200

// auditResult is one run of the audit benchmarks. Rates are events per second.
type auditResult struct {
	SingleN                 int
	Single, SinglePlain     float64
	BatchN                  int
	Batched, BatchedPlain   float64
	VerifyN                 int
	VerifyCLI, VerifyInProc time.Duration
	ScanRaw, ScanStorage    time.Duration
}

// benchEvent is the i-th event of the benchmarks' log: a grant's life, about 20 resources and
// 50 people, like storage's BenchmarkVerify.
func benchEvent(i int) audit.Event {
	types := []string{audit.RequestCreated, audit.RequestApproved, audit.GrantActive, audit.GrantRevoked}
	return audit.Event{
		At:        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Type:      types[i%len(types)],
		Actor:     fmt.Sprintf("user%d@example.com", i%50),
		Resource:  fmt.Sprintf("resource-%d", i%20),
		Subject:   fmt.Sprintf("user%d@example.com", i%50),
		RequestID: fmt.Sprintf("r-%08d", i/4),
		GrantID:   fmt.Sprintf("g-%08d", i/4),
		Data:      map[string]string{"reason": "INC-" + strconv.Itoa(i), "duration": "1h"},
	}
}

// appendEvents appends events 1..n through storage.Update, per events to a transaction, and
// returns the rate.
func appendEvents(ctx context.Context, db *storage.DB, n, per int) (float64, error) {
	start := time.Now()
	for lo := 1; lo <= n; lo += per {
		err := db.Update(ctx, func(tx grants.Tx) error {
			for i := lo; i < min(lo+per, n+1); i++ {
				if _, err := tx.Append(ctx, benchEvent(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("append events from %d: %w", lo, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// openRaw opens a SQLite file with storage's settings but without storage: the baselines'
// connection. write takes the write lock at BEGIN, as storage's writer does.
func openRaw(path string, write bool) (*sql.DB, error) {
	dsn := path + "?" + sqliteParams
	if write {
		dsn += "&_txlock=immediate"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, db.Ping()
}

const insertEventSQL = `INSERT INTO audit_events (seq, at, type, actor, resource, subject, request_id,
	grant_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertPlain is the baseline of appendEvents: the same rows, hashes included, computed before
// the clock runs, each stored by a plain INSERT: no head to read, no hash to compute, no head
// to move. The rows are sealed a transaction's worth at a time, with the clock stopped.
func insertPlain(ctx context.Context, path string, n, per int) (float64, error) {
	db, err := openRaw(path, true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	stmt, err := db.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	head := audit.EmptyHead()
	rows := make([][]any, 0, per)
	var elapsed time.Duration
	for lo := 1; lo <= n; lo += per {
		rows = rows[:0]
		for i := lo; i < min(lo+per, n+1); i++ {
			e := audit.Seal(head, benchEvent(i))
			head = audit.Head{Seq: e.Seq, Hash: e.Hash}
			data, err := json.Marshal(e.Data)
			if err != nil {
				return 0, err
			}
			rows = append(rows, []any{e.Seq, e.At.UnixMicro(), e.Type, e.Actor, e.Resource, e.Subject,
				e.RequestID, e.GrantID, string(data), e.PrevHash, e.Hash})
		}
		start := time.Now()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		txStmt := tx.StmtContext(ctx, stmt)
		for _, args := range rows {
			if _, err := txStmt.ExecContext(ctx, args...); err != nil {
				tx.Rollback()
				return 0, fmt.Errorf("insert event %v: %w", args[0], err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		elapsed += time.Since(start)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// emptyDB creates a migrated, empty database at path and closes it.
func emptyDB(ctx context.Context, path string) error {
	db, err := openStore(ctx, path)
	if err != nil {
		return err
	}
	return db.Close()
}

// scanRaw reads every row of the log with a plain SELECT and nothing else: the baseline of
// Verify, which reads the same rows and hashes them.
func scanRaw(ctx context.Context, path string) (int, error) {
	db, err := openRaw(path, false)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT seq, at, type, actor, resource, subject, request_id, grant_id,
		data, prev_hash, hash FROM audit_events ORDER BY seq`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		seq, at                                                    int64
		typ, actor, resource, subject, reqID, grantID, data, ph, h string
		n                                                          int
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &at, &typ, &actor, &resource, &subject, &reqID, &grantID, &data, &ph, &h); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// median runs f runs times and returns its median duration.
func median(runs int, f func() error) (time.Duration, error) {
	var ds []time.Duration
	for range runs {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

// runAudit measures appends (one event per transaction, and auditBatch per transaction) against
// plain INSERTs of the same rows, then `audit verify` over the verifyN events the batched
// appends wrote against a plain scan of the same rows.
func runAudit(ctx context.Context, dir, bin string, singleN, verifyN int) (auditResult, error) {
	res := auditResult{SingleN: singleN, BatchN: verifyN, VerifyN: verifyN}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	// One event per transaction.
	db, err := openStore(ctx, path("single.db"))
	if err != nil {
		return res, err
	}
	res.Single, err = appendEvents(ctx, db, singleN, 1)
	db.Close()
	if err != nil {
		return res, err
	}
	if err := emptyDB(ctx, path("single-plain.db")); err != nil {
		return res, err
	}
	if res.SinglePlain, err = insertPlain(ctx, path("single-plain.db"), singleN, 1); err != nil {
		return res, err
	}

	// auditBatch events per transaction; the appended log is then verified.
	logPath := path("log.db")
	if db, err = openStore(ctx, logPath); err != nil {
		return res, err
	}
	res.Batched, err = appendEvents(ctx, db, verifyN, auditBatch)
	// Closing checkpoints the WAL into the file: every reader below reads the same file.
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	if err := emptyDB(ctx, path("batch-plain.db")); err != nil {
		return res, err
	}
	if res.BatchedPlain, err = insertPlain(ctx, path("batch-plain.db"), verifyN, auditBatch); err != nil {
		return res, err
	}
	// The plain copy is as big as the log: remove it before reading the log.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path("batch-plain.db") + suffix)
	}

	const runs = 3
	res.ScanRaw, err = median(runs, func() error {
		n, err := scanRaw(ctx, logPath)
		if err == nil && n != verifyN {
			err = fmt.Errorf("scan read %d rows, want %d", n, verifyN)
		}
		return err
	})
	if err != nil {
		return res, err
	}
	if db, err = openStore(ctx, logPath); err != nil {
		return res, err
	}
	runtime.GC() // the garbage of a million appends is not the verifier's to collect
	res.VerifyInProc, err = median(runs, func() error {
		rep, err := audit.Verify(ctx, db, nil)
		if err == nil && (!rep.Intact() || rep.Events != int64(verifyN)) {
			err = fmt.Errorf("verify: %+v", rep)
		}
		return err
	})
	if err != nil {
		db.Close()
		return res, err
	}
	res.ScanStorage, err = median(runs, func() error {
		n := 0
		err := db.ScanAudit(ctx, audit.Filter{}, func(audit.Event) error { n++; return nil })
		if err == nil && n != verifyN {
			err = fmt.Errorf("ScanAudit read %d events, want %d", n, verifyN)
		}
		return err
	})
	db.Close()
	if err != nil {
		return res, err
	}

	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	cfg, err := writeConfig(dir, addr, logPath)
	if err != nil {
		return res, err
	}
	want := fmt.Sprintf("audit log intact: %d events", verifyN)
	res.VerifyCLI, err = median(runs, func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, "audit", "verify", "--config", cfg)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			return fmt.Errorf("accessbot audit verify: %v\n%s", err, out)
		}
		return nil
	})
	return res, err
}
