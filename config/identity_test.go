package config_test

import (
	"strings"
	"testing"
)

// Finding 4 of issue 13: discord.users values were lowercased, so a mapping to "slack:UNOMAIL"
// named "slack:unomail", someone else to grants. Every person the config names is in
// grants.CanonicalPerson's form after loading: emails folded, platform IDs as written.
func TestTheConfigNamesEveryPersonInTheOneNormalForm(t *testing.T) {
	src := `admins:
  users: [" Ops@Example.COM ", "SLACK:U0OPS", "U0BARE"]
groups:
  sre: [Alice@Example.com, "Slack:UNOMAIL", "discord:81234"]
defaults:
  requesters:
    users: ["Carol@Example.com"]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    accounts:
      "Dave@Example.com": dave_admin
      "SLACK:U0ERIN": erin
    policy:
      approvers: [sre]
discord:
  application_id: 123456789012345678
  public_key: "${DISCORD_PUBLIC_KEY}"
  bot_token: "${DISCORD_BOT_TOKEN}"
  approver_channel: "323456789012345678"
  users:
    623456789012345678: "SLACK:UNOMAIL"
    723456789012345678: "Frank@Example.com"
`
	c := mustParse(t, src, discordEnv)
	checks := []struct {
		what      string
		got, want []string
	}{
		{"admins.users", c.Admins.Users, []string{"ops@example.com", "slack:U0OPS", "U0BARE"}},
		{"groups.sre", c.Groups["sre"], []string{"alice@example.com", "slack:UNOMAIL", "discord:81234"}},
		{"the effective requesters", c.Resources[0].EffectivePolicy().Requesters, []string{"carol@example.com"}},
		{"discord.users", []string{c.Discord.Users["623456789012345678"], c.Discord.Users["723456789012345678"]},
			[]string{"slack:UNOMAIL", "frank@example.com"}},
	}
	for _, ch := range checks {
		if strings.Join(ch.got, ",") != strings.Join(ch.want, ",") {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if a := c.Resources[0].Accounts; a["dave@example.com"] != "dave_admin" || a["slack:U0ERIN"] != "erin" {
		t.Errorf("accounts = %v, want keys dave@example.com and slack:U0ERIN", a)
	}
}

func TestTheIdentitySectionIsCheckedAndRead(t *testing.T) {
	src := valid + `identity:
  email_domains: ["Example.COM", "@corp.example"]
  slack:
    teams: [T0123ABCD]
    enterprise_id: E0123ABCD
    allow_guests: true
    allow_external: true
`
	c := mustParse(t, src, nil)
	id := c.Identity
	if strings.Join(id.EmailDomains, ",") != "example.com,corp.example" || id.Slack.Teams[0] != "T0123ABCD" ||
		id.Slack.EnterpriseID != "E0123ABCD" || !id.Slack.AllowGuests || !id.Slack.AllowExternal {
		t.Errorf("identity = %+v", id)
	}
	if !id.EmailAllowed("Bob@Example.com") || id.EmailAllowed("bob@evil.example") || id.EmailAllowed("") {
		t.Error("EmailAllowed does not follow the domains")
	}
	if d := mustParse(t, valid, nil).Identity; d.Slack.AllowGuests || d.Slack.AllowExternal || !d.EmailAllowed("x@anything.example") {
		t.Errorf("defaults = %+v, want guests and external refused and any domain", d)
	}

	bad := valid + `identity:
  email_domains: ["not a domain"]
  slack:
    teams: [t0123abcd]
    enterprise_id: T0123
`
	got := parseErr(t, bad, nil)
	for _, want := range []string{
		`identity.email_domains[0]: "not a domain" is not an email domain`,
		`identity.slack.teams[0]: "t0123abcd" is not a Slack workspace ID`,
		`identity.slack.enterprise_id: "T0123" is not an Enterprise Grid organization ID`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant one containing %q", got, want)
		}
	}
}

func TestAccountTemplatesThatIgnoreTheDomainAreWarnedAboutWhenSeveralDomainsAreAllowed(t *testing.T) {
	resources := `resources:
  - name: by-local-part
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    policy: {approvers: [sre]}
  - name: by-template
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    account: "{{.Local}}_ro"
    policy: {approvers: [sre]}
  - name: by-email
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    account: "{{.Email}}"
    policy: {approvers: [sre]}
groups:
  sre: [alice@example.com]
`
	tests := []struct {
		name    string
		domains string
		want    []string
	}{
		{"no domain list: nothing to warn about", "", nil},
		{"one domain: the local part is unique", "identity:\n  email_domains: [example.com]\n", nil},
		{"two domains: local parts can collide", "identity:\n  email_domains: [example.com, corp.example]\n",
			[]string{"resources[0].account", "resources[1].account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, resources+tt.domains, nil)
			var keys []string
			for _, w := range c.Warnings() {
				keys = append(keys, w.Key)
				if !strings.Contains(w.Msg, "domain") || w.Line == 0 {
					t.Errorf("warning %s does not say why or where", w)
				}
			}
			if strings.Join(keys, ",") != strings.Join(tt.want, ",") {
				t.Errorf("warnings at %v, want %v", keys, tt.want)
			}
		})
	}
}

func TestAnAccountScopeIsANameLikeAResourceName(t *testing.T) {
	ok := strings.Replace(valid, "    policy:", "    account_scope: pg-main\n    policy:", 1)
	if c := mustParse(t, ok, nil); c.Resources[0].AccountScope != "pg-main" {
		t.Errorf("account_scope = %q", c.Resources[0].AccountScope)
	}
	bad := strings.Replace(valid, "    policy:", "    account_scope: \"PG main\"\n    policy:", 1)
	if got := parseErr(t, bad, nil); !strings.Contains(got, "resources[0].account_scope") {
		t.Errorf("problems %q, want one at resources[0].account_scope", got)
	}
}

func TestASlackIDInSmallLettersIsWarnedAbout(t *testing.T) {
	src := strings.Replace(valid, "sre: [alice@example.com, bob@example.com]", `sre: [alice@example.com, "slack:u0bob"]`, 1)
	c := mustParse(t, src, nil)
	w := c.Warnings()
	if len(w) != 1 || w[0].Key != "groups.sre[1]" || !strings.Contains(w[0].Msg, "capitals") {
		t.Errorf("warnings = %v, want one at groups.sre[1] about capitals", w)
	}
	if c.Groups["sre"][1] != "slack:u0bob" {
		t.Errorf("the entry became %q: an ID is never changed", c.Groups["sre"][1])
	}
}
