package storage

import (
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

func TestSignalFactsReadEachFactFromItsOwnRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		now := base.Add(40 * 24 * time.Hour)
		req := func(id, who, res string, at time.Time, d time.Duration, state grants.RequestState) grants.Request {
			r := sampleRequest(id)
			r.Requester, r.Resource, r.CreatedAt, r.Duration, r.State = who, res, at, d, state
			if state != grants.RequestPending {
				r.DecidedAt = at.Add(time.Minute)
			}
			return r
		}
		update(t, db, func(tx grants.Tx) error {
			rows := []grants.Request{
				// alice: one request 35 days ago (outside the 30 days), two 3 days ago, one an hour ago.
				req("r1", "alice@example.com", "prod-db", now.Add(-35*24*time.Hour), time.Hour, grants.RequestApproved),
				req("r2", "alice@example.com", "prod-db", now.Add(-3*24*time.Hour), 2*time.Hour, grants.RequestApproved),
				req("r3", "alice@example.com", "prod-db", now.Add(-3*24*time.Hour+time.Minute), 3*time.Hour, grants.RequestApproved),
				req("r4", "alice@example.com", "prod-db", now.Add(-time.Hour), time.Hour, grants.RequestDenied),
				// bob on another resource: none of alice's facts.
				req("r5", "bob@example.com", "prod-api", now.Add(-time.Hour), 4*time.Hour, grants.RequestApproved),
			}
			for _, r := range rows {
				if err := tx.InsertRequest(ctx, r); err != nil {
					return err
				}
			}
			g := sampleGrant("g1", "r2")
			g.CreatedAt = now.Add(-3 * 24 * time.Hour)
			if err := tx.InsertGrant(ctx, g); err != nil {
				return err
			}
			ext := sampleRequest("r6")
			ext.Kind, ext.Requester, ext.CreatedAt, ext.State, ext.Duration = grants.KindExtend, "carol@example.com", now.Add(-time.Hour), grants.RequestApproved, 9*time.Hour
			return tx.InsertRequest(ctx, ext)
		})
		var f grants.SignalFacts
		view(t, db, func(tx grants.ReadTx) error {
			var err error
			f, err = tx.SignalFacts(ctx, grants.SignalQuery{Person: "alice@example.com", Resource: "prod-db", Now: now})
			return err
		})
		if !f.LastGrant.Equal(now.Add(-3 * 24 * time.Hour)) {
			t.Errorf("last grant %s, want 3 days ago", f.LastGrant)
		}
		if f.Requests24h != 1 {
			t.Errorf("requests in 24h %d, want 1", f.Requests24h)
		}
		want := make([]int, grants.VolumeDays)
		want[27], want[29] = 2, 1 // 3 days ago is day 27 of 0..29
		if !slices.Equal(f.Daily, want) {
			t.Errorf("daily %v, want %v", f.Daily, want)
		}
		// The approved access requests of prod-db, newest first; not the denial, not the extension.
		if !slices.Equal(f.Durations, []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour}) {
			t.Errorf("durations %v, want 3h 2h 1h", f.Durations)
		}
		if !f.DeniedRecently {
			t.Error("the denial an hour ago was not found")
		}

		view(t, db, func(tx grants.ReadTx) error {
			var err error
			f, err = tx.SignalFacts(ctx, grants.SignalQuery{Person: "dave@example.com", Resource: "prod-db", Now: now})
			return err
		})
		if !f.LastGrant.IsZero() || f.Requests24h != 0 || f.DeniedRecently || slices.Max(f.Daily) != 0 {
			t.Errorf("dave, who asked for nothing, has facts %+v", f)
		}
	})
}

func TestARequestKeepsItsSignals(t *testing.T) {
	db := newDB(t, backends[0])
	ctx := testCtx(t)
	r := sampleRequest("r1")
	r.Signals = []string{grants.SignalFirstAccess, grants.SignalOutsideHours}
	update(t, db, func(tx grants.Tx) error { return tx.InsertRequest(ctx, r) })
	var got grants.Request
	view(t, db, func(tx grants.ReadTx) error {
		var err error
		got, err = tx.Request(ctx, "r1")
		return err
	})
	if !slices.Equal(got.Signals, r.Signals) {
		t.Errorf("signals %v, want %v", got.Signals, r.Signals)
	}
	got.State = grants.RequestApproved
	got.Signals = nil
	update(t, db, func(tx grants.Tx) error { _, err := tx.UpdateRequest(ctx, got); return err })
	view(t, db, func(tx grants.ReadTx) error {
		var err error
		got, err = tx.Request(ctx, "r1")
		return err
	})
	if got.Signals != nil {
		t.Errorf("signals %v after clearing them, want none", got.Signals)
	}
}

func TestTheDigestReadsSignalsAndVolumesByQuery(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		add := func(at time.Time, person, resource string, raised []string) {
			t.Helper()
			var sig *audit.RequestSignals
			if raised != nil {
				sig = &audit.RequestSignals{Raised: raised}
			}
			if _, err := db.AppendAudit(ctx, audit.Event{At: at, Actor: person, Resource: resource, Subject: person,
				RequestID: "r"}.With(audit.RequestCreatedData{Kind: "access", Duration: time.Hour, Signals: sig})); err != nil {
				t.Fatal(err)
			}
		}
		add(base, "alice@example.com", "prod-db", []string{grants.SignalFirstAccess})
		add(base.Add(time.Minute), "alice@example.com", "prod-api", []string{})
		add(base.Add(2*time.Minute), "bob@example.com", "prod-db", nil)
		add(base.Add(time.Hour), "bob@example.com", "prod-db", []string{grants.SignalOutsideHours}) // after the window
		if _, err := db.AppendAudit(ctx, audit.Event{At: base, Actor: "bob@example.com", Resource: "prod-db"}.With(
			audit.AlertRaisedData{Alert: "x", Message: "raised"})); err != nil {
			t.Fatal(err)
		}
		var seen []string
		if err := db.SignalEvents(ctx, base, base.Add(time.Hour), func(e audit.Event) error {
			seen = append(seen, e.Type+" "+e.Subject+" "+e.Resource)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seen, []string{"request.created alice@example.com prod-db"}) {
			t.Errorf("signal events %v, want alice's first access only", seen)
		}
		byPerson, byResource, err := db.RequestVolumes(ctx, base, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if byPerson["alice@example.com"] != 2 || byPerson["bob@example.com"] != 1 || len(byPerson) != 2 {
			t.Errorf("by person %v, want alice 2, bob 1", byPerson)
		}
		if byResource["prod-db"] != 2 || byResource["prod-api"] != 1 || len(byResource) != 2 {
			t.Errorf("by resource %v, want prod-db 2, prod-api 1", byResource)
		}
	})
}
