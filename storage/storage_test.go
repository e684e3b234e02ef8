package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backend makes databases of one driver.
type backend struct {
	driver string
	// dsn returns a DSN for a new, empty database.
	dsn func(t *testing.T) string
}

var backends = []backend{
	{SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "accessbot.db") }},
	{Postgres, func(t *testing.T) string { return pgtest.Shared(t).NewDatabase(t) }},
}

// eachBackend runs test once per driver, as subtests named after the driver.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.driver, func(t *testing.T) { test(t, b) })
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openDSN(t *testing.T, driver, dsn string) *DB {
	t.Helper()
	db, err := Open(testCtx(t), Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newDB returns a migrated, empty database.
func newDB(t *testing.T, b backend) *DB {
	t.Helper()
	db := openDSN(t, b.driver, b.dsn(t))
	if _, err := db.Migrate(testCtx(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// base is a time with microseconds, in a zone other than UTC: stored times come back as the same
// instant in UTC.
var base = time.Date(2026, 3, 1, 9, 30, 15, 123456000, time.FixedZone("CET", 3600))

func sampleRequest(id string) grants.Request {
	return grants.Request{
		ID:              id,
		Kind:            grants.KindAccess,
		Resource:        "prod-db",
		Requester:       "alice@example.com",
		RequesterName:   "Alice",
		Duration:        90 * time.Minute,
		Reason:          "fixing INC-42",
		State:           grants.RequestPending,
		ApprovalsNeeded: 2,
		CreatedAt:       base,
		PendingUntil:    base.Add(time.Hour),
		Checks: []grants.Check{{Kind: "ticket", Subject: "INC-42", Status: grants.CheckPassed,
			Summary: "Open · P1", URL: "https://tickets.example.com/INC-42", Attrs: map[string]string{"status": "Open"}},
			{Kind: "oncall", Status: grants.CheckUnknown, Problem: "no answer in time", Notify: []string{"bob@example.com"}}},
		Version: 1,
	}
}

func sampleGrant(id, requestID string) grants.Grant {
	return grants.Grant{
		ID:            id,
		RequestID:     requestID,
		Resource:      "prod-db",
		Subject:       "alice@example.com",
		Account:       "alice",
		Email:         "alice@example.com",
		State:         grants.GrantActivating,
		Reason:        "fixing INC-42",
		StartsAt:      base,
		ExpiresAt:     base.Add(time.Hour),
		WarnAt:        base.Add(50 * time.Minute),
		NextAttemptAt: base.Add(time.Second),
		CreatedAt:     base,
		UpdatedAt:     base,
		Version:       1,
	}
}

func update(t *testing.T, db *DB, fn func(tx grants.Tx) error) {
	t.Helper()
	if err := db.Update(testCtx(t), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, db *DB, fn func(tx grants.ReadTx) error) {
	t.Helper()
	if err := db.View(testCtx(t), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func TestMigrateAppliesEveryVersionOnceAndAgainNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		db := openDSN(t, b.driver, b.dsn(t))
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for _, m := range ms {
			want = append(want, m.version)
		}
		got, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("first migrate: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("first migrate applied %v, want %v", got, want)
		}
		again, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if len(again) != 0 {
			t.Fatalf("second migrate applied %v, want nothing", again)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil || v != want[len(want)-1] {
			t.Fatalf("schema version %d, %v; want %d", v, err, want[len(want)-1])
		}
		head, err := db.AuditHead(ctx)
		if err != nil || head != audit.EmptyHead() {
			t.Fatalf("head of a new database: %+v, %v; want the empty head", head, err)
		}
	})
}

func TestConcurrentMigrateAppliesEachVersionExactlyOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		dsn := b.dsn(t)
		// Separate handles play separate processes (replicas starting together).
		const n = 4
		dbs := make([]*DB, n)
		for i := range dbs {
			dbs[i] = openDSN(t, b.driver, dsn)
		}
		results := make([][]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() { results[i], errs[i] = db.Migrate(ctx) })
		}
		wg.Wait()
		applied := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("migrator %d: %v", i, errs[i])
			}
			if len(results[i]) > 0 {
				applied++
			}
		}
		if applied != 1 {
			t.Fatalf("%d migrators applied migrations (%v), want exactly 1", applied, results)
		}
	})
}

func TestOpenRejectsAnUnknownDriver(t *testing.T) {
	if _, err := Open(testCtx(t), Options{Driver: "oracle", DSN: "x"}); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Fatalf("err = %v, want one naming the driver", err)
	}
}

func TestSQLiteConnectionsUseWALAndForeignKeys(t *testing.T) {
	db := newDB(t, backends[0])
	ctx := testCtx(t)
	for _, pool := range []struct {
		name string
		db   *DB
	}{{"write", &DB{read: db.write}}, {"read", db}} {
		var mode string
		var fk, busy, sync int
		if err := pool.db.read.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
			t.Fatal(err)
		}
		if err := pool.db.read.GetContext(ctx, &fk, "PRAGMA foreign_keys"); err != nil {
			t.Fatal(err)
		}
		if err := pool.db.read.GetContext(ctx, &busy, "PRAGMA busy_timeout"); err != nil {
			t.Fatal(err)
		}
		if err := pool.db.read.GetContext(ctx, &sync, "PRAGMA synchronous"); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || busy != 5000 || sync != 1 {
			t.Errorf("%s pool: journal_mode=%s foreign_keys=%d busy_timeout=%d synchronous=%d; want wal 1 5000 1 (NORMAL)",
				pool.name, mode, fk, busy, sync)
		}
	}
}

func TestSQLiteInMemoryDatabaseWorks(t *testing.T) {
	db := openDSN(t, SQLite, ":memory:")
	if _, err := db.Migrate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx grants.Tx) error { return tx.InsertRequest(testCtx(t), sampleRequest("r1")) })
	view(t, db, func(tx grants.ReadTx) error {
		_, err := tx.Request(testCtx(t), "r1")
		return err
	})
}

func TestRequestsRoundTripEveryField(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		decided := grants.Request{
			ID: "r-decided", Kind: grants.KindExtend, Resource: "ssh-prod", Requester: "bob@example.com",
			RequesterName: "Bob \"B\" O'Neil", Duration: 36*time.Hour + 1500*time.Microsecond, Reason: "über-urgent; DROP TABLE x",
			State: grants.RequestDenied, ApprovalsNeeded: 3, GrantID: "g-7", CreatedAt: base.Add(time.Second),
			PendingUntil: base.Add(2 * time.Hour), DecidedAt: base.Add(3*time.Minute + 7*time.Microsecond),
			DecidedBy: "carol@example.com", Note: "not during the freeze", Version: 4,
		}
		pending := sampleRequest("r-pending") // zero DecidedAt, empty strings
		update(t, db, func(tx grants.Tx) error {
			for _, r := range []grants.Request{decided, pending} {
				if err := tx.InsertRequest(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, db, func(tx grants.ReadTx) error {
			for _, want := range []grants.Request{decided, pending} {
				got, err := tx.Request(ctx, want.ID)
				if err != nil {
					return err
				}
				assertSameRequest(t, got, want)
			}
			return nil
		})
	})
}

// assertSameRequest compares field by field, times as instants.
func assertSameRequest(t *testing.T, got, want grants.Request) {
	t.Helper()
	for _, tt := range []struct {
		name string
		a, b time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"PendingUntil", got.PendingUntil, want.PendingUntil}, {"DecidedAt", got.DecidedAt, want.DecidedAt}} {
		if !tt.a.Equal(tt.b) || tt.a.IsZero() != tt.b.IsZero() {
			t.Errorf("request %s: %s = %v, want %v", want.ID, tt.name, tt.a, tt.b)
		}
		if !tt.a.IsZero() && tt.a.Location() != time.UTC {
			t.Errorf("request %s: %s comes back in %v, want UTC", want.ID, tt.name, tt.a.Location())
		}
	}
	got.CreatedAt, got.PendingUntil, got.DecidedAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.PendingUntil, want.DecidedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request %s:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

func assertSameGrant(t *testing.T, got, want grants.Grant) {
	t.Helper()
	times := func(g *grants.Grant) []*time.Time {
		return []*time.Time{&g.ReviewedAt, &g.StartsAt, &g.ExpiresAt, &g.WarnAt, &g.NextAttemptAt, &g.RevokedAt, &g.CreatedAt, &g.UpdatedAt}
	}
	gt, wt := times(&got), times(&want)
	for i := range gt {
		if !gt[i].Equal(*wt[i]) || gt[i].IsZero() != wt[i].IsZero() {
			t.Errorf("grant %s: time %d = %v, want %v", want.ID, i, *gt[i], *wt[i])
		}
		*gt[i], *wt[i] = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grant %s:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

func TestGrantsRoundTripEveryField(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		full := grants.Grant{
			ID: "g-full", RequestID: "r1", Resource: "prod-db", Subject: "alice@example.com", Account: "alice_x",
			Email: "alice@example.com", State: grants.GrantRevokeFailed, BreakGlass: true,
			ReviewedBy: "carol@example.com", ReviewedAt: base.Add(time.Minute), Reason: "outage",
			StartsAt: base, ExpiresAt: base.Add(time.Hour), WarnAt: base.Add(55 * time.Minute),
			LeaseData: map[string]string{"role": "acc_alice_1", "serial": "12345", "quote\"d": "ü"},
			Attempts:  7, NextAttemptAt: base.Add(2 * time.Hour), LastError: "connection refused",
			RevokedAt: base.Add(90 * time.Minute), RevokedBy: "accessbot", CreatedAt: base,
			UpdatedAt: base.Add(3 * time.Microsecond), Version: 9,
		}
		// Zero times, no lease data, not break-glass.
		bare := grants.Grant{ID: "g-bare", RequestID: "r1", Resource: "prod-db", Subject: "bob@example.com",
			State: grants.GrantActivating, CreatedAt: base, UpdatedAt: base, Version: 1}
		update(t, db, func(tx grants.Tx) error {
			if err := tx.InsertRequest(ctx, sampleRequest("r1")); err != nil {
				return err
			}
			for _, g := range []grants.Grant{full, bare} {
				if err := tx.InsertGrant(ctx, g); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, db, func(tx grants.ReadTx) error {
			for _, want := range []grants.Grant{full, bare} {
				got, err := tx.Grant(ctx, want.ID)
				if err != nil {
					return err
				}
				assertSameGrant(t, got, want)
			}
			byReq, err := tx.GrantByRequest(ctx, "r1")
			if err != nil {
				return err
			}
			if byReq.ID != "g-full" && byReq.ID != "g-bare" {
				t.Errorf("GrantByRequest(r1) = %s", byReq.ID)
			}
			return nil
		})
	})
}

func TestMissingRowsAreNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		view(t, db, func(tx grants.ReadTx) error {
			for name, call := range map[string]func() error{
				"Request":        func() error { _, err := tx.Request(ctx, "nope"); return err },
				"Grant":          func() error { _, err := tx.Grant(ctx, "nope"); return err },
				"GrantByRequest": func() error { _, err := tx.GrantByRequest(ctx, "nope"); return err },
			} {
				if err := call(); !errors.Is(err, grants.ErrNotFound) {
					t.Errorf("%s of a missing row: %v, want ErrNotFound", name, err)
				}
			}
			return nil
		})
		err := db.Update(ctx, func(tx grants.Tx) error {
			_, err := tx.UpdateRequest(ctx, sampleRequest("nope"))
			return err
		})
		if !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("UpdateRequest of a missing row: %v, want ErrNotFound", err)
		}
	})
}

func TestUpdatesAreCompareAndSwapOnVersion(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		r := sampleRequest("r1")
		g := sampleGrant("g1", "r1")
		update(t, db, func(tx grants.Tx) error {
			if err := tx.InsertRequest(ctx, r); err != nil {
				return err
			}
			return tx.InsertGrant(ctx, g)
		})

		// Two clicks read version 1; the first wins, the second conflicts.
		first, second := r, r
		first.State, first.DecidedBy = grants.RequestApproved, "carol"
		second.State, second.DecidedBy = grants.RequestDenied, "dave"
		var v int64
		update(t, db, func(tx grants.Tx) error {
			var err error
			v, err = tx.UpdateRequest(ctx, first)
			return err
		})
		if v != 2 {
			t.Fatalf("UpdateRequest returned version %d, want 2", v)
		}
		err := db.Update(ctx, func(tx grants.Tx) error { _, err := tx.UpdateRequest(ctx, second); return err })
		if !errors.Is(err, grants.ErrConflict) {
			t.Fatalf("stale UpdateRequest: %v, want ErrConflict", err)
		}

		g.State = grants.GrantActive
		update(t, db, func(tx grants.Tx) error {
			var err error
			v, err = tx.UpdateGrant(ctx, g)
			return err
		})
		if v != 2 {
			t.Fatalf("UpdateGrant returned version %d, want 2", v)
		}
		g.State = grants.GrantRevoking // still version 1: stale
		err = db.Update(ctx, func(tx grants.Tx) error { _, err := tx.UpdateGrant(ctx, g); return err })
		if !errors.Is(err, grants.ErrConflict) {
			t.Fatalf("stale UpdateGrant: %v, want ErrConflict", err)
		}

		view(t, db, func(tx grants.ReadTx) error {
			gotR, err := tx.Request(ctx, "r1")
			if err != nil {
				return err
			}
			if gotR.State != grants.RequestApproved || gotR.DecidedBy != "carol" || gotR.Version != 2 {
				t.Errorf("request after CAS: %s by %s v%d, want approved by carol v2", gotR.State, gotR.DecidedBy, gotR.Version)
			}
			gotG, err := tx.Grant(ctx, "g1")
			if err != nil {
				return err
			}
			if gotG.State != grants.GrantActive || gotG.Version != 2 {
				t.Errorf("grant after CAS: %s v%d, want active v2", gotG.State, gotG.Version)
			}
			return nil
		})
	})
}

func TestInsertingAnExistingIDConflicts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		update(t, db, func(tx grants.Tx) error {
			if err := tx.InsertRequest(ctx, sampleRequest("r1")); err != nil {
				return err
			}
			return tx.InsertGrant(ctx, sampleGrant("g1", "r1"))
		})
		err := db.Update(ctx, func(tx grants.Tx) error { return tx.InsertRequest(ctx, sampleRequest("r1")) })
		if !errors.Is(err, grants.ErrConflict) {
			t.Errorf("second InsertRequest: %v, want ErrConflict", err)
		}
		err = db.Update(ctx, func(tx grants.Tx) error { return tx.InsertGrant(ctx, sampleGrant("g1", "r1")) })
		if !errors.Is(err, grants.ErrConflict) {
			t.Errorf("second InsertGrant: %v, want ErrConflict", err)
		}
	})
}

func TestAPersonReviewsARequestOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		carol := grants.Review{RequestID: "r1", Reviewer: "carol", Decision: grants.Approve, Reason: "ok", At: base.Add(time.Minute)}
		dave := grants.Review{RequestID: "r1", Reviewer: "dave", Decision: grants.Deny, Reason: "no ticket", At: base.Add(2 * time.Minute)}
		update(t, db, func(tx grants.Tx) error {
			if err := tx.InsertRequest(ctx, sampleRequest("r1")); err != nil {
				return err
			}
			if err := tx.InsertReview(ctx, carol); err != nil {
				return err
			}
			again := carol
			again.Decision = grants.Deny
			if err := tx.InsertReview(ctx, again); !errors.Is(err, grants.ErrConflict) {
				t.Errorf("second review by carol: %v, want ErrConflict", err)
			}
			// The conflict leaves the transaction usable (PostgreSQL aborts a transaction on error).
			return tx.InsertReview(ctx, dave)
		})
		view(t, db, func(tx grants.ReadTx) error {
			got, err := tx.Reviews(ctx, "r1")
			if err != nil {
				return err
			}
			if len(got) != 2 {
				t.Fatalf("reviews: %+v, want carol's and dave's", got)
			}
			for i, want := range []grants.Review{carol, dave} {
				if !got[i].At.Equal(want.At) {
					t.Errorf("review %d at %v, want %v", i, got[i].At, want.At)
				}
				got[i].At = want.At
				if got[i] != want {
					t.Errorf("review %d = %+v, want %+v", i, got[i], want)
				}
			}
			return nil
		})
	})
}

func TestAReviewOfAnUnknownRequestIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		err := db.Update(testCtx(t), func(tx grants.Tx) error {
			return tx.InsertReview(testCtx(t), grants.Review{RequestID: "ghost", Reviewer: "carol", Decision: grants.Approve, At: base})
		})
		if err == nil {
			t.Fatal("a review of a request that does not exist was stored")
		}
	})
}

func TestListsAreNewestFirstAndFiltered(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		update(t, db, func(tx grants.Tx) error {
			for i, spec := range []struct {
				requester, resource string
				state               grants.RequestState
				gstate              grants.GrantState
			}{
				{"alice", "prod-db", grants.RequestApproved, grants.GrantActive},
				{"bob", "prod-db", grants.RequestPending, ""},
				{"alice", "ssh", grants.RequestApproved, grants.GrantRevoked},
				{"alice", "prod-db", grants.RequestDenied, ""},
			} {
				r := sampleRequest(fmt.Sprintf("r%d", i))
				r.Requester, r.Resource, r.State = spec.requester, spec.resource, spec.state
				r.CreatedAt = base.Add(time.Duration(i) * time.Minute)
				if err := tx.InsertRequest(ctx, r); err != nil {
					return err
				}
				if spec.gstate == "" {
					continue
				}
				g := sampleGrant(fmt.Sprintf("g%d", i), r.ID)
				g.Subject, g.Resource, g.State = spec.requester, spec.resource, spec.gstate
				g.CreatedAt = r.CreatedAt
				g.StartsAt = r.CreatedAt
				g.ExpiresAt = r.CreatedAt.Add(time.Hour)
				if err := tx.InsertGrant(ctx, g); err != nil {
					return err
				}
			}
			return nil
		})
		ids := func(rs []grants.Request) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		gids := func(gs []grants.Grant) []string {
			var out []string
			for _, g := range gs {
				out = append(out, g.ID)
			}
			return out
		}
		view(t, db, func(tx grants.ReadTx) error {
			for _, tt := range []struct {
				name string
				f    grants.RequestFilter
				want []string
			}{
				{"all", grants.RequestFilter{}, []string{"r3", "r2", "r1", "r0"}},
				{"by requester", grants.RequestFilter{Requester: "alice"}, []string{"r3", "r2", "r0"}},
				{"by resource and state", grants.RequestFilter{Resource: "prod-db", States: []grants.RequestState{grants.RequestApproved, grants.RequestPending}}, []string{"r1", "r0"}},
				{"limited", grants.RequestFilter{Limit: 2}, []string{"r3", "r2"}},
			} {
				got, err := tx.Requests(ctx, tt.f)
				if err != nil {
					return err
				}
				if !slices.Equal(ids(got), tt.want) {
					t.Errorf("requests %s: %v, want %v", tt.name, ids(got), tt.want)
				}
			}
			for _, tt := range []struct {
				name string
				f    grants.GrantFilter
				want []string
			}{
				{"all", grants.GrantFilter{}, []string{"g2", "g0"}},
				{"by state", grants.GrantFilter{States: []grants.GrantState{grants.GrantActive}}, []string{"g0"}},
				{"by subject and resource", grants.GrantFilter{Subject: "alice", Resource: "ssh"}, []string{"g2"}},
				{"active at a time inside one window", grants.GrantFilter{ActiveAt: base.Add(61 * time.Minute)}, []string{"g2"}},
				{"active at a time inside both windows", grants.GrantFilter{ActiveAt: base.Add(30 * time.Minute)}, []string{"g2", "g0"}},
				{"limited", grants.GrantFilter{Limit: 1}, []string{"g2"}},
			} {
				got, err := tx.Grants(ctx, tt.f)
				if err != nil {
					return err
				}
				if !slices.Equal(gids(got), tt.want) {
					t.Errorf("grants %s: %v, want %v", tt.name, gids(got), tt.want)
				}
			}
			rc, err := tx.CountRequests(ctx)
			if err != nil {
				return err
			}
			if want := map[grants.RequestState]int{grants.RequestApproved: 2, grants.RequestPending: 1, grants.RequestDenied: 1}; !reflect.DeepEqual(rc, want) {
				t.Errorf("CountRequests = %v, want %v", rc, want)
			}
			gc, err := tx.CountGrants(ctx)
			if err != nil {
				return err
			}
			if want := map[grants.GrantState]int{grants.GrantActive: 1, grants.GrantRevoked: 1}; !reflect.DeepEqual(gc, want) {
				t.Errorf("CountGrants = %v, want %v", gc, want)
			}
			return nil
		})
	})
}

func TestDueQueriesFindWhatTheSchedulerMustHandle(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		now := base.Add(10 * time.Hour)
		past := func(d time.Duration) time.Time { return now.Add(-d) }
		future := now.Add(time.Hour)

		view(t, db, func(tx grants.ReadTx) error {
			if _, ok, err := tx.NextDue(ctx); err != nil || ok {
				t.Errorf("NextDue of an empty database: ok=%v err=%v, want nothing scheduled", ok, err)
			}
			return nil
		})

		type gspec struct {
			id                  string
			state               grants.GrantState
			expires, next, warn time.Time
		}
		specs := []gspec{
			{"active-expired", grants.GrantActive, past(time.Minute), time.Time{}, time.Time{}},
			{"active-expired-earlier", grants.GrantActive, past(time.Hour), time.Time{}, time.Time{}},
			{"active-later", grants.GrantActive, future, time.Time{}, past(time.Second)},
			{"active-warn-fired", grants.GrantActive, future.Add(time.Hour), time.Time{}, time.Time{}},
			{"activating-due", grants.GrantActivating, future, past(30 * time.Minute), time.Time{}},
			{"revoking-due", grants.GrantRevoking, past(2 * time.Hour), past(time.Second), time.Time{}},
			{"revoke-failed-later", grants.GrantRevokeFailed, past(3 * time.Hour), future.Add(-time.Minute), time.Time{}},
			{"revoked", grants.GrantRevoked, past(5 * time.Hour), past(5 * time.Hour), past(5 * time.Hour)},
			{"failed", grants.GrantFailed, past(5 * time.Hour), past(5 * time.Hour), time.Time{}},
		}
		update(t, db, func(tx grants.Tx) error {
			for i, s := range specs {
				r := sampleRequest("r-" + s.id)
				r.State = grants.RequestApproved
				if err := tx.InsertRequest(ctx, r); err != nil {
					return err
				}
				g := sampleGrant(s.id, r.ID)
				g.State, g.ExpiresAt, g.NextAttemptAt, g.WarnAt = s.state, s.expires, s.next, s.warn
				g.CreatedAt = base.Add(time.Duration(i) * time.Second)
				if err := tx.InsertGrant(ctx, g); err != nil {
					return err
				}
			}
			for _, p := range []struct {
				id    string
				state grants.RequestState
				until time.Time
			}{
				{"pending-due", grants.RequestPending, past(time.Minute)},
				{"pending-later", grants.RequestPending, future.Add(time.Hour)},
				{"decided", grants.RequestApproved, past(time.Hour)},
			} {
				r := sampleRequest(p.id)
				r.State, r.PendingUntil = p.state, p.until
				if err := tx.InsertRequest(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})

		gids := func(gs []grants.Grant) []string {
			var out []string
			for _, g := range gs {
				out = append(out, g.ID)
			}
			return out
		}
		view(t, db, func(tx grants.ReadTx) error {
			due, err := tx.DueGrants(ctx, now, 10)
			if err != nil {
				return err
			}
			if want := []string{"active-expired-earlier", "activating-due", "active-expired", "revoking-due"}; !slices.Equal(gids(due), want) {
				t.Errorf("DueGrants = %v, want %v (earliest first)", gids(due), want)
			}
			due, err = tx.DueGrants(ctx, now, 2)
			if err != nil {
				return err
			}
			if want := []string{"active-expired-earlier", "activating-due"}; !slices.Equal(gids(due), want) {
				t.Errorf("DueGrants limit 2 = %v, want %v", gids(due), want)
			}
			warn, err := tx.DueWarnings(ctx, now, 10)
			if err != nil {
				return err
			}
			if want := []string{"active-later"}; !slices.Equal(gids(warn), want) {
				t.Errorf("DueWarnings = %v, want %v", gids(warn), want)
			}
			pend, err := tx.DuePending(ctx, now, 10)
			if err != nil {
				return err
			}
			if len(pend) != 1 || pend[0].ID != "pending-due" {
				t.Errorf("DuePending = %+v, want pending-due", pend)
			}
			next, ok, err := tx.NextDue(ctx)
			if err != nil {
				return err
			}
			if !ok || !next.Equal(past(time.Hour)) {
				t.Errorf("NextDue = %v, %v; want %v (the earliest expired grant)", next, ok, past(time.Hour))
			}
			return nil
		})

		// With everything due handled, the next due time is the earliest future one.
		update(t, db, func(tx grants.Tx) error {
			for _, id := range []string{"active-expired", "active-expired-earlier", "activating-due", "revoking-due", "active-later"} {
				g, err := tx.Grant(ctx, id)
				if err != nil {
					return err
				}
				g.State = grants.GrantRevoked
				if _, err := tx.UpdateGrant(ctx, g); err != nil {
					return err
				}
			}
			r, err := tx.Request(ctx, "pending-due")
			if err != nil {
				return err
			}
			r.State = grants.RequestExpired
			_, err = tx.UpdateRequest(ctx, r)
			return err
		})
		view(t, db, func(tx grants.ReadTx) error {
			next, ok, err := tx.NextDue(ctx)
			if err != nil {
				return err
			}
			if want := future.Add(-time.Minute); !ok || !next.Equal(want) {
				t.Errorf("NextDue = %v, %v; want %v (the revoke_failed retry)", next, ok, want)
			}
			return nil
		})
	})
}

func TestSQLiteDueQueriesUseIndexes(t *testing.T) {
	db := newDB(t, backends[0])
	ctx := testCtx(t)
	for _, q := range []string{
		`SELECT id FROM grants WHERE state = 'active' AND expires_at <= 5 ORDER BY expires_at, id LIMIT 10`,
		`SELECT id FROM grants WHERE state IN ('activating', 'revoking', 'revoke_failed') AND next_attempt_at <= 5 ORDER BY next_attempt_at, id LIMIT 10`,
		`SELECT id FROM grants WHERE state = 'active' AND warn_at > 0 AND warn_at <= 5 ORDER BY warn_at, id LIMIT 10`,
		`SELECT id FROM requests WHERE state = 'pending' AND pending_until <= 5 ORDER BY pending_until, id LIMIT 10`,
		`SELECT MIN(expires_at) FROM grants WHERE state = 'active'`,
	} {
		rows, err := db.read.QueryxContext(ctx, "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			cols, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			plan = append(plan, fmt.Sprint(cols[len(cols)-1]))
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "USING INDEX") && !strings.Contains(joined, "USING COVERING INDEX") {
			t.Errorf("plan of %s\n  is %s\n  want an index search", q, joined)
		}
	}
}

func TestCursorsRememberWhereAConsumerIs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		if seq, err := db.Cursor(ctx, "siem"); err != nil || seq != 0 {
			t.Fatalf("new cursor = %d, %v; want 0", seq, err)
		}
		for _, seq := range []int64{41, 42} {
			if err := db.SetCursor(ctx, "siem", seq); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SetCursor(ctx, "chat", 7); err != nil {
			t.Fatal(err)
		}
		if seq, err := db.Cursor(ctx, "siem"); err != nil || seq != 42 {
			t.Fatalf("siem cursor = %d, %v; want 42", seq, err)
		}
		if seq, err := db.Cursor(ctx, "chat"); err != nil || seq != 7 {
			t.Fatalf("chat cursor = %d, %v; want 7", seq, err)
		}
	})
}

func TestPingAnswers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		if err := newDB(t, b).Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPostgresRunsATransactionAgainAfterADeadlock(t *testing.T) {
	db := newDB(t, backends[1])
	ctx := testCtx(t)
	update(t, db, func(tx grants.Tx) error {
		if err := tx.InsertRequest(ctx, sampleRequest("r1")); err != nil {
			return err
		}
		if err := tx.InsertGrant(ctx, sampleGrant("g1", "r1")); err != nil {
			return err
		}
		return tx.InsertGrant(ctx, sampleGrant("g2", "r1"))
	})
	// Two transactions lock g1 and g2 in opposite orders. PostgreSQL aborts one of them with a
	// deadlock (40P01); Update runs it again, and both changes land.
	var (
		locked   sync.WaitGroup
		attempts [2]int
		mu       sync.Mutex
	)
	locked.Add(2)
	touch := func(tx grants.Tx, id string) error {
		g, err := tx.Grant(ctx, id)
		if err != nil {
			return err
		}
		g.Attempts++
		_, err = tx.UpdateGrant(ctx, g)
		return err
	}
	run := func(i int, first, second string) error {
		return db.Update(ctx, func(tx grants.Tx) error {
			mu.Lock()
			attempts[i]++
			n := attempts[i]
			mu.Unlock()
			if err := touch(tx, first); err != nil {
				return err
			}
			if n == 1 {
				// Wait until both hold their first lock, so the second locks cross.
				locked.Done()
				locked.Wait()
			}
			return touch(tx, second)
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = run(0, "g1", "g2") })
	wg.Go(func() { errs[1] = run(1, "g2", "g1") })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if attempts[0]+attempts[1] < 3 {
		t.Errorf("attempts %v: no transaction ran again, so there was no deadlock to recover from", attempts)
	}
	view(t, db, func(tx grants.ReadTx) error {
		for _, id := range []string{"g1", "g2"} {
			g, err := tx.Grant(ctx, id)
			if err != nil {
				return err
			}
			if g.Attempts != 2 || g.Version != 3 {
				t.Errorf("grant %s: attempts %d version %d, want both transactions' changes (2, 3)", id, g.Attempts, g.Version)
			}
		}
		return nil
	})
}
