package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

func event(i int) audit.Event {
	return audit.Event{
		At:        base.Add(time.Duration(i) * time.Minute),
		Type:      audit.RequestCreated,
		Actor:     fmt.Sprintf("user%d@example.com", (i+1)%3),
		Resource:  []string{"prod-db", "ssh"}[i%2],
		Subject:   fmt.Sprintf("user%d@example.com", i%3),
		RequestID: fmt.Sprintf("r%d", i),
		Data:      map[string]string{"reason": fmt.Sprintf("ticket INC-%d", i), "duration": "1h"},
	}
}

// appendEvents appends n events, one transaction each.
func appendEvents(t *testing.T, db *DB, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := 1; i <= n; i++ {
		e, err := db.AppendAudit(testCtx(t), event(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func scanAll(t *testing.T, db *DB, f audit.Filter) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := db.ScanAudit(testCtx(t), f, func(e audit.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t *testing.T, db *DB) audit.Report {
	t.Helper()
	rep, err := audit.Verify(testCtx(t), db, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func TestAppendedEventsComeBackSealedAndChained(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		appended := appendEvents(t, db, 5)
		got := scanAll(t, db, audit.Filter{})
		if len(got) != len(appended) {
			t.Fatalf("scanned %d events, want %d", len(got), len(appended))
		}
		for i := range got {
			if !got[i].At.Equal(appended[i].At) {
				t.Errorf("event %d at %v, want %v", i+1, got[i].At, appended[i].At)
			}
			got[i].At = appended[i].At
			if fmt.Sprint(got[i]) != fmt.Sprint(appended[i]) {
				t.Errorf("event %d:\n got %+v\nwant %+v", i+1, got[i], appended[i])
			}
			if got[i].Hash != audit.ComputeHash(got[i].PrevHash, got[i]) {
				t.Errorf("event %d: stored hash does not match its content", i+1)
			}
		}
		head, err := db.AuditHead(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if want := (audit.Head{Seq: 5, Hash: appended[4].Hash}); head != want {
			t.Errorf("head = %+v, want %+v", head, want)
		}
		if rep := verify(t, db); !rep.Intact() || rep.Events != 5 || rep.Head != head {
			t.Errorf("verify = %+v, want intact with 5 events up to the head", rep)
		}
	})
}

func TestAppendRefusesAnEventWithoutTypeOrTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		for _, e := range []audit.Event{{At: base}, {Type: audit.ConfigLoaded}} {
			if _, err := db.AppendAudit(testCtx(t), e); !errors.Is(err, grants.ErrInvalid) {
				t.Errorf("AppendAudit(%+v) = %v, want ErrInvalid", e, err)
			}
		}
	})
}

func TestConcurrentUpdatesKeepTheChainContiguous(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		// Two handles play two replicas (or serve and a CLI command); workers use both.
		dbs := []*DB{openDSN(t, b.driver, dsn), openDSN(t, b.driver, dsn)}
		ctx := testCtx(t)
		if _, err := dbs[0].Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		const workers, perWorker = 8, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			db := dbs[w%2]
			wg.Go(func() {
				for i := range perWorker {
					id := fmt.Sprintf("r-%d-%d", w, i)
					err := db.Update(ctx, func(tx grants.Tx) error {
						r := sampleRequest(id)
						if err := tx.InsertRequest(ctx, r); err != nil {
							return err
						}
						_, err := tx.Append(ctx, audit.Event{At: base, Type: audit.RequestCreated, Actor: r.Requester, RequestID: id})
						return err
					})
					if err != nil {
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
		events := scanAll(t, dbs[0], audit.Filter{})
		if len(events) != workers*perWorker {
			t.Fatalf("%d events, want %d", len(events), workers*perWorker)
		}
		seen := map[string]bool{}
		for i, e := range events {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d: the chain has a gap or a fork", i+1, e.Seq)
			}
			seen[e.RequestID] = true
		}
		if len(seen) != workers*perWorker {
			t.Errorf("%d distinct requests in the log, want %d", len(seen), workers*perWorker)
		}
		if rep := verify(t, dbs[1]); !rep.Intact() || rep.Events != workers*perWorker {
			t.Fatalf("verify = %+v", rep)
		}
	})
}

func TestAFailedUpdateLeavesNeitherRowNorEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		appendEvents(t, db, 2)
		before, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		refused := errors.New("adapter said no")
		err = db.Update(ctx, func(tx grants.Tx) error {
			if err := tx.InsertRequest(ctx, sampleRequest("r-doomed")); err != nil {
				return err
			}
			if _, err := tx.Append(ctx, event(3)); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		view(t, db, func(tx grants.ReadTx) error {
			if _, err := tx.Request(ctx, "r-doomed"); !errors.Is(err, grants.ErrNotFound) {
				t.Errorf("the request of a failed update: %v, want ErrNotFound", err)
			}
			return nil
		})
		after, err := db.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("head moved from %+v to %+v", before, after)
		}
		if n := len(scanAll(t, db, audit.Filter{})); n != 2 {
			t.Errorf("%d events after a failed update, want 2", n)
		}
		// The next append continues the chain where it was.
		appendEvents(t, db, 1)
		if rep := verify(t, db); !rep.Intact() || rep.Events != 3 {
			t.Errorf("verify = %+v", rep)
		}
	})
}

func TestAPanicInUpdateRollsBackAndFreesTheWriter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic did not come through")
				}
			}()
			_ = db.Update(ctx, func(tx grants.Tx) error {
				if err := tx.InsertRequest(ctx, sampleRequest("r-panic")); err != nil {
					return err
				}
				panic("bug")
			})
		}()
		// The writer is free again, and nothing of the panicking transaction remains.
		update(t, db, func(tx grants.Tx) error {
			if _, err := tx.Request(ctx, "r-panic"); !errors.Is(err, grants.ErrNotFound) {
				t.Errorf("the request of a panicking update: %v, want ErrNotFound", err)
			}
			return tx.InsertRequest(ctx, sampleRequest("r-after"))
		})
	})
}

func TestScanAuditSelectsByFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		appendEvents(t, db, 9) // event i is at base+i minutes; resources alternate ssh, prod-db
		seqs := func(es []audit.Event) []int64 {
			var out []int64
			for _, e := range es {
				out = append(out, e.Seq)
			}
			return out
		}
		for _, tt := range []struct {
			name string
			f    audit.Filter
			want []int64
		}{
			{"everything", audit.Filter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
			{"since (inclusive)", audit.Filter{Since: base.Add(7 * time.Minute)}, []int64{7, 8, 9}},
			{"until (exclusive)", audit.Filter{Until: base.Add(3 * time.Minute)}, []int64{1, 2}},
			{"a window", audit.Filter{Since: base.Add(2 * time.Minute), Until: base.Add(5 * time.Minute)}, []int64{2, 3, 4}},
			{"one resource", audit.Filter{Resource: "prod-db"}, []int64{2, 4, 6, 8}},
			{"one person", audit.Filter{Subject: "user0@example.com"}, []int64{3, 6, 9}},
			{"one person, as subject or actor", audit.Filter{Person: "user0@example.com"}, []int64{2, 3, 5, 6, 8, 9}},
			{"after a sequence number", audit.Filter{AfterSeq: 7}, []int64{8, 9}},
			{"a range of sequence numbers", audit.Filter{AfterSeq: 3, MaxSeq: 5}, []int64{4, 5}},
			{"all together", audit.Filter{Resource: "ssh", Subject: "user0@example.com", Since: base.Add(4 * time.Minute), AfterSeq: 1}, []int64{9}},
			{"nothing", audit.Filter{Resource: "nowhere"}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := seqs(scanAll(t, db, tt.f)); !slices.Equal(got, tt.want) {
					t.Errorf("seqs %v, want %v", got, tt.want)
				}
			})
		}
		stop := errors.New("enough")
		n := 0
		err := db.ScanAudit(testCtx(t), audit.Filter{}, func(audit.Event) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 3 {
			t.Errorf("a scan whose fn fails at the 3rd event: n=%d err=%v", n, err)
		}
	})
}

// tamper runs SQL against the database behind accessbot's back.
func tamper(t *testing.T, db *DB, q string, args ...any) {
	t.Helper()
	if _, err := db.write.ExecContext(testCtx(t), db.write.Rebind(q), args...); err != nil {
		t.Fatalf("tamper: %s: %v", q, err)
	}
}

func TestVerifyNamesTheFirstTamperedEvent(t *testing.T) {
	swap := func(t *testing.T, db *DB, a, b int64) {
		events := scanAll(t, db, audit.Filter{})
		set := func(seq int64, e audit.Event) {
			data, _ := encodeMap(e.Data)
			tamper(t, db, `UPDATE audit_events SET at = ?, type = ?, actor = ?, resource = ?, subject = ?,
				request_id = ?, grant_id = ?, data = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
				e.At.UnixMicro(), e.Type, e.Actor, e.Resource, e.Subject, e.RequestID, e.GrantID, data,
				e.PrevHash, e.Hash, seq)
		}
		set(a, events[b-1])
		set(b, events[a-1])
	}
	for _, tt := range []struct {
		name     string
		tamper   func(t *testing.T, db *DB)
		firstBad int64
	}{
		{"nothing changed", func(*testing.T, *DB) {}, 0},
		{"an actor rewritten", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 4`)
		}, 4},
		{"a data value rewritten", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET data = '{"duration":"9h","reason":"ticket INC-6"}' WHERE seq = 6`)
		}, 6},
		{"a time moved", func(t *testing.T, db *DB) {
			tamper(t, db, `UPDATE audit_events SET at = at + 1 WHERE seq = 2`)
		}, 2},
		{"a row rewritten with a fresh hash of its own", func(t *testing.T, db *DB) {
			e := scanAll(t, db, audit.Filter{})[4]
			e.Actor = "mallory"
			e.Hash = audit.ComputeHash(e.PrevHash, e)
			tamper(t, db, `UPDATE audit_events SET actor = ?, hash = ? WHERE seq = 5`, e.Actor, e.Hash)
		}, 6}, // the next event no longer links to it
		{"a middle row deleted", func(t *testing.T, db *DB) {
			tamper(t, db, `DELETE FROM audit_events WHERE seq = 5`)
		}, 5},
		{"the first row deleted", func(t *testing.T, db *DB) {
			tamper(t, db, `DELETE FROM audit_events WHERE seq = 1`)
		}, 1},
		{"the last row deleted", func(t *testing.T, db *DB) {
			tamper(t, db, `DELETE FROM audit_events WHERE seq = 8`)
		}, 8},
		{"the last rows deleted and the head rolled back to a wrong hash", func(t *testing.T, db *DB) {
			tamper(t, db, `DELETE FROM audit_events WHERE seq >= 7`)
			tamper(t, db, `UPDATE audit_head SET seq = 6`)
		}, 6},
		{"two rows swapped", func(t *testing.T, db *DB) { swap(t, db, 3, 6) }, 3},
		{"every row deleted", func(t *testing.T, db *DB) {
			tamper(t, db, `DELETE FROM audit_events`)
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, b backend) {
				db := newDB(t, b)
				appendEvents(t, db, 8)
				tt.tamper(t, db)
				rep := verify(t, db)
				if rep.FirstBad != tt.firstBad {
					t.Fatalf("FirstBad = %d (%s), want %d", rep.FirstBad, rep.Problem, tt.firstBad)
				}
				if tt.firstBad != 0 && rep.Problem == "" {
					t.Error("a bad log without a problem description")
				}
			})
		})
	}
}

func TestVerifyOfAnEmptyLogIsIntact(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		rep := verify(t, newDB(t, b))
		if !rep.Intact() || rep.Events != 0 || rep.Head != audit.EmptyHead() {
			t.Fatalf("verify = %+v, want intact and empty", rep)
		}
	})
}

func TestVerifyStopsWhenTheContextEnds(t *testing.T) {
	db := newDB(t, backends[0])
	appendEvents(t, db, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := audit.Verify(ctx, db, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("verify with a cancelled context: %v", err)
	}
}

func TestLatestAuditFindsTheLastEventOfATypeOrSaysThereIsNone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		if _, ok, err := db.LatestAudit(testCtx(t), audit.ScanCompleted); err != nil || ok {
			t.Fatalf("in an empty log: ok %v, err %v; want none", ok, err)
		}
		appendEvents(t, db, 3)
		scan := func(findings int) audit.Event {
			e, err := db.AppendAudit(testCtx(t), audit.Event{At: base, Actor: "accessbot"}.With(audit.ScanCompletedData{Resources: []string{"ssh"}, Findings: findings}))
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		scan(2)
		last := scan(5)
		appendEvents(t, db, 2)
		got, ok, err := db.LatestAudit(testCtx(t), audit.ScanCompleted)
		if err != nil || !ok {
			t.Fatalf("ok %v, err %v", ok, err)
		}
		p, err := audit.Decode[audit.ScanCompletedData](got)
		if got.Seq != last.Seq || got.Hash != last.Hash || err != nil || p.Findings != 5 {
			t.Errorf("got event %d (%d findings, %v), want %d with 5", got.Seq, p.Findings, err, last.Seq)
		}
		if _, ok, err := db.LatestAudit(testCtx(t), audit.GrantRevokeFailed); err != nil || ok {
			t.Errorf("a type the log lacks: ok %v, err %v; want none", ok, err)
		}
	})
}
