package mysql

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ident"
)

const (
	defaultPrefix         = "ab_"
	defaultHost           = "%"
	defaultConnectTimeout = 10 * time.Second
	defaultTimeout        = 30 * time.Second
	defaultMaxConns       = 4
	maxPrefixLen          = 10
	// maxUserLen is MySQL's limit on user names (MariaDB allows 80); the shorter one keeps the
	// adapter portable.
	maxUserLen = 32
)

// DSN is the bot's connection string, in the form github.com/go-sql-driver/mysql reads
// (user:password@tcp(host:3306)/). It prints as "[redacted]" with every fmt verb and in JSON.
type DSN string

func (DSN) String() string   { return "[redacted]" }
func (DSN) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the DSN.
func (DSN) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Config is the mysql adapter's configuration block.
type Config struct {
	// DSN is the bot's own connection.
	DSN DSN `yaml:"dsn"`
	// Host is the host part of every user the adapter creates ('%': any host).
	Host string `yaml:"host"`
	// Grants are the privileges each user gets, each "PRIVILEGE[, PRIVILEGE...] ON db.table"
	// or "... ON db.*". Either grants or roles.
	Grants []string `yaml:"grants"`
	// Roles are granted to each user instead of privileges.
	Roles []string `yaml:"roles"`
	// UserPrefix starts every user's name; List reports every user that has it.
	UserPrefix string `yaml:"user_prefix"`
	// ConnectTimeout bounds establishing a connection.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Timeout bounds each adapter call as a whole, and each read and write on the connection.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConns bounds the bot's connections.
	MaxConns int `yaml:"max_conns"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		Host:           defaultHost,
		UserPrefix:     defaultPrefix,
		ConnectTimeout: defaultConnectTimeout,
		Timeout:        defaultTimeout,
		MaxConns:       defaultMaxConns,
	}
}

// String describes the config without the DSN.
func (c Config) String() string {
	return fmt.Sprintf("mysql{host=%s grants=%q roles=%v user_prefix=%s}", c.Host, c.Grants, c.Roles, c.UserPrefix)
}

// GoString is String, so %#v cannot print the DSN either.
func (c Config) GoString() string { return c.String() }

var (
	nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	// hostRE allows names, addresses, wildcards (%, _) and netmasks (10.0.0.0/255.0.0.0).
	hostRE = ident.New(`^[A-Za-z0-9.%_:/-]{1,255}$`, `^[A-Za-z0-9.%_:/-]+$`, 1, 255)
	// objectRE is a database or table name as the grammar accepts it: no quoting needed.
	objectRE = ident.New(`^[A-Za-z0-9_$]{1,64}$`, `^[A-Za-z0-9_$]+$`, 1, 64)
)

// ValidName checks a user, role or account name before it reaches SQL: lower-case ASCII
// letters, digits and underscores, not starting with a digit, at most 32 bytes.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > maxUserLen:
		return fmt.Errorf("%q is longer than %d bytes", name, maxUserLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%q is not a plain name (lower-case letters, digits and _, not starting with a digit)", name)
	}
	return nil
}

func validHost(host string) error {
	if !hostRE.MatchString(host) {
		return fmt.Errorf("%q is not a host pattern (letters, digits, . %% _ : / -)", host)
	}
	return nil
}

// Privilege is one parsed entry of grants: privileges on a database, or on one table in it.
type Privilege struct {
	Privileges []string
	Database   string
	// Table is "*" for the whole database.
	Table string
}

// privileges are the ones the grammar accepts, with whether they exist at table level. Global
// and administrative privileges (ALL, GRANT OPTION, SUPER, FILE, PROCESS, CREATE USER, ...) are
// not grantable through the adapter.
var privileges = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true,
	"CREATE": true, "DROP": true, "INDEX": true, "ALTER": true, "REFERENCES": true,
	"CREATE VIEW": true, "SHOW VIEW": true, "TRIGGER": true, "DELETE HISTORY": true,
	"EXECUTE": false, "CREATE ROUTINE": false, "ALTER ROUTINE": false, "EVENT": false,
	"CREATE TEMPORARY TABLES": false, "LOCK TABLES": false,
}

// ParsePrivilege parses one grants entry: PRIVILEGE[, PRIVILEGE...] ON db.* or ON db.table.
// Keywords are case-insensitive; names are ASCII letters, digits, _ and $, unquoted; the
// database cannot be * or mysql.
func ParsePrivilege(s string) (Privilege, error) {
	fields := strings.Fields(s)
	on := -1
	for i, f := range fields {
		if strings.EqualFold(f, "ON") {
			on = i
			break
		}
	}
	if on < 1 || on != len(fields)-2 {
		return Privilege{}, fmt.Errorf("%q: want PRIVILEGE[, PRIVILEGE...] ON db.* or ON db.table", s)
	}
	var p Privilege
	seen := map[string]bool{}
	for _, part := range strings.Split(strings.Join(fields[:on], " "), ",") {
		priv := strings.ToUpper(strings.Join(strings.Fields(part), " "))
		if _, ok := privileges[priv]; !ok {
			return Privilege{}, fmt.Errorf("%q: %q is not a privilege the adapter grants", s, strings.TrimSpace(part))
		}
		if seen[priv] {
			return Privilege{}, fmt.Errorf("%q: %s listed twice", s, priv)
		}
		seen[priv] = true
		p.Privileges = append(p.Privileges, priv)
	}
	db, table, ok := strings.Cut(fields[on+1], ".")
	if !ok || strings.Contains(table, ".") {
		return Privilege{}, fmt.Errorf("%q: the object must be db.* or db.table", s)
	}
	if !objectRE.MatchString(db) || allDigits(db) {
		return Privilege{}, fmt.Errorf("%q: %q is not a plain database name", s, db)
	}
	if strings.EqualFold(db, "mysql") {
		return Privilege{}, fmt.Errorf("%q: privileges on the mysql database would expose every account", s)
	}
	if table != "*" && (!objectRE.MatchString(table) || allDigits(table)) {
		return Privilege{}, fmt.Errorf("%q: %q is not a plain table name or *", s, table)
	}
	if table != "*" {
		for _, priv := range p.Privileges {
			if !privileges[priv] {
				return Privilege{}, fmt.Errorf("%q: %s applies to a whole database (db.*), not to a table", s, priv)
			}
		}
	}
	p.Database, p.Table = db, table
	return p, nil
}

func allDigits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// Validate checks the values without contacting the server.
func (c *Config) Validate() error {
	if c.DSN == "" {
		return errors.New("dsn is required")
	}
	if _, err := mysqldrv.ParseDSN(string(c.DSN)); err != nil {
		// The parser's messages may quote parts of the DSN.
		return errors.New("dsn is not a valid DSN (user:password@tcp(host:3306)/)")
	}
	if err := validHost(c.Host); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if err := ValidName(c.UserPrefix); err != nil {
		return fmt.Errorf("user_prefix: %w", err)
	}
	if len(c.UserPrefix) > maxPrefixLen {
		return fmt.Errorf("user_prefix: at most %d bytes, got %d", maxPrefixLen, len(c.UserPrefix))
	}
	switch {
	case len(c.Grants) == 0 && len(c.Roles) == 0:
		return errors.New("grants or roles is required: what each user may do")
	case len(c.Grants) > 0 && len(c.Roles) > 0:
		return errors.New("grants and roles are exclusive: use one")
	}
	for _, g := range c.Grants {
		if _, err := ParsePrivilege(g); err != nil {
			return fmt.Errorf("grants: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, r := range c.Roles {
		if err := ValidName(r); err != nil {
			return fmt.Errorf("roles: %w", err)
		}
		if seen[r] {
			return fmt.Errorf("roles: %s listed twice", r)
		}
		seen[r] = true
		if strings.HasPrefix(r, c.UserPrefix) {
			return fmt.Errorf("roles: %s starts with user_prefix %q", r, c.UserPrefix)
		}
	}
	if c.ConnectTimeout <= 0 || c.Timeout <= 0 {
		return errors.New("connect_timeout and timeout must be positive")
	}
	if c.MaxConns < 1 || c.MaxConns > 100 {
		return fmt.Errorf("max_conns must be between 1 and 100, got %d", c.MaxConns)
	}
	return nil
}

// New builds the adapter. It does not connect: Check does.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env)
}

var _ adapters.Config = (*Config)(nil)
