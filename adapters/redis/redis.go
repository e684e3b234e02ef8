// Package redis is the "redis" adapter: each grant is a Redis ACL user of its own, made with
// ACL SETUSER from the rules in the config and a random password that the requester receives once
// as the grant's secret. Revoking ends the user's live connections (CLIENT KILL USER) and deletes
// it (ACL DELUSER). Users are named <prefix><account>@<grant ID>, which is how List tells its own
// users; List also reports every other user that holds what the rules allow (holds.go).
//
// Redis has no expiry for ACL users, so access ends when accessbot revokes it. ACL users are
// local to one server: point the adapter at a standalone server or a primary without replicas
// that clients read from, since ACL changes are not replicated.
//
// The rules are checked against a grammar that admits key, channel and command rules and refuses
// anything that touches how the user logs in (nopass, >password, #hash, resetpass, reset, on, off)
// or spans several rules in one item. Unless allow_admin_commands is set, each grant also asks
// the server (ACL DRYRUN) whether the new user could run ACL SETUSER, CONFIG SET or MODULE LOAD,
// any of which would let temporary access make itself permanent, and refuses the grant if so.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ident"
)

const (
	defaultPrefix  = "ab-"
	defaultTimeout = 10 * time.Second
	// passwordLength is the length of each temporary user's password, from a 62-letter
	// alphabet: about 190 bits.
	passwordLength = 32
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "redis",
		Doc:       "a Redis ACL user per grant, with configured rules and a one-time random password",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// Password is a secret from the config. It prints as "[redacted]" with every fmt verb and in
// JSON, so a config dumped into a log line or an error keeps it secret.
type Password string

func (Password) String() string   { return "[redacted]" }
func (Password) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the password.
func (Password) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// TLSConfig turns on TLS to the server.
type TLSConfig struct {
	// Enabled turns TLS on. The other keys are optional.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust; the system pool when empty.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and key, for servers that ask for one
	// (Redis does by default: tls-auth-clients yes).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry; the address's host when empty.
	ServerName string `yaml:"server_name"`
}

// Config is the redis adapter's configuration block.
type Config struct {
	// Address is host:port of the server.
	Address string `yaml:"address"`
	// Username and Password are the bot's own ACL user; an empty username is "default".
	Username string   `yaml:"username"`
	Password Password `yaml:"password"`
	// TLS is optional.
	TLS TLSConfig `yaml:"tls"`
	// Prefix starts the name of every user the adapter makes, and tells List which users are its
	// own (List also reports every other user that holds the rules' access).
	Prefix string `yaml:"prefix"`
	// Rules are the ACL rules of each temporary user, one rule per item: "~app:*", "+@read".
	Rules []string `yaml:"rules"`
	// AllowAdminCommands skips the check that temporary users cannot run ACL SETUSER, CONFIG SET
	// or MODULE LOAD. Set it only for a resource that is meant to give administrator access.
	AllowAdminCommands bool `yaml:"allow_admin_commands"`
	// Timeout bounds each Grant, Revoke, List and Check, all of its round trips together.
	Timeout time.Duration `yaml:"timeout"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{Prefix: defaultPrefix, Timeout: defaultTimeout}
}

// String describes the config without the password.
func (c Config) String() string {
	return fmt.Sprintf("redis{address=%s username=%s tls=%t prefix=%s rules=%d allow_admin_commands=%t timeout=%s}",
		c.Address, c.Username, c.TLS.Enabled, c.Prefix, len(c.Rules), c.AllowAdminCommands, c.Timeout)
}

// GoString is String, so %#v cannot print the password either.
func (c Config) GoString() string { return c.String() }

var (
	// accountPattern is what an account may be: a name, never a rule or a second argument.
	accountPattern = ident.New(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`, `^[A-Za-z0-9_][A-Za-z0-9_.-]*$`, 1, 64)
	grantIDPattern = ident.New(`^[A-Za-z0-9_-]{1,64}$`, `^[A-Za-z0-9_-]+$`, 1, 64)
	prefixPattern  = ident.New(`^[A-Za-z0-9_.:-]{1,32}$`, `^[A-Za-z0-9_.:-]+$`, 1, 32)
	// userPattern is any name the adapter makes, whatever the prefix was when it did.
	userPattern = userName{}
	botPattern  = ident.New(`^[A-Za-z0-9_.:@-]{1,128}$`, `^[A-Za-z0-9_.:@-]+$`, 1, 128)
)

// Validate checks the values without contacting the server.
// ResolvePaths makes the TLS files relative to the config file's directory.
func (c *Config) ResolvePaths(dir string) {
	for _, f := range []*string{&c.TLS.CAFile, &c.TLS.CertFile, &c.TLS.KeyFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}

func (c *Config) Validate() error {
	if c.Address == "" {
		return errors.New("address is required (host:port)")
	}
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" {
		return fmt.Errorf("address must be host:port, got %q", c.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address: port must be a number from 1 to 65535, got %q", port)
	}
	if c.Username != "" && !botPattern.MatchString(c.Username) {
		return errors.New("username may hold only letters, digits and _ . : @ -")
	}
	if c.Password == "" {
		return errors.New("password is required: the bot's own user must not be reachable without one")
	}
	if !prefixPattern.MatchString(c.Prefix) {
		return fmt.Errorf("prefix must be 1 to 32 letters, digits or _ . : -, got %q", c.Prefix)
	}
	if bot := c.botName(); strings.HasPrefix(bot, c.Prefix) || userPattern.MatchString(bot) {
		return fmt.Errorf("username %q looks like a user the adapter makes (prefix %q): List and Revoke could touch the bot itself", bot, c.Prefix)
	}
	if err := checkRules(c.Rules); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %s", c.Timeout)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.ServerName != "") {
		return errors.New("tls: files or server_name are set but enabled is false")
	}
	return nil
}

func (c *Config) botName() string {
	if c.Username == "" {
		return "default"
	}
	return c.Username
}

// New builds the adapter. It reads the TLS files but does not contact the server.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env.Log)
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(c.Address)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.TLS.ServerName != "" {
		cfg.ServerName = c.TLS.ServerName
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s holds no PEM certificate", c.TLS.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Redis is the adapter. It is safe for concurrent use.
type Redis struct {
	cfg    Config
	log    zerolog.Logger
	client *goredis.Client
}

// New returns a Redis adapter for a validated config. It does not contact the server.
func New(cfg Config, log zerolog.Logger) (*Redis, error) {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	client := goredis.NewClient(&goredis.Options{
		Addr:      cfg.Address,
		Username:  cfg.Username,
		Password:  string(cfg.Password),
		TLSConfig: tlsCfg,
		// Deadlines come from each call's context, which is bounded by cfg.Timeout.
		ContextTimeoutEnabled: true,
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		// The scheduler retries with backoff; a call retries a dropped connection once.
		MaxRetries:    1,
		DialerRetries: 1,
		PoolSize:      4,
		// CLIENT SETINFO would need one more permission for the bot and tells the server nothing
		// it needs.
		DisableIdentity: true,
	})
	return &Redis{cfg: cfg, log: log, client: client}, nil
}

// Close closes the connections to the server.
func (r *Redis) Close() error { return r.client.Close() }

// UserName returns the name of the user a grant makes: prefix, account, "@", grant ID.
func (r *Redis) UserName(account, grantID string) (string, error) {
	if !accountPattern.MatchString(account) {
		return "", adapters.Permanentf("account %q is not a valid Redis user name part (letters, digits, _ . -, at most 64, not starting with . or -)", account)
	}
	if !grantIDPattern.MatchString(grantID) {
		return "", adapters.Permanentf("grant ID %q holds characters other than letters, digits, _ and -", grantID)
	}
	return r.cfg.Prefix + account + "@" + grantID, nil
}

// Grant makes the grant's ACL user, or remakes it with a new password when it exists: a second
// call for one grant happens only when the first call's answer (and so its password) was lost.
func (r *Redis) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	name, err := r.UserName(req.Subject.Account, req.GrantID)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	password, err := newPassword()
	if err != nil {
		return adapters.Lease{}, adapters.Retryablef("grant %s: %v", req.GrantID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()

	// "reset" first, so that a second call leaves exactly one password and the configured rules.
	args := make([]string, 0, len(r.cfg.Rules)+3)
	args = append(args, "reset", "on", ">"+password)
	args = append(args, r.cfg.Rules...)
	if err := r.client.ACLSetUser(ctx, name, args...).Err(); err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: ACL SETUSER %s: %w", req.GrantID, name, classify(scrub(err, password)))
	}
	if !r.cfg.AllowAdminCommands {
		if err := r.refuseEscalation(ctx, name); err != nil {
			// The user must not outlive a refused grant. A cancelled context would stop this
			// delete too; the scheduler's revoke of the failed grant catches that case.
			delCtx, delCancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
			if derr := r.removeUser(delCtx, name); derr != nil {
				r.log.Warn().Str("grant_id", req.GrantID).Str("user", name).Err(derr).Msg("delete refused redis user")
			}
			delCancel()
			return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
		}
	}
	r.log.Debug().Str("grant_id", req.GrantID).Str("user", name).Msg("redis user made")
	return adapters.Lease{
		Data: map[string]string{"user": name},
		Secret: &adapters.Secret{
			Kind:  "password",
			Label: fmt.Sprintf("password of Redis user %s at %s", name, r.cfg.Address),
			Value: password,
		},
	}, nil
}

// escalationProbes are commands that would let a temporary user give itself, or anyone, access
// that outlives the grant.
var escalationProbes = [][]any{
	{"acl", "setuser", "accessbot-probe"},
	{"config", "set", "maxmemory", "0"},
	{"module", "load", "/nonexistent/accessbot-probe.so"},
}

// refuseEscalation asks the server whether user may run any escalation probe.
func (r *Redis) refuseEscalation(ctx context.Context, user string) error {
	cmds, err := r.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, probe := range escalationProbes {
			p.ACLDryRun(ctx, user, probe...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check rules with ACL DRYRUN (the bot needs +acl|dryrun, and Redis 7 or later; or set allow_admin_commands): %w", classify(err))
	}
	for i, c := range cmds {
		// DRYRUN answers OK when the user may run the command, and a sentence saying why not
		// otherwise.
		if s, _ := c.(*goredis.StringCmd).Result(); s == "OK" {
			probe := escalationProbes[i]
			return adapters.Permanentf("the configured rules let a temporary user run %s %s, which would let it give itself lasting access; narrow the rules or set allow_admin_commands", strings.ToUpper(probe[0].(string)), strings.ToUpper(probe[1].(string)))
		}
	}
	return nil
}

// Revoke ends the grant user's connections and deletes it. Revoking a user that is gone
// succeeds.
func (r *Redis) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	var names []string
	name, nameErr := r.UserName(req.Subject.Account, req.GrantID)
	if nameErr == nil {
		names = append(names, name)
	}
	// The lease names the user as it was made, which differs from the name made now when the
	// prefix changed since. Lease data is stored outside the target, so it must have the shape of
	// a name the adapter makes for this very grant, and may never name the bot itself.
	var leaseErr error
	if stored := req.Data["user"]; stored != "" && stored != name {
		if !userPattern.MatchString(stored) || !grantIDPattern.MatchString(req.GrantID) ||
			!strings.HasSuffix(stored, "@"+req.GrantID) || stored == r.cfg.botName() {
			leaseErr = adapters.Permanentf("lease data names user %q, which is not a user this adapter makes for grant %s", stored, req.GrantID)
		} else {
			names = append(names, stored)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("revoke %s: %w", req.GrantID, errors.Join(nameErr, leaseErr))
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	for _, n := range names {
		if err := r.removeUser(ctx, n); err != nil {
			return fmt.Errorf("revoke %s: %w", req.GrantID, err)
		}
		r.log.Debug().Str("grant_id", req.GrantID).Str("user", n).Msg("redis user removed")
	}
	if leaseErr != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, leaseErr)
	}
	return nil
}

// removeUser ends the user's connections, then deletes the user. The kill comes first because
// Redis refuses CLIENT KILL USER for a user that no longer exists; ACL DELUSER also closes the
// connections of the user it deletes, which covers a login between the two commands.
func (r *Redis) removeUser(ctx context.Context, name string) error {
	err := r.client.ClientKillByFilter(ctx, "USER", name).Err()
	if err != nil && !isNoSuchUser(err) {
		return fmt.Errorf("CLIENT KILL USER %s: %w", name, classify(err))
	}
	if err := r.client.ACLDelUser(ctx, name).Err(); err != nil {
		return fmt.Errorf("ACL DELUSER %s: %w", name, classify(err))
	}
	return nil
}

func isNoSuchUser(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Error(), "No such user")
}

// List returns every user that holds the resource's access (see holds.go for what that means
// precisely), and every user whose name has the shape the adapter gives its own users whatever
// it may do now. The adapter's users are reported under the account and grant their name holds;
// any other user under its own name. The bot's own user is left out.
func (r *Redis) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	lines, err := r.client.ACLList(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("list redis users: ACL LIST: %w", classify(err))
	}
	table, err := r.loadCommandTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("list redis users: %w", err)
	}
	want := table.newPermSet(r.cfg.Rules)
	type listed struct {
		name, detail string
	}
	var out []adapters.Access
	var others []listed
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "user" {
			continue
		}
		name := fields[1]
		if name == r.cfg.botName() {
			continue
		}
		// Password hashes are not secrets, but they are of no use to a reader either.
		rules := make([]string, 0, len(fields)-2)
		for _, f := range fields[2:] {
			if !strings.HasPrefix(f, "#") {
				rules = append(rules, f)
			}
		}
		detail := "redis user " + name + " " + strings.Join(rules, " ")
		if account, grantID, ok := r.ownUser(name); ok {
			out = append(out, adapters.Access{Account: account, GrantID: grantID, Detail: detail})
			continue
		}
		others = append(others, listed{name, detail})
	}
	names := make([]string, len(others))
	for i, o := range others {
		names[i] = o.name
	}
	if len(others) == 0 {
		return out, nil
	}
	users, err := r.getUsers(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("list redis users: %w", err)
	}
	for _, o := range others {
		if u, ok := users[o.name]; ok && table.holds(u, want) {
			out = append(out, adapters.Access{Account: o.name, Detail: o.detail + " (holds the configured rules)"})
		}
	}
	return out, nil
}

// ownUser reads the account and grant ID out of a name the adapter makes with its prefix.
func (r *Redis) ownUser(name string) (account, grantID string, ok bool) {
	if !strings.HasPrefix(name, r.cfg.Prefix) {
		return "", "", false
	}
	rest := strings.TrimPrefix(name, r.cfg.Prefix)
	at := strings.LastIndexByte(rest, '@')
	if at < 0 || !accountPattern.MatchString(rest[:at]) || !grantIDPattern.MatchString(rest[at+1:]) {
		return "", "", false
	}
	return rest[:at], rest[at+1:], true
}

// botCommands are what the adapter runs, for Check to ask the server about.
var botCommands = [][]any{
	{"acl", "setuser", "accessbot-probe"},
	{"acl", "deluser", "accessbot-probe"},
	{"acl", "list"},
	{"acl", "getuser", "accessbot-probe"},
	{"command", "info"},
	{"client", "kill", "user", "accessbot-probe"},
}

// Check pings the server, checks that the bot is logged in as the configured user, and that it
// may run the ACL commands the adapter uses.
func (r *Redis) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("check redis %s: PING: %w", r.cfg.Address, classify(err))
	}
	who, err := r.client.ACLWhoAmI(ctx).Result()
	if err != nil {
		return fmt.Errorf("check redis %s: ACL WHOAMI: %w", r.cfg.Address, classify(err))
	}
	if who != r.cfg.botName() {
		return adapters.Permanentf("check redis %s: logged in as %q, want %q", r.cfg.Address, who, r.cfg.botName())
	}
	if err := r.client.ACLCat(ctx).Err(); err != nil {
		return fmt.Errorf("check redis %s: ACL CAT: %w", r.cfg.Address, classify(err))
	}
	if r.cfg.AllowAdminCommands {
		// Without the escalation check the bot may lack ACL DRYRUN; the ACL CAT above is the
		// proof that it may run ACL commands at all.
		return nil
	}
	for _, c := range botCommands {
		answer, err := r.client.ACLDryRun(ctx, who, c...).Result()
		if err != nil {
			return fmt.Errorf("check redis %s: ACL DRYRUN: %w", r.cfg.Address, classify(err))
		}
		if answer != "OK" {
			return adapters.Permanentf("check redis %s: user %s may not run %s %s: %s", r.cfg.Address, who,
				strings.ToUpper(c[0].(string)), strings.ToUpper(c[1].(string)), answer)
		}
	}
	return nil
}

// classify gives err its kind: server answers that retrying will not change (no permission,
// wrong password, a syntax error) are permanent; network errors, timeouts and a server that is
// loading, busy or failing over are retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var kinded *adapters.Error
	if errors.As(err, &kinded) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return adapters.RetryableError(err)
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		if goredis.IsLoadingError(err) || goredis.IsReadOnlyError(err) || goredis.IsClusterDownError(err) ||
			goredis.IsTryAgainError(err) || goredis.IsMasterDownError(err) ||
			goredis.HasErrorPrefix(err, "BUSY") {
			return adapters.RetryableError(err)
		}
		return adapters.PermanentError(err)
	}
	return adapters.RetryableError(err)
}

// scrub replaces the password in an error's text, in case the server ever echoes an argument.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	var rerr goredis.Error
	text := strings.ReplaceAll(err.Error(), password, "[redacted]")
	if errors.As(err, &rerr) {
		// Keep the kind: a server refusal stays permanent.
		return adapters.PermanentError(errors.New(text))
	}
	return errors.New(text)
}

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newPassword returns passwordLength letters and digits from crypto/rand, without modulo bias.
func newPassword() (string, error) {
	out := make([]byte, 0, passwordLength)
	buf := make([]byte, 64)
	for len(out) < passwordLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("make password: %w", err)
		}
		for _, b := range buf {
			// 248 is the largest multiple of 62 below 256.
			if b < 248 && len(out) < passwordLength {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out), nil
}

var (
	_ adapters.Adapter = (*Redis)(nil)
	_ adapters.Lister  = (*Redis)(nil)
	_ adapters.Checker = (*Redis)(nil)
	_ adapters.Closer  = (*Redis)(nil)
	_ adapters.Config  = (*Config)(nil)
)

// userName is ^[A-Za-z0-9_.:-]{1,32}[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}@[A-Za-z0-9_-]{1,64}$ (a
// prefix, an account and a grant ID), checked by hand: compiled, its counts cost 25 KB in every
// process (internal/ident says why).
type userName struct{}

// MatchString reports whether s is a prefix of 1 to 32 of prefixPattern's characters, an
// account as accountPattern has it, '@' and a grant ID as grantIDPattern has it. No part's
// characters include '@', so the '@' is the only one; the account holds no ':', so it starts
// after the last ':', and any split point from there that leaves both parts their lengths will do.
func (userName) MatchString(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 0 || !grantIDPattern.MatchString(s[at+1:]) {
		return false
	}
	head := s[:at]
	for i := 0; i < len(head); i++ {
		if !isPrefixByte(head[i]) {
			return false
		}
	}
	first := max(1, len(head)-64, strings.LastIndexByte(head, ':')+1)
	for k := first; k <= 32 && k < len(head); k++ {
		if c := head[k]; c != '.' && c != '-' { // the account's first character: not '.' or '-'
			return true
		}
	}
	return false
}

// isPrefixByte reports whether c is one of prefixPattern's characters.
func isPrefixByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_.:-", c) >= 0
}
