package servicenow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/tickets"
	"github.com/accessbot/accessbot/tickets/servicenow"
	"github.com/accessbot/accessbot/tickets/servicenow/servicenowtest"
)

func setup(t *testing.T) (*servicenowtest.Server, *servicenow.Client) {
	t.Helper()
	fake := servicenowtest.New("accessbot", "pw", "oauth-token")
	t.Cleanup(fake.Close)
	fake.Put(servicenowtest.Record{Table: "incident", SysID: "abc123", Number: "INC0010001", ShortDescription: "Payments down",
		State: "2", StateName: "In Progress", Priority: "1 - Critical", AssignmentGroup: "SRE",
		AssignedToName: "Alice", AssignedToEmail: "alice@example.com"})
	fake.Put(servicenowtest.Record{Table: "incident", SysID: "def456", Number: "INC0010002", State: "6", StateName: "Resolved"})
	fake.Put(servicenowtest.Record{Table: "change_request", SysID: "c1", Number: "CHG0000001", State: "3", StateName: "Closed"})
	c, err := servicenow.New(servicenow.Options{Name: "snow", BaseURL: fake.URL, Username: "accessbot", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestGetReadsAnIncident(t *testing.T) {
	fake, c := setup(t)
	got, err := c.Get(context.Background(), "INC0010001")
	if err != nil {
		t.Fatal(err)
	}
	want := tickets.Ticket{Key: "INC0010001", Summary: "Payments down", Status: "In Progress", Priority: "1 - Critical",
		Project: "SRE", Assignee: "alice@example.com", AssigneeName: "Alice", URL: fake.URL + "/incident.do?sys_id=abc123"}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	q := fake.Calls()[0].Query
	if !strings.Contains(q, "sysparm_query=number%3DINC0010001") || !strings.Contains(q, "sysparm_limit=1") {
		t.Fatalf("query %s", q)
	}
}

func TestResolvedClosedAndCancelledAreClosed(t *testing.T) {
	_, c := setup(t)
	for _, n := range []string{"INC0010002", "CHG0000001"} {
		got, err := c.Get(context.Background(), n)
		if err != nil || !got.Closed {
			t.Fatalf("%s: %+v, %v; want closed", n, got, err)
		}
	}
}

func TestCommentIsAWorkNote(t *testing.T) {
	fake, c := setup(t)
	if err := c.Comment(context.Background(), "INC0010001", "granted"); err != nil {
		t.Fatal(err)
	}
	rec, _ := fake.Record("INC0010001")
	if len(rec.WorkNotes) != 1 || rec.WorkNotes[0] != "granted" {
		t.Fatalf("work notes %q", rec.WorkNotes)
	}
	last := fake.Calls()[len(fake.Calls())-1]
	if last.Method != "PATCH" || last.Path != "/api/now/table/incident/abc123" {
		t.Fatalf("call %+v", last)
	}
}

func TestErrorsAreTheAnswersServiceNowDocuments(t *testing.T) {
	tests := []struct {
		name       string
		number     string
		fail       []servicenowtest.Failure
		status     int
		notFound   bool
		retryAfter time.Duration
	}{
		{name: "an unknown number is not found", number: "INC0099999", notFound: true},
		{name: "a 429 carries its Retry-After", number: "INC0010001", fail: []servicenowtest.Failure{{Status: 429, RetryAfter: "30"}}, status: 429, retryAfter: 30 * time.Second},
		{name: "a 500 is an API error", number: "INC0010001", fail: []servicenowtest.Failure{{Status: 500}}, status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := setup(t)
			fake.FailNext(tt.fail...)
			_, err := c.Get(context.Background(), tt.number)
			if errors.Is(err, tickets.ErrNotFound) != tt.notFound {
				t.Fatalf("err %v, notFound want %v", err, tt.notFound)
			}
			if tt.status != 0 {
				var ae *tickets.APIError
				if !errors.As(err, &ae) || ae.Status != tt.status || ae.RetryAfter != tt.retryAfter {
					t.Fatalf("err %v, want HTTP %d retry after %v", err, tt.status, tt.retryAfter)
				}
			}
		})
	}
}

func TestBearerTokenAndWrongCredentials(t *testing.T) {
	fake, _ := setup(t)
	c, err := servicenow.New(servicenow.Options{BaseURL: fake.URL, Token: "oauth-token"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "INC0010001"); err != nil {
		t.Fatalf("bearer: %v", err)
	}
	bad, _ := servicenow.New(servicenow.Options{BaseURL: fake.URL, Username: "accessbot", Password: "nope"})
	_, err = bad.Get(context.Background(), "INC0010001")
	var ae *tickets.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Message, "User Not Authenticated") {
		t.Fatalf("err %v, want ServiceNow's 401", err)
	}
}

func TestNumbersOfNoKnownTableNeverReachServiceNow(t *testing.T) {
	fake, c := setup(t)
	for _, n := range []string{"PRB0000001", "INC00100&01", "INC0010001^ORnumber=INC0010002"} {
		if _, err := c.Get(context.Background(), n); err == nil {
			t.Fatalf("Get(%q) succeeded", n)
		}
	}
	if len(fake.Calls()) != 0 {
		t.Fatalf("calls reached ServiceNow: %+v", fake.Calls())
	}
}
