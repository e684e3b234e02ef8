package storage

import (
	"testing"

	"github.com/accessbot/accessbot/grants"
)

func TestAnAccountKeepsItsFirstOwner(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := testCtx(t)
		alice := grants.AccountOwner{Scope: "prod-ssh", Account: "alice", Person: "alice@example.com", RequestID: "r1", FirstSeen: base}
		evil := grants.AccountOwner{Scope: "prod-ssh", Account: "alice", Person: "alice@evil.example", RequestID: "r2", FirstSeen: base.Add(1)}
		elsewhere := grants.AccountOwner{Scope: "staging-ssh", Account: "alice", Person: "alice@evil.example", RequestID: "r3", FirstSeen: base}
		steps := []struct {
			name  string
			claim grants.AccountOwner
			want  string
		}{
			{"the first claim owns the account", alice, "alice@example.com"},
			{"another person's claim gets the first owner back", evil, "alice@example.com"},
			{"the owner's claim again changes nothing", alice, "alice@example.com"},
			{"the same name in another scope is another account", elsewhere, "alice@evil.example"},
		}
		for _, s := range steps {
			var got grants.AccountOwner
			err := db.Update(ctx, func(tx grants.Tx) error {
				var err error
				got, err = tx.ClaimAccount(ctx, s.claim)
				return err
			})
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if got.Person != s.want {
				t.Errorf("%s: owner %q, want %q", s.name, got.Person, s.want)
			}
		}
		var first grants.AccountOwner
		err := db.Update(ctx, func(tx grants.Tx) error {
			var err error
			first, err = tx.ClaimAccount(ctx, evil)
			return err
		})
		if err != nil || first.RequestID != "r1" || !first.FirstSeen.Equal(base) {
			t.Errorf("owner row %+v, %v; want request r1 first seen at %v", first, err, base)
		}
		if err := db.Update(ctx, func(tx grants.Tx) error {
			_, err := tx.ClaimAccount(ctx, grants.AccountOwner{Scope: "prod-ssh", Account: "bob"})
			return err
		}); err == nil {
			t.Error("a claim without a person was accepted")
		}
	})
}

// Accounts used before migration 0006 are owned by whoever used them first.
func TestMigrationRecordsTheOwnersOfAccountsAlreadyUsed(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		db := newDB(t, b)
		// Back to the schema before 0006, as a database an older accessbot left.
		for _, q := range []string{`DROP TABLE account_owners`, `DELETE FROM schema_migrations WHERE version = 6`} {
			if _, err := db.write.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for i, g := range []struct{ id, subject, account string }{
			{"g1", "alice@example.com", "alice"},
			{"g2", "alice@evil.example", "Alice"},
			{"g3", "bob@example.com", "bob"},
		} {
			if _, err := db.write.ExecContext(ctx, db.write.Rebind(`INSERT INTO grants (id, request_id, resource, subject,
				account, email, state, break_glass, reviewed_by, reviewed_at, reason, starts_at, expires_at, warn_at,
				lease_data, attempts, next_attempt_at, last_error, revoked_at, revoked_by, created_at, updated_at, version)
				VALUES (?, NULL, 'prod-ssh', ?, ?, '', 'revoked', 0, '', 0, '', 0, 0, 0, '{}', 0, 0, '', 0, '', ?, 0, 1)`),
				g.id, g.subject, g.account, int64(100+i)); err != nil {
				t.Fatalf("insert grant %s: %v", g.id, err)
			}
		}
		if applied, err := db.Migrate(ctx); err != nil || len(applied) != 1 || applied[0] != 6 {
			t.Fatalf("migrate applied %v, %v; want 0006 again", applied, err)
		}
		for account, want := range map[string]string{"alice": "alice@example.com", "bob": "bob@example.com"} {
			var got grants.AccountOwner
			err := db.Update(ctx, func(tx grants.Tx) error {
				var err error
				got, err = tx.ClaimAccount(ctx, grants.AccountOwner{Scope: "prod-ssh", Account: account, Person: "mallory@example.com", RequestID: "r9", FirstSeen: base})
				return err
			})
			if err != nil || got.Person != want {
				t.Errorf("owner of %s after the migration: %+v, %v; want %s", account, got, err, want)
			}
		}
	})
}
