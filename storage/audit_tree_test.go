package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/translog"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// rootOf computes the RFC 6962 root of events from scratch, without the stored tree.
func rootOf(t *testing.T, events []audit.Event) []byte {
	t.Helper()
	r := treeHashes.NewEmptyRange(0)
	for _, e := range events {
		if err := r.Append(audit.LeafHash(e), nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(events) == 0 {
		empty := sha256.Sum256(nil)
		return empty[:]
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// checkTree asserts that the stored tree covers every event and gives, for every size up to
// the log's, the root computed from the events themselves.
func checkTree(t *testing.T, db *DB) {
	t.Helper()
	ctx := testCtx(t)
	events := scanAll(t, db, audit.Filter{})
	size, err := db.AuditTreeSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if size != uint64(len(events)) {
		t.Fatalf("tree size %d, log %d events", size, len(events))
	}
	for n := 0; n <= len(events); n++ {
		got, err := translog.RootAt(ctx, db, uint64(n))
		if err != nil {
			t.Fatalf("root at %d: %v", n, err)
		}
		if want := rootOf(t, events[:n]); !bytes.Equal(got, want) {
			t.Fatalf("root at %d from the stored tree %x, from the events %x", n, got, want)
		}
	}
}

func TestTheTreeGrowsWithEveryAppendInTheSameTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		appendEvents(t, db, 13)
		// Several events in one transaction, and a transaction that fails: its nodes go too.
		update(t, db, func(tx grants.Tx) error {
			for i := range 6 {
				if _, err := tx.Append(ctx, event(100+i)); err != nil {
					return err
				}
			}
			return nil
		})
		failed := errors.New("the change the event records failed")
		if err := db.Update(ctx, func(tx grants.Tx) error {
			for i := range 4 {
				if _, err := tx.Append(ctx, event(200+i)); err != nil {
					return err
				}
			}
			return failed
		}); !errors.Is(err, failed) {
			t.Fatalf("update: %v", err)
		}
		appendEvents(t, db, 14)
		checkTree(t, db)
		var nodes int
		if err := db.read.GetContext(ctx, &nodes, `SELECT COALESCE(SUM(LENGTH(tree_nodes)), 0) / 32 FROM audit_events`); err != nil {
			t.Fatal(err)
		}
		// n leaves have n - popcount(n) complete interior nodes: 33 = 100001b.
		if nodes != 33-2 {
			t.Errorf("%d interior nodes stored for 33 events, want 31", nodes)
		}
	})
}

func TestSyncAuditTreeBuildsTheTreeOfALogFromBeforeIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		appendEvents(t, db, 21)
		// As a database migrated to 0014 with events in it: no tree yet. Appends meanwhile
		// leave the tree alone.
		tamper(t, db, `UPDATE audit_events SET tree_nodes = NULL`)
		tamper(t, db, `UPDATE audit_head SET tree_size = 0, tree_range = NULL`)
		appendEvents(t, db, 3)
		if size, err := db.AuditTreeSize(ctx); err != nil || size != 0 {
			t.Fatalf("tree size before the sync = %d, %v; want 0", size, err)
		}
		added, err := db.SyncAuditTree(ctx)
		if err != nil || added != 24 {
			t.Fatalf("SyncAuditTree = %d, %v; want 24 events added", added, err)
		}
		appendEvents(t, db, 5)
		checkTree(t, db)
		if added, err := db.SyncAuditTree(ctx); err != nil || added != 0 {
			t.Fatalf("SyncAuditTree again = %d, %v; want nothing to do", added, err)
		}
	})
}

func TestSyncAuditTreeRefusesATreeLongerThanTheLog(t *testing.T) {
	db := newDB(t, backends[0])
	appendEvents(t, db, 5)
	tamper(t, db, `DELETE FROM audit_events WHERE seq > 3`)
	tamper(t, db, `UPDATE audit_head SET seq = 3`)
	if _, err := db.SyncAuditTree(testCtx(t)); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("SyncAuditTree = %v, want an error about removed events", err)
	}
}

// transparency is a log with its signing key, over db.
type transparency struct {
	log  *translog.Log
	vkey string
}

func newTransparency(t *testing.T, db *DB) transparency {
	t.Helper()
	skey, vkey, err := translog.GenerateKey("accessbot.example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	l, err := translog.NewLog(db, skey, clock.NewFake(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	return transparency{log: l, vkey: vkey}
}

func TestEveryEventHasAnInclusionProofThatChecksOffline(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		tl := newTransparency(t, db)
		appendEvents(t, db, 19)
		ck, err := tl.log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Size != 19 {
			t.Fatalf("checkpoint size %d, want 19", ck.Size)
		}
		appendEvents(t, db, 4) // proofs are against the checkpoint, not the log now
		for seq := int64(1); seq <= 19; seq++ {
			p, err := tl.log.Prove(ctx, seq, ck)
			if err != nil {
				t.Fatalf("prove %d: %v", seq, err)
			}
			text, err := translog.MarshalProof(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := translog.ParseProof(text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := translog.Check(back, tl.vkey); err != nil {
				t.Fatalf("check proof of %d: %v", seq, err)
			}
		}
		if _, err := tl.log.Prove(ctx, 20, ck); err == nil {
			t.Error("a proof of an event after the checkpoint was made")
		}
	})
}

func TestVerifySinceReadsOnlyTheEventsAfterTheCheckpoint(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		tl := newTransparency(t, db)
		empty, err := tl.log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, db, 20)
		ck, err := tl.log.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, db, 7)
		rep, err := translog.VerifySince(ctx, db, ck.Note, tl.vkey)
		if err != nil {
			t.Fatalf("VerifySince: %v", err)
		}
		if rep.Events != 7 || rep.To.Size != 27 || rep.From.Size != 20 {
			t.Errorf("VerifySince read %d events from %d to %d, want 7 from 20 to 27", rep.Events, rep.From.Size, rep.To.Size)
		}
		for _, old := range []translog.Signed{empty, ck} {
			if rep, err := translog.VerifyAll(ctx, db, old.Note, tl.vkey); err != nil || rep.Events != 27 {
				t.Errorf("VerifyAll since %d = %d events, %v; want 27, nil", old.Size, rep.Events, err)
			}
			if rep, err := translog.VerifySince(ctx, db, old.Note, tl.vkey); err != nil || rep.Events != int64(27-old.Size) {
				t.Errorf("VerifySince %d = %d events, %v", old.Size, rep.Events, err)
			}
		}
		p, err := tl.log.ProveConsistency(ctx, ck)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := translog.CheckConsistency(p, tl.vkey); err != nil {
			t.Fatalf("CheckConsistency: %v", err)
		}
	})
}

// rechain rewrites the hashes of every event from seq on, as an attacker with write access to
// the database would after changing one: the chain is whole again.
func rechain(t *testing.T, db *DB, from int64) {
	t.Helper()
	events := scanAll(t, db, audit.Filter{})
	prev := audit.EmptyHead()
	for _, e := range events {
		if e.Seq >= from {
			e = audit.Seal(prev, e)
			tamper(t, db, `UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq)
		}
		prev = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	tamper(t, db, `UPDATE audit_head SET seq = ?, hash = ?`, prev.Seq, prev.Hash)
}

// rebuildTree throws the stored tree away and builds it again from the events as they are.
func rebuildTree(t *testing.T, db *DB) {
	t.Helper()
	tamper(t, db, `UPDATE audit_events SET tree_nodes = NULL`)
	tamper(t, db, `UPDATE audit_head SET tree_size = 0, tree_range = NULL`)
	if _, err := db.SyncAuditTree(testCtx(t)); err != nil {
		t.Fatalf("rebuild tree: %v", err)
	}
}

// cut removes the events after seq and moves the head (and, with tree, the tree) back to it.
func cut(t *testing.T, db *DB, seq int64, tree bool) {
	t.Helper()
	tamper(t, db, `DELETE FROM audit_events WHERE seq > ?`, seq)
	rechain(t, db, seq+1)
	if tree {
		rebuildTree(t, db)
	}
}

func TestATamperedLogFailsAgainstAnEarlierCheckpoint(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tamper func(t *testing.T, db *DB)
		// sinceSees is whether VerifySince, which reads only the tree and the events from the
		// checkpoint's last on, must see it; VerifyAll always must.
		sinceSees bool
		// unprovable is an event the log can no longer prove against the checkpoint (0: none).
		unprovable int64
	}{
		{"history rewritten before the checkpoint, chain and tree rebuilt", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 5`)
			rechain(t, db, 5)
			rebuildTree(t, db)
		}, true, 5},
		{"history rewritten before the checkpoint, chain rebuilt, tree left", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET data = '{"reason":"nothing to see"}' WHERE seq = 12`)
			rechain(t, db, 12)
		}, false, 12},
		{"the checkpoint's last event rewritten, tree left", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET resource = 'elsewhere' WHERE seq = 20`)
			rechain(t, db, 20)
		}, true, 20},
		{"the tail cut below the checkpoint, tree rebuilt", func(t *testing.T, db *DB) { cut(t, db, 15, true) }, true, 16},
		{"the tail cut below the checkpoint, tree left", func(t *testing.T, db *DB) { cut(t, db, 15, false) }, true, 16},
		{"the log forked before the checkpoint", func(t *testing.T, db *DB) {
			cut(t, db, 15, true)
			for i := range 12 {
				e := event(500 + i)
				e.Actor = "mallory@example.com"
				if _, err := db.AppendAudit(testCtx(t), e); err != nil {
					t.Fatal(err)
				}
			}
		}, true, 16},
		{"an event after the checkpoint rewritten, tree left", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET subject = 'mallory@example.com' WHERE seq = 24`)
			rechain(t, db, 24)
		}, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, b backend) {
				db := newDB(t, b)
				ctx := testCtx(t)
				tl := newTransparency(t, db)
				appendEvents(t, db, 20)
				ck, err := tl.log.Checkpoint(ctx)
				if err != nil {
					t.Fatal(err)
				}
				appendEvents(t, db, 7)
				if _, err := translog.VerifyAll(ctx, db, ck.Note, tl.vkey); err != nil {
					t.Fatalf("VerifyAll before the tampering: %v", err)
				}
				tt.tamper(t, db)

				if _, err := translog.VerifyAll(ctx, db, ck.Note, tl.vkey); !errors.Is(err, translog.ErrTampered) {
					t.Errorf("VerifyAll = %v, want a mismatch", err)
				}
				if _, err := translog.VerifySince(ctx, db, ck.Note, tl.vkey); tt.sinceSees && !errors.Is(err, translog.ErrTampered) {
					t.Errorf("VerifySince = %v, want a mismatch", err)
				}
				if tt.unprovable != 0 {
					if _, err := tl.log.Prove(ctx, tt.unprovable, ck); err == nil {
						t.Errorf("event %d is still provable against the checkpoint", tt.unprovable)
					}
				}
			})
		})
	}
}

func TestConcurrentAppendersFromTwoHandlesKeepOneTree(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		// Two handles play two replicas; each transaction appends one to three events.
		dbs := []*DB{openDSN(t, b.driver, dsn), openDSN(t, b.driver, dsn)}
		ctx := testCtx(t)
		if _, err := dbs[0].Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		const workers, perWorker = 6, 10
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			db := dbs[w%2]
			wg.Go(func() {
				for i := range perWorker {
					if err := db.Update(ctx, func(tx grants.Tx) error {
						for j := range 1 + (w+i)%3 {
							if _, err := tx.Append(ctx, event(1000*w+10*i+j)); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						errs <- fmt.Errorf("worker %d update %d: %w", w, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkTree(t, dbs[1])
	})
}
