package postgres

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accessbot/accessbot/adapters"
)

// Mode says how access is given.
type Mode string

const (
	// ModeMembership grants the configured roles to the person's own login role.
	ModeMembership Mode = "membership"
	// ModeEphemeral creates a login role for the grant, with a random password and VALID UNTIL
	// the expiry, and drops it on revoke.
	ModeEphemeral Mode = "ephemeral"
)

// OnRevokeOwned says what happens to the objects an ephemeral role owns when it is revoked.
type OnRevokeOwned string

const (
	// OwnedReassign gives them to ReassignTo (REASSIGN OWNED), keeping the data.
	OwnedReassign OnRevokeOwned = "reassign"
	// OwnedDrop drops them (DROP OWNED).
	OwnedDrop OnRevokeOwned = "drop"
)

const (
	defaultPrefix           = "ab_"
	defaultConnectTimeout   = 10 * time.Second
	defaultStatementTimeout = 15 * time.Second
	defaultTimeout          = 30 * time.Second
	defaultMaxConns         = 4
	maxPrefixLen            = 20
	// maxIdentLen is PostgreSQL's NAMEDATALEN-1: longer names are silently truncated by the
	// server, which would break the mapping from grant to role.
	maxIdentLen = 63
)

// DSN is the bot's connection string. It prints as "[redacted]" with every fmt verb and in JSON,
// because it usually carries a password.
type DSN string

func (DSN) String() string   { return "[redacted]" }
func (DSN) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the DSN.
func (DSN) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Config is the postgres adapter's configuration block.
type Config struct {
	// DSN is the bot's own connection (URL or key=value form). It names the database where
	// ephemeral roles' objects are reassigned or dropped.
	DSN DSN `yaml:"dsn"`
	// Mode is membership or ephemeral.
	Mode Mode `yaml:"mode"`
	// Roles are the group roles granted: to the person's login (membership) or to the ephemeral
	// login role (ephemeral).
	Roles []string `yaml:"roles"`
	// RolePrefix starts every ephemeral role's name; List reports every role that has it.
	RolePrefix string `yaml:"role_prefix"`
	// OnRevokeOwned is reassign or drop; ephemeral mode only, and required there.
	OnRevokeOwned OnRevokeOwned `yaml:"on_revoke_owned"`
	// ReassignTo receives what an ephemeral role owned, with on_revoke_owned: reassign.
	ReassignTo string `yaml:"reassign_to"`
	// ConnectTimeout bounds establishing a connection.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// StatementTimeout is the server-side statement_timeout and lock_timeout of the bot's
	// sessions.
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	// Timeout bounds each adapter call (grant, revoke, extend, list, check) as a whole.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConns bounds the bot's connections.
	MaxConns int `yaml:"max_conns"`
	// HoldersTable is the table, in the DSN's database, where membership mode counts which
	// grants hold which membership (see HoldersTableDDL): "table" or "schema.table". The
	// operator creates it; the bot needs SELECT, INSERT and DELETE on it. Resources that share
	// a role must name the same table in the same database.
	HoldersTable string `yaml:"holders_table"`
	// SessionLogging asks the server to log what an ephemeral role does, under the role's
	// name (which maps to its grant); ephemeral mode only.
	SessionLogging SessionLogging `yaml:"session_logging"`
}

// SessionLogging is set on each ephemeral role with ALTER ROLE ... SET, so the server log holds
// what the grant's sessions did under a name that maps to the grant (EphemeralRoleName; the
// role's comment names the grant too). log_statement is a superuser-only parameter: the bot
// needs superuser or, from PostgreSQL 15, GRANT SET ON PARAMETER log_statement. There is no
// per-role log_connections or log_disconnections: the server refuses them in ALTER ROLE SET
// ("cannot be set after connection start"), and role settings are applied after
// authentication anyway, too late for the connection lines. Turn those on server-wide; their
// lines carry the user name, which is the role's.
type SessionLogging struct {
	// Statements is log_statement for the role: none (the default: the bot needs no extra
	// privilege), ddl, mod or all.
	Statements string `yaml:"statements"`
}

// statementLevels are log_statement's values.
var statementLevels = []string{"none", "ddl", "mod", "all"}

// settings returns the parameters to set on an ephemeral role, in a fixed order; their values
// come from fixed lists, never from free text.
func (l SessionLogging) settings() [][2]string {
	var out [][2]string
	if l.Statements != "" && l.Statements != "none" {
		out = append(out, [2]string{"log_statement", l.Statements})
	}
	return out
}

// defaultHoldersTable is holders_table's default, found through the bot's search_path.
const defaultHoldersTable = "accessbot_holders"

// HoldersTableDDL is the statement that creates the holders table of membership mode, for the
// operator to run once (the bot needs no CREATE privilege).
func HoldersTableDDL(table string) string {
	return `CREATE TABLE ` + table + ` (
  account    text NOT NULL,               -- the person's login role
  role       text NOT NULL,               -- a role in roles
  grant_id   text NOT NULL,               -- the accessbot grant that holds the membership
  standing   boolean NOT NULL DEFAULT false, -- the person was a member before: never revoked
  resource   text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account, role, grant_id)
)`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		RolePrefix:       defaultPrefix,
		ConnectTimeout:   defaultConnectTimeout,
		StatementTimeout: defaultStatementTimeout,
		Timeout:          defaultTimeout,
		MaxConns:         defaultMaxConns,
		HoldersTable:     defaultHoldersTable,
	}
}

// String describes the config without the DSN.
func (c Config) String() string {
	return fmt.Sprintf("postgres{mode=%s roles=%v role_prefix=%s on_revoke_owned=%s reassign_to=%s session_logging=%+v}",
		c.Mode, c.Roles, c.RolePrefix, c.OnRevokeOwned, c.ReassignTo, c.SessionLogging)
}

// GoString is String, so %#v cannot print the DSN either.
func (c Config) GoString() string { return c.String() }

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// reserved names mean something else where a role name is expected (GRANT r TO public), or
// belong to the server (pg_*).
var reserved = map[string]bool{
	"public": true, "current_user": true, "current_role": true, "session_user": true,
	"user": true, "none": true, "all": true,
}

// ValidIdent checks a role name before it reaches SQL: lower-case ASCII letters, digits and
// underscores, starting with a letter or underscore, at most 63 bytes, not a reserved word.
// Quoting would make any name safe; refusing the rest keeps names unambiguous (PostgreSQL folds
// unquoted names to lower case, so "Alice" and alice would be two roles).
func ValidIdent(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > maxIdentLen:
		return fmt.Errorf("%q is longer than %d bytes", name, maxIdentLen)
	case !identRE.MatchString(name):
		return fmt.Errorf("%q is not a plain role name (lower-case letters, digits and _, not starting with a digit)", name)
	case reserved[name]:
		return fmt.Errorf("%q is a reserved word", name)
	}
	return nil
}

// validTablePart checks one part of holders_table like a role name, except that a schema may be
// public.
func validTablePart(name string, schema bool) bool {
	if schema && name == "public" {
		return true
	}
	return ValidIdent(name) == nil
}

// Validate checks the values without contacting the server.
func (c *Config) Validate() error {
	if c.DSN == "" {
		return errors.New("dsn is required")
	}
	if _, err := pgxpool.ParseConfig(string(c.DSN)); err != nil {
		// The parser's message quotes the DSN; its redaction of the password is best effort.
		return errors.New("dsn is not a valid PostgreSQL connection string (URL or key=value)")
	}
	switch c.Mode {
	case ModeMembership, ModeEphemeral:
	case "":
		return errors.New("mode is required: membership or ephemeral")
	default:
		return fmt.Errorf("mode must be membership or ephemeral, got %q", c.Mode)
	}
	if len(c.Roles) == 0 {
		return errors.New("roles is required: the roles to grant")
	}
	if err := ValidIdent(c.RolePrefix); err != nil {
		return fmt.Errorf("role_prefix: %w", err)
	}
	if len(c.RolePrefix) > maxPrefixLen {
		return fmt.Errorf("role_prefix: at most %d bytes, got %d", maxPrefixLen, len(c.RolePrefix))
	}
	if strings.HasPrefix(c.RolePrefix, "pg_") {
		return errors.New("role_prefix: names starting with pg_ are reserved by PostgreSQL")
	}
	seen := map[string]bool{}
	for _, r := range c.Roles {
		if err := ValidIdent(r); err != nil {
			return fmt.Errorf("roles: %w", err)
		}
		if seen[r] {
			return fmt.Errorf("roles: %s listed twice", r)
		}
		seen[r] = true
		if strings.HasPrefix(r, c.RolePrefix) {
			// Revoke and List treat every role with the prefix as ephemeral.
			return fmt.Errorf("roles: %s starts with role_prefix %q", r, c.RolePrefix)
		}
	}
	if c.HoldersTable == "" {
		c.HoldersTable = defaultHoldersTable
	}
	if parts := strings.Split(c.HoldersTable, "."); len(parts) > 2 || !validTablePart(parts[0], len(parts) == 2) || !validTablePart(parts[len(parts)-1], false) {
		return fmt.Errorf("holders_table: %q is not a plain table name or schema.table", c.HoldersTable)
	}
	if err := c.validateSessionLogging(); err != nil {
		return err
	}
	if c.Mode == ModeMembership {
		if c.OnRevokeOwned != "" || c.ReassignTo != "" {
			return errors.New("on_revoke_owned and reassign_to apply to ephemeral mode only: membership mode never drops the person's role")
		}
	} else {
		switch c.OnRevokeOwned {
		case OwnedReassign:
			if c.ReassignTo == "" {
				return errors.New("reassign_to is required with on_revoke_owned: reassign")
			}
			if err := ValidIdent(c.ReassignTo); err != nil {
				return fmt.Errorf("reassign_to: %w", err)
			}
			if strings.HasPrefix(c.ReassignTo, c.RolePrefix) {
				return fmt.Errorf("reassign_to: %s starts with role_prefix %q", c.ReassignTo, c.RolePrefix)
			}
		case OwnedDrop:
			if c.ReassignTo != "" {
				return errors.New("reassign_to is set but on_revoke_owned is drop")
			}
		case "":
			return errors.New("on_revoke_owned is required in ephemeral mode: reassign (with reassign_to) keeps what the role created, drop deletes it")
		default:
			return fmt.Errorf("on_revoke_owned must be reassign or drop, got %q", c.OnRevokeOwned)
		}
	}
	if c.ConnectTimeout <= 0 || c.StatementTimeout <= 0 || c.Timeout <= 0 {
		return errors.New("connect_timeout, statement_timeout and timeout must be positive")
	}
	if c.MaxConns < 1 || c.MaxConns > 100 {
		return fmt.Errorf("max_conns must be between 1 and 100, got %d", c.MaxConns)
	}
	return nil
}

// validateSessionLogging checks session_logging: a known level, in ephemeral mode only.
func (c *Config) validateSessionLogging() error {
	if !slices.Contains(statementLevels, c.SessionLogging.Statements) && c.SessionLogging.Statements != "" {
		return fmt.Errorf("session_logging.statements must be none, ddl, mod or all, got %q", c.SessionLogging.Statements)
	}
	if c.Mode == ModeMembership && len(c.SessionLogging.settings()) > 0 {
		return errors.New("session_logging applies to ephemeral mode only: membership mode would change the person's own role for good")
	}
	return nil
}

// New builds the adapter. It does not connect: Check does.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env)
}

var _ adapters.Config = (*Config)(nil)
