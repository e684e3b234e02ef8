package jira_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/tickets"
	"github.com/accessbot/accessbot/tickets/jira"
	"github.com/accessbot/accessbot/tickets/jira/jiratest"
)

func setup(t *testing.T, deployment string) (*jiratest.Server, *jira.Client) {
	t.Helper()
	fake := jiratest.New("bot@example.com", "api-token", "dc-pat")
	t.Cleanup(fake.Close)
	fake.Put(jiratest.Issue{Key: "OPS-42", Summary: "Database down", Status: "In Progress", Category: "indeterminate",
		Priority: "P1", Project: "OPS", AssigneeEmail: "alice@example.com", AssigneeName: "Alice"})
	fake.Put(jiratest.Issue{Key: "OPS-7", Summary: "Old", Status: "Done", Category: "done", Project: "OPS"})
	tok := tickets.Token("api-token")
	if deployment == jira.DataCenter {
		tok = "dc-pat"
	}
	c, err := jira.New(jira.Options{Name: "jira", BaseURL: fake.URL, Deployment: deployment, Email: "bot@example.com", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestGetReadsAnIssueOnCloudAndDataCenter(t *testing.T) {
	for _, dep := range []string{jira.Cloud, jira.DataCenter} {
		t.Run(dep, func(t *testing.T) {
			fake, c := setup(t, dep)
			got, err := c.Get(context.Background(), "OPS-42")
			if err != nil {
				t.Fatal(err)
			}
			want := tickets.Ticket{Key: "OPS-42", Summary: "Database down", Status: "In Progress", Priority: "P1", Project: "OPS",
				Assignee: "alice@example.com", AssigneeName: "Alice", URL: fake.URL + "/browse/OPS-42"}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			done, err := c.Get(context.Background(), "OPS-7")
			if err != nil || !done.Closed {
				t.Fatalf("a done issue: %+v, %v; want closed", done, err)
			}
			calls := fake.Calls()
			api, auth := "/rest/api/3/", "Basic"
			if dep == jira.DataCenter {
				api, auth = "/rest/api/2/", "Bearer"
			}
			if !strings.HasPrefix(calls[0].Path, api) || calls[0].Auth != auth ||
				calls[0].Query != "fields=summary%2Cstatus%2Cpriority%2Cproject%2Cassignee" {
				t.Fatalf("call %+v, want %s with %s auth and the five fields", calls[0], api, auth)
			}
		})
	}
}

func TestCommentPostsADFOnCloudAndTextOnDataCenter(t *testing.T) {
	for _, dep := range []string{jira.Cloud, jira.DataCenter} {
		t.Run(dep, func(t *testing.T) {
			fake, c := setup(t, dep)
			if err := c.Comment(context.Background(), "OPS-42", "line one\nline two"); err != nil {
				t.Fatal(err)
			}
			is, _ := fake.Issue("OPS-42")
			if len(is.Comments) != 1 || is.Comments[0] != "line one\nline two" {
				t.Fatalf("comments %q", is.Comments)
			}
			body := fake.Calls()[0].Body
			if adf := strings.Contains(body, `"type":"doc"`); adf != (dep == jira.Cloud) {
				t.Fatalf("body %s: ADF %v on %s", body, adf, dep)
			}
		})
	}
}

func TestErrorsAreTheAnswersJiraDocuments(t *testing.T) {
	tests := []struct {
		name       string
		fail       []jiratest.Failure
		key        string
		wantStatus int
		notFound   bool
		permanent  bool
		retryAfter time.Duration
		text       string
	}{
		{name: "an unknown issue is not found", key: "OPS-999", wantStatus: 404, notFound: true, permanent: true,
			text: "Issue does not exist or you do not have permission to see it."},
		{name: "a 429 carries its Retry-After", key: "OPS-42", fail: []jiratest.Failure{{Status: 429, RetryAfter: "7"}},
			wantStatus: 429, retryAfter: 7 * time.Second, text: "Too Many Requests"},
		{name: "a 500 is not permanent", key: "OPS-42", fail: []jiratest.Failure{{Status: 500}}, wantStatus: 500},
		{name: "a 503 is not permanent", key: "OPS-42", fail: []jiratest.Failure{{Status: 503, RetryAfter: "2"}}, wantStatus: 503, retryAfter: 2 * time.Second},
		{name: "a field error is read from errors", key: "OPS-42",
			fail:       []jiratest.Failure{{Status: 400, Body: `{"errorMessages":[],"errors":{"fields":"bad"}}`}},
			wantStatus: 400, permanent: true, text: "fields: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := setup(t, jira.Cloud)
			fake.FailNext(tt.fail...)
			_, err := c.Get(context.Background(), tt.key)
			var ae *tickets.APIError
			if !errors.As(err, &ae) || ae.Status != tt.wantStatus {
				t.Fatalf("err %v, want HTTP %d", err, tt.wantStatus)
			}
			if errors.Is(err, tickets.ErrNotFound) != tt.notFound || ae.Permanent() != tt.permanent || ae.RetryAfter != tt.retryAfter {
				t.Fatalf("err %v: notFound %v permanent %v retryAfter %v", err, errors.Is(err, tickets.ErrNotFound), ae.Permanent(), ae.RetryAfter)
			}
			if tt.text != "" && !strings.Contains(ae.Message, tt.text) {
				t.Fatalf("message %q, want %q", ae.Message, tt.text)
			}
		})
	}
}

func TestWrongCredentialsAre401(t *testing.T) {
	fake := jiratest.New("bot@example.com", "api-token", "")
	defer fake.Close()
	c, err := jira.New(jira.Options{Name: "jira", BaseURL: fake.URL, Email: "bot@example.com", Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), "OPS-1")
	var ae *tickets.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Permanent() || !strings.Contains(ae.Message, "not authenticated") {
		t.Fatalf("err %v, want a 401 that is not permanent", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the token: %v", err)
	}
}

func TestKeysThatAreNotKeysNeverReachJira(t *testing.T) {
	fake, c := setup(t, jira.Cloud)
	for _, key := range []string{"../../myself", "OPS-1?x=y", "", "OPS 1"} {
		if _, err := c.Get(context.Background(), key); err == nil {
			t.Fatalf("Get(%q) succeeded", key)
		}
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("%d calls reached Jira", n)
	}
}

func TestNewRefusesIncompleteSettings(t *testing.T) {
	for _, o := range []jira.Options{
		{BaseURL: "ftp://x", Email: "a", Token: "t"},
		{BaseURL: "https://x.atlassian.net", Token: "t"},
		{BaseURL: "https://x.atlassian.net", Email: "a"},
		{BaseURL: "https://x", Deployment: "server", Token: "t"},
	} {
		if _, err := jira.New(o); err == nil {
			t.Fatalf("New(%+v) succeeded", o)
		}
	}
	if s := tickets.Token("secret").String(); s != "[redacted]" {
		t.Fatalf("a token prints %q", s)
	}
}
