package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/tmpl"
	"github.com/accessbot/accessbot/oncall"
)

// validator checks what the decoder cannot: values against each other, names against the
// groups and the adapter registry, expressions by compiling them. It also fills in what the
// checks compute (compiled rules, patterns, templates, effective policies).
type validator struct {
	c *Config
	d *decoder
	p *problems
}

// add reports a problem at path, unless path already has one: one clear message per key beats
// a decode error followed by its consequences.
func (v *validator) add(path, format string, args ...any) {
	if v.d.bad[path] {
		return
	}
	v.d.bad[path] = true
	v.p.add(v.d.lineOf(path), path, format, args...)
}

// quote shows the value at path for a message: quoted, or, when it came from ${...}, the
// reference instead, so a message never shows a secret.
func (v *validator) quote(path, value string) string {
	if src, ok := v.d.expandedAt[path]; ok {
		return fmt.Sprintf("%q (after expansion)", src)
	}
	return strconv.Quote(value)
}

func (v *validator) validate() {
	v.server()
	v.storage()
	v.log()
	v.timeZone()
	v.groups()
	v.members("admins", &v.c.Admins)
	for i, g := range v.c.Admins.Groups {
		if oncall.IsRotaGroup(g) {
			// An admin revokes anyone's grant and reviews break-glass use: a power named in this
			// file, not one that follows a rota kept in another system.
			v.add(joinIndex("admins.groups", i), "%s is a rota: admins are named here (users or groups:), never whoever is on call", v.quote(joinIndex("admins.groups", i), g))
		}
	}
	v.scheduler()
	v.policy("defaults", &v.c.Defaults)
	v.crossCheck("defaults", v.effective(layer{"defaults", &v.c.Defaults}))
	v.resources()
}

func (v *validator) server() {
	s := v.c.Server
	if s.Listen == "" {
		v.add("server.listen", "required: host:port to listen on, e.g. 127.0.0.1:8080")
	} else if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		v.add("server.listen", "%s is not host:port (e.g. 127.0.0.1:8080, or :8080 for every interface)", v.quote("server.listen", s.Listen))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("server.listen", "%s has no valid port number", v.quote("server.listen", s.Listen))
	}
	if s.PublicURL != "" {
		u, err := url.Parse(s.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("server.public_url", "must be an absolute http:// or https:// URL")
		}
	}
}

func (v *validator) storage() {
	switch v.c.Storage.Driver {
	case "sqlite", "postgres":
	default:
		v.add("storage.driver", "unknown storage driver %s (use sqlite or postgres)", v.quote("storage.driver", v.c.Storage.Driver))
	}
	if v.c.Storage.DSN == "" {
		v.add("storage.dsn", "required: a SQLite file path, or a PostgreSQL URL")
	}
}

func (v *validator) log() {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, v.c.Log.Level) {
		v.add("log.level", "unknown log level %s (use debug, info, warn or error)", v.quote("log.level", v.c.Log.Level))
	}
	if !slices.Contains([]string{"auto", "json", "console"}, v.c.Log.Format) {
		v.add("log.format", "unknown log format %s (use auto, json or console)", v.quote("log.format", v.c.Log.Format))
	}
}

func (v *validator) timeZone() {
	loc, err := time.LoadLocation(v.c.TimeZone)
	if err != nil {
		v.add("time_zone", "unknown time zone %s (use an IANA name such as UTC or Europe/Paris)", v.quote("time_zone", v.c.TimeZone))
		loc = time.UTC
	}
	v.c.loc = loc
}

// IsPlatformGroup reports whether a group name belongs to a chat platform rather than to the
// config: "@handle" is a Slack user group, "discord-role:<id or name>" a Discord role,
// "entra-group:<object ID>" an Entra ID group (read through Microsoft Graph with the Teams
// bot's credentials). Platforms resolve these; the config's directory never matches them.
func IsPlatformGroup(name string) bool {
	return strings.HasPrefix(name, "@") || strings.HasPrefix(name, "discord-role:") || strings.HasPrefix(name, entraGroupPrefix)
}

func (v *validator) groups() {
	names := make([]string, 0, len(v.c.Groups))
	for name := range v.c.Groups {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := joinKey("groups", name)
		switch {
		case strings.TrimSpace(name) == "":
			v.add(path, "a group needs a name")
		case IsPlatformGroup(name):
			v.add(path, "%q names a platform group (@ is a Slack user group, discord-role: a Discord role); config groups need another name", name)
		}
		for i, m := range v.c.Groups[name] {
			if strings.TrimSpace(m) == "" {
				v.add(joinIndex(path, i), "empty member (write an email or a platform user ID)")
			}
		}
	}
}

// group checks that a group named at path exists.
func (v *validator) group(path, name string) {
	if IsPlatformGroup(name) {
		if name == "@" || name == "discord-role:" {
			v.add(path, "%s needs a name after the prefix", v.quote(path, name))
		}
		if id, ok := strings.CutPrefix(name, entraGroupPrefix); ok && !guid.MatchString(id) {
			v.add(path, "%s: an Entra ID group is named by its object ID, a GUID (entra-group:00000000-0000-0000-0000-000000000000)", v.quote(path, name))
		}
		return
	}
	if oncall.IsRotaGroup(name) {
		v.rota(path, name)
		return
	}
	if _, ok := v.c.Groups[name]; ok {
		return
	}
	known := make([]string, 0, len(v.c.Groups))
	for g := range v.c.Groups {
		known = append(known, g)
	}
	hint := rotaHint(name)
	if s := closest(name, known); s != "" && hint == "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	v.add(path, "unknown group %s%s: define it under groups:, or write @handle for a Slack user group or discord-role:<name> for a Discord role", v.quote(path, name), hint)
}

func (v *validator) members(path string, m *Members) {
	for i, u := range m.Users {
		if strings.TrimSpace(u) == "" {
			v.add(joinIndex(path+".users", i), "empty user (write an email or a platform user ID)")
		}
	}
	for i, g := range m.Groups {
		v.group(joinIndex(path+".groups", i), g)
	}
}

func (v *validator) scheduler() {
	s := v.c.Scheduler
	v.positive("scheduler.sweep", s.Sweep)
	v.positive("scheduler.call_timeout", s.CallTimeout)
	// Beats come every quarter of the timeout: much shorter would be a write every few
	// milliseconds.
	if s.HeartbeatTimeout < 100*time.Millisecond {
		v.add("scheduler.heartbeat_timeout", "must be at least 100ms, got %s", FormatDuration(s.HeartbeatTimeout))
	}
	if s.HoldRule != HoldRuleOwner && s.HoldRule != HoldRuleLegacy {
		v.add("scheduler.hold_rule", "must be %q or %q, got %q", HoldRuleOwner, HoldRuleLegacy, s.HoldRule)
	}
	v.positive("scheduler.retry.initial", s.Retry.Initial)
	v.positive("scheduler.retry.slow", s.Retry.Slow)
	if s.Retry.Max < s.Retry.Initial {
		v.add("scheduler.retry.max", "%s is shorter than retry.initial %s", FormatDuration(s.Retry.Max), FormatDuration(s.Retry.Initial))
	}
	if s.Retry.Attempts < 1 {
		v.add("scheduler.retry.attempts", "must be at least 1, got %d", s.Retry.Attempts)
	}
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be longer than zero, got %s", FormatDuration(d))
	}
}

// policy checks the keys a `defaults:` or `policy:` block sets, and compiles its pattern and
// rule. How the keys combine with inherited ones is crossCheck's job.
func (v *validator) policy(path string, pc *PolicyConfig) {
	if pc.Requesters != nil {
		v.members(path+".requesters", pc.Requesters)
	}
	for i, g := range pc.Approvers {
		v.group(joinIndex(path+".approvers", i), g)
	}
	if pc.Approvals != nil && *pc.Approvals < 1 {
		v.add(path+".approvals", "must be at least 1, got %d", *pc.Approvals)
	}
	for _, f := range []struct {
		key string
		d   *time.Duration
	}{{"default_duration", pc.DefaultDuration}, {"max_duration", pc.MaxDuration}, {"pending_ttl", pc.PendingTTL}} {
		if f.d != nil {
			v.positive(path+"."+f.key, *f.d)
		}
	}
	if pc.WarnBefore != nil && *pc.WarnBefore < 0 {
		v.add(path+".warn_before", "must not be negative (0 turns the warning off)")
	}
	if pc.ReasonPattern != nil && *pc.ReasonPattern != "" {
		re, err := regexp.Compile(*pc.ReasonPattern)
		if err != nil {
			v.add(path+".reason_pattern", "not a valid regular expression: %v", err)
		}
		pc.pattern = re
	}
	if pc.AutoApprove != nil && strings.TrimSpace(*pc.AutoApprove) != "" {
		rule, err := grants.CompileRule(*pc.AutoApprove)
		if err != nil {
			v.add(path+".auto_approve", "%v", err)
		}
		v.ruleRotas(path+".auto_approve", rule)
		pc.rule = rule
	}
	if pc.RequireApprovals != nil {
		v.requireApprovals(path+".require_approvals", pc.RequireApprovals)
	}
}

// layer is one policy block and where it is.
type layer struct {
	path string
	p    *PolicyConfig
}

// merged is an effective policy and, for each key, the path of the block that set it ("" for
// a built-in default).
type merged struct {
	policy grants.Policy
	from   map[string]string
	// autoApprove is whether a rule is written, even one that failed to compile, so that a
	// broken rule is not reported a second time as "no approvers".
	autoApprove bool
}

// effective merges policy blocks over the built-in defaults, later layers winning key by key.
func (v *validator) effective(layers ...layer) merged {
	m := merged{
		policy: grants.Policy{
			Approvals:       defaultApprovals,
			DefaultDuration: defaultDefaultDuration,
			MaxDuration:     defaultMaxDuration,
			ReasonRequired:  defaultReasonRequired,
			PendingTTL:      defaultPendingTTL,
			WarnBefore:      defaultWarnBefore,
		},
		from: map[string]string{},
	}
	p := &m.policy
	for _, l := range layers {
		pc := l.p
		set := func(key string, isSet bool) bool {
			if isSet {
				m.from[key] = l.path + "." + key
			}
			return isSet
		}
		if set("requesters", pc.Requesters != nil) {
			p.Requesters = slices.Clone(pc.Requesters.Users)
			p.RequesterGroups = slices.Clone(pc.Requesters.Groups)
		}
		if set("approvers", pc.Approvers != nil) {
			p.ApproverGroups = slices.Clone(pc.Approvers)
		}
		if set("approvals", pc.Approvals != nil) {
			p.Approvals = *pc.Approvals
		}
		if set("default_duration", pc.DefaultDuration != nil) {
			p.DefaultDuration = *pc.DefaultDuration
		}
		if set("max_duration", pc.MaxDuration != nil) {
			p.MaxDuration = *pc.MaxDuration
		}
		if set("reason_required", pc.ReasonRequired != nil) {
			p.ReasonRequired = *pc.ReasonRequired
		}
		if set("reason_pattern", pc.ReasonPattern != nil) {
			p.ReasonPattern = pc.pattern
		}
		if set("pending_ttl", pc.PendingTTL != nil) {
			p.PendingTTL = *pc.PendingTTL
		}
		if set("break_glass", pc.BreakGlass != nil) {
			p.BreakGlass = *pc.BreakGlass
		}
		if set("warn_before", pc.WarnBefore != nil) {
			p.WarnBefore = *pc.WarnBefore
		}
		if set("auto_approve", pc.AutoApprove != nil) {
			p.AutoApprove = pc.rule
			m.autoApprove = strings.TrimSpace(*pc.AutoApprove) != ""
		}
		if set("require_approvals", pc.RequireApprovals != nil) {
			p.RequireApprovals = pc.RequireApprovals.grantsRequireApprovals()
		}
	}
	return m
}

// crossCheck checks how keys combine, reporting only what the block at own is part of, so a
// mistake in defaults is reported once and not again for every resource.
func (v *validator) crossCheck(own string, m merged) {
	p := m.policy
	ownKey := func(key string) bool { return m.from[key] == own+"."+key }
	whence := func(key string) string {
		switch from := m.from[key]; {
		case from == own+"."+key:
			return ""
		case from == "":
			return " (built-in default)"
		default:
			return " (from " + from + ")"
		}
	}
	if p.DefaultDuration > p.MaxDuration && p.DefaultDuration > 0 && p.MaxDuration > 0 {
		switch {
		case ownKey("default_duration"):
			v.add(own+".default_duration", "%s is longer than max_duration %s%s",
				FormatDuration(p.DefaultDuration), FormatDuration(p.MaxDuration), whence("max_duration"))
		case ownKey("max_duration"):
			v.add(own+".max_duration", "%s is shorter than default_duration %s%s",
				FormatDuration(p.MaxDuration), FormatDuration(p.DefaultDuration), whence("default_duration"))
		}
	}
}

// approversCheck makes sure a resource's requests can be decided by someone.
func (v *validator) approversCheck(path string, m merged) {
	p := m.policy
	if len(p.ApproverGroups) == 0 {
		if p.RequireApprovals != nil {
			v.add(path+".require_approvals", "requests it applies to wait for approvers, but the policy names no approver group")
		}
		if !m.autoApprove {
			v.add(path+".approvers", "required: name at least one approver group (or set auto_approve, and requests the rule does not approve are left to expire)")
		}
		return
	}
	// When every approver group is a config group, count who could approve: a policy that
	// needs more approvers than exist would leave every request pending.
	people := map[string]bool{}
	for _, g := range p.ApproverGroups {
		members, ok := v.c.Groups[g]
		if !ok {
			return // a platform group, or an unknown one already reported
		}
		for _, m := range members {
			people[grants.CanonicalEntry(m)] = true
		}
	}
	if len(people) < p.Approvals {
		at := path + ".approvals"
		if m.from["approvals"] != at {
			at = path + ".approvers"
		}
		v.add(at, "needs %d distinct approvals but approver groups %s have only %d member(s) between them",
			p.Approvals, strings.Join(p.ApproverGroups, ", "), len(people))
	} else if ra := p.RequireApprovals; ra != nil && len(people) < ra.Approvals {
		v.add(path+".require_approvals", "needs %d distinct approvals when its condition holds but approver groups %s have only %d member(s) between them",
			ra.Approvals, strings.Join(p.ApproverGroups, ", "), len(people))
	}
}

var resourceName = ident.New(`^[a-z0-9][a-z0-9_.-]{0,62}$`, `^[a-z0-9][a-z0-9_.-]*$`, 1, 63)

func (v *validator) resources() {
	if len(v.c.Resources) == 0 {
		v.add("resources", "required: at least one resource")
		return
	}
	firstLine := map[string]int{}
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		path := joinIndex("resources", i)
		switch {
		case r.Name == "":
			v.add(path+".name", "required: the resource's name, e.g. prod-db")
		case !resourceName.MatchString(r.Name):
			v.add(path+".name", "%s is not a valid name (lowercase letters, digits, - _ and ., starting with a letter or digit, at most 63)", v.quote(path+".name", r.Name))
		default:
			if line, dup := firstLine[r.Name]; dup {
				v.add(path+".name", "duplicate resource name %s (first at line %d)", v.quote(path+".name", r.Name), line)
			} else {
				firstLine[r.Name] = v.d.lineOf(path + ".name")
			}
		}
		if r.Adapter.Config == nil && !v.d.bad[path+".adapter"] && !v.d.bad[path+".adapter.type"] {
			v.add(path+".adapter", "required: an adapter block with a type")
		}
		v.account(path, r)
		v.policy(path+".policy", &r.Policy)
		m := v.effective(layer{"defaults", &v.c.Defaults}, layer{path + ".policy", &r.Policy})
		v.crossCheck(path+".policy", m)
		v.approversCheck(path+".policy", m)
		r.effective = m.policy
	}
}

// account checks the account template by running it on a sample person, so a misspelt field
// fails at load rather than at the first grant.
func (v *validator) account(path string, r *ResourceConfig) {
	if r.AccountScope != "" && !resourceName.MatchString(r.AccountScope) {
		v.add(path+".account_scope", "%s is not a valid scope name (lowercase letters, digits, - _ and ., like a resource name)", v.quote(path+".account_scope", r.AccountScope))
	}
	if r.Account != "" {
		t, err := tmpl.Parse(r.Name, r.Account, tmpl.Options{MissingKeyError: true})
		if err != nil {
			v.add(path+".account", "not a valid template: %v", err)
		} else {
			var b strings.Builder
			err := t.Execute(&b, map[string]string{
				"ID": "alice@example.com", "Email": "alice@example.com", "Local": "alice",
				"Name": "Alice", "Platform": "slack", "PlatformID": "U0123",
			})
			switch {
			case err != nil:
				v.add(path+".account", "template fails (fields are ID, Email, Local, Name, Platform, PlatformID): %v", err)
			case strings.TrimSpace(b.String()) == "":
				v.add(path+".account", "template gives an empty account name")
			default:
				r.account = t
			}
		}
	}
	// Person IDs are in grants.CanonicalPerson's form, so mapping keys are compared that way.
	if len(r.Accounts) > 0 {
		norm := make(map[string]string, len(r.Accounts))
		for id, acct := range r.Accounts {
			if strings.TrimSpace(acct) == "" {
				v.add(joinKey(path+".accounts", id), "empty account name")
			}
			norm[grants.CanonicalEntry(id)] = acct
		}
		r.Accounts = norm
	}
}
