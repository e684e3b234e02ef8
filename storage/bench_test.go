package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

func benchDB(b *testing.B) *DB {
	b.Helper()
	ctx := context.Background()
	db, err := Open(ctx, Options{Driver: SQLite, DSN: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkAppend measures state changes with their audit event per second on SQLite: one
// Update that changes a grant (compare-and-swap) and appends its event, as a revocation does.
func BenchmarkAppend(b *testing.B) {
	db := benchDB(b)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx grants.Tx) error {
		if err := tx.InsertRequest(ctx, sampleRequest("r1")); err != nil {
			return err
		}
		return tx.InsertGrant(ctx, sampleGrant("g1", "r1"))
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := db.Update(ctx, func(tx grants.Tx) error {
			g, err := tx.Grant(ctx, "g1")
			if err != nil {
				return err
			}
			g.Attempts = i
			if _, err := tx.UpdateGrant(ctx, g); err != nil {
				return err
			}
			_, err = tx.Append(ctx, audit.Event{At: base, Type: audit.GrantRevoked, Actor: "accessbot",
				Resource: g.Resource, Subject: g.Subject, GrantID: g.ID, RequestID: g.RequestID,
				Data: map[string]string{"attempt": strconv.Itoa(i)}})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkVerify verifies a log of ACCESSBOT_BENCH_EVENTS events (default 1,000,000; 10,000
// with -short) on SQLite. The target is 1,000,000 in at most 3 s on 2 cores.
func BenchmarkVerify(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	if s := os.Getenv("ACCESSBOT_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("ACCESSBOT_BENCH_EVENTS=%q: %v", s, err)
		}
	}
	db := benchDB(b)
	start := time.Now()
	head, err := insertSealed(context.Background(), db, n)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d events in %s", n, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for b.Loop() {
		rep, err := audit.Verify(context.Background(), db, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Intact() || rep.Head != head {
			b.Fatalf("verify: %+v", rep)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// insertSealed fills the log with n sealed events in one transaction, many rows per statement:
// far faster than n Updates, and the same rows.
func insertSealed(ctx context.Context, db *DB, n int) (audit.Head, error) {
	const perStmt = 500
	head := audit.EmptyHead()
	tx, err := db.write.BeginTxx(ctx, nil)
	if err != nil {
		return head, err
	}
	defer tx.Rollback()
	stmtSQL := insertEvent + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", perStmt-1)
	stmt, err := tx.PreparexContext(ctx, tx.Rebind(stmtSQL))
	if err != nil {
		return head, err
	}
	defer stmt.Close()
	args := make([]any, 0, perStmt*11)
	types := []string{audit.RequestCreated, audit.RequestApproved, audit.GrantActive, audit.GrantRevoked}
	for i := 1; i <= n; i++ {
		e := audit.Seal(head, audit.Event{
			At:        base.Add(time.Duration(i) * time.Second),
			Type:      types[i%len(types)],
			Actor:     fmt.Sprintf("user%d@example.com", i%50),
			Resource:  fmt.Sprintf("resource-%d", i%20),
			Subject:   fmt.Sprintf("user%d@example.com", i%50),
			RequestID: fmt.Sprintf("req-%08d", i/4),
			GrantID:   fmt.Sprintf("grant-%08d", i/4),
			Data:      map[string]string{"reason": "INC-" + strconv.Itoa(i), "duration": "1h"},
		})
		head = audit.Head{Seq: e.Seq, Hash: e.Hash}
		data, err := encodeMap(e.Data)
		if err != nil {
			return head, err
		}
		args = append(args, e.Seq, micros(e.At), e.Type, e.Actor, e.Resource, e.Subject, e.RequestID,
			e.GrantID, data, e.PrevHash, e.Hash)
		if len(args) == cap(args) {
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return head, err
			}
			args = args[:0]
		}
	}
	for len(args) > 0 {
		// The remainder, one row per statement.
		if _, err := tx.ExecContext(ctx, tx.Rebind(insertEvent), args[:11]...); err != nil {
			return head, err
		}
		args = args[11:]
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`), head.Seq, head.Hash); err != nil {
		return head, err
	}
	return head, tx.Commit()
}

// BenchmarkScanAudit measures reading the log alone, the part of Verify that is not hashing.
func BenchmarkScanAudit(b *testing.B) {
	n := 200_000
	db := benchDB(b)
	if _, err := insertSealed(context.Background(), db, n); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		count := 0
		if err := db.ScanAudit(context.Background(), audit.Filter{}, func(audit.Event) error { count++; return nil }); err != nil || count != n {
			b.Fatal(count, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchEvent is the i-th event of the append benchmarks: one grant revocation's worth of data.
func benchEvent(i int) audit.Event {
	return audit.Event{At: base.Add(time.Duration(i) * time.Millisecond), Type: audit.GrantRevoked, Actor: "accessbot",
		Resource: "prod-db", Subject: "alice@example.com", GrantID: fmt.Sprintf("g-%08d", i/4),
		RequestID: fmt.Sprintf("r-%08d", i/4), Data: map[string]string{"lateness_ms": "3", "attempts": strconv.Itoa(i % 3)}}
}

// BenchmarkAppendEvent measures audit events appended through Update, perTx to a transaction:
// read the head, seal, insert, move the head. Compare with BenchmarkInsertEventPlain.
func BenchmarkAppendEvent(b *testing.B) {
	for _, perTx := range []int{1, 200} {
		b.Run(fmt.Sprintf("perTx=%d", perTx), func(b *testing.B) {
			db := benchDB(b)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				err := db.Update(ctx, func(tx grants.Tx) error {
					for range perTx {
						i++
						if _, err := tx.Append(ctx, benchEvent(i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkInsertEventPlain is the baseline of BenchmarkAppendEvent: the same rows, sealed
// before the timer starts, stored by a plain INSERT on the same writer connection, without the
// chain (no head read, no hashing, no head update).
func BenchmarkInsertEventPlain(b *testing.B) {
	for _, perTx := range []int{1, 200} {
		b.Run(fmt.Sprintf("perTx=%d", perTx), func(b *testing.B) {
			db := benchDB(b)
			ctx := context.Background()
			stmt, err := db.write.PreparexContext(ctx, db.write.Rebind(insertEvent))
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			head := audit.EmptyHead()
			rows := make([][]any, b.N*perTx)
			for i := range rows {
				e := audit.Seal(head, benchEvent(i+1))
				head = audit.Head{Seq: e.Seq, Hash: e.Hash}
				data, err := encodeMap(e.Data)
				if err != nil {
					b.Fatal(err)
				}
				rows[i] = []any{e.Seq, micros(e.At), e.Type, e.Actor, e.Resource, e.Subject, e.RequestID,
					e.GrantID, data, e.PrevHash, e.Hash}
			}
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				tx, err := db.write.BeginTxx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				txStmt := tx.StmtxContext(ctx, stmt)
				for _, args := range rows[n*perTx : (n+1)*perTx] {
					if _, err := txStmt.ExecContext(ctx, args...); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkUpdateGrantRevoke measures the revocation write of recovery on SQLite, over 10,000
// grants (each index as deep as recovery's): one transaction reads a grant, moves it to
// revoked, and writes it back. "changed columns" is UpdateGrant as it is; "every column" drops
// the transaction's snapshot first, so the UPDATE sets all 21 columns, as UpdateGrant did
// before it wrote only what changed. Run both in one go for a same-run ratio:
//
//	go test ./storage -run '^$' -bench UpdateGrantRevoke -count 5
func BenchmarkUpdateGrantRevoke(b *testing.B) {
	const n = 10_000
	for _, tc := range []struct {
		name  string
		whole bool
	}{{"changed columns", false}, {"every column", true}} {
		b.Run(tc.name, func(b *testing.B) {
			db := benchDB(b)
			ctx := context.Background()
			if err := db.Update(ctx, func(tx grants.Tx) error {
				for i := range n {
					id := fmt.Sprintf("g%05d", i)
					if err := tx.InsertRequest(ctx, sampleRequest("r"+id)); err != nil {
						return err
					}
					g := sampleGrant(id, "r"+id)
					g.State, g.LeaseData = grants.GrantActive, map[string]string{"role": "reader"}
					if err := tx.InsertGrant(ctx, g); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("g%05d", i%n)
				err := db.Update(ctx, func(gt grants.Tx) error {
					g, err := gt.Grant(ctx, id)
					if err != nil {
						return err
					}
					if tc.whole {
						delete(gt.(*tx).read, id)
					}
					now := base.Add(time.Duration(i) * time.Millisecond)
					if g.State == grants.GrantActive {
						g.State, g.RevokedAt, g.RevokedBy, g.LeaseData = grants.GrantRevoked, now, "accessbot", nil
					} else {
						g.State, g.RevokedAt, g.RevokedBy, g.LeaseData = grants.GrantActive, time.Time{}, "", map[string]string{"role": "reader"}
					}
					g.NextAttemptAt, g.UpdatedAt = time.Time{}, now
					_, err = gt.UpdateGrant(ctx, g)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}
