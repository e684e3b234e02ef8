package storage

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
)

func TestCountAsksCountsWhatTheRequestLimitsSelect(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		now := base.Add(3 * time.Hour)
		update(t, db, func(tx grants.Tx) error {
			for i, spec := range []struct {
				requester, resource string
				state               grants.RequestState
				created, until      time.Time
			}{
				{"alice", "prod-db", grants.RequestPending, now.Add(-10 * time.Minute), now.Add(time.Hour)},
				{"alice", "ssh", grants.RequestPending, now.Add(-20 * time.Minute), now.Add(time.Hour)},
				{"alice", "prod-db", grants.RequestPending, now.Add(-2 * time.Hour), now.Add(-time.Hour)}, // past its TTL, not yet swept
				{"alice", "prod-db", grants.RequestApproved, now.Add(-30 * time.Minute), now},
				{"alice", "prod-db", grants.RequestDenied, now.Add(-time.Hour), now}, // an hour old: out of the last hour
				{"bob", "prod-db", grants.RequestPending, now.Add(-5 * time.Minute), now.Add(time.Hour)},
			} {
				r := sampleRequest(fmt.Sprintf("r%d", i))
				r.Requester, r.Resource, r.State, r.CreatedAt, r.PendingUntil = spec.requester, spec.resource, spec.state, spec.created, spec.until
				if err := tx.InsertRequest(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		tests := []struct {
			name string
			c    grants.AskCount
			want int
		}{
			{"a person's requests still waiting", grants.AskCount{Requester: "alice", PendingAt: now}, 2},
			{"a resource's requests still waiting, from everyone", grants.AskCount{Resource: "prod-db", PendingAt: now}, 2},
			{"a person's requests of the last hour, whatever their state", grants.AskCount{Requester: "alice", Since: now.Add(-time.Hour)}, 3},
			{"everything", grants.AskCount{}, 6},
			{"nobody's", grants.AskCount{Requester: "carol"}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				update(t, db, func(tx grants.Tx) error {
					n, err := tx.CountAsks(ctx, tt.c)
					if err != nil {
						return err
					}
					if n != tt.want {
						t.Errorf("CountAsks(%+v) = %d, want %d", tt.c, n, tt.want)
					}
					return nil
				})
			})
		}
	})
}

// Replicas that count and insert at once never store more than the limit: counting takes the
// lock every writer takes.
func TestConcurrentAskersCountOneAfterTheOther(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		first := openDSN(t, b.driver, dsn)
		if _, err := first.Migrate(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		replicas := []*DB{first}
		if b.driver == Postgres {
			replicas = append(replicas, openDSN(t, b.driver, dsn), openDSN(t, b.driver, dsn))
		}
		ctx := testCtx(t)
		const limit, askers = 5, 30
		var wg sync.WaitGroup
		errs := make(chan error, askers)
		for i := range askers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- replicas[i%len(replicas)].Update(ctx, func(tx grants.Tx) error {
					n, err := tx.CountAsks(ctx, grants.AskCount{Requester: "alice@example.com", PendingAt: base})
					if err != nil || n >= limit {
						return err
					}
					return tx.InsertRequest(ctx, sampleRequest(fmt.Sprintf("r%d", i)))
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		view(t, first, func(tx grants.ReadTx) error {
			rs, err := tx.Requests(ctx, grants.RequestFilter{})
			if len(rs) != limit {
				t.Errorf("%d requests stored by %d concurrent askers, want the limit %d", len(rs), askers, limit)
			}
			return err
		})
	})
}
