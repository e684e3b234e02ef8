package config_test

import (
	"strings"
	"testing"
	"time"
)

const ticketResource = `groups:
  sre: [alice@example.com]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    policy:
      approvers: [sre]
    ticket:
      system: jira
      projects: [OPS]
      end_with_ticket: true
`

const ticketSystems = `tickets:
  systems:
    - name: jira
      type: jira
      url: https://example.atlassian.net
      email: accessbot@example.com
      token: "${JIRA_TOKEN}"
    - name: snow
      type: servicenow
      url: https://example.service-now.com
      username: accessbot
      password: "${SNOW_PASSWORD}"
`

var ticketEnv = map[string]string{"JIRA_TOKEN": "jira-s3cret", "SNOW_PASSWORD": "snow-s3cret"}

func TestATicketPolicyIsReadWithItsSystemsDefaults(t *testing.T) {
	c := mustParse(t, ticketResource+ticketSystems, ticketEnv)
	if c.Tickets.CheckInterval != 5*time.Minute || c.Tickets.Systems[0].Deployment != "cloud" || c.Tickets.Systems[0].Token.Reveal() != "jira-s3cret" {
		t.Fatalf("tickets %+v", c.Tickets)
	}
	p, ok := c.TicketPolicies()["prod-db"]
	if !ok {
		t.Fatal("prod-db has no ticket policy")
	}
	if p.System != "jira" || p.Pattern.String() != "[A-Z][A-Z0-9]+-[0-9]+" || !p.MustBeOpen || p.OnFailure != "refuse" || !p.EndWithTicket || p.Projects[0] != "OPS" {
		t.Fatalf("policy %+v", p)
	}
	rule := strings.Replace(ticketResource, "approvers: [sre]", "approvers: [sre]\n      auto_approve: 'ticket.priority == \"P1\" && ticket.project == \"OPS\"'", 1)
	mustParse(t, rule+ticketSystems, ticketEnv)
	c = mustParse(t, strings.Replace(ticketResource, "system: jira", "system: snow", 1)+ticketSystems, ticketEnv)
	if got := c.TicketPolicies()["prod-db"].Pattern.String(); got != "(INC|CHG|RITM)[0-9]{7}" {
		t.Fatalf("servicenow pattern %q", got)
	}
}

func TestTicketMistakesAreConfigErrorsWithLines(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"a policy naming an unknown system", strings.Replace(ticketResource, "system: jira", "system: jiraa", 1) + ticketSystems,
			`:9: resources[0].ticket.system: "jiraa" is not a ticket system of tickets.systems (configured: jira, snow)`},
		{"a pattern that is not a regexp", strings.Replace(ticketResource, "system: jira", "system: jira\n      pattern: \"[A-Z\"", 1) + ticketSystems,
			"resources[0].ticket.pattern: \"[A-Z\" is not a regular expression"},
		{"a pattern that matches nothing at all", strings.Replace(ticketResource, "system: jira", "system: jira\n      pattern: \"x*\"", 1) + ticketSystems,
			"matches an empty reason"},
		{"an on_failure that is neither", strings.Replace(ticketResource, "end_with_ticket: true", "on_failure: warn", 1) + ticketSystems,
			`resources[0].ticket.on_failure: "warn" is not refuse or flag`},
		{"end_with_ticket without must_be_open", strings.Replace(ticketResource, "end_with_ticket: true", "end_with_ticket: true\n      must_be_open: false", 1) + ticketSystems,
			"end_with_ticket: needs must_be_open"},
		{"an unknown system type", ticketResource + strings.Replace(ticketSystems, "type: jira", "type: github", 1),
			`tickets.systems[0].type: "github" is not a ticket system type`},
		{"jira cloud without email", ticketResource + strings.Replace(ticketSystems, "      email: accessbot@example.com\n", "", 1),
			"tickets.systems[0].email: required for Jira Cloud"},
		{"a site over plain http", ticketResource + strings.Replace(ticketSystems, "https://example.atlassian.net", "http://example.atlassian.net", 1),
			"tickets.systems[0].url:"},
		{"servicenow with no credentials", ticketResource + strings.Replace(ticketSystems, "      password: \"${SNOW_PASSWORD}\"\n", "", 1),
			"tickets.systems[1].username: required"},
		{"two systems of one name", ticketResource + strings.Replace(ticketSystems, "name: snow", "name: jira", 1),
			`"jira" names two ticket systems`},
		{"a rule with a misspelt ticket field", strings.Replace(ticketResource, "approvers: [sre]", "approvers: [sre]\n      auto_approve: 'ticket.staus == \"Open\"'", 1) + ticketSystems,
			"resources[0].policy.auto_approve"},
		{"an unknown key in a policy", strings.Replace(ticketResource, "end_with_ticket: true", "end_with_tickets: true", 1) + ticketSystems,
			"end_with_tickets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErr(t, tt.src, ticketEnv)
			if !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one with %q", got, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("a problem shows a secret:\n%s", got)
			}
		})
	}
}
