package storage

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/postgres"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// activityTarget is a PostgreSQL database with a role reader, and the postgres adapter in
// ephemeral mode on it, as the bot runs it. pgtest trusts local logins, so the test logs in as
// a grant's role without its password.
func activityTarget(t *testing.T) (*postgres.Postgres, string) {
	t.Helper()
	dsn := pgtest.Shared(t).NewDatabase(t)
	conn, err := pgx.Connect(testCtx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(testCtx(t), `DO $$ BEGIN CREATE ROLE reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	cfg := postgres.NewConfig()
	cfg.DSN, cfg.Mode, cfg.Roles, cfg.OnRevokeOwned = postgres.DSN(dsn), postgres.ModeEphemeral, []string{"reader"}, postgres.OwnedDrop
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := postgres.New(*cfg, adapters.Env{Resource: "app-db", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, dsn
}

// activeGrant makes a grant at the target and stores it active, with its grant.active event.
func activeGrant(t *testing.T, db *DB, a *postgres.Postgres, id string, now time.Time) (grants.Grant, adapters.Lease) {
	t.Helper()
	g := sampleGrant(id, "r-"+id)
	g.Resource, g.Account, g.State = "app-db", "alice", grants.GrantActive
	g.StartsAt, g.ExpiresAt, g.CreatedAt, g.UpdatedAt = now, now.Add(time.Hour), now, now
	lease, err := a.Grant(testCtx(t), adapters.GrantRequest{GrantID: id, Resource: g.Resource,
		Subject: adapters.Subject{ID: g.Subject, Email: g.Email, Account: g.Account}, Start: now, Expires: g.ExpiresAt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: id, Resource: g.Resource, Data: lease.Data,
			Subject: adapters.Subject{ID: g.Subject, Account: g.Account}})
	})
	g.LeaseData = lease.Data
	update(t, db, func(tx grants.Tx) error {
		r := sampleRequest(g.RequestID)
		r.Resource, r.State, r.GrantID = g.Resource, grants.RequestApproved, id
		if err := tx.InsertRequest(testCtx(t), r); err != nil {
			return err
		}
		if err := tx.InsertGrant(testCtx(t), g); err != nil {
			return err
		}
		_, err := tx.Append(testCtx(t), audit.Event{At: now, Actor: "accessbot", Resource: g.Resource, Subject: g.Subject,
			RequestID: g.RequestID, GrantID: id}.With(audit.GrantActiveData{Attempts: 1, ExpiresAt: g.ExpiresAt}))
		return err
	})
	return g, lease
}

// endGrant marks the grant revoked, with its grant.revoked event, as the scheduler does.
func endGrant(t *testing.T, db *DB, id string, now time.Time) {
	t.Helper()
	update(t, db, func(tx grants.Tx) error {
		g, err := tx.Grant(testCtx(t), id)
		if err != nil {
			return err
		}
		g.State, g.RevokedAt = grants.GrantRevoked, now
		if _, err := tx.UpdateGrant(testCtx(t), g); err != nil {
			return err
		}
		_, err = tx.Append(testCtx(t), audit.Event{At: now, Actor: "accessbot", Resource: g.Resource, Subject: g.Subject,
			RequestID: g.RequestID, GrantID: id}.With(audit.GrantRevokedData{}))
		return err
	})
}

func sessionEvents(t *testing.T, db *DB, grantID string) []audit.ActivitySessionSeenData {
	t.Helper()
	events, err := db.GrantEvents(testCtx(t), "alice@example.com", grantID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.ActivitySessionSeenData
	for _, e := range events {
		if e.Type == audit.ActivitySessionSeen {
			p, err := audit.Decode[audit.ActivitySessionSeenData](e)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

// TestActivitySamplerSeesEachSessionOnce is the sequence against a real PostgreSQL
// target: a session opened with the grant's role is recorded once, with its application name
// and when it was first and last seen, however many samples and samplers (two replicas) see it;
// a session still open when its grant ends is recorded then; a grant nobody used has no event,
// and is the one the never-used list names.
func TestActivitySamplerSeesEachSessionOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		a, target := activityTarget(t)
		fake := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		svc, err := grants.NewService(grants.Options{Store: db, Clock: fake,
			Resources: []*grants.Resource{{Name: "app-db", AdapterType: "postgres", Adapter: a}}})
		if err != nil {
			t.Fatal(err)
		}
		replicas := []*grants.Activity{grants.NewActivity(svc, grants.ActivityOptions{}), grants.NewActivity(svc, grants.ActivityOptions{})}
		sample := func(i int) grants.SampleResult {
			t.Helper()
			res, err := replicas[i].Sample(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		start := fake.Now()
		used, lease := activeGrant(t, db, a, "g-used-"+b.driver, start)
		idle, _ := activeGrant(t, db, a, "g-idle-"+b.driver, start)

		if res := sample(0); res.Sessions != 0 || res.Events != 0 {
			t.Fatalf("before any login: %+v", res)
		}
		u, _ := url.Parse(target)
		u.User = url.User(lease.Data["role"])
		q := u.Query()
		q.Set("application_name", "report-tool")
		u.RawQuery = q.Encode()
		conn, err := pgx.Connect(testCtx(t), u.String())
		if err != nil {
			t.Fatal(err)
		}
		fake.Advance(30 * time.Second)
		firstSeen := fake.Now()
		for i := range 4 {
			// Both replicas sample the open session, twice each: no event while it is open.
			if res := sample(i % 2); res.Sessions != 1 || res.Events != 0 {
				t.Fatalf("sample %d of the open session: %+v, want 1 session and no event", i, res)
			}
			if i < 3 {
				fake.Advance(30 * time.Second)
			}
		}
		// The server may list the session for a moment after it closes: the last sample that
		// saw it is this one or a later one.
		lastSeen := fake.Now()
		conn.Close(context.Background())
		// The server lists a closed session for a moment; sample until it is gone.
		var events int
		for deadline := time.Now().Add(5 * time.Second); events == 0; time.Sleep(20 * time.Millisecond) {
			fake.Advance(30 * time.Second)
			events += sample(1).Events + sample(0).Events
			if time.Now().After(deadline) {
				t.Fatal("the closed session was never recorded")
			}
		}
		got := sessionEvents(t, db, used.ID)
		if len(got) != 1 {
			t.Fatalf("%d activity.session_seen events, want 1: %+v", len(got), got)
		}
		s := got[0]
		if s.Application != "report-tool" || s.Account != lease.Data["role"] || s.Ended != audit.SessionClosed ||
			!s.FirstSeen.Equal(firstSeen) || s.LastSeen.Before(lastSeen) || s.LastSeen.After(fake.Now()) || s.Started.IsZero() {
			t.Fatalf("event %+v, want application report-tool, role %s, first seen %s, last seen from %s to the closing sample at %s, closed",
				s, lease.Data["role"], firstSeen, lastSeen, fake.Now())
		}

		// A session open when the grant ends is recorded at the next sample, once.
		conn, err = pgx.Connect(testCtx(t), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		fake.Advance(30 * time.Second)
		sample(0)
		fake.Advance(30 * time.Second)
		endGrant(t, db, used.ID, fake.Now())
		endGrant(t, db, idle.ID, fake.Now())
		if res := sample(1); res.Events != 1 {
			t.Fatalf("sample after the grant ended: %+v, want the open session's event", res)
		}
		if res := sample(0); res.Events != 0 {
			t.Fatalf("the other replica wrote the event again: %+v", res)
		}
		if got := sessionEvents(t, db, used.ID); len(got) != 2 || got[1].Ended != audit.SessionGrantEnded {
			t.Fatalf("events %+v, want the second ended by the grant's end", got)
		}
		if got := sessionEvents(t, db, idle.ID); len(got) != 0 {
			t.Fatalf("the idle grant has events %+v", got)
		}

		unused, total, err := db.UnusedGrants(testCtx(t), audit.UnusedQuery{Since: start, Until: fake.Now().Add(time.Second), Resources: []string{"app-db"}})
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || len(unused) != 1 || unused[0].GrantID != idle.ID || !unused[0].Start.Equal(start) {
			t.Fatalf("unused grants %+v (total %d), want only %s, active from %s", unused, total, idle.ID, start)
		}
		if _, total, _ := db.UnusedGrants(testCtx(t), audit.UnusedQuery{Since: start, Until: fake.Now().Add(time.Second), Resources: []string{"ssh"}}); total != 0 {
			t.Fatalf("grants of a resource that cannot tell are listed as unused: %d", total)
		}
	})
}

// fakeSampler is an adapter whose target lists the sessions it is told, or fails.
type fakeSampler struct {
	sessions []adapters.Session
	err      error
}

func (f *fakeSampler) Grant(context.Context, adapters.GrantRequest) (adapters.Lease, error) {
	return adapters.Lease{}, nil
}
func (f *fakeSampler) Revoke(context.Context, adapters.RevokeRequest) error { return nil }
func (f *fakeSampler) Sessions(_ context.Context, gs []adapters.RevokeRequest) ([]adapters.Session, error) {
	return f.sessions, f.err
}

// TestATargetThatCannotAnswerClosesNoSession: while the target fails to list sessions, its open
// sessions are not taken for closed (no event); once it answers, the session that is gone is
// recorded once, with the last sample that saw it.
func TestATargetThatCannotAnswerClosesNoSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		fake := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		target := &fakeSampler{}
		svc, err := grants.NewService(grants.Options{Store: db, Clock: fake,
			Resources: []*grants.Resource{{Name: "app-db", AdapterType: "fake", Adapter: target}}})
		if err != nil {
			t.Fatal(err)
		}
		act := grants.NewActivity(svc, grants.ActivityOptions{})
		g := sampleGrant("g-flaky", "r-flaky")
		g.Resource, g.State = "app-db", grants.GrantActive
		update(t, db, func(tx grants.Tx) error {
			r := sampleRequest(g.RequestID)
			r.Resource, r.State, r.GrantID = g.Resource, grants.RequestApproved, g.ID
			if err := tx.InsertRequest(testCtx(t), r); err != nil {
				return err
			}
			return tx.InsertGrant(testCtx(t), g)
		})
		target.sessions = []adapters.Session{{GrantID: g.ID, Key: "id:7", Account: "alice", Client: "10.0.0.7:3306"}}
		if _, err := act.Sample(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		seen := fake.Now()
		target.sessions, target.err = nil, adapters.Retryablef("connection refused")
		for range 3 {
			fake.Advance(30 * time.Second)
			if res, err := act.Sample(testCtx(t)); err != nil || res.Events != 0 {
				t.Fatalf("sample of a failing target: %+v, %v; want no event", res, err)
			}
		}
		target.err = nil
		fake.Advance(30 * time.Second)
		if res, err := act.Sample(testCtx(t)); err != nil || res.Events != 1 {
			t.Fatalf("sample once the target answers: %+v, %v; want the session's event", res, err)
		}
		got := sessionEvents(t, db, g.ID)
		if len(got) != 1 || !got[0].FirstSeen.Equal(seen) || !got[0].LastSeen.Equal(seen) || got[0].Client != "10.0.0.7:3306" {
			t.Fatalf("events %+v, want one, first and last seen at %s", got, seen)
		}
	})
}
