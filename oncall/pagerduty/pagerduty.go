// Package pagerduty asks PagerDuty's REST API v2 who is on call now (GET /oncalls), for the
// on-call approver groups (package oncall). It speaks the two calls it needs over net/http with
// typed structs rather than through github.com/PagerDuty/go-pagerduty: see the README's
// "On-call approvals" for the size measured.
package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/accessbot/accessbot/oncall"
)

// DefaultAPIURL is PagerDuty's REST API (the EU service account uses the same host).
const DefaultAPIURL = "https://api.pagerduty.com"

const (
	// pageLimit is PagerDuty's largest page.
	pageLimit = 100
	// maxPages bounds one answer: 10,000 on-call entries is far beyond any schedule.
	maxPages = 100
)

// Options configure a Client; Token is a read-only REST API key, and APIURL defaults to
// DefaultAPIURL.
type Options = oncall.ClientOptions

// api is what differs in PagerDuty's calls from another provider's.
var api = oncall.API{
	Name:          "pagerduty",
	Service:       "PagerDuty",
	DefaultURL:    DefaultAPIURL,
	NoToken:       "a REST API key is required",
	Authorization: "Token token=",
	Accept:        "application/vnd.pagerduty+json;version=2",
	// MaxResponse bounds what is read of one page.
	MaxResponse:  4 << 20,
	ResetHeader:  "Ratelimit-Reset",
	Unauthorized: "the PagerDuty token was refused",
	Forbidden:    "the PagerDuty token may not read this (it needs read access)",
	NotFound:     "PagerDuty has no such schedule or escalation policy",
	Error: func(status int, body []byte, text string) error {
		ae := &apiError{Status: status}
		if json.Unmarshal(body, ae) != nil || ae.Detail.Message == "" {
			ae.Detail.Message = text
		}
		return ae
	},
}

// Client asks PagerDuty who is on call.
type Client struct{ api *oncall.APIClient }

// New builds a Client; it makes no call.
func New(o Options) (*Client, error) {
	c, err := oncall.NewAPIClient(api, o)
	if err != nil {
		return nil, err
	}
	return &Client{api: c}, nil
}

// oncallsPage is the part of GET /oncalls's answer the client reads.
type oncallsPage struct {
	Oncalls []struct {
		EscalationLevel int `json:"escalation_level"`
		User            struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Name    string `json:"name"`
			Email   string `json:"email"`
			Summary string `json:"summary"`
		} `json:"user"`
	} `json:"oncalls"`
	Limit  int  `json:"limit"`
	Offset int  `json:"offset"`
	More   bool `json:"more"`
}

// OnCall implements oncall.Provider: every page of GET /oncalls for the schedule or the
// escalation policy, with the users' emails (include[]=users). An empty answer is checked
// against the schedule or policy itself, so that one that does not exist is an error
// (oncall.ErrNotFound) rather than a rota nobody is on.
func (c *Client) OnCall(ctx context.Context, t oncall.Target) ([]oncall.Shift, error) {
	filter := "schedule_ids[]"
	if t.Kind == oncall.KindEscalation {
		filter = "escalation_policy_ids[]"
	}
	var out []oncall.Shift
	seen := map[string]bool{}
	for page, offset := 0, 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("pagerduty: more than %d pages of on-calls", maxPages)
		}
		q := url.Values{filter: {t.ID}, "include[]": {"users"}, "limit": {strconv.Itoa(pageLimit)}, "offset": {strconv.Itoa(offset)}}
		var p oncallsPage
		if err := c.get(ctx, "/oncalls", q, &p); err != nil {
			return nil, err
		}
		for _, oc := range p.Oncalls {
			level := oc.EscalationLevel
			if t.Kind == oncall.KindSchedule {
				level = 0
			}
			email := strings.ToLower(strings.TrimSpace(oc.User.Email))
			key := email + "/" + strconv.Itoa(level)
			if email == "" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, oncall.Shift{Email: email, Name: oc.User.Name, Level: level})
		}
		if !p.More || len(p.Oncalls) == 0 {
			break
		}
		offset += len(p.Oncalls)
	}
	if len(out) == 0 {
		if err := c.exists(ctx, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// exists reads the schedule or escalation policy itself: 404 means it does not exist.
func (c *Client) exists(ctx context.Context, t oncall.Target) error {
	path := "/schedules/" + url.PathEscape(t.ID)
	if t.Kind == oncall.KindEscalation {
		path = "/escalation_policies/" + url.PathEscape(t.ID)
	}
	var ignored json.RawMessage
	return c.get(ctx, path, nil, &ignored)
}

// apiError is PagerDuty's error answer: {"error": {"message": ..., "code": ..., "errors": [...]}}.
type apiError struct {
	Status int `json:"-"`
	Detail struct {
		Message string   `json:"message"`
		Code    int      `json:"code"`
		Errors  []string `json:"errors"`
	} `json:"error"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("PagerDuty answered %d", e.Status)
	if e.Detail.Message != "" {
		s += ": " + e.Detail.Message
	}
	if len(e.Detail.Errors) > 0 {
		s += " (" + strings.Join(e.Detail.Errors, "; ") + ")"
	}
	return s
}

// get makes one GET of path with the query q (see oncall.APIClient.Get for the retries).
func (c *Client) get(ctx context.Context, path string, q url.Values, into any) error {
	return c.api.Get(ctx, c.api.URL(path, "", q), into)
}

var _ oncall.Provider = (*Client)(nil)
