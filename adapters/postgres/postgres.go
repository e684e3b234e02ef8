// Package postgres is the "postgres" adapter: it gives people PostgreSQL roles for the length of a
// grant, in one of two modes.
//
// In membership mode the person has a login role of their own (the subject's Account) and a grant
// is GRANT <roles> TO <account>; revoke is REVOKE. Grants are counted in a holders table at the
// target, in the same transaction: a role two grants share stays until both have ended, and a
// membership the person had before is never revoked (Holds reports it, and the request is
// answered that the person has the access already). PostgreSQL cannot expire a membership by
// itself, so the scheduler's revocation is what ends it.
//
// In ephemeral mode a grant creates a login role of its own, named from the person and the grant
// (<role_prefix><account>_<10 hex digits of the grant ID's SHA-256>), with a random password that
// reaches the requester only as the lease's secret, VALID UNTIL the expiry (so no new login
// succeeds after it even when accessbot is down) and membership in the roles. The password is
// sent as a SCRAM-SHA-256 verifier computed here, so it never appears in the server's statement
// log. A revoke stops new logins, takes the memberships away, terminates the role's sessions,
// reassigns or drops what the role owns in the DSN's database, and drops the role. A comment on
// the role records the grant, so the adapter never touches a role it did not make.
//
// Every name is checked by ValidIdent before it reaches SQL, and quoted by pgx all the same.
package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "postgres",
		Doc:       "grants PostgreSQL roles: membership for people's own logins, or ephemeral login roles with VALID UNTIL",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// Lease data keys.
const (
	dataMode    = "mode"
	dataRole    = "role"
	dataAccount = "account"
	dataRoles   = "roles"
	// dataCounted marks a membership grant counted in the holders table.
	dataCounted = "counted"
	// dataPreexisting marks a membership grant whose every role was standing: it changed
	// nothing at the target, and its revocation changes nothing.
	dataPreexisting = "preexisting"
)

// commentTag starts the comment on every role the adapter creates.
const commentTag = "accessbot "

// terminateWait is how long pg_terminate_backend waits for each session to exit.
const terminateWait = 5 * time.Second

// Postgres is the adapter. It is safe for concurrent use.
type Postgres struct {
	cfg      Config
	log      zerolog.Logger
	resource string
	pool     *pgxpool.Pool
}

// New returns the adapter for a validated config. It does not connect.
func New(cfg Config, env adapters.Env) (*Postgres, error) {
	pc, err := pgxpool.ParseConfig(string(cfg.DSN))
	if err != nil {
		return nil, adapters.Permanentf("dsn is not a valid PostgreSQL connection string")
	}
	pc.MaxConns = int32(cfg.MaxConns)
	pc.MinConns = 0
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	ms := strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	pc.ConnConfig.RuntimeParams["statement_timeout"] = ms
	pc.ConnConfig.RuntimeParams["lock_timeout"] = ms
	if pc.ConnConfig.RuntimeParams["application_name"] == "" {
		pc.ConnConfig.RuntimeParams["application_name"] = "accessbot"
	}
	// Idle connections are closed before a firewall or pgbouncer drops them silently.
	pc.MaxConnIdleTime = time.Minute
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, adapters.Permanentf("configure postgres pool: %v", err)
	}
	return &Postgres{cfg: cfg, log: env.Log, resource: env.Resource, pool: pool}, nil
}

// Close closes the bot's connections.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// EphemeralRoleName returns the login role an ephemeral grant creates: prefix, the account
// (shortened when the whole would pass 63 bytes), "_" and the first 10 hex digits of the SHA-256
// of the grant ID. The same grant always gets the same name, which makes Grant idempotent and
// lets Revoke work without lease data.
func EphemeralRoleName(prefix, account, grantID string) (string, error) {
	if err := ValidIdent(account); err != nil {
		return "", fmt.Errorf("account: %w", err)
	}
	if grantID == "" {
		return "", errors.New("empty grant id")
	}
	sum := sha256.Sum256([]byte(grantID))
	short := hex.EncodeToString(sum[:5])
	room := maxIdentLen - len(prefix) - 1 - len(short)
	if len(account) > room {
		account = account[:room]
	}
	name := prefix + account + "_" + short
	if err := ValidIdent(name); err != nil {
		return "", err
	}
	return name, nil
}

// roleComment is what the adapter writes on the roles it creates.
type roleComment struct {
	Grant    string `json:"grant"`
	Account  string `json:"account"`
	Resource string `json:"resource,omitempty"`
}

func parseComment(s string) (roleComment, bool) {
	rest, ok := strings.CutPrefix(s, commentTag)
	if !ok {
		return roleComment{}, false
	}
	var c roleComment
	if err := json.Unmarshal([]byte(rest), &c); err != nil || c.Grant == "" {
		return roleComment{}, false
	}
	return c, true
}

// Grant gives access, in the configured mode. A second call for the same grant succeeds; in
// ephemeral mode it sets a new password and returns it, since the first one may never have
// reached the requester.
func (p *Postgres) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var (
		lease adapters.Lease
		err   error
	)
	if p.cfg.Mode == ModeEphemeral {
		lease, err = p.grantEphemeral(ctx, req)
	} else {
		lease, err = p.grantMembership(ctx, req)
	}
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	p.log.Info().Str("grant_id", req.GrantID).Str("mode", string(p.cfg.Mode)).Msg("postgres access granted")
	return lease, nil
}

// Revoke removes access; access already gone is success.
func (p *Postgres) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var err error
	if p.cfg.Mode == ModeEphemeral {
		err = p.revokeEphemeral(ctx, req)
	} else {
		err = p.revokeMembership(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("revoke grant %s: %w", req.GrantID, err)
	}
	p.log.Info().Str("grant_id", req.GrantID).Str("mode", string(p.cfg.Mode)).Msg("postgres access revoked")
	return nil
}

// Extend moves an ephemeral role's VALID UNTIL. Memberships have no expiry of their own, so in
// membership mode there is nothing to move.
func (p *Postgres) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	if p.cfg.Mode != ModeEphemeral {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if err := p.extendEphemeral(ctx, req, expires); err != nil {
		return fmt.Errorf("extend grant %s: %w", req.GrantID, err)
	}
	return nil
}

// ---- membership mode ----

// Membership mode counts grants in the holders table (HoldersTableDDL), written in the same
// transaction as the GRANT or REVOKE and under the same per-account advisory lock, so the
// target alone says who holds what through which grant, and a crash between the adapter's call
// and accessbot's own write loses nothing:
//   - a grant records a row per role; the role is granted if the person is not a member yet;
//   - a revocation deletes its rows and revokes a role only when no other row holds it: two
//     resources that share a role keep it until both grants have ended;
//   - a role the person was a member of before any grant (granted by hand) is recorded as
//     standing and is never revoked; Holds reports such access, so the request is answered
//     that the person has it already.
//
// Grants made before the table existed have no rows; their leases carry no "counted" key and are
// revoked the old way, by REVOKE.

// holder is one row of the holders table.
type holder struct {
	role, grantID string
	standing      bool
}

// holdersOf reads the rows for account, locked against concurrent writers by inTx's lock.
func (p *Postgres) holdersOf(ctx context.Context, q querier, account string) ([]holder, error) {
	rows, err := q.Query(ctx, `SELECT role, grant_id, standing FROM `+p.holdersTable()+` WHERE account = $1 ORDER BY role, grant_id`, account)
	if err != nil {
		return nil, p.holdersError(err)
	}
	var hs []holder
	for rows.Next() {
		var h holder
		if err := rows.Scan(&h.role, &h.grantID, &h.standing); err != nil {
			rows.Close()
			return nil, p.holdersError(err)
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, p.holdersError(err)
	}
	return hs, nil
}

// holdersTable quotes holders_table, which Validate checked part by part.
func (p *Postgres) holdersTable() string {
	return pgx.Identifier(strings.Split(p.cfg.HoldersTable, ".")).Sanitize()
}

// holdersError says what to do when the table is missing or the bot may not use it.
func (p *Postgres) holdersError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42P01":
			return adapters.Permanentf("holders table %s does not exist: membership mode counts grants there; create it once with: %s; and GRANT SELECT, INSERT, DELETE ON it TO the bot", p.cfg.HoldersTable, oneLine(HoldersTableDDL(p.cfg.HoldersTable)))
		case "42501":
			return adapters.Permanentf("the bot may not use holders table %s: it needs SELECT, INSERT and DELETE on it (%v)", p.cfg.HoldersTable, pgErr.Message)
		}
	}
	return classify(fmt.Errorf("holders table %s: %w", p.cfg.HoldersTable, err))
}

// oneLine folds the DDL into one line for an error message, without its comments.
func oneLine(ddl string) string {
	var parts []string
	for line := range strings.SplitSeq(ddl, "\n") {
		line, _, _ = strings.Cut(line, "--")
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " ")
}

// directMembers returns which of roles account is a direct member of: what GRANT adds and
// REVOKE takes away.
func directMembers(ctx context.Context, q querier, account string, roles []string) (map[string]bool, error) {
	var names []string
	err := query(ctx, q, &names, `SELECT r.rolname FROM pg_auth_members am
		JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
		WHERE m.rolname = $1 AND r.rolname = ANY($2)`, account, roles)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

func (p *Postgres) grantMembership(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	account := req.Subject.Account
	if err := ValidIdent(account); err != nil {
		return adapters.Lease{}, adapters.Permanentf("account: %w", err)
	}
	if strings.HasPrefix(account, p.cfg.RolePrefix) {
		return adapters.Lease{}, adapters.Permanentf("account %s starts with role_prefix %q, which marks accessbot's ephemeral roles", account, p.cfg.RolePrefix)
	}
	allStanding := true
	err := p.inTx(ctx, account, func(tx pgx.Tx) error {
		r, err := lookupRole(ctx, tx, account)
		if err != nil {
			return err
		}
		if !r.exists {
			return adapters.Permanentf("role %s does not exist: membership mode grants roles to the person's own login role", account)
		}
		hs, err := p.holdersOf(ctx, tx, account)
		if err != nil {
			return err
		}
		member, err := directMembers(ctx, tx, account, p.cfg.Roles)
		if err != nil {
			return err
		}
		var grant []string
		for _, role := range p.cfg.Roles {
			mine, others, othersStanding := false, 0, false
			for _, h := range hs {
				if h.role != role {
					continue
				}
				if h.grantID == req.GrantID {
					mine = true
					allStanding = allStanding && h.standing
					continue
				}
				others++
				othersStanding = othersStanding || h.standing
			}
			if mine {
				continue // a repeated call
			}
			// A membership nobody at accessbot holds, or one that was standing when the first
			// grant found it, is standing: no grant may revoke it.
			standing := member[role] && (others == 0 || othersStanding)
			allStanding = allStanding && standing
			if _, err := tx.Exec(ctx, `INSERT INTO `+p.holdersTable()+` (account, role, grant_id, standing, resource) VALUES ($1, $2, $3, $4, $5)`,
				account, role, req.GrantID, standing, req.Resource); err != nil {
				return p.holdersError(err)
			}
			if !member[role] {
				grant = append(grant, role)
			}
		}
		if len(grant) == 0 {
			return nil
		}
		return exec(ctx, tx, "GRANT "+identList(grant)+" TO "+ident(account))
	})
	if err != nil {
		return adapters.Lease{}, err
	}
	data := map[string]string{
		dataMode:    string(ModeMembership),
		dataAccount: account,
		dataRoles:   strings.Join(p.cfg.Roles, ","),
		dataCounted: "true",
	}
	if allStanding {
		data[dataPreexisting] = "true"
	}
	return adapters.Lease{Data: data}, nil
}

func (p *Postgres) revokeMembership(ctx context.Context, req adapters.RevokeRequest) error {
	account, roles := req.Subject.Account, p.cfg.Roles
	if a, ok := req.Data[dataAccount]; ok {
		account = a
	}
	// The roles the grant gave, which the config may have changed since.
	if rs, ok := req.Data[dataRoles]; ok && rs != "" {
		roles = strings.Split(rs, ",")
	}
	if err := ValidIdent(account); err != nil {
		if req.Data == nil {
			// Grant refuses the same account, so nothing was granted.
			return nil
		}
		return adapters.Permanentf("lease account: %w", err)
	}
	for _, r := range roles {
		if err := ValidIdent(r); err != nil {
			return adapters.Permanentf("lease roles: %w", err)
		}
	}
	legacy := req.Data != nil && req.Data[dataCounted] == ""
	return p.inTx(ctx, account, func(tx pgx.Tx) error {
		r, err := lookupRole(ctx, tx, account)
		if err != nil {
			return err
		}
		hs, err := p.holdersOf(ctx, tx, account)
		if err != nil {
			return err
		}
		var mine []holder
		heldByOthers := map[string]bool{}
		for _, h := range hs {
			if h.grantID == req.GrantID {
				mine = append(mine, h)
			} else {
				heldByOthers[h.role] = true
			}
		}
		var revoke []string
		switch {
		case len(mine) > 0:
			if _, err := tx.Exec(ctx, `DELETE FROM `+p.holdersTable()+` WHERE account = $1 AND grant_id = $2`, account, req.GrantID); err != nil {
				return p.holdersError(err)
			}
			for _, h := range mine {
				if !h.standing && !heldByOthers[h.role] {
					revoke = append(revoke, h.role)
				}
			}
		case legacy:
			// Made before grants were counted: it granted the roles, and nobody counted them.
			for _, role := range roles {
				if !heldByOthers[role] {
					revoke = append(revoke, role)
				}
			}
		default:
			// No row: the grant never reached the target, or was revoked already.
			return nil
		}
		if !r.exists || len(revoke) == 0 {
			return nil
		}
		// A role dropped since the grant holds no members.
		var present []string
		if err := query(ctx, tx, &present, `SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname`, revoke); err != nil {
			return err
		}
		if len(present) == 0 {
			return nil
		}
		return exec(ctx, tx, "REVOKE "+identList(present)+" FROM "+ident(account))
	})
}

// Holds says whether the person holds every configured role already, other than through
// accessbot's grants: directly with no grant counted on it (or one found standing), or through
// roles of their own. A grant would add nothing, and its revocation must take nothing away.
// Ephemeral mode makes a login role of its own, which nobody holds beforehand.
func (p *Postgres) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	if p.cfg.Mode != ModeMembership || ValidIdent(s.Account) != nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var direct []string
	err := query(ctx, p.pool, &direct, `SELECT r.rolname FROM pg_auth_members am
		JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
		WHERE m.rolname = $1`, s.Account)
	if err != nil {
		return false, fmt.Errorf("check standing membership of %s: %w", s.Account, err)
	}
	hs, err := p.holdersOf(ctx, p.pool, s.Account)
	if err != nil {
		return false, fmt.Errorf("check standing membership of %s: %w", s.Account, err)
	}
	granted := map[string]bool{}
	for _, h := range hs {
		if !h.standing {
			granted[h.role] = true
		}
	}
	var own []string
	for _, d := range direct {
		if !granted[d] {
			own = append(own, d)
		}
	}
	var held bool
	err = p.pool.QueryRow(ctx, `SELECT coalesce(bool_and(EXISTS (
			SELECT 1 FROM unnest($1::text[]) o WHERE pg_has_role(o, r, 'MEMBER'))), false)
		FROM unnest($2::text[]) r`, own, p.cfg.Roles).Scan(&held)
	if err != nil {
		return false, classify(fmt.Errorf("check standing membership of %s: %w", s.Account, err))
	}
	return held, nil
}

// ---- ephemeral mode ----

func (p *Postgres) grantEphemeral(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	name, err := EphemeralRoleName(p.cfg.RolePrefix, req.Subject.Account, req.GrantID)
	if err != nil {
		return adapters.Lease{}, adapters.PermanentError(err)
	}
	if req.Expires.IsZero() {
		return adapters.Lease{}, adapters.Permanentf("grant has no expiry")
	}
	password := rand.Text()
	verifier, err := scramVerifier(password)
	if err != nil {
		return adapters.Lease{}, adapters.Permanentf("make password verifier: %v", err)
	}
	comment, err := json.Marshal(roleComment{Grant: req.GrantID, Account: req.Subject.Account, Resource: req.Resource})
	if err != nil {
		return adapters.Lease{}, adapters.Permanentf("encode role comment: %v", err)
	}
	until := validUntil(req.Expires)
	err = p.inTx(ctx, name, func(tx pgx.Tx) error {
		r, err := lookupRole(ctx, tx, name)
		if err != nil {
			return err
		}
		if r.exists && !r.madeFor(req.GrantID) {
			return adapters.Permanentf("role %s exists and was not made by accessbot for this grant; refusing to take it over", name)
		}
		lits, err := literals(tx, verifier, until, commentTag+string(comment))
		if err != nil {
			return err
		}
		if r.exists {
			if err := exec(ctx, tx, "ALTER ROLE "+ident(name)+" LOGIN PASSWORD "+lits[0]+" VALID UNTIL "+lits[1]); err != nil {
				return err
			}
			if err := exec(ctx, tx, "GRANT "+identList(p.cfg.Roles)+" TO "+ident(name)); err != nil {
				return err
			}
		} else {
			// Everything spelled out, so a changed server default cannot widen the role.
			stmt := "CREATE ROLE " + ident(name) + " LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" +
				" PASSWORD " + lits[0] + " VALID UNTIL " + lits[1] + " IN ROLE " + identList(p.cfg.Roles)
			if err := exec(ctx, tx, stmt); err != nil {
				return err
			}
		}
		if err := exec(ctx, tx, "COMMENT ON ROLE "+ident(name)+" IS "+lits[2]); err != nil {
			return err
		}
		// In the same transaction: a role that exists always logs as configured.
		for _, kv := range p.cfg.SessionLogging.settings() {
			if err := exec(ctx, tx, "ALTER ROLE "+ident(name)+" SET "+kv[0]+" = '"+kv[1]+"'"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return adapters.Lease{}, err
	}
	return adapters.Lease{
		Data: map[string]string{dataMode: string(ModeEphemeral), dataRole: name},
		Secret: &adapters.Secret{
			Kind:  "password",
			Label: fmt.Sprintf("PostgreSQL password for user %s, valid until %s", name, req.Expires.UTC().Format("2006-01-02 15:04:05 UTC")),
			Value: password,
		},
	}, nil
}

// ephemeralName returns the role a revoke or extend works on: the lease's, checked, or the one
// the grant's fields name. ok is false when no role can exist for the request.
func (p *Postgres) ephemeralName(req adapters.RevokeRequest) (name string, ok bool, err error) {
	if n, has := req.Data[dataRole]; has {
		if err := ValidIdent(n); err != nil {
			return "", false, adapters.Permanentf("lease role: %w", err)
		}
		if !strings.HasPrefix(n, p.cfg.RolePrefix) {
			return "", false, adapters.Permanentf("lease role %s does not start with role_prefix %q", n, p.cfg.RolePrefix)
		}
		return n, true, nil
	}
	n, err := EphemeralRoleName(p.cfg.RolePrefix, req.Subject.Account, req.GrantID)
	if err != nil {
		// Grant refuses the same account, so no role was made.
		return "", false, nil
	}
	return n, true, nil
}

func (p *Postgres) revokeEphemeral(ctx context.Context, req adapters.RevokeRequest) error {
	name, ok, err := p.ephemeralName(req)
	if err != nil || !ok {
		return err
	}
	// Step 1, committed on its own: no new logins, no memberships, and the bot becomes a
	// member of the role, which PostgreSQL asks of a non-superuser before it may terminate the
	// role's sessions or reassign and drop what the role owns.
	gone := false
	err = p.inTx(ctx, name, func(tx pgx.Tx) error {
		r, err := lookupRole(ctx, tx, name)
		if err != nil {
			return err
		}
		if !r.exists {
			gone = true
			return nil
		}
		if !r.madeFor(req.GrantID) {
			return adapters.Permanentf("role %s was not made by accessbot for this grant; refusing to drop it", name)
		}
		if err := exec(ctx, tx, "ALTER ROLE "+ident(name)+" NOLOGIN"); err != nil {
			return err
		}
		var memberOf []string
		if err := query(ctx, tx, &memberOf, `SELECT r.rolname FROM pg_auth_members am
			JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
			WHERE m.rolname = $1 ORDER BY r.rolname`, name); err != nil {
			return err
		}
		if len(memberOf) > 0 {
			if err := exec(ctx, tx, "REVOKE "+identList(memberOf)+" FROM "+ident(name)); err != nil {
				return err
			}
		}
		return p.ensureMember(ctx, tx, name)
	})
	if err != nil || gone {
		return err
	}
	// Step 2: end the sessions that logged in before step 1. DROP ROLE would leave them running.
	if err := p.terminateSessions(ctx, name); err != nil {
		return err
	}
	// Step 3: what the role owns, then the role.
	return p.inTx(ctx, name, func(tx pgx.Tx) error {
		r, err := lookupRole(ctx, tx, name)
		if err != nil || !r.exists {
			return err
		}
		if p.cfg.OnRevokeOwned == OwnedReassign {
			var held bool
			if err := tx.QueryRow(ctx, `SELECT pg_has_role(current_user, $1, 'USAGE')`, p.cfg.ReassignTo).Scan(&held); err != nil {
				return classify(fmt.Errorf("check membership in %s: %w", p.cfg.ReassignTo, err))
			}
			// REASSIGN OWNED needs the privileges of the receiving role too; a membership taken
			// for this statement is given back in the same transaction.
			if !held {
				if err := exec(ctx, tx, "GRANT "+ident(p.cfg.ReassignTo)+" TO CURRENT_USER"); err != nil {
					return err
				}
			}
			if err := exec(ctx, tx, "REASSIGN OWNED BY "+ident(name)+" TO "+ident(p.cfg.ReassignTo)); err != nil {
				return err
			}
			if !held {
				if err := exec(ctx, tx, "REVOKE "+ident(p.cfg.ReassignTo)+" FROM CURRENT_USER"); err != nil {
					return err
				}
			}
		}
		// After a reassign this drops only the privileges granted to the role.
		if err := exec(ctx, tx, "DROP OWNED BY "+ident(name)); err != nil {
			return err
		}
		if err := exec(ctx, tx, "DROP ROLE "+ident(name)); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "2BP01" {
				return adapters.Permanentf("role %s still owns objects or holds privileges in another database (it can no longer log in and has no memberships): %s", name, pgErr.Detail)
			}
			return err
		}
		return nil
	})
}

// ensureMember makes the bot a member of role unless it already has its privileges (a
// superuser always has).
func (p *Postgres) ensureMember(ctx context.Context, tx pgx.Tx, role string) error {
	var held bool
	if err := tx.QueryRow(ctx, `SELECT pg_has_role(current_user, $1, 'USAGE')`, role).Scan(&held); err != nil {
		return classify(fmt.Errorf("check membership in %s: %w", role, err))
	}
	if held {
		return nil
	}
	return exec(ctx, tx, "GRANT "+ident(role)+" TO CURRENT_USER")
}

// terminateSessions ends every session of role and fails (retryably) when one survives.
func (p *Postgres) terminateSessions(ctx context.Context, role string) error {
	rows, err := p.pool.Query(ctx, `SELECT pid, pg_terminate_backend(pid, $2)
		FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, role, terminateWait.Milliseconds())
	if err != nil {
		return classify(fmt.Errorf("terminate sessions of %s: %w", role, err))
	}
	var pids []int32
	n := 0
	for rows.Next() {
		var pid int32
		var ended bool
		if err := rows.Scan(&pid, &ended); err != nil {
			rows.Close()
			return classify(fmt.Errorf("terminate sessions of %s: %w", role, err))
		}
		n++
		if !ended {
			pids = append(pids, pid)
		}
	}
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("terminate sessions of %s: %w", role, err))
	}
	if n > 0 {
		p.log.Debug().Int("sessions", n).Msg("postgres sessions terminated")
	}
	if len(pids) == 0 {
		return nil
	}
	// false means the wait ran out, or the session ended on its own first. A new statement
	// sees a new snapshot of pg_stat_activity.
	var alive int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&alive); err != nil {
		return classify(fmt.Errorf("check sessions of %s: %w", role, err))
	}
	if alive > 0 {
		return adapters.Retryablef("%d session(s) of %s did not end within %s", alive, role, terminateWait)
	}
	return nil
}

func (p *Postgres) extendEphemeral(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	name, ok, err := p.ephemeralName(req)
	if err != nil {
		return err
	}
	if !ok {
		return adapters.Permanentf("no role can exist for account %q", req.Subject.Account)
	}
	return p.inTx(ctx, name, func(tx pgx.Tx) error {
		r, err := lookupRole(ctx, tx, name)
		if err != nil {
			return err
		}
		if !r.exists {
			return adapters.Permanentf("role %s is gone", name)
		}
		if !r.madeFor(req.GrantID) {
			return adapters.Permanentf("role %s was not made by accessbot for this grant", name)
		}
		lits, err := literals(tx, validUntil(expires))
		if err != nil {
			return err
		}
		return exec(ctx, tx, "ALTER ROLE "+ident(name)+" VALID UNTIL "+lits[0])
	})
}

// validUntil formats t for VALID UNTIL: whole seconds, UTC, ISO 8601.
func validUntil(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// ---- List and Check ----

// grantedMemberships maps account NUL role to the first grant of this resource the holders table
// counts on it ("" when only other resources' grants hold it), standing rows left out. Without
// the table (ephemeral mode, or membership mode not set up yet)
// every membership is reported as standing.
func (p *Postgres) grantedMemberships(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	if p.cfg.Mode != ModeMembership {
		return out, nil
	}
	// A grant of this resource names the membership; one held only by another resource's grants
	// (a role two resources share) is that resource's to report, and is marked with "".
	rows, err := p.pool.Query(ctx, `SELECT account, role, coalesce(min(grant_id) FILTER (WHERE resource = $1), '')
		FROM `+p.holdersTable()+` WHERE NOT standing GROUP BY 1, 2`, p.resource)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return out, nil
		}
		return nil, fmt.Errorf("list grants: %w", p.holdersError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var account, role, grantID string
		if err := rows.Scan(&account, &role, &grantID); err != nil {
			return nil, fmt.Errorf("list grants: %w", p.holdersError(err))
		}
		out[account+"\x00"+role] = grantID
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", p.holdersError(err))
	}
	return out, nil
}

// List reports the members of the managed roles (other than the bot itself) and every role
// that starts with role_prefix. An ephemeral role is reported under the person's account and
// grant ID from its comment.
func (p *Postgres) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, `
		SELECT m.rolname, r.rolname
		FROM pg_auth_members am
		JOIN pg_roles r ON r.oid = am.roleid
		JOIN pg_roles m ON m.oid = am.member
		WHERE r.rolname = ANY($1) AND m.rolname <> current_user
		ORDER BY 1, 2`, p.cfg.Roles)
	if err != nil {
		return nil, classify(fmt.Errorf("list members: %w", err))
	}
	memberOf := map[string][]string{}
	for rows.Next() {
		var member, role string
		if err := rows.Scan(&member, &role); err != nil {
			rows.Close()
			return nil, classify(fmt.Errorf("list members: %w", err))
		}
		memberOf[member] = append(memberOf[member], role)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("list members: %w", err))
	}

	rows, err = p.pool.Query(ctx, `
		SELECT rolname, rolcanlogin, rolvaliduntil, coalesce(shobj_description(oid, 'pg_authid'), '')
		FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1`, p.cfg.RolePrefix)
	if err != nil {
		return nil, classify(fmt.Errorf("list ephemeral roles: %w", err))
	}
	var list []adapters.Access
	for rows.Next() {
		var (
			name, comment string
			login         bool
			until         *time.Time
		)
		if err := rows.Scan(&name, &login, &until, &comment); err != nil {
			rows.Close()
			return nil, classify(fmt.Errorf("list ephemeral roles: %w", err))
		}
		a := adapters.Access{Account: name}
		var detail []string
		if c, ok := parseComment(comment); ok {
			a.Account, a.GrantID = c.Account, c.Grant
			detail = append(detail, "login role "+name)
		} else {
			detail = append(detail, "role "+name+" has role_prefix but no accessbot comment")
		}
		if !login {
			detail = append(detail, "login disabled")
		} else if until != nil {
			detail = append(detail, "valid until "+until.UTC().Format(time.RFC3339))
		} else {
			detail = append(detail, "no expiry")
		}
		if roles := memberOf[name]; len(roles) > 0 {
			detail = append(detail, "member of "+strings.Join(roles, ", "))
		}
		delete(memberOf, name)
		a.Detail = strings.Join(detail, ", ")
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("list ephemeral roles: %w", err))
	}
	granted, err := p.grantedMemberships(ctx)
	if err != nil {
		return nil, err
	}
	for member, roles := range memberOf {
		// A membership a grant holds is listed under the grant; the rest is standing access.
		var standing []string
		byGrant := map[string][]string{}
		for _, r := range roles {
			g, ok := granted[member+"\x00"+r]
			switch {
			case ok && g == "":
				// Held by another resource's grant only: its scan reports it.
			case ok:
				byGrant[g] = append(byGrant[g], r)
			default:
				standing = append(standing, r)
			}
		}
		for g, rs := range byGrant {
			list = append(list, adapters.Access{Account: member, GrantID: g, Detail: "member of " + strings.Join(rs, ", ")})
		}
		if len(standing) > 0 {
			list = append(list, adapters.Access{Account: member, Detail: "member of " + strings.Join(standing, ", ")})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Account != list[j].Account {
			return list[i].Account < list[j].Account
		}
		return list[i].Detail < list[j].Detail
	})
	return list, nil
}

// Check connects and verifies that the bot's role may do what the mode needs: create roles
// (ephemeral), and grant each configured role (CREATEROLE before PostgreSQL 16, ADMIN OPTION on
// the role from 16 on, or superuser).
func (p *Postgres) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var (
		me                string
		super, createrole bool
		version           int
	)
	err := p.pool.QueryRow(ctx, `SELECT current_user, rolsuper, rolcreaterole, current_setting('server_version_num')::int
		FROM pg_roles WHERE rolname = current_user`).Scan(&me, &super, &createrole, &version)
	if err != nil {
		return classify(fmt.Errorf("check postgres: %w", err))
	}
	if p.cfg.Mode == ModeEphemeral && !super && !createrole {
		return adapters.Permanentf("check postgres: role %s lacks CREATEROLE, which ephemeral mode needs to create login roles", me)
	}
	wanted := slices.Clone(p.cfg.Roles)
	if p.cfg.ReassignTo != "" {
		wanted = append(wanted, p.cfg.ReassignTo)
	}
	var present []string
	if err := query(ctx, p.pool, &present, `SELECT rolname FROM pg_roles WHERE rolname = ANY($1)`, wanted); err != nil {
		return fmt.Errorf("check postgres: %w", err)
	}
	for _, r := range wanted {
		if !slices.Contains(present, r) {
			return adapters.Permanentf("check postgres: role %s does not exist", r)
		}
	}
	if p.cfg.Mode == ModeMembership {
		var sel, ins, del bool
		err := p.pool.QueryRow(ctx, `SELECT has_table_privilege($1, 'SELECT'), has_table_privilege($1, 'INSERT'), has_table_privilege($1, 'DELETE')`,
			p.cfg.HoldersTable).Scan(&sel, &ins, &del)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
				return fmt.Errorf("check postgres: %w", p.holdersError(err))
			}
			return classify(fmt.Errorf("check postgres: holders table %s: %w", p.cfg.HoldersTable, err))
		}
		if !sel || !ins || !del {
			return adapters.Permanentf("check postgres: role %s needs SELECT, INSERT and DELETE on holders table %s, where membership mode counts grants", me, p.cfg.HoldersTable)
		}
	}
	for _, kv := range p.cfg.SessionLogging.settings() {
		var may bool
		if err := p.pool.QueryRow(ctx, `SELECT has_parameter_privilege($1, 'SET')`, kv[0]).Scan(&may); err != nil {
			return classify(fmt.Errorf("check postgres: %w", err))
		}
		if !super && !may {
			return adapters.Permanentf("check postgres: role %s may not set %s on the roles it makes (session_logging needs GRANT SET ON PARAMETER %s TO %s, or superuser)", me, kv[0], kv[0], me)
		}
	}
	if super || (createrole && version < 160000) {
		return nil
	}
	for _, r := range p.cfg.Roles {
		var admin bool
		if err := p.pool.QueryRow(ctx, `SELECT pg_has_role(current_user, $1, 'MEMBER WITH ADMIN OPTION')`, r).Scan(&admin); err != nil {
			return classify(fmt.Errorf("check postgres: %w", err))
		}
		if !admin {
			return adapters.Permanentf("check postgres: role %s may not grant %s (it needs ADMIN OPTION on it, or CREATEROLE before PostgreSQL 16)", me, r)
		}
	}
	return nil
}

// ---- SQL helpers ----

// ident quotes a name that ValidIdent accepted.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func identList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = ident(n)
	}
	return strings.Join(quoted, ", ")
}

// literals quotes values as SQL string literals with the connection's own escaping, for the
// statements (CREATE ROLE, COMMENT) that take no parameters.
func literals(tx pgx.Tx, values ...string) ([]string, error) {
	out := make([]string, len(values))
	for i, v := range values {
		esc, err := tx.Conn().PgConn().EscapeString(v)
		if err != nil {
			return nil, adapters.Permanentf("quote literal: %v", err)
		}
		out[i] = "'" + esc + "'"
	}
	return out, nil
}

type role struct {
	exists  bool
	comment string
}

func (r role) madeFor(grantID string) bool {
	c, ok := parseComment(r.comment)
	return ok && c.Grant == grantID
}

func lookupRole(ctx context.Context, tx pgx.Tx, name string) (role, error) {
	var r role
	err := tx.QueryRow(ctx, `SELECT coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = $1`, name).Scan(&r.comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return role{}, nil
	}
	if err != nil {
		return role{}, classify(fmt.Errorf("look up role %s: %w", name, err))
	}
	r.exists = true
	return r, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func query(ctx context.Context, q querier, into *[]string, sql string, args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return classify(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return classify(err)
	}
	*into = got
	return nil
}

// exec runs a statement built from quoted names and literals; the error names the statement's
// first words only, since a literal may be a password verifier.
func exec(ctx context.Context, tx pgx.Tx, stmt string) error {
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return classify(fmt.Errorf("%s: %w", statementHead(stmt), err))
	}
	return nil
}

func statementHead(stmt string) string {
	if i := strings.IndexAny(stmt, "'"); i >= 0 {
		stmt = strings.TrimSpace(stmt[:i]) + " ..."
	}
	return stmt
}

// inTx runs fn in a transaction that holds an advisory lock for name, so that two calls for
// the same role (a retried grant racing its first attempt) take turns.
func (p *Postgres) inTx(ctx context.Context, name string, fn func(pgx.Tx) error) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return classify(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback(context.Background()) // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(name)); err != nil {
		return classify(fmt.Errorf("lock %s: %w", name, err))
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

func lockKey(name string) int64 {
	sum := sha256.Sum256([]byte("accessbot/postgres/" + name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// classify gives err its kind: lost connections, timeouts, cancellations, serialization
// failures and server overload are worth retrying; a refused permission, an unknown role or a
// broken statement is not.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *adapters.Error
	if errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return adapters.RetryableError(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "40"), // serialization failure, deadlock
			strings.HasPrefix(code, "53"), // insufficient resources
			strings.HasPrefix(code, "57"), // operator intervention: shutdown, query cancelled
			strings.HasPrefix(code, "58"), // system error
			strings.HasPrefix(code, "XX"), // internal error ("tuple concurrently updated")
			code == "55P03":               // lock not available
			return adapters.RetryableError(err)
		}
		// Including 28P01 and 28000: the bot's own credentials are refused, a configuration
		// problem.
		return adapters.PermanentError(err)
	}
	// A network error, a refused connection, a connection lost mid-call.
	return adapters.RetryableError(err)
}

// ---- passwords ----

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for password (RFC 5802,
// RFC 7677), in the form CREATE ROLE ... PASSWORD accepts as already hashed. Sending it instead
// of the password keeps the password out of server logs (log_statement=ddl logs CREATE ROLE).
// The password is ASCII (crypto/rand.Text), for which SASLprep changes nothing.
func scramVerifier(password string) (string, error) {
	const iterations = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

var (
	_ adapters.Adapter  = (*Postgres)(nil)
	_ adapters.Lister   = (*Postgres)(nil)
	_ adapters.Extender = (*Postgres)(nil)
	_ adapters.Checker  = (*Postgres)(nil)
	_ adapters.Closer   = (*Postgres)(nil)
	_ adapters.Holder   = (*Postgres)(nil)
)
