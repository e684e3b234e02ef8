// Package servicenow is a tickets.System over the ServiceNow Table API: it reads incidents
// (INC…), change requests (CHG…) and requested items (RITM…) by number, and comments on them as
// work notes (PATCH of work_notes). It authenticates with basic auth (a user with the itil role)
// or an OAuth bearer token.
package servicenow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/accessbot/accessbot/tickets"
)

// Options configure a Client.
type Options struct {
	// Name is the system's name in the config.
	Name string
	// BaseURL is the instance: https://example.service-now.com.
	BaseURL string
	// Username and Password are basic auth; Token, when set instead, is an OAuth bearer token.
	Username string
	Password tickets.Token
	Token    tickets.Token
	// HTTP is the client calls go through; default one with a 10s timeout.
	HTTP *http.Client
	// Now is the clock Retry-After dates are read against; default time.Now.
	Now func() time.Time
}

// Client is a ServiceNow instance.
type Client struct {
	o    Options
	base *url.URL
}

// New checks o and returns a Client; it does not contact ServiceNow.
func New(o Options) (*Client, error) {
	u, err := tickets.BaseURL(tickets.KindServiceNow, o.Name, o.BaseURL)
	if err != nil {
		return nil, err
	}
	switch {
	case o.Token != "" && (o.Username != "" || o.Password != ""):
		return nil, fmt.Errorf("servicenow %s: give a token or a username and password, not both", o.Name)
	case o.Token == "" && (o.Username == "" || o.Password == ""):
		return nil, fmt.Errorf("servicenow %s: needs a username and password, or a token", o.Name)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{o: o, base: u}, nil
}

// Name implements tickets.System.
func (c *Client) Name() string { return c.o.Name }

// Kind implements tickets.System.
func (c *Client) Kind() string { return tickets.KindServiceNow }

// table is where the records of a number prefix live and which of their states are closed.
type table struct {
	name   string
	closed map[string]bool
}

// tables by number prefix. The states are ServiceNow's out-of-the-box values: an incident is
// resolved (6), closed (7) or cancelled (8); a change request closed (3) or cancelled (4); a
// requested item closed complete (3), closed incomplete (4) or closed skipped (7).
var tables = map[string]table{
	"INC":  {"incident", map[string]bool{"6": true, "7": true, "8": true}},
	"CHG":  {"change_request", map[string]bool{"3": true, "4": true}},
	"RITM": {"sc_req_item", map[string]bool{"3": true, "4": true, "7": true}},
}

// tableOf returns the table of a number ("INC0010001").
func tableOf(number string) (table, bool) {
	for _, p := range []string{"RITM", "INC", "CHG"} {
		if strings.HasPrefix(number, p) {
			return tables[p], true
		}
	}
	return table{}, false
}

// field is a field read with sysparm_display_value=all.
type field struct {
	Value        string `json:"value"`
	DisplayValue string `json:"display_value"`
}

// record is one row, of the fields asked for.
type record struct {
	SysID            field `json:"sys_id"`
	Number           field `json:"number"`
	ShortDescription field `json:"short_description"`
	State            field `json:"state"`
	Priority         field `json:"priority"`
	AssignmentGroup  field `json:"assignment_group"`
	AssignedTo       field `json:"assigned_to"`
	AssignedToEmail  field `json:"assigned_to.email"`
}

const fields = "sys_id,number,short_description,state,priority,assignment_group,assigned_to,assigned_to.email"

// Get implements tickets.System.
func (c *Client) Get(ctx context.Context, number string) (tickets.Ticket, error) {
	rec, tb, err := c.find(ctx, number)
	if err != nil {
		return tickets.Ticket{}, err
	}
	t := tickets.Ticket{
		Key:          rec.Number.Value,
		Summary:      rec.ShortDescription.Value,
		Status:       rec.State.DisplayValue,
		Closed:       tb.closed[rec.State.Value],
		Priority:     rec.Priority.DisplayValue,
		Project:      rec.AssignmentGroup.DisplayValue,
		Assignee:     rec.AssignedToEmail.Value,
		AssigneeName: rec.AssignedTo.DisplayValue,
		URL:          c.base.String() + "/" + tb.name + ".do?sys_id=" + url.QueryEscape(rec.SysID.Value),
	}
	if t.Status == "" {
		t.Status = rec.State.Value
	}
	if t.Assignee == "" {
		t.Assignee = t.AssigneeName
	}
	return t, nil
}

// find reads the record of a number.
func (c *Client) find(ctx context.Context, number string) (record, table, error) {
	tb, ok := tableOf(number)
	if !ok || !tickets.ValidKey(number) {
		return record{}, table{}, fmt.Errorf("get %q: not an incident, change or requested item number", number)
	}
	req, err := c.request(http.MethodGet, "/api/now/table/"+tb.name, url.Values{
		"sysparm_query":                  {"number=" + number},
		"sysparm_limit":                  {"1"},
		"sysparm_fields":                 {fields},
		"sysparm_display_value":          {"all"},
		"sysparm_exclude_reference_link": {"true"},
	}, nil)
	if err != nil {
		return record{}, table{}, err
	}
	var ans struct {
		Result []record `json:"result"`
	}
	if err := tickets.Call(ctx, c.o.HTTP, req, "get "+number, &ans, errorText, c.o.Now); err != nil {
		return record{}, table{}, err
	}
	if len(ans.Result) == 0 || ans.Result[0].SysID.Value == "" {
		return record{}, table{}, fmt.Errorf("get %s: %w", number, tickets.ErrNotFound)
	}
	return ans.Result[0], tb, nil
}

// Comment implements tickets.System: a work note, which only the team sees.
func (c *Client) Comment(ctx context.Context, number, text string) error {
	rec, tb, err := c.find(ctx, number)
	if err != nil {
		return err
	}
	if !tickets.ValidKey(rec.SysID.Value) {
		return fmt.Errorf("comment on %s: ServiceNow answered sys_id %q", number, rec.SysID.Value)
	}
	req, err := c.request(http.MethodPatch, "/api/now/table/"+tb.name+"/"+rec.SysID.Value,
		url.Values{"sysparm_fields": {"sys_id"}}, map[string]string{"work_notes": text})
	if err != nil {
		return err
	}
	return tickets.Call(ctx, c.o.HTTP, req, "comment on "+number, nil, errorText, c.o.Now)
}

// request builds a call of the API at path, with the client's authentication.
func (c *Client) request(method, path string, q url.Values, body any) (*http.Request, error) {
	req, err := tickets.NewRequest(method, c.base, path, q, body)
	if err != nil {
		return nil, err
	}
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token.Reveal())
	} else {
		req.SetBasicAuth(c.o.Username, c.o.Password.Reveal())
	}
	return req, nil
}

// errorText reads ServiceNow's error answer: {"error": {"message", "detail"}, "status": "failure"}.
func errorText(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Detail  string `json:"detail"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if e.Error.Detail != "" && e.Error.Detail != e.Error.Message {
		return e.Error.Message + ": " + e.Error.Detail
	}
	return e.Error.Message
}

var _ tickets.System = (*Client)(nil)
