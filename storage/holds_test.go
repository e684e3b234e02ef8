package storage

import (
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
)

func TestAHoldLapsesWhenItsOwnersHeartbeatIsOlderThanTheDeadline(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		now := base.UTC().Truncate(time.Microsecond)
		beat := func(id string, at time.Time) {
			t.Helper()
			if err := db.Beat(ctx, id, now.Add(-time.Hour), at); err != nil {
				t.Fatalf("beat %s: %v", id, err)
			}
		}
		beat("p-dead", now.Add(-3*time.Second))
		beat("p-live", now.Add(-2*time.Second))
		beat("p-live", now.Add(-200*time.Millisecond))
		// A late beat never moves last_seen back.
		beat("p-live", now.Add(-5*time.Second))
		beat("p-gone", now.Add(-25*time.Hour))
		beat("p-new", now) // the first beat of a process prunes rows silent for a day

		update(t, db, func(tx grants.Tx) error {
			for _, h := range []struct {
				id, owner string
				state     grants.GrantState
				next      time.Time
			}{
				{"held-by-dead", "p-dead", grants.GrantRevoking, now.Add(50 * time.Second)},
				{"held-by-dead-earlier", "p-dead", grants.GrantActivating, now.Add(40 * time.Second)},
				{"held-by-live", "p-live", grants.GrantRevoking, now.Add(30 * time.Second)},
				{"held-by-unknown", "p-gone", grants.GrantRevokeFailed, now.Add(55 * time.Second)},
				{"held-by-dead-lapsed", "p-dead", grants.GrantRevoking, now.Add(-time.Second)},
				{"legacy-hold", "", grants.GrantRevoking, now.Add(50 * time.Second)},
				{"revoked", "p-dead", grants.GrantRevoked, now.Add(50 * time.Second)},
			} {
				g := sampleGrant(h.id, "")
				g.State, g.ClaimOwner, g.NextAttemptAt = h.state, h.owner, h.next
				if err := tx.InsertGrant(ctx, g); err != nil {
					return err
				}
			}
			return nil
		})

		view(t, db, func(rt grants.ReadTx) error {
			tx := rt.(grants.HoldTx)
			orphans, err := tx.OrphanedGrants(ctx, now, now.Add(-time.Second), 10)
			if err != nil {
				return err
			}
			var ids []string
			for _, g := range orphans {
				ids = append(ids, g.ID+"/"+g.ClaimOwner)
			}
			if want := []string{"held-by-dead-earlier/p-dead", "held-by-dead/p-dead", "held-by-unknown/p-gone"}; !slices.Equal(ids, want) {
				t.Errorf("OrphanedGrants = %v, want %v (a lapsed claim is DueGrants' business)", ids, want)
			}
			if orphans, err = tx.OrphanedGrants(ctx, now, now.Add(-time.Second), 1); err != nil || len(orphans) != 1 {
				t.Errorf("OrphanedGrants limit 1 = %d grants, %v", len(orphans), err)
			}
			seen, ok, err := tx.OwnersLastSeen(ctx, now, "p-new")
			if err != nil {
				return err
			}
			// p-gone was pruned: its holds count as never seen.
			if !ok || !seen.Equal(time.UnixMicro(0).UTC()) {
				t.Errorf("OwnersLastSeen = %s, %v; want the zero instant for the pruned owner", seen, ok)
			}
			return nil
		})

		// Without the unknown owner's grant the earliest is the dead process's last beat; the
		// caller's own holds never count.
		update(t, db, func(tx grants.Tx) error {
			g, err := tx.Grant(ctx, "held-by-unknown")
			if err != nil {
				return err
			}
			g.State, g.ClaimOwner = grants.GrantRevoked, ""
			_, err = tx.UpdateGrant(ctx, g)
			return err
		})
		view(t, db, func(rt grants.ReadTx) error {
			tx := rt.(grants.HoldTx)
			seen, ok, err := tx.OwnersLastSeen(ctx, now, "p-new")
			if err != nil {
				return err
			}
			if !ok || !seen.Equal(now.Add(-3*time.Second)) {
				t.Errorf("OwnersLastSeen = %s, %v; want p-dead's last beat %s", seen, ok, now.Add(-3*time.Second))
			}
			if _, ok, err := tx.OwnersLastSeen(ctx, now.Add(time.Minute), "p-new"); err != nil || ok {
				t.Errorf("once every claim has run out OwnersLastSeen says %v, %v; want none", ok, err)
			}
			return nil
		})
	})
}
