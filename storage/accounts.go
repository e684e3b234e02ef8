package storage

import (
	"context"
	"database/sql"
	"errors"
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
// changes an existing owner. The common case (the owner's own request or approval) is one
// indexed read. ON CONFLICT instead of catching the duplicate key: on PostgreSQL an error
// aborts the whole transaction; two transactions claiming at once are ordered by the primary
// key, and the loser reads the winner's row.
func (t *tx) ClaimAccount(ctx context.Context, o grants.AccountOwner) (grants.AccountOwner, error) {
	if o.Scope == "" || o.Account == "" || o.Person == "" {
		return grants.AccountOwner{}, fmt.Errorf("claim account: %w: scope, account and person are required", grants.ErrInvalid)
	}
	if owner, ok, err := t.accountOwner(ctx, o.Scope, o.Account); err != nil || ok {
		return owner, err
	}
	res, err := t.exec(ctx, `INSERT INTO account_owners (scope, account, person_id, request_id, first_seen)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, account) DO NOTHING`,
		o.Scope, o.Account, o.Person, o.RequestID, micros(o.FirstSeen))
	if err != nil {
		return grants.AccountOwner{}, fmt.Errorf("claim account %s on %s: %w", o.Account, o.Scope, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return grants.AccountOwner{}, fmt.Errorf("claim account %s on %s: %w", o.Account, o.Scope, err)
	} else if n == 1 {
		return o, nil
	}
	owner, ok, err := t.accountOwner(ctx, o.Scope, o.Account)
	if err == nil && !ok {
		err = fmt.Errorf("the owner row of account %s on %s vanished", o.Account, o.Scope)
	}
	return owner, err
}

// accountOwner reads the owner of an account; ok is false when nobody owns it.
func (t *tx) accountOwner(ctx context.Context, scope, account string) (grants.AccountOwner, bool, error) {
	var r accountOwnerRow
	err := t.get(ctx, &r, `SELECT scope, account, person_id, request_id, first_seen
		FROM account_owners WHERE scope = ? AND account = ?`, scope, account)
	if errors.Is(err, sql.ErrNoRows) {
		return grants.AccountOwner{}, false, nil
	}
	if err != nil {
		return grants.AccountOwner{}, false, fmt.Errorf("read owner of account %s on %s: %w", account, scope, err)
	}
	return grants.AccountOwner{Scope: r.Scope, Account: r.Account, Person: r.Person,
		RequestID: r.RequestID, FirstSeen: fromMicros(r.FirstSeen)}, true, nil
}
