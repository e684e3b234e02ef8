package storage

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/translog"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// benchEvents is ACCESSBOT_BENCH_EVENTS, else def (small with -short).
func benchEvents(b *testing.B, def int) int {
	if s := os.Getenv("ACCESSBOT_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("ACCESSBOT_BENCH_EVENTS=%q: %v", s, err)
		}
		return n
	}
	if testing.Short() {
		return 10_000
	}
	return def
}

// benchLog fills a SQLite log with n events and builds its tree as a migrated database's
// first start would (SyncAuditTree), logging how long each took.
func benchLog(b *testing.B, n int) (*DB, transparency) {
	b.Helper()
	ctx := context.Background()
	db := benchDB(b)
	start := time.Now()
	if _, err := insertSealed(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d events in %s", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if added, err := db.SyncAuditTree(ctx); err != nil || added != int64(n) {
		b.Fatalf("SyncAuditTree = %d, %v", added, err)
	}
	b.Logf("built the tree of %d events (SyncAuditTree) in %s", n, time.Since(start).Round(time.Millisecond))
	if fi, err := os.Stat(db.path(b)); err == nil {
		b.Logf("database file %d MB", fi.Size()>>20)
	}
	skey, vkey, err := translog.GenerateKey("accessbot.example.com/audit")
	if err != nil {
		b.Fatal(err)
	}
	l, err := translog.NewLog(db, skey, clock.Real{})
	if err != nil {
		b.Fatal(err)
	}
	return db, transparency{log: l, vkey: vkey}
}

// path returns the SQLite file's name, for its size.
func (db *DB) path(b *testing.B) string {
	var seq int
	var name, file string
	if err := db.read.QueryRowx(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		b.Fatal(err)
	}
	return file
}

// BenchmarkCheckpointAndProof signs a checkpoint of a log of ACCESSBOT_BENCH_EVENTS events
// (default 1,000,000) and proves event 1 against it, and checks the proof: what
// `audit prove --seq 1` and `audit check` do.
//
//	ACCESSBOT_BENCH_EVENTS=10000000 go test ./storage -run '^$' -bench CheckpointAndProof -benchtime 200x
func BenchmarkCheckpointAndProof(b *testing.B) {
	n := benchEvents(b, 1_000_000)
	_, tl := benchLog(b, n)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		p, err := tl.log.ProveLatest(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := translog.Check(p, tl.vkey); err != nil {
			b.Fatal(err)
		}
		if p.TreeSize != uint64(n) {
			b.Fatalf("tree size %d", p.TreeSize)
		}
	}
}

// BenchmarkVerifySince appends 1,000 events after a checkpoint of a log of
// ACCESSBOT_BENCH_EVENTS events (default 1,000,000), then verifies the log since the checkpoint
// and, in the same run, the whole log against the checkpoint (VerifyAll) and the whole chain as
// `audit verify` does (audit.Verify).
//
//	go test ./storage -run '^$' -bench VerifySince -benchtime 5x
func BenchmarkVerifySince(b *testing.B) {
	n := benchEvents(b, 1_000_000)
	db, tl := benchLog(b, n)
	ctx := context.Background()
	ck, err := tl.log.Checkpoint(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(ctx, func(tx grants.Tx) error {
		for i := range 1000 {
			if _, err := tx.Append(ctx, benchEvent(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Run("since", func(b *testing.B) {
		for b.Loop() {
			rep, err := translog.VerifySince(ctx, db, ck.Note, tl.vkey)
			if err != nil || rep.Events != 1000 {
				b.Fatalf("VerifySince = %+v, %v", rep, err)
			}
		}
	})
	b.Run("all", func(b *testing.B) {
		// translog.VerifyAll: every event's chain hash and leaf, against the checkpoint's root.
		for b.Loop() {
			rep, err := translog.VerifyAll(ctx, db, ck.Note, tl.vkey)
			if err != nil || rep.Events != int64(n+1000) {
				b.Fatalf("VerifyAll = %+v, %v", rep, err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			rep, err := audit.Verify(ctx, db, nil)
			if err != nil || !rep.Intact() || rep.Events != int64(n+1000) {
				b.Fatalf("Verify = %+v, %v", rep, err)
			}
		}
	})
}

// BenchmarkAppendTree measures audit appends with the tree kept (as always from 0014 on) and
// with it left behind (tree_size never equal to the head: Append skips it), in one run.
//
//	go test ./storage -run '^$' -bench AppendTree -count 3
func BenchmarkAppendTree(b *testing.B) {
	for _, tree := range []bool{true, false, true, false} {
		for _, perTx := range []int{1, 200} {
			name := "tree=off"
			if tree {
				name = "tree=on"
			}
			b.Run(name+"/perTx="+strconv.Itoa(perTx), func(b *testing.B) {
				db := benchDB(b)
				ctx := context.Background()
				if !tree {
					if _, err := db.write.ExecContext(ctx, `UPDATE audit_head SET tree_size = -1`); err != nil {
						b.Fatal(err)
					}
				}
				i := 0
				for b.Loop() {
					if err := db.Update(ctx, func(tx grants.Tx) error {
						for range perTx {
							i++
							if _, err := tx.Append(ctx, benchEvent(i)); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
