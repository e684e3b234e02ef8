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
