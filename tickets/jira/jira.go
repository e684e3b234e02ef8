// Package jira is a tickets.System over the Jira REST API: Jira Cloud (REST v3, basic auth with
// an account's email and API token) and Jira Data Center (REST v2, a personal access token as
// bearer). It reads an issue's summary, status, priority, project and assignee, and adds
// comments (Atlassian Document Format on v3, plain text on v2).
package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/tickets"
)

// Deployments of Jira.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// Options configure a Client.
type Options struct {
	// Name is the system's name in the config.
	Name string
	// BaseURL is the site: https://example.atlassian.net, or Data Center's base URL.
	BaseURL string
	// Deployment is Cloud (REST v3, basic auth) or DataCenter (REST v2, bearer PAT).
	Deployment string
	// Email is the Cloud account whose API token Token is; unused on Data Center.
	Email string
	// Token is the Cloud API token, or the Data Center personal access token.
	Token tickets.Token
	// HTTP is the client calls go through; default one with a 10s timeout. Every call also
	// has its caller's deadline.
	HTTP *http.Client
	// Now is the clock Retry-After dates are read against; default time.Now.
	Now func() time.Time
}

// Client is a Jira site.
type Client struct {
	o    Options
	base *url.URL
	api  string
}

// New checks o and returns a Client; it does not contact Jira.
func New(o Options) (*Client, error) {
	u, err := tickets.BaseURL(tickets.KindJira, o.Name, o.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{o: o, base: u}
	switch o.Deployment {
	case Cloud, "":
		c.o.Deployment, c.api = Cloud, "/rest/api/3"
		if o.Email == "" {
			return nil, fmt.Errorf("jira %s: Jira Cloud needs the email of the account whose API token is used", o.Name)
		}
	case DataCenter:
		c.api = "/rest/api/2"
	default:
		return nil, fmt.Errorf("jira %s: deployment %q is neither %s nor %s", o.Name, o.Deployment, Cloud, DataCenter)
	}
	if o.Token == "" {
		return nil, fmt.Errorf("jira %s: no token", o.Name)
	}
	if c.o.HTTP == nil {
		c.o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if c.o.Now == nil {
		c.o.Now = time.Now
	}
	return c, nil
}

// Name implements tickets.System.
func (c *Client) Name() string { return c.o.Name }

// Kind implements tickets.System.
func (c *Client) Kind() string { return tickets.KindJira }

// issue is what GET /issue/{key} answers, of the fields asked for.
type issue struct {
	Key    string `json:"key"`
	Fields struct {
		Summary string `json:"summary"`
		Status  struct {
			Name           string `json:"name"`
			StatusCategory struct {
				Key string `json:"key"`
			} `json:"statusCategory"`
		} `json:"status"`
		Priority *struct {
			Name string `json:"name"`
		} `json:"priority"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
		Assignee *struct {
			EmailAddress string `json:"emailAddress"`
			DisplayName  string `json:"displayName"`
			// Name is Data Center's user name.
			Name string `json:"name"`
		} `json:"assignee"`
	} `json:"fields"`
}

// Get implements tickets.System.
func (c *Client) Get(ctx context.Context, key string) (tickets.Ticket, error) {
	if !tickets.ValidKey(key) {
		return tickets.Ticket{}, fmt.Errorf("get %q: not a ticket key", key)
	}
	req, err := c.request(http.MethodGet, "/issue/"+url.PathEscape(key), url.Values{
		"fields": {"summary,status,priority,project,assignee"},
	}, nil)
	if err != nil {
		return tickets.Ticket{}, err
	}
	var is issue
	if err := tickets.Call(ctx, c.o.HTTP, req, "get "+key, &is, errorText, c.o.Now); err != nil {
		return tickets.Ticket{}, err
	}
	f := is.Fields
	t := tickets.Ticket{
		Key:     is.Key,
		Summary: f.Summary,
		Status:  f.Status.Name,
		Closed:  f.Status.StatusCategory.Key == "done",
		Project: f.Project.Key,
		URL:     c.base.String() + "/browse/" + url.PathEscape(is.Key),
	}
	if t.Key == "" {
		t.Key = key
	}
	if f.Priority != nil {
		t.Priority = f.Priority.Name
	}
	if a := f.Assignee; a != nil {
		t.Assignee, t.AssigneeName = a.EmailAddress, a.DisplayName
		if t.Assignee == "" {
			t.Assignee = a.Name
		}
	}
	return t, nil
}

// Comment implements tickets.System.
func (c *Client) Comment(ctx context.Context, key, text string) error {
	if !tickets.ValidKey(key) {
		return fmt.Errorf("comment on %q: not a ticket key", key)
	}
	var body any = map[string]string{"body": text}
	if c.o.Deployment == Cloud {
		body = map[string]any{"body": adf(text)}
	}
	req, err := c.request(http.MethodPost, "/issue/"+url.PathEscape(key)+"/comment", nil, body)
	if err != nil {
		return err
	}
	return tickets.Call(ctx, c.o.HTTP, req, "comment on "+key, nil, errorText, c.o.Now)
}

// adf is text as an Atlassian Document Format document: a paragraph per line.
func adf(text string) map[string]any {
	var paras []any
	for line := range strings.SplitSeq(text, "\n") {
		p := map[string]any{"type": "paragraph"}
		if line != "" {
			p["content"] = []any{map[string]any{"type": "text", "text": line}}
		}
		paras = append(paras, p)
	}
	return map[string]any{"type": "doc", "version": 1, "content": paras}
}

// request builds a call of the API at path, with the client's authentication.
func (c *Client) request(method, path string, q url.Values, body any) (*http.Request, error) {
	req, err := tickets.NewRequest(method, c.base, c.api+path, q, body)
	if err != nil {
		return nil, err
	}
	if c.o.Deployment == Cloud {
		req.SetBasicAuth(c.o.Email, c.o.Token.Reveal())
	} else {
		req.Header.Set("Authorization", "Bearer "+c.o.Token.Reveal())
	}
	return req, nil
}

// errorText reads Jira's error answer: {"errorMessages": [...], "errors": {"field": "..."}}.
func errorText(body []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	msgs := append([]string(nil), e.ErrorMessages...)
	for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
		msgs = append(msgs, k+": "+e.Errors[k])
	}
	if e.Message != "" {
		msgs = append(msgs, e.Message)
	}
	return strings.Join(msgs, "; ")
}

var _ tickets.System = (*Client)(nil)
