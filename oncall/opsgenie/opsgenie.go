// Package opsgenie asks Opsgenie's Who is On Call API who is on call now for a schedule (GET
// /v2/schedules/{name}/on-calls?scheduleIdentifierType=name&flat=true), for the on-call
// approver groups (package oncall), over net/http with typed structs.
package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/accessbot/accessbot/oncall"
)

// API base URLs: Opsgenie's US instance, and its EU instance.
const (
	DefaultAPIURL = "https://api.opsgenie.com"
	EUAPIURL      = "https://api.eu.opsgenie.com"
)

// Options configure a Client; Token is an API integration's key with Read access only, and
// APIURL defaults to DefaultAPIURL (EUAPIURL for the EU instance).
type Options = oncall.ClientOptions

// api is what differs in Opsgenie's calls from another provider's.
var api = oncall.API{
	Name:          "opsgenie",
	Service:       "Opsgenie",
	DefaultURL:    DefaultAPIURL,
	NoToken:       "an API key is required",
	Authorization: "GenieKey ",
	Accept:        "application/json",
	MaxResponse:   1 << 20,
	// X-RateLimit-Period-In-Sec is the window Opsgenie throttles over.
	ResetHeader:  "X-RateLimit-Period-In-Sec",
	Unauthorized: "the Opsgenie API key was refused",
	Forbidden:    "the Opsgenie API key may not read this schedule (an API integration not restricted to a team, with Read access)",
	NotFound:     "Opsgenie has no such schedule",
	Error: func(status int, body []byte, text string) error {
		ae := &apiError{Status: status}
		if json.Unmarshal(body, ae) != nil || ae.Message == "" {
			ae.Message = text
		}
		return ae
	},
}

// Client asks Opsgenie who is on call.
type Client struct{ api *oncall.APIClient }

// New builds a Client; it makes no call.
func New(o Options) (*Client, error) {
	c, err := oncall.NewAPIClient(api, o)
	if err != nil {
		return nil, err
	}
	return &Client{api: c}, nil
}

// onCalls is the answer of Get On Calls with flat=true.
type onCalls struct {
	Data struct {
		Parent struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"_parent"`
		// OnCallRecipients are the usernames (emails) of the people on call.
		OnCallRecipients []string `json:"onCallRecipients"`
	} `json:"data"`
	RequestID string `json:"requestId"`
}

// apiError is Opsgenie's error answer: {"message": ..., "took": ..., "requestId": ...}.
type apiError struct {
	Status    int    `json:"-"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("Opsgenie answered %d", e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// OnCall implements oncall.Provider for opsgenie:schedule/<name> rotas. Opsgenie usernames
// are the people's emails.
func (c *Client) OnCall(ctx context.Context, t oncall.Target) ([]oncall.Shift, error) {
	if t.Kind != oncall.KindSchedule {
		return nil, fmt.Errorf("opsgenie: %s is not a schedule", t)
	}
	u := c.api.URL("/v2/schedules/"+t.ID+"/on-calls", "/v2/schedules/"+url.PathEscape(t.ID)+"/on-calls",
		url.Values{"scheduleIdentifierType": {"name"}, "flat": {"true"}})
	var oc onCalls
	if err := c.api.Get(ctx, u, &oc); err != nil {
		return nil, err
	}
	var out []oncall.Shift
	seen := map[string]bool{}
	for _, r := range oc.Data.OnCallRecipients {
		email := strings.ToLower(strings.TrimSpace(r))
		if email == "" || seen[email] || !strings.Contains(email, "@") {
			continue
		}
		seen[email] = true
		out = append(out, oncall.Shift{Email: email})
	}
	return out, nil
}

var _ oncall.Provider = (*Client)(nil)
