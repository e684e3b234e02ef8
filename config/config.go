package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	// The zone database is embedded so time_zone works on machines and images without tzdata.
	_ "time/tzdata"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/tmpl"
)

// Config is a loaded, expanded and validated configuration file. The exported fields are the
// file's keys; config.example.yaml documents each one.
type Config struct {
	Server  Server  `yaml:"server"`
	Storage Storage `yaml:"storage"`
	Log     Log     `yaml:"log"`
	// TimeZone is an IANA zone name. Auto-approve rules see the hour and weekday in it.
	TimeZone string `yaml:"time_zone"`
	// Admins may revoke anyone's grant, force revocations and review break-glass access.
	Admins Members `yaml:"admins"`
	// Groups are config groups: a name and its members (emails or platform user IDs).
	Groups    map[string][]string `yaml:"groups"`
	Scheduler Scheduler           `yaml:"scheduler"`
	// Defaults is the policy every resource inherits key by key.
	Defaults  PolicyConfig     `yaml:"defaults"`
	Resources []ResourceConfig `yaml:"resources"`
	// Slack is the Slack app; absent means Slack is off.
	Slack Slack `yaml:"slack"`
	// AuditSinks forward every audit event to SIEMs (see sinks.go).
	AuditSinks []AuditSink `yaml:"audit_sinks"`
	// Discord is the Discord application; absent means Discord is off.
	Discord Discord `yaml:"discord"`
	// Teams is the Microsoft Teams bot; absent means Teams is off.
	Teams Teams `yaml:"teams"`
	// Web is the local web chat under /chat/; off unless enabled.
	Web Web `yaml:"web"`
	// Scan is the standing-privilege scan: its schedule and the holders each target is expected
	// to have.
	Scan Scan `yaml:"scan"`
	// Digest is the access digest posted to chat on a schedule.
	Digest Digest `yaml:"digest"`
	// Limits cap the requests people make (see limits.go).
	Limits Limits `yaml:"limits"`
	// Ops tunes /readyz (see ops.go).
	Ops Ops `yaml:"ops"`
	// SSHKeys maps a person (their accessbot ID: email, or platform:userid) to SSH public keys
	// in authorized_keys form, used after the keys they registered in chat (KeysFromConfig).
	SSHKeys map[string][]string `yaml:"ssh_keys"`
	// Identity says who may use accessbot at all: email domains, and which Slack users.
	Identity Identity `yaml:"identity"`
	// OIDC is the identity provider of step-up approval (resources with step_up: oidc).
	OIDC OIDC `yaml:"oidc"`
	// Transparency signs checkpoints of the audit log's Merkle tree (see transparency.go).
	Transparency Transparency `yaml:"transparency"`
	// Alerts are CEL conditions over new requests and their signals that raise an alert in the
	// security channel (see alerts.go).
	Alerts []AlertConfig `yaml:"alerts"`
	// Activity samples the sessions of active grants (see activity.go).
	Activity Activity `yaml:"activity"`
	// GitHubLogin is the GitHub App through which people prove their GitHub login
	// (`/access github-login`; see githublogin.go).
	GitHubLogin GitHubLogin `yaml:"github_login"`
	// Tickets are the ticket systems resources' ticket: policies name (see tickets.go).
	Tickets Tickets `yaml:"tickets"`
	// OnCall is the on-call providers rota approver groups ask (see oncall.go).
	OnCall OnCall `yaml:"oncall"`

	file    string
	hash    string
	secrets []string
	loc     *time.Location
	lines   map[string]int
	// keys are SSHKeys checked and normalized, by lowercased person.
	keys map[string][]string
	// warnings are what `config validate` reports without refusing the file.
	warnings []Problem
	// expanded maps the key paths whose value a ${...} reference brought in to their text
	// before expansion (the reference, never its value).
	expanded map[string]string
}

// Server is the HTTP listener.
type Server struct {
	// Listen is host:port for /healthz, /readyz, /metrics and the chat endpoints.
	Listen string `yaml:"listen"`
	// PublicURL is how chat platforms and browsers reach the server, when it differs.
	PublicURL string `yaml:"public_url"`
}

// Storage says where state and the audit log live.
type Storage struct {
	// Driver is "sqlite" or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a SQLite file path or a PostgreSQL URL.
	DSN string `yaml:"dsn"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is auto (console on a terminal, JSON otherwise), json or console.
	Format string `yaml:"format"`
}

// Members names people directly and through groups.
type Members struct {
	// Users are emails or platform user IDs (U123, slack:U123, discord:123).
	Users []string `yaml:"users"`
	// Groups are config group names, or platform groups: "@handle" (a Slack user group) or
	// "discord-role:<id or name>".
	Groups []string `yaml:"groups"`
}

// Scheduler tunes revocation timing and retries.
type Scheduler struct {
	// Sweep is the interval of the safety-net scan for anything due.
	Sweep time.Duration `yaml:"sweep"`
	// CallTimeout bounds one adapter call. A grant being worked on is held for twice as long
	// while the process calling the adapter is alive.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// HeartbeatTimeout is how long a process's heartbeat may be silent before the grants it
	// holds are taken over by another process (the restarted one, or a replica).
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// HoldRule is "owner" (the default: a hold lapses when its process's heartbeat stops) or
	// "legacy" (a hold lasts twice CallTimeout whatever happens to its process).
	HoldRule string `yaml:"hold_rule"`
	Retry    Retry  `yaml:"retry"`
}

// Hold rules (Scheduler.HoldRule).
const (
	HoldRuleOwner  = "owner"
	HoldRuleLegacy = "legacy"
)

// Retry is the backoff of failed revocations: exponential from Initial up to Max; after
// Attempts failures a grant becomes revoke_failed and is retried every Slow.
type Retry struct {
	Initial  time.Duration `yaml:"initial"`
	Max      time.Duration `yaml:"max"`
	Attempts int           `yaml:"attempts"`
	Slow     time.Duration `yaml:"slow"`
}

// PolicyConfig is a policy as written: in `defaults:` or a resource's `policy:`. A nil field is
// not set and is inherited (resource from defaults, defaults from the built-in values).
type PolicyConfig struct {
	// Requesters may request; nil or empty means everyone.
	Requesters *Members `yaml:"requesters"`
	// Approvers are the groups whose members may approve or deny.
	Approvers       []string       `yaml:"approvers"`
	Approvals       *int           `yaml:"approvals"`
	DefaultDuration *time.Duration `yaml:"default_duration"`
	MaxDuration     *time.Duration `yaml:"max_duration"`
	ReasonRequired  *bool          `yaml:"reason_required"`
	// ReasonPattern is a Go regexp the reason must match (a ticket ID); "" clears a default.
	ReasonPattern *string        `yaml:"reason_pattern"`
	PendingTTL    *time.Duration `yaml:"pending_ttl"`
	BreakGlass    *bool          `yaml:"break_glass"`
	WarnBefore    *time.Duration `yaml:"warn_before"`
	// AutoApprove is a CEL rule (see grants.Rule); "" clears a default.
	AutoApprove *string `yaml:"auto_approve"`
	// RequireApprovals asks for more approvers, and no auto-approval, when its condition holds
	// (see alerts.go).
	RequireApprovals *RequireApprovalsConfig `yaml:"require_approvals"`

	pattern *regexp.Regexp
	rule    *grants.Rule
}

// ResourceConfig is one resource as written.
type ResourceConfig struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Adapter     AdapterConfig `yaml:"adapter"`
	// Account is a template (text/template's syntax, run by internal/tmpl) for the account name
	// at the target, over ID, Email, Local, Name, Platform and PlatformID. Empty means the local
	// part of the email.
	Account string `yaml:"account"`
	// Accounts maps a person's ID (email) to an account name, overriding Account.
	Accounts map[string]string `yaml:"accounts"`
	// AccountScope names the target whose accounts this resource's names are: resources on one
	// target (roles on one PostgreSQL server, hosts trusting one SSH CA) give the same scope,
	// so an account name belongs to one person across them. Empty: the resource's name.
	AccountScope string `yaml:"account_scope"`
	// AccountFrom, when "github-login", makes the account the person's GitHub login as GitHub
	// verified it (`/access github-login`); an Accounts entry still wins.
	AccountFrom string       `yaml:"account_from"`
	Policy      PolicyConfig `yaml:"policy"`
	// StepUp, when "oidc", makes approvals count only after the approver logs in again at the
	// `oidc:` identity provider.
	StepUp string `yaml:"step_up"`
	// Ticket, when set, makes requests name a ticket that is checked (see tickets.go).
	Ticket *TicketPolicyConfig `yaml:"ticket"`

	account   *tmpl.Template
	effective grants.Policy
}

// EffectivePolicy is the resource's policy with defaults merged and patterns compiled.
func (r *ResourceConfig) EffectivePolicy() grants.Policy { return r.effective }

// AdapterConfig is a resource's `adapter:` block: the registered type, and the rest of the
// block decoded strictly into that type's config and validated.
type AdapterConfig struct {
	Type   string
	Config adapters.Config
}

// decodeNode looks the type up in the adapter registry and decodes the block's other keys into
// the type's own config struct, so adapter keys get the same strictness and line numbers as
// the rest of the file.
func (a *AdapterConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected a mapping with a type and that adapter's settings, got %s", d.describe(n))
		return
	}
	before := d.count()
	var typeNode *yaml.Node
	pairs := d.pairs(n, path)
	for _, kv := range pairs {
		if kv.key.Value == "type" {
			d.lines[path+".type"] = kv.key.Line
			typeNode = kv.value
		}
	}
	known := adapters.Types()
	if typeNode == nil {
		d.add(n, path+".type", "required: the adapter type (registered: %s)", listOrNone(known))
		return
	}
	var typ string
	beforeType := d.count()
	d.decode(typeNode, reflect.ValueOf(&typ).Elem(), path+".type")
	if d.count() > beforeType {
		return
	}
	if typ == "" {
		d.add(typeNode, path+".type", "required: the adapter type (registered: %s)", listOrNone(known))
		return
	}
	t, ok := adapters.Lookup(typ)
	if !ok {
		shown := d.describe(typeNode)
		msg := fmt.Sprintf("unknown adapter type %s (registered: %s)", shown, listOrNone(known))
		if s := closest(typ, known); s != "" {
			msg = fmt.Sprintf("unknown adapter type %s (did you mean %q? registered: %s)", shown, s, listOrNone(known))
		}
		d.add(typeNode, path+".type", "%s", msg)
		return
	}
	cfg := t.NewConfig()
	rv := reflect.ValueOf(cfg)
	if cfg == nil || rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		d.add(n, path, "adapter type %q is broken: NewConfig returns %T, not a pointer to a struct", typ, cfg)
		return
	}
	d.decodeFields(pairs, rv.Elem(), path, []string{"type"})
	a.Type, a.Config = typ, cfg
	if d.count() > before {
		// Validate would only restate the decode problems, less precisely.
		return
	}
	if r, ok := cfg.(adapters.PathResolver); ok && d.dir != "" {
		r.ResolvePaths(d.dir)
	}
	if err := cfg.Validate(); err != nil {
		d.probs.add(d.lineOf(path), path, "%s adapter: %v", typ, err)
		d.bad[path] = true
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Built-in defaults, used where neither a resource nor `defaults:` says otherwise.
const (
	defaultListen          = "127.0.0.1:8080"
	defaultApprovals       = 1
	defaultDefaultDuration = time.Hour
	defaultMaxDuration     = 8 * time.Hour
	defaultPendingTTL      = 24 * time.Hour
	defaultReasonRequired  = true
	defaultWarnBefore      = 10 * time.Minute
)

func newConfig() *Config {
	return &Config{
		Server:   Server{Listen: defaultListen},
		Storage:  Storage{Driver: "sqlite", DSN: "accessbot.db"},
		Log:      Log{Level: "info", Format: "auto"},
		TimeZone: "UTC",
		Scheduler: Scheduler{
			Sweep:            15 * time.Second,
			CallTimeout:      30 * time.Second,
			HeartbeatTimeout: time.Second,
			HoldRule:         HoldRuleOwner,
			Retry:            Retry{Initial: time.Second, Max: 5 * time.Minute, Attempts: 8, Slow: 10 * time.Minute},
		},
		Slack:   defaultSlack(),
		Discord: defaultDiscord(),
		Teams:   defaultTeams(),
		Scan:    defaultScan(),
		Digest:  defaultDigest(),
		Limits:  defaultLimits(),
		Ops:     defaultOps(),

		Transparency: defaultTransparency(),
		Activity:     defaultActivity(),
	}
}

// Load reads, expands, decodes and validates the config file at path, with ${NAME} taken from
// the process environment. When anything is wrong the error is an *Errors listing every problem.
// Relative paths in the file are made relative to the file's directory (see paths.go).
func Load(path string) (*Config, error) {
	return LoadFor(path)
}

// LoadFor is Load for a command that uses only some sections of the file: a problem in any
// other top-level section (an unset ${SLACK_SIGNING_SECRET} under slack:, say) does not stop
// it, so an auditor running `accessbot audit verify` needs none of the chat platforms'
// secrets. With no sections it is Load. A chat section (slack:, discord:) that had a problem
// so ignored is turned off in the result, so nothing half-decoded is ever used.
// `accessbot config validate` and `serve` use Load and still report everything.
func LoadFor(path string, need ...Section) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, dir, data, os.LookupEnv, need)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse is Load on bytes already read: name is the file name used in messages, and its
// directory the one relative paths (and ${file:...} references) are relative to; env looks up
// ${NAME} (os.LookupEnv in production).
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	return parse(name, filepath.Dir(name), data, env, nil)
}

// parse is Parse with the directory relative paths are resolved against, and the sections
// whose problems count (nil: all).
func parse(name, dir string, data []byte, env func(string) (string, bool), need []Section) (*Config, error) {
	sum := sha256.Sum256(data)
	c := newConfig()
	c.file, c.hash = name, hex.EncodeToString(sum[:])
	probs := &problems{file: name}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file: validation says what is missing.
	case err != nil:
		p := Problem{File: name, Msg: err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Msg = m[2]
		}
		return nil, &Errors{Problems: []Problem{p}}
	default:
		var next yaml.Node
		if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
			return nil, &Errors{Problems: []Problem{{File: name, Line: next.Line,
				Msg: "a config file holds one YAML document; remove the second ---"}}}
		}
	}

	d := newDecoder(probs)
	d.dir = dir
	x := &expander{env: env, dir: dir}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		d.expandTree(root, "", x)
		d.boundExpansion(root)
		d.decode(root, reflect.ValueOf(c).Elem(), "")
		if d.over {
			// What was decoded is cut short: validating it would only add noise.
			return nil, probs.err(uniq(x.secrets))
		}
	}
	c.secrets = uniq(x.secrets)
	c.lines = d.lines
	c.expanded = d.expandedAt
	c.resolvePaths(dir)
	v := &validator{c: c, d: d, p: probs}
	v.validate()
	v.slack()
	v.sinks()
	v.discord()
	v.teams()
	v.web()
	v.scan()
	v.digest()
	v.limits()
	v.alerts()
	v.ops()
	v.sshKeys()
	v.identity()
	v.canonicalPeople()
	v.stepUp()
	v.githubLogin()
	v.transparency()
	v.activity()
	v.tickets()
	v.onCall()
	c.keepOnly(probs, need)
	if err := probs.err(c.secrets); err != nil {
		return nil, err
	}
	return c, nil
}

func uniq(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// File is the name the config was loaded from.
func (c *Config) File() string { return c.file }

// Hash is the hex SHA-256 of the file as loaded, before expansion, so it identifies the policy
// in force without revealing any secret. It is recorded in the audit log at every start.
func (c *Config) Hash() string { return c.hash }

// Secrets returns every value that ${...} expansion brought in, for log redaction.
func (c *Config) Secrets() []string { return slices.Clone(c.secrets) }

// Reference returns the text before expansion of the value at a key path ("slack.bot_token",
// "resources[0].adapter.dsn") when a ${...} reference brought the value in: the policy snapshot
// records such a value as a secret, by its reference ("${SLACK_BOT_TOKEN}"), never the value.
func (c *Config) Reference(path string) (string, bool) {
	ref, ok := c.expanded[path]
	return ref, ok
}

// Location is the configured time zone.
func (c *Config) Location() *time.Location { return c.loc }
