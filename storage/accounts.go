package storage

import (
	"context"
	"fmt"

	"github.com/accessbot/accessbot/grants"
)

// The account_owners table (migration 0006): which person an account at a target belongs to.

type accountOwnerRow struct {
	Scope     string `db:"scope"`
	Account   string `db:"account"`
	Person    string `db:"person_id"`
	RequestID string `db:"request_id"`
	FirstSeen int64  `db:"first_seen"`
}

// ClaimAccount records o as the owner of its account unless someone already owns it, and
// returns the owner the table holds after the claim: o itself, or the earlier owner. It never
// changes an existing owner. ON CONFLICT instead of catching the duplicate key: on PostgreSQL
// an error aborts the whole transaction; two transactions claiming at once are ordered by the
// primary key, and the second reads the first's row once it commits.
func (t *tx) ClaimAccount(ctx context.Context, o grants.AccountOwner) (grants.AccountOwner, error) {
	if o.Scope == "" || o.Account == "" || o.Person == "" {
		return grants.AccountOwner{}, fmt.Errorf("claim account: %w: scope, account and person are required", grants.ErrInvalid)
	}
	if _, err := t.exec(ctx, `INSERT INTO account_owners (scope, account, person_id, request_id, first_seen)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, account) DO NOTHING`,
		o.Scope, o.Account, o.Person, o.RequestID, micros(o.FirstSeen)); err != nil {
		return grants.AccountOwner{}, fmt.Errorf("claim account %s on %s: %w", o.Account, o.Scope, err)
	}
	var r accountOwnerRow
	if err := t.get(ctx, &r, `SELECT scope, account, person_id, request_id, first_seen
		FROM account_owners WHERE scope = ? AND account = ?`, o.Scope, o.Account); err != nil {
		return grants.AccountOwner{}, fmt.Errorf("read owner of account %s on %s: %w", o.Account, o.Scope, err)
	}
	return grants.AccountOwner{Scope: r.Scope, Account: r.Account, Person: r.Person,
		RequestID: r.RequestID, FirstSeen: fromMicros(r.FirstSeen)}, nil
}
