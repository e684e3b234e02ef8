package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/accessbot/accessbot/adapters/postgres"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/faults/internal/fixture"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// Names at the target. Roles are cluster-wide; the harness runs its own server, so fixed names
// are safe.
const (
	rolePrefix   = "fx_"          // ephemeral login roles: fx_<account>_<hash>
	readerRole   = "fault_reader" // what an ephemeral role joins
	memberRole   = "fault_member" // what membership mode grants to a person's own login
	botEph       = "fault_bot_eph"
	botMem       = "fault_bot_mem"
	resEphemeral = "pg-eph"
	resMember    = "pg-mem"

	signingSecret = "faults-signing-secret-0123456789abcdef"
	approverChan  = "CAPPROVALS"
	securityChan  = "CSECURITY"
)

// person is someone in the fake workspace.
type person struct {
	SlackID, Email, Account string
}

// env is one crash-injection setup: a PostgreSQL server holding accessbot's database and the
// target database, the fake Slack, and the built binary with its config.
type env struct {
	pg         *pgtest.Server
	storeDSN   string // accessbot's storage, as the superuser
	targetDSN  string // the target database, as the superuser
	store      *sql.DB
	target     *sql.DB
	slack      *slacktest.Server
	serve      *fixture.Serve
	requesters []person
	approvers  []person
	// sched is the scheduler settings the config gives serve.
	sched schedulerSettings
}

// schedulerSettings are the scheduler keys a run may set; zero values leave accessbot's
// defaults (call_timeout 30s, hold_rule owner).
type schedulerSettings struct {
	CallTimeout time.Duration
	HoldRule    string
}

// newEnv sets everything up in dir; t is a test or a fixture.ProgTB.
func newEnv(ctx context.Context, t testing.TB, bin, dir string, nRequesters int, sched schedulerSettings) (*env, error) {
	e := &env{pg: pgtest.Start(t), sched: sched}
	e.storeDSN = e.pg.NewDatabase(t)
	e.targetDSN = e.pg.NewDatabase(t)
	var err error
	if e.store, err = sql.Open("pgx", e.storeDSN); err != nil {
		return nil, err
	}
	t.Cleanup(func() { e.store.Close() })
	if e.target, err = sql.Open("pgx", e.targetDSN); err != nil {
		return nil, err
	}
	t.Cleanup(func() { e.target.Close() })

	for i := range nRequesters {
		e.requesters = append(e.requesters, person{
			SlackID: fmt.Sprintf("UP%03d", i), Email: fmt.Sprintf("fip%d@example.com", i), Account: fmt.Sprintf("fip%d", i),
		})
	}
	for i := range 3 {
		e.approvers = append(e.approvers, person{
			SlackID: fmt.Sprintf("UA%03d", i), Email: fmt.Sprintf("fia%d@example.com", i), Account: fmt.Sprintf("fia%d", i),
		})
	}

	// The target: group roles, two least-privilege bot roles, and a login role per requester
	// (membership mode grants to the person's own login).
	stmts := []string{
		`CREATE ROLE ` + readerRole + ` NOLOGIN`,
		`CREATE ROLE ` + memberRole + ` NOLOGIN`,
		`CREATE ROLE ` + botEph + ` LOGIN NOSUPERUSER CREATEROLE PASSWORD 'bot-eph'`,
		`CREATE ROLE ` + botMem + ` LOGIN NOSUPERUSER PASSWORD 'bot-mem'`,
		`GRANT ` + memberRole + ` TO ` + botMem + ` WITH ADMIN OPTION`,
		// Membership mode counts grants in its holders table.
		postgres.HoldersTableDDL("accessbot_holders"),
		`GRANT SELECT, INSERT, DELETE ON accessbot_holders TO ` + botMem,
		`CREATE TABLE orders (id int)`,
		`GRANT SELECT ON orders TO ` + readerRole + `, ` + memberRole,
	}
	for _, p := range e.requesters {
		stmts = append(stmts, `CREATE ROLE `+p.Account+` LOGIN PASSWORD 'person'`)
	}
	for _, s := range stmts {
		if _, err := e.target.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("set up the target: %s: %w", s, err)
		}
	}

	e.slack = slacktest.NewServer()
	t.Cleanup(e.slack.Close)
	for _, p := range append(append([]person{}, e.requesters...), e.approvers...) {
		e.slack.AddUser(slacktest.User{ID: p.SlackID, Name: p.Account, RealName: p.Account, Email: p.Email})
	}

	addr, err := fixture.FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(e.config(addr)), 0o600); err != nil {
		return nil, err
	}
	e.serve = &fixture.Serve{Bin: bin, Dir: dir, Addr: addr, Env: []string{
		"SLACK_SIGNING_SECRET=" + signingSecret, "SLACK_BOT_TOKEN=" + slacktest.BotToken,
	}}
	t.Cleanup(func() { _ = e.serve.Kill() })
	return e, nil
}

func dsnAs(dsn, user, password string) string {
	u, _ := url.Parse(dsn)
	u.User = url.UserPassword(user, password)
	return u.String()
}

func quoteList(ps []person) string {
	var q []string
	for _, p := range ps {
		q = append(q, fmt.Sprintf("%q", p.Email))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// config is accessbot's config: PostgreSQL storage, Slack on the fake, two resources on the
// target (ephemeral and membership mode), short retries.
func (e *env) config(addr string) string {
	policy := `    policy:
      requesters: {groups: [requesters]}
      approvers: [approvers]
      approvals: 1
      default_duration: "5s"
      max_duration: "1m"
      reason_required: false
`
	return fmt.Sprintf(`server:
  listen: %q
storage:
  driver: postgres
  dsn: %q
log:
  level: info
  format: json
groups:
  requesters: %s
  approvers: %s
admins:
  users: ["fault-admin@example.com"]
slack:
  signing_secret: "${SLACK_SIGNING_SECRET}"
  bot_token: "${SLACK_BOT_TOKEN}"
  api_url: %q
  approver_channel: %q
  security_channel: %q
scheduler:
  sweep: "2s"
%s  retry:
    initial: "200ms"
    max: "1s"
    attempts: 5
    slow: "2s"
scan:
  schedule: "off"
# The load is a few people asking all the time: the request limits would refuse most of it.
limits:
  pending_per_person: 0
  pending_per_resource: 0
  requests_per_person_per_hour: 0
resources:
  - name: %s
    adapter:
      type: postgres
      dsn: %q
      mode: ephemeral
      roles: [%s]
      role_prefix: %q
      on_revoke_owned: drop
      connect_timeout: "2s"
      statement_timeout: "3s"
      timeout: "5s"
%s  - name: %s
    adapter:
      type: postgres
      dsn: %q
      mode: membership
      roles: [%s]
      connect_timeout: "2s"
      statement_timeout: "3s"
      timeout: "5s"
%s`, addr, e.storeDSN, quoteList(e.requesters), quoteList(e.approvers),
		e.slack.APIURL(), approverChan, securityChan, e.schedulerKeys(),
		resEphemeral, dsnAs(e.targetDSN, botEph, "bot-eph"), readerRole, rolePrefix, policy,
		resMember, dsnAs(e.targetDSN, botMem, "bot-mem"), memberRole, policy)
}

// schedulerKeys are the scheduler lines of the config that the run sets (indented, each
// ending in a newline); none leaves accessbot's defaults, which is what the issue measures.
func (e *env) schedulerKeys() string {
	var b strings.Builder
	if e.sched.CallTimeout > 0 {
		fmt.Fprintf(&b, "  call_timeout: %q\n", e.sched.CallTimeout.String())
	}
	if e.sched.HoldRule != "" {
		fmt.Fprintf(&b, "  hold_rule: %q\n", e.sched.HoldRule)
	}
	return b.String()
}

// micros turns a stored time (unix microseconds, 0 for none) into a time.
func micros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// String describes the settings as the run's summary shows them.
func (s schedulerSettings) String() string {
	ct, rule := "30s (default)", "owner (default)"
	if s.CallTimeout > 0 {
		ct = s.CallTimeout.String()
	}
	if s.HoldRule != "" {
		rule = s.HoldRule
	}
	return "call_timeout " + ct + ", hold_rule " + rule
}
