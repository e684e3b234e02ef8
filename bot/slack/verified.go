package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// IdentityPolicy says which Slack users accessbot believes (config `identity:`). A Slack user
// is whoever the workspace says; these rules keep out the accounts a workspace makes for people
// who are not the company's: guests, people from other organizations in Slack Connect
// channels, emails nobody confirmed, addresses outside the company's domains.
type IdentityPolicy struct {
	// Teams are the home workspace IDs. Empty means the bot token's own workspace (auth.test).
	Teams []string
	// EnterpriseID, when set, makes every member of that Enterprise Grid organization a home
	// user, whatever their workspace.
	EnterpriseID string
	// AllowGuests accepts is_restricted and is_ultra_restricted users.
	AllowGuests bool
	// AllowExternal accepts users who are not home users (Slack Connect).
	AllowExternal bool
	// EmailDomains, when set, are the only email domains accepted (lowercase, no "@"); a user
	// without an email is then refused too.
	EmailDomains []string
}

// errDeactivated is the answer for a Slack user whose account is deactivated.
var errDeactivated = errors.New("the Slack account is deactivated")

// RefusedError is the refusal of a Slack user the IdentityPolicy does not accept. Its Sentence
// is what the person is told; the rest is for the audit log.
type RefusedError struct {
	UserID string
	// Refused is one of the audit.Refused* values.
	Refused    string
	Team       string
	Enterprise string
	Email      string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("slack user %s refused: %s", e.UserID, e.Refused)
}

// Sentence is the one private sentence the refused person gets. It says what to do and never
// what the policy is beyond that.
func (e *RefusedError) Sentence() string {
	switch e.Refused {
	case audit.RefusedGuest:
		return "accessbot does not act for guest accounts; ask a workspace admin if you need access."
	case audit.RefusedExternal, audit.RefusedTeam:
		return "accessbot acts only for members of its own Slack workspace; your account belongs to another one."
	case audit.RefusedEmailUnconfirmed:
		return "Your Slack email address is not confirmed yet; confirm it from the email Slack sent you, then try again."
	default:
		return "accessbot acts only for people whose Slack email is in one of the company's domains; yours is not."
	}
}

// Event is the identity.refused audit event of the refusal.
func (e *RefusedError) Event() audit.Event {
	who := grants.CanonicalPerson(PlatformName + ":" + e.UserID)
	return audit.Event{Actor: who, Subject: who}.With(audit.IdentityRefusedData{
		Platform: PlatformName, PlatformID: e.UserID, Refused: e.Refused,
		Team: e.Team, Enterprise: e.Enterprise, Person: e.Email,
	})
}

// slackUser is the part of users.info's user object that accessbot reads. It is decoded here
// rather than by slack-go because is_email_confirmed must be told apart from absent: Slack
// leaves it out of some user objects (Slack Connect users), and only a present false refuses.
type slackUser struct {
	ID                string `json:"id"`
	TeamID            string `json:"team_id"`
	Name              string `json:"name"`
	RealName          string `json:"real_name"`
	Deleted           bool   `json:"deleted"`
	IsBot             bool   `json:"is_bot"`
	IsRestricted      bool   `json:"is_restricted"`
	IsUltraRestricted bool   `json:"is_ultra_restricted"`
	IsStranger        bool   `json:"is_stranger"`
	IsEmailConfirmed  *bool  `json:"is_email_confirmed"`
	Profile           struct {
		RealName    string `json:"real_name"`
		DisplayName string `json:"display_name"`
		Email       string `json:"email"`
		Team        string `json:"team"`
	} `json:"profile"`
	Enterprise struct {
		EnterpriseID string `json:"enterprise_id"`
	} `json:"enterprise_user"`
}

// userInfo calls users.info for one user.
func (c *Client) userInfo(ctx context.Context, userID string) (slackUser, error) {
	var out struct {
		OK    bool      `json:"ok"`
		Error string    `json:"error"`
		User  slackUser `json:"user"`
	}
	if err := c.callJSON(ctx, "users.info", url.Values{"user": {userID}}, &out); err != nil {
		return slackUser{}, fmt.Errorf("slack users.info for %s: %w", userID, err)
	}
	if !out.OK {
		return slackUser{}, fmt.Errorf("slack users.info for %s: %w", userID, slackapi.SlackErrorResponse{Err: out.Error})
	}
	return out.User, nil
}

// callJSON posts a form to a Web API method with the bot token and decodes the answer.
func (c *Client) callJSON(ctx context.Context, method string, form url.Values, out any) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL+method, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+c.botToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &slackapi.RateLimitedError{RetryAfter: time.Duration(after) * time.Second}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered HTTP %d", method, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the %s answer: %w", method, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode the %s answer: %w", method, err)
	}
	return nil
}

// homeTeams returns the configured home workspaces, or the bot token's own (auth.test, asked
// once and kept: a token belongs to one workspace for its life).
func (c *Client) homeTeams(ctx context.Context) ([]string, error) {
	if len(c.identity.Teams) > 0 {
		return c.identity.Teams, nil
	}
	c.teamMu.Lock()
	defer c.teamMu.Unlock()
	if c.team != "" {
		return []string{c.team}, nil
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	resp, err := c.api.AuthTestContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("slack auth.test for the home workspace: %w", err)
	}
	if resp.TeamID == "" {
		return nil, errors.New("slack auth.test named no workspace")
	}
	c.team = resp.TeamID
	return []string{c.team}, nil
}

// verify applies the IdentityPolicy to a user as users.info shows them: nil when accessbot may
// act for them, else the refusal. An error means the policy could not be applied (auth.test
// failed): the caller fails closed.
func (c *Client) verify(ctx context.Context, u slackUser, a grants.Actor) (*RefusedError, error) {
	p := c.identity
	refuse := func(why string) *RefusedError {
		return &RefusedError{UserID: u.ID, Refused: why, Team: u.TeamID, Enterprise: u.Enterprise.EnterpriseID, Email: a.Email}
	}
	teams, err := c.homeTeams(ctx)
	if err != nil {
		return nil, err
	}
	home := !u.IsStranger && (slices.Contains(teams, u.TeamID) ||
		p.EnterpriseID != "" && u.Enterprise.EnterpriseID == p.EnterpriseID)
	switch {
	case !home && !p.AllowExternal && u.IsStranger:
		return refuse(audit.RefusedExternal), nil
	case !home && !p.AllowExternal:
		return refuse(audit.RefusedTeam), nil
	case (u.IsRestricted || u.IsUltraRestricted) && !p.AllowGuests:
		return refuse(audit.RefusedGuest), nil
	case u.IsEmailConfirmed != nil && !*u.IsEmailConfirmed:
		return refuse(audit.RefusedEmailUnconfirmed), nil
	}
	if !bot.EmailInDomains(p.EmailDomains, a.Email) {
		return refuse(audit.RefusedEmailDomain), nil
	}
	return nil, nil
}

// ResolvePerson implements grants.Aliases for Slack: "slack:U0123" is the email users.info
// shows for U0123, when it has one and the user passes the IdentityPolicy; any other ID is
// returned as it is.
func (c *Client) ResolvePerson(ctx context.Context, id string) (string, error) {
	userID, ok := strings.CutPrefix(grants.CanonicalPerson(id), PlatformName+":")
	if !ok || userID == "" {
		return id, nil
	}
	a, err := c.users.actor(ctx, userID)
	if errors.As(err, new(*RefusedError)) || errors.Is(err, errDeactivated) || errors.As(err, new(slackapi.SlackErrorResponse)) {
		// Not someone accessbot acts for on Slack, or not there at all: the ID names nobody
		// else, so it stays as it is.
		return id, nil
	}
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

var _ grants.Aliases = (*Client)(nil)

// actorProblem is what a person is told when accessbot cannot act for them: the refusal's own
// sentence when the IdentityPolicy refused them (and its audit event), otherwise that their
// profile could not be read.
func (s *Server) actorProblem(ctx context.Context, log zerolog.Logger, err error, what string) bot.View {
	if re, ok := errors.AsType[*RefusedError](err); ok {
		log.Warn().Str("refused", re.Refused).Msg("refused a Slack user the identity policy does not accept")
		s.refusals.Record(ctx, re.UserID, re.Refused, re.Event())
		return bot.ProblemView(re.Sentence())
	}
	log.Error().Err(err).Msg("resolve the Slack user of " + what)
	return bot.ProblemView(profileProblem)
}
