package config

import (
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/tmpl"
)

// Identity is the `identity:` section: who may use accessbot at all. A chat account is a claim
// made by whoever administers that chat workspace; these settings say which claims accessbot
// believes. Everything here narrows; nothing widens what the policies allow.
type Identity struct {
	// EmailDomains are the email domains whose people may use accessbot ("example.com"; a
	// person's email must end in "@" and one of them, exactly). Empty means any domain.
	EmailDomains []string `yaml:"email_domains"`
	// Slack says which Slack users are believed.
	Slack SlackIdentity `yaml:"slack"`
	// Teams says which Teams users are believed (beside the tenants of teams.tenants).
	Teams TeamsIdentity `yaml:"teams"`
}

// TeamsIdentity limits the Teams users accessbot acts for.
type TeamsIdentity struct {
	// AllowGuests lets the tenant's B2B guests (userRole "guest") use accessbot. Default false.
	AllowGuests bool `yaml:"allow_guests"`
}

// SlackIdentity limits the Slack users accessbot acts for. Slack tells, in users.info, which
// workspace a user belongs to, whether they are a guest, and whether their email is confirmed.
type SlackIdentity struct {
	// Teams are the Slack workspace (team) IDs whose members may use accessbot ("T0123ABCD").
	// Empty means the workspace of the bot token only (what auth.test names).
	Teams []string `yaml:"teams"`
	// EnterpriseID is an Enterprise Grid organization ID ("E0123ABCD"): its members are home
	// users whatever workspace of the organization they are in.
	EnterpriseID string `yaml:"enterprise_id"`
	// AllowGuests lets multi-channel (is_restricted) and single-channel (is_ultra_restricted)
	// guests use accessbot. Default false.
	AllowGuests bool `yaml:"allow_guests"`
	// AllowExternal lets people from other organizations (Slack Connect) use accessbot.
	// Default false.
	AllowExternal bool `yaml:"allow_external"`
}

// EmailAllowed reports whether a person's email is in an allowed domain (always, when no domain
// is configured).
func (i *Identity) EmailAllowed(email string) bool {
	if len(i.EmailDomains) == 0 {
		return true
	}
	_, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(email)), "@")
	return ok && slices.Contains(i.EmailDomains, domain)
}

var (
	// emailDomainLabels is ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$ without its
	// counts, which isEmailDomain checks label by label (internal/ident says why).
	emailDomainLabels = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]+$`)
	slackTeamID       = ident.New(`^T[A-Z0-9]{2,20}$`, `^T[A-Z0-9]+$`, 3, 21)
	slackOrgID        = ident.New(`^E[A-Z0-9]{2,20}$`, `^E[A-Z0-9]+$`, 3, 21)
)

// identity checks the identity section and normalizes its domains to lowercase.
func (v *validator) identity() {
	id := &v.c.Identity
	for i, d := range id.EmailDomains {
		path := joinIndex("identity.email_domains", i)
		d = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), "@")))
		if !isEmailDomain(d) {
			v.add(path, "%s is not an email domain (write example.com, without @)", v.quote(path, id.EmailDomains[i]))
		}
		id.EmailDomains[i] = d
	}
	for i, t := range id.Slack.Teams {
		path := joinIndex("identity.slack.teams", i)
		if !slackTeamID.MatchString(t) {
			v.add(path, "%s is not a Slack workspace ID (T followed by capitals and digits, e.g. T0123ABCD; see the workspace's About page)", v.quote(path, t))
		}
	}
	if e := id.Slack.EnterpriseID; e != "" && !slackOrgID.MatchString(e) {
		v.add("identity.slack.enterprise_id", "%s is not an Enterprise Grid organization ID (E followed by capitals and digits)", v.quote("identity.slack.enterprise_id", e))
	}
	v.accountTemplates()
}

// accountTemplates warns about account names that ignore the email domain while several
// domains are allowed: two people with one local part would be one account at the target.
// accessbot refuses the second (an account belongs to one person), but the config should not
// lean on that. With no domain list nothing is warned: every config would warn, and the
// ownership check still holds.
func (v *validator) accountTemplates() {
	if len(v.c.Identity.EmailDomains) < 2 {
		return
	}
	why := "more than one email domain is allowed"
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		path := joinIndex("resources", i) + ".account"
		if r.Account == "" {
			v.warn(path, "the account name is the local part of the email, but %s: alice@a.example and alice@b.example would share one account (the second is refused); use a template with {{.Email}} or {{.ID}}, or set identity.email_domains", why)
			continue
		}
		if r.account != nil && !templateUsesDomain(r.account) {
			v.warn(path, "the account template ignores the email domain, but %s: two people could map to one account (the second is refused); use {{.Email}} or {{.ID}}, or set identity.email_domains", why)
		}
	}
}

// templateUsesDomain reports whether an account template reads a field that holds the whole
// email or ID: .Email or .ID.
func templateUsesDomain(t *tmpl.Template) bool {
	return slices.ContainsFunc(t.Fields(), func(f string) bool { return f == "Email" || f == "ID" || f == "PlatformID" })
}

// warn records something `config validate` reports without refusing the file.
func (v *validator) warn(path, format string, args ...any) {
	list := &problems{file: v.p.file}
	list.add(v.d.lineOf(path), path, format, args...)
	v.c.warnings = append(v.c.warnings, list.list...)
}

// Warnings are what the config allows but probably should not: `config validate` prints them.
func (c *Config) Warnings() []Problem {
	out := slices.Clone(c.warnings)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// canonicalPeople puts every person the config names into the one normal form that grants
// compares (grants.CanonicalEntry): emails case-folded, "platform:ID" with its ID untouched.
// It runs after the checks, which quote values as written.
func (v *validator) canonicalPeople() {
	c := v.c
	c.Admins.Users = v.canonicalList("admins.users", c.Admins.Users)
	for _, name := range slices.Sorted(maps.Keys(c.Groups)) {
		c.Groups[name] = v.canonicalList(joinKey("groups", name), c.Groups[name])
	}
	if c.Defaults.Requesters != nil {
		c.Defaults.Requesters.Users = v.canonicalList("defaults.requesters.users", c.Defaults.Requesters.Users)
	}
	for i := range c.Resources {
		r := &c.Resources[i]
		if r.Policy.Requesters != nil {
			r.Policy.Requesters.Users = v.canonicalList(joinIndex("resources", i)+".policy.requesters.users", r.Policy.Requesters.Users)
		}
		r.effective.Requesters = canonicalList(r.effective.Requesters)
	}
	for _, id := range slices.Sorted(maps.Keys(c.Discord.Users)) {
		c.Discord.Users[id] = v.canonicalEntry(joinKey("discord.users", id), c.Discord.Users[id])
	}
}

func (v *validator) canonicalList(path string, list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = v.canonicalEntry(joinIndex(path, i), p)
	}
	return out
}

// canonicalEntry is grants.CanonicalEntry, with a warning for a Slack user ID in small letters:
// Slack's IDs are capitals, and IDs are compared exactly, so it would name nobody.
func (v *validator) canonicalEntry(path, entry string) string {
	e := grants.CanonicalEntry(entry)
	if id, ok := strings.CutPrefix(e, "slack:"); ok && id != strings.ToUpper(id) {
		v.warn(path, "%s: Slack user IDs are capitals (slack:U024BE7LH) and are compared exactly, so this names nobody", v.quote(path, entry))
	}
	return e
}

func canonicalList(list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = grants.CanonicalEntry(p)
	}
	return out
}

// isEmailDomain reports whether d is a lowercase DNS name of two labels or more: each label at
// most 63 characters, the last (the top-level domain) at least 2 letters.
func isEmailDomain(d string) bool {
	if !emailDomainLabels.MatchString(d) {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if len(l) > 63 {
			return false
		}
	}
	return len(labels[len(labels)-1]) >= 2
}
