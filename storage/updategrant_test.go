package storage

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// watchGrantColumns adds a trigger per column of grants that notes the column's name in
// touched whenever an UPDATE sets it, changed or not: the index work SQLite does follows the
// same rule. PostgreSQL's `UPDATE OF` triggers fire the same way.
func watchGrantColumns(t *testing.T, db *DB) {
	t.Helper()
	ctx := testCtx(t)
	stmts := []string{`CREATE TABLE touched (col TEXT NOT NULL)`}
	if db.driver == Postgres {
		stmts = append(stmts, `CREATE FUNCTION note_touched() RETURNS trigger AS $$
			BEGIN INSERT INTO touched (col) VALUES (TG_ARGV[0]); RETURN NULL; END $$ LANGUAGE plpgsql`)
	}
	for _, col := range grantSetCols {
		if db.driver == Postgres {
			stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER touch_%s AFTER UPDATE OF %s ON grants
				FOR EACH ROW EXECUTE FUNCTION note_touched('%s')`, col, col, col))
		} else {
			stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER touch_%s AFTER UPDATE OF %s ON grants
				BEGIN INSERT INTO touched (col) VALUES ('%s'); END`, col, col, col))
		}
	}
	for _, s := range stmts {
		if _, err := db.write.ExecContext(ctx, s); err != nil {
			t.Fatalf("watch grant columns: %s: %v", s, err)
		}
	}
}

// touched returns the columns set since the last call, sorted, and forgets them.
func touched(t *testing.T, db *DB) []string {
	t.Helper()
	ctx := testCtx(t)
	var cols []string
	if err := db.write.SelectContext(ctx, &cols, `SELECT col FROM touched`); err != nil {
		t.Fatalf("read touched columns: %v", err)
	}
	if _, err := db.write.ExecContext(ctx, `DELETE FROM touched`); err != nil {
		t.Fatalf("forget touched columns: %v", err)
	}
	slices.Sort(cols)
	return slices.Compact(cols)
}

func TestUpdateGrantSetsOnlyTheColumnsThatChanged(t *testing.T) {
	later := base.Add(2 * time.Hour)
	tests := []struct {
		name string
		// change updates the grant in one transaction and returns what it should read back.
		change func(ctx context.Context, tx grants.Tx) (grants.Grant, error)
		want   []string
	}{
		{
			name: "a claim read in the same transaction sets its two columns",
			change: func(ctx context.Context, tx grants.Tx) (grants.Grant, error) {
				g, err := tx.Grant(ctx, "g1")
				if err != nil {
					return g, err
				}
				g.NextAttemptAt, g.UpdatedAt = later, later
				g.Version, err = tx.UpdateGrant(ctx, g)
				return g, err
			},
			want: []string{"next_attempt_at", "updated_at"},
		},
		{
			name: "a grant read from a list and revoked sets what revoking changes",
			change: func(ctx context.Context, tx grants.Tx) (grants.Grant, error) {
				due, err := tx.DueGrants(ctx, later, 10)
				if err != nil || len(due) != 1 {
					return grants.Grant{}, fmt.Errorf("due grants: %d, %v", len(due), err)
				}
				g := due[0]
				g.State, g.RevokedAt, g.RevokedBy, g.UpdatedAt = grants.GrantRevoked, later, "system", later
				g.LeaseData, g.NextAttemptAt = nil, time.Time{}
				g.Version, err = tx.UpdateGrant(ctx, g)
				return g, err
			},
			want: []string{"lease_data", "next_attempt_at", "revoked_at", "revoked_by", "state", "updated_at"},
		},
		{
			name: "a lease changed in place after the read is still written",
			change: func(ctx context.Context, tx grants.Tx) (grants.Grant, error) {
				g, err := tx.Grant(ctx, "g1")
				if err != nil {
					return g, err
				}
				g.LeaseData["role"] = "writer"
				g.Version, err = tx.UpdateGrant(ctx, g)
				return g, err
			},
			want: []string{"lease_data"},
		},
		{
			name: "a second update in one transaction sets what changed since the first",
			change: func(ctx context.Context, tx grants.Tx) (grants.Grant, error) {
				g, err := tx.Grant(ctx, "g1")
				if err != nil {
					return g, err
				}
				g.Attempts = 3
				if g.Version, err = tx.UpdateGrant(ctx, g); err != nil {
					return g, err
				}
				g.LastError = "connection refused"
				g.Version, err = tx.UpdateGrant(ctx, g)
				return g, err
			},
			want: []string{"attempts", "last_error"},
		},
		{
			name: "a grant this transaction did not read is written whole",
			change: func(ctx context.Context, tx grants.Tx) (grants.Grant, error) {
				g := sampleGrant("g1", "r1")
				g.State, g.LeaseData = grants.GrantActive, map[string]string{"role": "reader"}
				var err error
				g.Version, err = tx.UpdateGrant(ctx, g)
				return g, err
			},
			want: slices.Sorted(slices.Values(grantSetCols)),
		},
	}
	eachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				db := newDB(t, b)
				ctx := testCtx(t)
				g := sampleGrant("g1", "r1")
				g.State, g.LeaseData = grants.GrantActive, map[string]string{"role": "reader"}
				update(t, db, func(tx grants.Tx) error {
					if err := tx.InsertRequest(ctx, sampleRequest("r1")); err != nil {
						return err
					}
					return tx.InsertGrant(ctx, g)
				})
				watchGrantColumns(t, db)
				var want grants.Grant
				update(t, db, func(tx grants.Tx) error {
					var err error
					want, err = tc.change(ctx, tx)
					return err
				})
				if got := touched(t, db); !slices.Equal(got, tc.want) {
					t.Errorf("UPDATE set %v, want %v", got, tc.want)
				}
				view(t, db, func(tx grants.ReadTx) error {
					got, err := tx.Grant(ctx, "g1")
					if err != nil {
						return err
					}
					assertSameGrant(t, got, want)
					return nil
				})
			})
		}
	})
}
