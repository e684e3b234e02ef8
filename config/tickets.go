package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/tickets"
)

// Tickets is the `tickets:` section: the ticket systems resources' `ticket:` policies name, and
// how often the grants of end_with_ticket resources are checked.
type Tickets struct {
	Systems []TicketSystem `yaml:"systems"`
	// CheckInterval is how often the tickets of active end_with_ticket grants are read (a
	// closed ticket revokes its grant). Default 5m.
	CheckInterval time.Duration `yaml:"check_interval"`
}

// TicketSystem is one ticket system.
type TicketSystem struct {
	// Name is how policies name it: lowercase letters, digits, - and _.
	Name string `yaml:"name"`
	// Type is jira or servicenow.
	Type string `yaml:"type"`
	// URL is the site (https://example.atlassian.net) or instance (https://example.service-now.com).
	URL string `yaml:"url"`
	// Deployment (jira) is cloud (REST v3, email + API token) or datacenter (REST v2, personal
	// access token). Default cloud.
	Deployment string `yaml:"deployment"`
	// Email (jira cloud) is the account whose API token Token is.
	Email string `yaml:"email"`
	// Token is Jira's API token or PAT, or ServiceNow's OAuth bearer token.
	Token Secret `yaml:"token"`
	// Username and Password (servicenow) are basic auth, instead of Token.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// WebhookSecret, when set, turns on POST /tickets/<name>/webhook: the shared secret of the
	// HMAC-SHA256 signature of the system's webhook.
	WebhookSecret Secret `yaml:"webhook_secret"`
	// Timeout bounds one call besides the caller's deadline. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// TicketPolicyConfig is a resource's `ticket:` policy (tickets.Policy).
type TicketPolicyConfig struct {
	// System names a tickets.systems entry.
	System string `yaml:"system"`
	// Pattern is the Go regexp of a ticket key in the reason. Default per system type: jira
	// [A-Z][A-Z0-9]+-[0-9]+, servicenow (INC|CHG|RITM)[0-9]{7}.
	Pattern string `yaml:"pattern"`
	// MustBeOpen refuses (or flags) a closed ticket. Default true.
	MustBeOpen *bool `yaml:"must_be_open"`
	// AssignedToRequester: the ticket must be assigned to the person asking (by email).
	AssignedToRequester bool `yaml:"assigned_to_requester"`
	// Projects and Priorities: the ticket's project (Jira project key; ServiceNow assignment
	// group) and priority must be one of these, when set.
	Projects   []string `yaml:"projects"`
	Priorities []string `yaml:"priorities"`
	// OnFailure is refuse (default) or flag: what a ticket that fails the policy does.
	OnFailure string `yaml:"on_failure"`
	// EndWithTicket revokes the resource's grants when their ticket closes.
	EndWithTicket bool `yaml:"end_with_ticket"`

	policy tickets.Policy
}

// DefaultTicketCheckInterval is tickets.check_interval when it is not written.
const DefaultTicketCheckInterval = 5 * time.Minute

var ticketSystemName = ident.New(`^[a-z0-9][a-z0-9_-]{0,31}$`, `^[a-z0-9][a-z0-9_-]*$`, 1, 32)

// tickets checks the ticket systems and the resources' ticket policies.
func (v *validator) tickets() {
	t := &v.c.Tickets
	if t.CheckInterval == 0 {
		t.CheckInterval = DefaultTicketCheckInterval
	}
	v.positive("tickets.check_interval", t.CheckInterval)
	if t.CheckInterval > 0 && t.CheckInterval < 10*time.Second {
		v.add("tickets.check_interval", "is shorter than 10s: every check reads each ticket of an active grant")
	}
	kinds := map[string]string{}
	for i := range t.Systems {
		s := &t.Systems[i]
		path := joinIndex("tickets.systems", i)
		v.ticketSystem(path, s)
		if _, dup := kinds[s.Name]; dup && s.Name != "" {
			v.add(path+".name", "%s names two ticket systems", v.quote(path+".name", s.Name))
		}
		kinds[s.Name] = s.Type
	}
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		if r.Ticket != nil {
			v.ticketPolicy(joinIndex("resources", i)+".ticket", r.Ticket, kinds)
		}
	}
}

func (v *validator) ticketSystem(path string, s *TicketSystem) {
	if !ticketSystemName.MatchString(s.Name) {
		v.add(path+".name", "%s is not a ticket system name (lowercase letters, digits, - and _)", v.quote(path+".name", s.Name))
	}
	if s.URL == "" {
		v.add(path+".url", "required: the system's base URL, e.g. https://example.atlassian.net")
	} else if u, err := url.Parse(s.URL); err != nil || u.Host == "" || u.RawQuery != "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) {
		v.add(path+".url", "%s is not an https URL (plain http is allowed only on loopback, for tests)", v.quote(path+".url", s.URL))
	}
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	v.positive(path+".timeout", s.Timeout)
	switch s.Type {
	case tickets.KindJira:
		switch s.Deployment {
		case "", "cloud":
			s.Deployment = "cloud"
			if strings.TrimSpace(s.Email) == "" {
				v.add(path+".email", "required for Jira Cloud: the email of the account whose API token is used")
			}
		case "datacenter":
		default:
			v.add(path+".deployment", "%s is not a Jira deployment: cloud or datacenter", v.quote(path+".deployment", s.Deployment))
		}
		if s.Token == "" {
			v.add(path+".token", "required: the API token (cloud) or personal access token (datacenter), e.g. ${JIRA_API_TOKEN}")
		}
		if s.Username != "" || s.Password != "" {
			v.add(path+".username", "Jira takes email and token, not username and password")
		}
	case tickets.KindServiceNow:
		if s.Deployment != "" || s.Email != "" {
			v.add(path+".deployment", "deployment and email are Jira's keys; ServiceNow takes username and password, or token")
		}
		switch {
		case s.Token != "" && (s.Username != "" || s.Password != ""):
			v.add(path+".token", "give a token or a username and password, not both")
		case s.Token == "" && (s.Username == "" || s.Password == ""):
			v.add(path+".username", "required: username and password (a user with the itil role), or an OAuth token")
		}
	case "":
		v.add(path+".type", "required: jira or servicenow")
	default:
		v.add(path+".type", "%s is not a ticket system type: jira or servicenow", v.quote(path+".type", s.Type))
	}
}

func (v *validator) ticketPolicy(path string, p *TicketPolicyConfig, kinds map[string]string) {
	kind, ok := kinds[p.System]
	if !ok {
		names := make([]string, 0, len(kinds))
		for n := range kinds {
			names = append(names, n)
		}
		slices.Sort(names)
		v.add(path+".system", "%s is not a ticket system of tickets.systems (configured: %s)", v.quote(path+".system", p.System), listOrNone(names))
		return
	}
	pattern := p.Pattern
	if pattern == "" {
		pattern = tickets.DefaultPattern(kind)
	}
	re, err := regexp.Compile(pattern)
	switch {
	case err != nil:
		v.add(path+".pattern", "%s is not a regular expression: %v", v.quote(path+".pattern", p.Pattern), err)
		return
	case re.MatchString(""):
		v.add(path+".pattern", "%s matches an empty reason: it must match a ticket key", v.quote(path+".pattern", p.Pattern))
		return
	}
	switch p.OnFailure {
	case "":
		p.OnFailure = tickets.OnFailureRefuse
	case tickets.OnFailureRefuse, tickets.OnFailureFlag:
	default:
		v.add(path+".on_failure", "%s is not refuse or flag", v.quote(path+".on_failure", p.OnFailure))
	}
	open := p.MustBeOpen == nil || *p.MustBeOpen
	if p.EndWithTicket && !open {
		v.add(path+".end_with_ticket", "needs must_be_open: a grant on a closed ticket would be revoked at once")
	}
	p.policy = tickets.Policy{
		System: p.System, Pattern: re, MustBeOpen: open, AssignedToRequester: p.AssignedToRequester,
		Projects: slices.Clone(p.Projects), Priorities: slices.Clone(p.Priorities),
		OnFailure: p.OnFailure, EndWithTicket: p.EndWithTicket,
	}
}

// TicketPolicies returns the resources' ticket policies by resource name.
func (c *Config) TicketPolicies() map[string]tickets.Policy {
	out := map[string]tickets.Policy{}
	for _, r := range c.Resources {
		if r.Ticket != nil && r.Ticket.policy.Pattern != nil {
			out[r.Name] = r.Ticket.policy
		}
	}
	return out
}
