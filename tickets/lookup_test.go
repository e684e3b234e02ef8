package tickets_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/tickets"
	"github.com/accessbot/accessbot/tickets/jira"
	"github.com/accessbot/accessbot/tickets/jira/jiratest"
)

func jiraSystem(t testing.TB) (*jiratest.Server, *jira.Client) {
	t.Helper()
	fake := jiratest.New("bot@example.com", "tok", "")
	t.Cleanup(fake.Close)
	fake.Put(jiratest.Issue{Key: "OPS-42", Summary: "Database down", Status: "In Progress", Category: "indeterminate",
		Priority: "P1", Project: "OPS", AssigneeEmail: "alice@example.com", AssigneeName: "Alice"})
	fake.Put(jiratest.Issue{Key: "OPS-7", Summary: "Old", Status: "Done", Category: "done", Priority: "P3", Project: "OPS"})
	fake.Put(jiratest.Issue{Key: "WEB-1", Summary: "Site", Status: "To Do", Category: "new", Priority: "P1", Project: "WEB",
		AssigneeEmail: "bob@example.com", AssigneeName: "Bob"})
	c, err := jira.New(jira.Options{Name: "jira", BaseURL: fake.URL, Email: "bot@example.com", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestLookupAppliesTheTicketPolicy(t *testing.T) {
	base := tickets.Policy{System: "jira", Pattern: regexp.MustCompile(tickets.DefaultPattern(tickets.KindJira)), MustBeOpen: true}
	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com"}
	tests := []struct {
		name    string
		policy  func(p *tickets.Policy)
		reason  string
		status  grants.CheckStatus
		refuse  string
		problem string
		summary string
		unread  bool
	}{
		{name: "an open ticket passes with its summary", reason: "fixing OPS-42 now", status: grants.CheckPassed,
			summary: "In Progress · P1 · Database down"},
		{name: "a reason without a key is refused with the pattern", reason: "just because", status: grants.CheckFailed,
			refuse: "needs a Jira ticket in the reason: name one matching [A-Z][A-Z0-9]+-[0-9]+"},
		{name: "a key that does not exist is refused", reason: "OPS-99", status: grants.CheckFailed,
			refuse: "OPS-99 does not exist in Jira."},
		{name: "a closed ticket is refused", reason: "OPS-7", status: grants.CheckFailed, refuse: "OPS-7 is closed (Done)."},
		{name: "a closed ticket is flagged under on_failure flag", reason: "OPS-7", policy: func(p *tickets.Policy) { p.OnFailure = tickets.OnFailureFlag },
			status: grants.CheckFailed, problem: "OPS-7 is closed (Done)."},
		{name: "a ticket in another project is refused", reason: "WEB-1", policy: func(p *tickets.Policy) { p.Projects = []string{"OPS"} },
			status: grants.CheckFailed, refuse: "WEB-1 is in WEB, not in OPS."},
		{name: "a priority not listed is refused", reason: "OPS-42", policy: func(p *tickets.Policy) { p.Priorities = []string{"p2"} },
			status: grants.CheckFailed, refuse: "OPS-42 has priority P1, not p2."},
		{name: "a ticket assigned to someone else is refused", reason: "WEB-1", policy: func(p *tickets.Policy) { p.AssignedToRequester = true },
			status: grants.CheckFailed, refuse: "WEB-1 is assigned to Bob, not to you."},
		{name: "a key a loose pattern finds that is not a key is refused unread", reason: "see OPS-1/../../myself",
			policy: func(p *tickets.Policy) { p.Pattern = regexp.MustCompile(`OPS-\S+`) },
			status: grants.CheckFailed, refuse: "name one matching OPS-\\S+", unread: true},
		{name: "a ticket assigned to the requester passes", reason: "OPS-42", policy: func(p *tickets.Policy) { p.AssignedToRequester = true },
			status: grants.CheckPassed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, sys := jiraSystem(t)
			p := base
			if tt.policy != nil {
				tt.policy(&p)
			}
			l, err := tickets.NewLookup([]tickets.System{sys}, map[string]tickets.Policy{"prod-db": p})
			if err != nil {
				t.Fatal(err)
			}
			res, err := l.Lookup(context.Background(), grants.LookupQuery{Requester: alice, Resource: &grants.Resource{Name: "prod-db"}, Reason: tt.reason})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Checks) != 1 || res.Checks[0].Status != tt.status || res.Checks[0].Kind != "ticket" {
				t.Fatalf("checks %+v, want one %s ticket check", res.Checks, tt.status)
			}
			if (tt.refuse == "") != (res.Refuse == "") || !strings.Contains(res.Refuse, tt.refuse) {
				t.Fatalf("refuse %q, want %q", res.Refuse, tt.refuse)
			}
			if tt.problem != "" && res.Checks[0].Problem != tt.problem {
				t.Fatalf("problem %q, want %q", res.Checks[0].Problem, tt.problem)
			}
			if tt.summary != "" && res.Checks[0].Summary != tt.summary {
				t.Fatalf("summary %q, want %q", res.Checks[0].Summary, tt.summary)
			}
			if n := len(fake.Calls()); tt.unread && n != 0 {
				t.Fatalf("Jira was asked %d times", n)
			}
		})
	}
}

func TestLookupOfASystemThatIsDownOrSlowIsUnknown(t *testing.T) {
	for _, slow := range []bool{false, true} {
		fake, sys := jiraSystem(t)
		if slow {
			fake.SetDelay(2 * time.Second)
		} else {
			fake.SetDown(true)
		}
		l, _ := tickets.NewLookup([]tickets.System{sys}, map[string]tickets.Policy{
			"prod-db": {System: "jira", Pattern: regexp.MustCompile(`OPS-[0-9]+`), MustBeOpen: true}})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		res, err := l.Lookup(ctx, grants.LookupQuery{Resource: &grants.Resource{Name: "prod-db"}, Reason: "OPS-42"})
		cancel()
		if err != nil || res.Refuse != "" || len(res.Checks) != 1 {
			t.Fatalf("slow %v: %+v, %v; want one check and no refusal", slow, res, err)
		}
		c := res.Checks[0]
		if c.Status != grants.CheckUnknown || c.Subject != "OPS-42" || !strings.Contains(c.Problem, "OPS-42 could not be checked in Jira") {
			t.Fatalf("slow %v: check %+v, want unknown naming OPS-42", slow, c)
		}
	}
}

func TestNewLookupRefusesAnUnknownSystem(t *testing.T) {
	_, err := tickets.NewLookup(nil, map[string]tickets.Policy{"db": {System: "jira", Pattern: regexp.MustCompile("x")}})
	if err == nil || !strings.Contains(err.Error(), `ticket system "jira" is not configured`) {
		t.Fatalf("err %v", err)
	}
}
