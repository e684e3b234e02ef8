package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/transparency-dev/merkle/compact"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// tx is a transaction. View hands it out as a grants.ReadTx, Update as a grants.Tx.
type tx struct {
	db    *DB
	tx    *sqlx.Tx
	stmts *stmtCache // nil on PostgreSQL
	// read holds, in a write transaction (nil in View), the column values of each grant as this
	// transaction read it, so that UpdateGrant writes only the columns that changed.
	read map[string]grantSnapshot
	// tree is the audit tree's right edge after this transaction's last Append, so the next
	// one does not decode it from the head row again.
	tree *compact.Range
}

var _ grants.Tx = (*tx)(nil)

// Queries are written with ? placeholders; rebind turns them into $n for PostgreSQL.
func (t *tx) rebind(q string) string { return t.tx.Rebind(q) }

// prepared returns q's prepared statement bound to this transaction, or nil.
func (t *tx) prepared(ctx context.Context, q string) *sqlx.Stmt {
	if s := t.stmts.lookup(q); s != nil {
		return t.tx.StmtxContext(ctx, s)
	}
	return nil
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := t.prepared(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.rebind(q), args...)
}

func (t *tx) get(ctx context.Context, dest any, q string, args ...any) error {
	if s := t.prepared(ctx, q); s != nil {
		return s.GetContext(ctx, dest, args...)
	}
	return t.tx.GetContext(ctx, dest, t.rebind(q), args...)
}

func (t *tx) queryx(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryxContext(ctx, args...)
	}
	return t.tx.QueryxContext(ctx, t.rebind(q), args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sqlx.Row {
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryRowxContext(ctx, args...)
	}
	return t.tx.QueryRowxContext(ctx, t.rebind(q), args...)
}

// --- requests ---

const requestCols = `id, kind, resource, requester, requester_name, duration_us, reason, state,
	approvals_needed, grant_id, created_at, pending_until, decided_at, decided_by, note, signals, checks, version`

type requestRow struct {
	ID              string `db:"id"`
	Kind            string `db:"kind"`
	Resource        string `db:"resource"`
	Requester       string `db:"requester"`
	RequesterName   string `db:"requester_name"`
	DurationUS      int64  `db:"duration_us"`
	Reason          string `db:"reason"`
	State           string `db:"state"`
	ApprovalsNeeded int    `db:"approvals_needed"`
	GrantID         string `db:"grant_id"`
	CreatedAt       int64  `db:"created_at"`
	PendingUntil    int64  `db:"pending_until"`
	DecidedAt       int64  `db:"decided_at"`
	DecidedBy       string `db:"decided_by"`
	Note            string `db:"note"`
	Signals         string `db:"signals"`
	Checks          string `db:"checks"`
	Version         int64  `db:"version"`
}

func (r requestRow) request() grants.Request {
	return grants.Request{
		ID:              r.ID,
		Kind:            grants.RequestKind(r.Kind),
		Resource:        r.Resource,
		Requester:       r.Requester,
		RequesterName:   r.RequesterName,
		Duration:        time.Duration(r.DurationUS) * time.Microsecond,
		Reason:          r.Reason,
		State:           grants.RequestState(r.State),
		ApprovalsNeeded: r.ApprovalsNeeded,
		GrantID:         r.GrantID,
		CreatedAt:       fromMicros(r.CreatedAt),
		PendingUntil:    fromMicros(r.PendingUntil),
		DecidedAt:       fromMicros(r.DecidedAt),
		DecidedBy:       r.DecidedBy,
		Note:            r.Note,
		Signals:         splitSignals(r.Signals),
		Checks:          readChecks(r.ID, r.Checks),
		Version:         r.Version,
	}
}

// requestArgs are the values of every column after id, in requestCols order, without version.
func requestArgs(r grants.Request) []any {
	return []any{string(r.Kind), r.Resource, r.Requester, r.RequesterName, r.Duration.Microseconds(),
		r.Reason, string(r.State), r.ApprovalsNeeded, r.GrantID, micros(r.CreatedAt),
		micros(r.PendingUntil), micros(r.DecidedAt), r.DecidedBy, r.Note, strings.Join(r.Signals, ","), writeChecks(r.Checks)}
}

func (t *tx) Request(ctx context.Context, id string) (grants.Request, error) {
	var row requestRow
	err := t.get(ctx, &row, `SELECT `+requestCols+` FROM requests WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return grants.Request{}, fmt.Errorf("request %s: %w", id, grants.ErrNotFound)
	}
	if err != nil {
		return grants.Request{}, fmt.Errorf("load request %s: %w", id, err)
	}
	return row.request(), nil
}

// selectRequests converts row by row: a list of 100,000 rows is held once, not twice.
func (t *tx) selectRequests(ctx context.Context, q string, args ...any) ([]grants.Request, error) {
	rows, err := t.queryx(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []grants.Request
	var row requestRow
	for rows.Next() {
		if err := rows.StructScan(&row); err != nil {
			return nil, err
		}
		out = append(out, row.request())
	}
	return out, rows.Err()
}

func (t *tx) Requests(ctx context.Context, f grants.RequestFilter) ([]grants.Request, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if f.Requester != "" {
		where = append(where, "requester = ?")
		args = append(args, f.Requester)
	}
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	q := `SELECT ` + requestCols + ` FROM requests` + whereClause(where) + ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rs, err := t.selectRequests(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return rs, nil
}

func (t *tx) InsertRequest(ctx context.Context, r grants.Request) error {
	if r.ID == "" {
		return fmt.Errorf("insert request: %w: empty id", grants.ErrInvalid)
	}
	args := append([]any{r.ID}, requestArgs(r)...)
	args = append(args, r.Version)
	res, err := t.exec(ctx, `INSERT INTO requests (`+requestCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("insert request %s: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert request %s: %w", r.ID, err)
	} else if n == 0 {
		return fmt.Errorf("insert request %s: already exists: %w", r.ID, grants.ErrConflict)
	}
	return nil
}

func (t *tx) UpdateRequest(ctx context.Context, r grants.Request) (int64, error) {
	args := append(requestArgs(r), r.ID, r.Version)
	res, err := t.exec(ctx, `UPDATE requests SET kind = ?, resource = ?, requester = ?,
		requester_name = ?, duration_us = ?, reason = ?, state = ?, approvals_needed = ?,
		grant_id = ?, created_at = ?, pending_until = ?, decided_at = ?, decided_by = ?, note = ?,
		signals = ?, checks = ?, version = version + 1
		WHERE id = ? AND version = ?`, args...)
	if err != nil {
		return 0, fmt.Errorf("update request %s: %w", r.ID, err)
	}
	return t.casResult(ctx, res, "requests", "request", r.ID, r.Version)
}

// casResult turns the outcome of a compare-and-swap UPDATE into the new version, ErrConflict
// (the row moved on) or ErrNotFound (there is no such row).
func (t *tx) casResult(ctx context.Context, res sql.Result, table, what, id string, version int64) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("update %s %s: %w", what, id, err)
	}
	if n == 1 {
		return version + 1, nil
	}
	var one int
	err = t.get(ctx, &one, `SELECT 1 FROM `+table+` WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("update %s %s: %w", what, id, grants.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("update %s %s: %w", what, id, err)
	}
	return 0, fmt.Errorf("update %s %s at version %d: %w", what, id, version, grants.ErrConflict)
}

func (t *tx) CountRequests(ctx context.Context) (map[grants.RequestState]int, error) {
	rows, err := t.queryx(ctx, `SELECT state, COUNT(*) FROM requests GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	defer rows.Close()
	out := map[grants.RequestState]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count requests: %w", err)
		}
		out[grants.RequestState(s)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return out, nil
}

func (t *tx) DuePending(ctx context.Context, now time.Time, limit int) ([]grants.Request, error) {
	rs, err := t.selectRequests(ctx, `SELECT `+requestCols+` FROM requests
		WHERE state = ? AND pending_until <= ? ORDER BY pending_until, id LIMIT ?`,
		string(grants.RequestPending), now.UnixMicro(), limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list pending requests due: %w", err)
	}
	return rs, nil
}

// --- reviews ---

type reviewRow struct {
	RequestID string `db:"request_id"`
	Reviewer  string `db:"reviewer"`
	Decision  string `db:"decision"`
	Reason    string `db:"reason"`
	At        int64  `db:"at"`
}

func (t *tx) Reviews(ctx context.Context, requestID string) ([]grants.Review, error) {
	var rows []reviewRow
	if err := t.tx.SelectContext(ctx, &rows, t.rebind(`SELECT request_id, reviewer, decision, reason, at
		FROM reviews WHERE request_id = ? ORDER BY at, reviewer`), requestID); err != nil {
		return nil, fmt.Errorf("list reviews of request %s: %w", requestID, err)
	}
	out := make([]grants.Review, len(rows))
	for i, r := range rows {
		out[i] = grants.Review{RequestID: r.RequestID, Reviewer: r.Reviewer,
			Decision: grants.Decision(r.Decision), Reason: r.Reason, At: fromMicros(r.At)}
	}
	return out, nil
}

func (t *tx) InsertReview(ctx context.Context, rv grants.Review) error {
	// ON CONFLICT instead of catching the duplicate key error: on PostgreSQL an error aborts the
	// whole transaction, and the caller may want to go on after a conflict.
	res, err := t.exec(ctx, `INSERT INTO reviews (request_id, reviewer, decision, reason, at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id, reviewer) DO NOTHING`,
		rv.RequestID, rv.Reviewer, string(rv.Decision), rv.Reason, micros(rv.At))
	if err != nil {
		return fmt.Errorf("insert review of request %s by %s: %w", rv.RequestID, rv.Reviewer, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert review of request %s by %s: %w", rv.RequestID, rv.Reviewer, err)
	} else if n == 0 {
		return fmt.Errorf("%s already reviewed request %s: %w", rv.Reviewer, rv.RequestID, grants.ErrConflict)
	}
	return nil
}

// --- grants ---

const grantCols = `id, request_id, resource, subject, account, email, state, break_glass,
	reviewed_by, reviewed_at, reason, starts_at, expires_at, warn_at, lease_data, attempts,
	next_attempt_at, last_error, revoked_at, revoked_by, created_at, updated_at, claim_owner, revoke_note, version`

type grantRow struct {
	ID            string         `db:"id"`
	RequestID     sql.NullString `db:"request_id"`
	Resource      string         `db:"resource"`
	Subject       string         `db:"subject"`
	Account       string         `db:"account"`
	Email         string         `db:"email"`
	State         string         `db:"state"`
	BreakGlass    int64          `db:"break_glass"`
	ReviewedBy    string         `db:"reviewed_by"`
	ReviewedAt    int64          `db:"reviewed_at"`
	Reason        string         `db:"reason"`
	StartsAt      int64          `db:"starts_at"`
	ExpiresAt     int64          `db:"expires_at"`
	WarnAt        int64          `db:"warn_at"`
	LeaseData     string         `db:"lease_data"`
	Attempts      int            `db:"attempts"`
	NextAttemptAt int64          `db:"next_attempt_at"`
	LastError     string         `db:"last_error"`
	RevokedAt     int64          `db:"revoked_at"`
	RevokedBy     string         `db:"revoked_by"`
	CreatedAt     int64          `db:"created_at"`
	UpdatedAt     int64          `db:"updated_at"`
	ClaimOwner    string         `db:"claim_owner"`
	RevokeNote    string         `db:"revoke_note"`
	Version       int64          `db:"version"`
}

func (r grantRow) grant() (grants.Grant, error) {
	lease, err := decodeMap(r.LeaseData)
	if err != nil {
		return grants.Grant{}, fmt.Errorf("grant %s: lease data: %w", r.ID, err)
	}
	return grants.Grant{
		ID:            r.ID,
		RequestID:     r.RequestID.String,
		Resource:      r.Resource,
		Subject:       r.Subject,
		Account:       r.Account,
		Email:         r.Email,
		State:         grants.GrantState(r.State),
		BreakGlass:    r.BreakGlass != 0,
		ReviewedBy:    r.ReviewedBy,
		ReviewedAt:    fromMicros(r.ReviewedAt),
		Reason:        r.Reason,
		StartsAt:      fromMicros(r.StartsAt),
		ExpiresAt:     fromMicros(r.ExpiresAt),
		WarnAt:        fromMicros(r.WarnAt),
		LeaseData:     lease,
		Attempts:      r.Attempts,
		NextAttemptAt: fromMicros(r.NextAttemptAt),
		LastError:     r.LastError,
		RevokedAt:     fromMicros(r.RevokedAt),
		RevokedBy:     r.RevokedBy,
		CreatedAt:     fromMicros(r.CreatedAt),
		UpdatedAt:     fromMicros(r.UpdatedAt),
		ClaimOwner:    r.ClaimOwner,
		RevokeNote:    r.RevokeNote,
		Version:       r.Version,
	}, nil
}

// grantArgs are the values of every column after id, in grantCols order, without version.
func grantArgs(g grants.Grant) ([]any, error) {
	lease, err := encodeMap(g.LeaseData)
	if err != nil {
		return nil, fmt.Errorf("encode lease data: %w", err)
	}
	requestID := sql.NullString{String: g.RequestID, Valid: g.RequestID != ""}
	breakGlass := 0
	if g.BreakGlass {
		breakGlass = 1
	}
	return []any{requestID, g.Resource, g.Subject, g.Account, g.Email, string(g.State), breakGlass,
		g.ReviewedBy, micros(g.ReviewedAt), g.Reason, micros(g.StartsAt), micros(g.ExpiresAt),
		micros(g.WarnAt), lease, g.Attempts, micros(g.NextAttemptAt), g.LastError,
		micros(g.RevokedAt), g.RevokedBy, micros(g.CreatedAt), micros(g.UpdatedAt), g.ClaimOwner, g.RevokeNote}, nil
}

func (t *tx) getGrant(ctx context.Context, what, q string, arg string) (grants.Grant, error) {
	var row grantRow
	err := t.get(ctx, &row, q, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return grants.Grant{}, fmt.Errorf("%s: %w", what, grants.ErrNotFound)
	}
	if err != nil {
		return grants.Grant{}, fmt.Errorf("load %s: %w", what, err)
	}
	g, err := row.grant()
	if err != nil {
		return grants.Grant{}, err
	}
	return g, t.remember(g)
}

func (t *tx) Grant(ctx context.Context, id string) (grants.Grant, error) {
	return t.getGrant(ctx, "grant "+id, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id)
}

func (t *tx) GrantByRequest(ctx context.Context, requestID string) (grants.Grant, error) {
	return t.getGrant(ctx, "grant of request "+requestID,
		`SELECT `+grantCols+` FROM grants WHERE request_id = ? ORDER BY created_at, id LIMIT 1`, requestID)
}

// selectGrants converts row by row: a list of 100,000 rows is held once, not twice.
func (t *tx) selectGrants(ctx context.Context, q string, args ...any) ([]grants.Grant, error) {
	rows, err := t.queryx(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []grants.Grant
	var row grantRow
	for rows.Next() {
		if err := rows.StructScan(&row); err != nil {
			return nil, err
		}
		g, err := row.grant()
		if err != nil {
			return nil, err
		}
		if err := t.remember(g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *tx) Grants(ctx context.Context, f grants.GrantFilter) ([]grants.Grant, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if f.Subject != "" {
		where = append(where, "subject = ?")
		args = append(args, f.Subject)
	}
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	if !f.ActiveAt.IsZero() {
		at := f.ActiveAt.UnixMicro()
		where = append(where, "starts_at <= ? AND expires_at > ?")
		args = append(args, at, at)
	}
	q := `SELECT ` + grantCols + ` FROM grants` + whereClause(where) + ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	gs, err := t.selectGrants(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return gs, nil
}

func (t *tx) CountGrants(ctx context.Context) (map[grants.GrantState]int, error) {
	rows, err := t.queryx(ctx, `SELECT state, COUNT(*) FROM grants GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count grants: %w", err)
	}
	defer rows.Close()
	out := map[grants.GrantState]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count grants: %w", err)
		}
		out[grants.GrantState(s)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count grants: %w", err)
	}
	return out, nil
}

func (t *tx) InsertGrant(ctx context.Context, g grants.Grant) error {
	if g.ID == "" {
		return fmt.Errorf("insert grant: %w: empty id", grants.ErrInvalid)
	}
	rest, err := grantArgs(g)
	if err != nil {
		return fmt.Errorf("insert grant %s: %w", g.ID, err)
	}
	args := append([]any{g.ID}, rest...)
	args = append(args, g.Version)
	res, err := t.exec(ctx, `INSERT INTO grants (`+grantCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("insert grant %s: %w", g.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert grant %s: %w", g.ID, err)
	} else if n == 0 {
		return fmt.Errorf("insert grant %s: already exists: %w", g.ID, grants.ErrConflict)
	}
	if t.read != nil {
		t.read[g.ID] = grantSnapshot{version: g.Version, args: rest}
	}
	return nil
}

// grantSetCols are the columns grantArgs returns, in its order: what UpdateGrant may set.
var grantSetCols = []string{"request_id", "resource", "subject", "account", "email", "state",
	"break_glass", "reviewed_by", "reviewed_at", "reason", "starts_at", "expires_at", "warn_at",
	"lease_data", "attempts", "next_attempt_at", "last_error", "revoked_at", "revoked_by",
	"created_at", "updated_at", "claim_owner", "revoke_note"}

// grantSnapshot is a grant's column values (grantArgs) at a version, as a transaction read it.
type grantSnapshot struct {
	version int64
	args    []any
}

// remember notes a grant as read, in a write transaction. The values are encoded now: the
// caller may change the grant's lease map in place before writing it back.
func (t *tx) remember(g grants.Grant) error {
	if t.read == nil {
		return nil
	}
	args, err := grantArgs(g)
	if err != nil {
		return fmt.Errorf("grant %s: %w", g.ID, err)
	}
	t.read[g.ID] = grantSnapshot{version: g.Version, args: args}
	return nil
}

// UpdateGrant writes g over the row at g.Version (the compare-and-swap) and bumps the version.
// When this transaction read the row at that version, only the columns that differ are set:
// SQLite rewrites the index entries of every column an UPDATE sets, changed or not, and the
// scheduler's claim and finish change two to six of twenty-one columns. The version check makes
// the snapshot exact: every write of a grant bumps it.
func (t *tx) UpdateGrant(ctx context.Context, g grants.Grant) (int64, error) {
	rest, err := grantArgs(g)
	if err != nil {
		return 0, fmt.Errorf("update grant %s: %w", g.ID, err)
	}
	var set []string
	var args []any
	snap, ok := t.read[g.ID]
	if !ok || snap.version != g.Version || len(snap.args) != len(rest) {
		snap.args = nil
	}
	for i, col := range grantSetCols {
		if snap.args != nil && snap.args[i] == rest[i] {
			continue
		}
		set = append(set, col+" = ?")
		args = append(args, rest[i])
	}
	set = append(set, "version = version + 1")
	args = append(args, g.ID, g.Version)
	res, err := t.exec(ctx, `UPDATE grants SET `+strings.Join(set, ", ")+` WHERE id = ? AND version = ?`, args...)
	if err != nil {
		return 0, fmt.Errorf("update grant %s: %w", g.ID, err)
	}
	v, err := t.casResult(ctx, res, "grants", "grant", g.ID, g.Version)
	if err != nil {
		delete(t.read, g.ID)
		return 0, err
	}
	if t.read != nil {
		t.read[g.ID] = grantSnapshot{version: v, args: rest}
	}
	return v, nil
}

// Grants in these states wait for the scheduler's next attempt.
var attemptStates = []any{string(grants.GrantActivating), string(grants.GrantRevoking), string(grants.GrantRevokeFailed)}

func (t *tx) DueGrants(ctx context.Context, now time.Time, limit int) ([]grants.Grant, error) {
	at := now.UnixMicro()
	lim := limitOrAll(limit)
	// Each half is a range scan of its own index, limited before the merge, so the cost follows
	// the limit and not the number of grants.
	q := `SELECT ` + grantCols + ` FROM (
		SELECT * FROM (SELECT ` + grantCols + `, expires_at AS due FROM grants
			WHERE state = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT ?) expired
		UNION ALL
		SELECT * FROM (SELECT ` + grantCols + `, next_attempt_at AS due FROM grants
			WHERE state IN (?, ?, ?) AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?) retry
	) due ORDER BY due, id LIMIT ?`
	args := []any{string(grants.GrantActive), at, lim}
	args = append(args, attemptStates...)
	args = append(args, at, lim, lim)
	gs, err := t.selectGrants(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants due: %w", err)
	}
	return gs, nil
}

func (t *tx) DueWarnings(ctx context.Context, now time.Time, limit int) ([]grants.Grant, error) {
	gs, err := t.selectGrants(ctx, `SELECT `+grantCols+` FROM grants
		WHERE state = ? AND warn_at > 0 AND warn_at <= ? ORDER BY warn_at, id LIMIT ?`,
		string(grants.GrantActive), now.UnixMicro(), limitOrAll(limit))
	if err != nil {
		return nil, fmt.Errorf("list expiry warnings due: %w", err)
	}
	return gs, nil
}

func (t *tx) NextDue(ctx context.Context) (time.Time, bool, error) {
	// One MIN per state and column: each is answered from the front of an index.
	q := `SELECT
		(SELECT MIN(expires_at) FROM grants WHERE state = ?),
		(SELECT MIN(next_attempt_at) FROM grants WHERE state = ?),
		(SELECT MIN(next_attempt_at) FROM grants WHERE state = ?),
		(SELECT MIN(next_attempt_at) FROM grants WHERE state = ?),
		(SELECT MIN(warn_at) FROM grants WHERE state = ? AND warn_at > 0),
		(SELECT MIN(pending_until) FROM requests WHERE state = ?)`
	args := []any{string(grants.GrantActive)}
	args = append(args, attemptStates...)
	args = append(args, string(grants.GrantActive), string(grants.RequestPending))
	var mins [6]sql.NullInt64
	dest := make([]any, len(mins))
	for i := range mins {
		dest[i] = &mins[i]
	}
	if err := t.queryRow(ctx, q, args...).Scan(dest...); err != nil {
		return time.Time{}, false, fmt.Errorf("find next due time: %w", err)
	}
	var next int64
	ok := false
	for _, m := range mins {
		if m.Valid && (!ok || m.Int64 < next) {
			next, ok = m.Int64, true
		}
	}
	if !ok {
		return time.Time{}, false, nil
	}
	// Not fromMicros: a stored 0 (a zero time, due at once) must still read as a time.
	return time.UnixMicro(next).UTC(), true, nil
}

// --- helpers ---

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// limitOrAll turns "no limit" (0 or less) into a number both databases accept in LIMIT.
func limitOrAll(limit int) int64 {
	if limit <= 0 {
		return 1 << 62
	}
	return int64(limit)
}

// encodeMap stores a map as JSON; nil and empty are "{}".
func encodeMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeMap reads what encodeMap stored; an empty map reads as nil.
func decodeMap(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	if m, ok := decodeFlatMap(s); ok {
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// decodeFlatMap decodes the common case of what json.Marshal writes for a map[string]string:
// no whitespace, no escapes, valid UTF-8. It reports false for anything else, which
// encoding/json then decodes; both give the same map. Verify reads every event's data, and this
// is several times faster than encoding/json there.
func decodeFlatMap(s string) (map[string]string, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' || strings.IndexByte(s, '\\') >= 0 || !utf8.ValidString(s) {
		return nil, false
	}
	// str reads a quoted string at s[i] and returns it and the index after it.
	str := func(i int) (string, int, bool) {
		if i >= len(s) || s[i] != '"' {
			return "", 0, false
		}
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				return s[i+1 : j], j + 1, true
			case c < 0x20:
				return "", 0, false
			}
		}
		return "", 0, false
	}
	m := make(map[string]string, strings.Count(s, `":"`))
	i := 1
	for {
		k, next, ok := str(i)
		if !ok || next >= len(s) || s[next] != ':' {
			return nil, false
		}
		v, next, ok := str(next + 1)
		if !ok || next >= len(s) {
			return nil, false
		}
		m[k] = v
		switch s[next] {
		case ',':
			i = next + 1
		case '}':
			if next != len(s)-1 {
				return nil, false
			}
			return m, true
		default:
			return nil, false
		}
	}
}

// AuditHead returns the end of the audit chain as this transaction sees it.
func (t *tx) AuditHead(ctx context.Context) (audit.Head, error) {
	return t.readHead(ctx, "")
}
