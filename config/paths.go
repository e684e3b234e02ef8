package config

import (
	"path/filepath"
	"slices"
	"strings"
)

// Relative paths in a config file are relative to the file's directory, never to the working
// directory of whoever runs accessbot: `accessbot audit verify --config /etc/accessbot/x.yaml`
// run from a home directory must open /etc/accessbot's database, not create an empty one there.
// ${file:...} references have always worked this way; these are the other keys that name a file:
//
//	storage.dsn                       (sqlite: the database file; not :memory: nor a file: URI)
//	audit_sinks[].path                (file sink)
//	audit_sinks[].ca_file, cert_file, key_file
//	resources[].adapter.*             (what each adapter's ResolvePaths says, see adapters.PathResolver)

// resolvePath makes a relative file path relative to dir. An empty path stays empty: it means
// "not set".
func resolvePath(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// resolveSQLite resolves the file part of a SQLite DSN, keeping its query parameters.
func resolveSQLite(dir, dsn string) string {
	file, query, hasQuery := strings.Cut(dsn, "?")
	if file == "" || file == ":memory:" || strings.HasPrefix(file, "file:") {
		return dsn
	}
	file = resolvePath(dir, file)
	if hasQuery {
		return file + "?" + query
	}
	return file
}

// resolvePaths resolves every path-valued key outside the adapters (which resolve theirs while
// they are decoded, before Validate) against dir.
func (c *Config) resolvePaths(dir string) {
	if c.Storage.Driver == "sqlite" {
		c.Storage.DSN = resolveSQLite(dir, c.Storage.DSN)
	}
	for i := range c.AuditSinks {
		s := &c.AuditSinks[i]
		s.Path = resolvePath(dir, s.Path)
		s.CAFile = resolvePath(dir, s.CAFile)
		s.CertFile = resolvePath(dir, s.CertFile)
		s.KeyFile = resolvePath(dir, s.KeyFile)
	}
	c.Transparency.KeyFile = resolvePath(dir, c.Transparency.KeyFile)
}

// Section is a top-level key of the config file, for LoadFor.
type Section string

// The sections commands ask LoadFor for. Any top-level key may be named; these are the ones
// the commands use.
const (
	SectionServer    Section = "server"
	SectionStorage   Section = "storage"
	SectionLog       Section = "log"
	SectionTimeZone  Section = "time_zone"
	SectionDigest    Section = "digest"
	SectionAdmins    Section = "admins"
	SectionGroups    Section = "groups"
	SectionScheduler Section = "scheduler"
	SectionDefaults  Section = "defaults"
	SectionResources Section = "resources"
	SectionSlack     Section = "slack"
	SectionSinks     Section = "audit_sinks"
	SectionDiscord   Section = "discord"
	SectionTeams     Section = "teams"
	SectionWeb       Section = "web"
	SectionScan      Section = "scan"
	SectionLimits    Section = "limits"
	SectionOps       Section = "ops"
	SectionSSHKeys   Section = "ssh_keys"
	SectionIdentity  Section = "identity"
	SectionOIDC      Section = "oidc"
	// SectionTransparency is the audit log's checkpoint signer.
	SectionTransparency Section = "transparency"
	// SectionAlerts are the alert rules over new requests and their signals.
	SectionAlerts Section = "alerts"
	// SectionActivity is the sampling of active grants' sessions.
	SectionActivity Section = "activity"
	// SectionGitHubLogin is the GitHub App of `/access github-login`.
	SectionGitHubLogin Section = "github_login"
	// SectionTickets are the ticket systems.
	SectionTickets Section = "tickets"
)

// sectionOf is the top-level key of a problem's key path ("slack.signing_secret" → "slack",
// "resources[2].adapter" → "resources"); empty for a problem of the whole file.
func sectionOf(key string) Section {
	if i := strings.IndexAny(key, ".["); i >= 0 {
		key = key[:i]
	}
	return Section(key)
}

// keepOnly drops the problems of the sections not in need (none when need is empty); a
// problem of the whole file is always kept. A chat platform whose section lost a problem is
// turned off: what was decoded of it is not to be used.
func (c *Config) keepOnly(p *problems, need []Section) {
	if len(need) == 0 {
		return
	}
	kept := p.list[:0]
	dropped := map[Section]bool{}
	for _, pr := range p.list {
		s := sectionOf(pr.Key)
		if s == "" || slices.Contains(need, s) {
			kept = append(kept, pr)
		} else {
			dropped[s] = true
		}
	}
	p.list = kept
	if dropped[SectionSlack] {
		c.Slack = defaultSlack()
	}
	if dropped[SectionDiscord] {
		c.Discord = defaultDiscord()
	}
	if dropped[SectionTeams] {
		c.Teams = defaultTeams()
	}
	if dropped[SectionOIDC] {
		c.OIDC = OIDC{}
	}
	if dropped[SectionTransparency] {
		c.Transparency = defaultTransparency()
	}
}

// allSections lists every top-level key, in the file's usual order.
var allSections = []Section{SectionServer, SectionStorage, SectionLog, SectionTimeZone, SectionAdmins,
	SectionGroups, SectionScheduler, SectionDefaults, SectionResources, SectionSlack, SectionSinks,
	SectionDiscord, SectionWeb, SectionScan, SectionDigest, SectionLimits, SectionOps,
	SectionSSHKeys, SectionIdentity, SectionOIDC, SectionTransparency, SectionAlerts, SectionActivity, SectionGitHubLogin, SectionTickets,
	SectionTeams}

// SectionsExcept is every top-level section but skip, for LoadFor: what a command that runs
// without the chat platforms needs.
func SectionsExcept(skip ...Section) []Section {
	var out []Section
	for _, s := range allSections {
		if !slices.Contains(skip, s) {
			out = append(out, s)
		}
	}
	return out
}
