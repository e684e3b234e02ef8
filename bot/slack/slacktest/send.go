package slacktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature headers Slack sends with body
// at time t: "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
func Sign(secret string, t time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return timestamp, "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequest builds a POST of body to rawURL, signed with secret at time t, as Slack sends.
func SignedRequest(ctx context.Context, rawURL, secret string, t time.Time, contentType string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts, sig := Sign(secret, t, body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	return req, nil
}

// FormContentType is the content type of Slack's slash command and interaction requests.
const FormContentType = "application/x-www-form-urlencoded"

// Sender sends slash commands and interactions to accessbot's HTTP endpoints as Slack does.
type Sender struct {
	// BaseURL is accessbot's root URL: requests go to BaseURL + "/slack/commands" and
	// BaseURL + "/slack/interactions".
	BaseURL string
	// Secret is the signing secret.
	Secret string
	// Now is the time the requests are signed at (time.Now when nil): a test's fake clock.
	Now func() time.Time
	// Client sends the requests (http.DefaultClient when nil).
	Client *http.Client
}

// Response is accessbot's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode answer %q: %w", r.Body, err)
	}
	return nil
}

// Command sends a slash command, form-encoded, to /slack/commands.
func (s *Sender) Command(ctx context.Context, c Command) (*Response, error) {
	return s.Post(ctx, "/slack/commands", []byte(c.Form().Encode()))
}

// Interaction sends an interaction payload (BlockAction.Payload, ViewSubmission.Payload) as
// payload=<JSON> to /slack/interactions.
func (s *Sender) Interaction(ctx context.Context, payload []byte) (*Response, error) {
	return s.Post(ctx, "/slack/interactions", []byte(url.Values{"payload": {string(payload)}}.Encode()))
}

// Post signs body and posts it, form-encoded, to path.
func (s *Sender) Post(ctx context.Context, path string, body []byte) (*Response, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req, err := SignedRequest(ctx, s.BaseURL+path, s.Secret, now(), FormContentType, body)
	if err != nil {
		return nil, err
	}
	return s.Do(req)
}

// Do sends a request built by SignedRequest (or tampered with after).
func (s *Sender) Do(req *http.Request) (*Response, error) {
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// newTriggerID makes a trigger ID like Slack's. Every request Slack sends has its own, which is
// also what makes two otherwise equal requests differ (and not look like a replay).
func newTriggerID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "13345224609.738474920." + hex.EncodeToString(b)
}

// Team is the fake workspace's ID.
const Team = "T0FAKE"

// Command is a slash command invocation.
type Command struct {
	// Command is "/access" when empty.
	Command     string
	Text        string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	// TriggerID opens a modal within 3 seconds; a made-up one when empty.
	TriggerID string
	// ResponseURL receives delayed replies (Server.ResponseURL gives one on the fake).
	ResponseURL string
}

func (c Command) fields() map[string]string {
	cmd := c.Command
	if cmd == "" {
		cmd = "/access"
	}
	trigger := c.TriggerID
	if trigger == "" {
		trigger = newTriggerID()
	}
	return map[string]string{
		"token":        "legacy-verification-token",
		"team_id":      Team,
		"team_domain":  "fake",
		"channel_id":   c.ChannelID,
		"channel_name": c.ChannelName,
		"user_id":      c.UserID,
		"user_name":    c.UserName,
		"command":      cmd,
		"text":         c.Text,
		"api_app_id":   "A0FAKE",
		"response_url": c.ResponseURL,
		"trigger_id":   trigger,
	}
}

// Form is the command as Slack posts it over HTTP.
func (c Command) Form() url.Values {
	form := url.Values{}
	for k, v := range c.fields() {
		form.Set(k, v)
	}
	return form
}

// JSON is the command as a Socket Mode slash_commands payload.
func (c Command) JSON() []byte {
	b, _ := json.Marshal(c.fields())
	return b
}

// BlockAction is a click on a button of a message.
type BlockAction struct {
	UserID, UserName string
	ActionID, Value  string
	// BlockID is the actions block's ID ("actions" when empty).
	BlockID   string
	ChannelID string
	MessageTS string
	TriggerID string
	// ResponseURL is empty for a click inside a modal.
	ResponseURL string
}

func user(id, name string) map[string]any {
	if name == "" {
		name = id
	}
	return map[string]any{"id": id, "username": name, "name": name, "team_id": Team}
}

// Payload is the block_actions payload, as documented.
func (b BlockAction) Payload() []byte {
	block := b.BlockID
	if block == "" {
		block = "actions"
	}
	trigger := b.TriggerID
	if trigger == "" {
		trigger = newTriggerID()
	}
	p := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": Team, "domain": "fake"},
		"user":       user(b.UserID, b.UserName),
		"api_app_id": "A0FAKE",
		"token":      "legacy-verification-token",
		"container": map[string]any{
			"type": "message", "message_ts": b.MessageTS, "channel_id": b.ChannelID, "is_ephemeral": false,
		},
		"trigger_id":   trigger,
		"channel":      map[string]any{"id": b.ChannelID, "name": "approvals"},
		"message":      map[string]any{"type": "message", "ts": b.MessageTS, "text": "..."},
		"response_url": b.ResponseURL,
		"state":        map[string]any{"values": map[string]any{}},
		"actions": []any{map[string]any{
			"action_id": b.ActionID,
			"block_id":  block,
			"text":      map[string]any{"type": "plain_text", "text": b.ActionID, "emoji": true},
			"value":     b.Value,
			"type":      "button",
			"action_ts": "1700000000.000200",
		}},
	}
	if b.ChannelID == "" {
		delete(p, "channel")
		p["container"] = map[string]any{"type": "view", "view_id": "V0FAKE"}
	}
	out, _ := json.Marshal(p)
	return out
}

// ViewSubmission is a submitted modal.
type ViewSubmission struct {
	UserID, UserName string
	// CallbackID is the form's ID, PrivateMetadata its Value.
	CallbackID      string
	PrivateMetadata string
	// Values are text inputs by input ID (block_id = action_id); Selects are static selects'
	// chosen option values.
	Values  map[string]string
	Selects map[string]string
}

// Payload is the view_submission payload, as documented.
func (v ViewSubmission) Payload() []byte {
	values := map[string]any{}
	for id, val := range v.Values {
		values[id] = map[string]any{id: map[string]any{"type": "plain_text_input", "value": val}}
	}
	for id, val := range v.Selects {
		values[id] = map[string]any{id: map[string]any{
			"type": "static_select",
			"selected_option": map[string]any{
				"text": map[string]any{"type": "plain_text", "text": val, "emoji": true}, "value": val,
			},
		}}
	}
	p := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": Team, "domain": "fake"},
		"user":       user(v.UserID, v.UserName),
		"api_app_id": "A0FAKE",
		"token":      "legacy-verification-token",
		"trigger_id": newTriggerID(),
		"view": map[string]any{
			"id":               "V0FAKE",
			"team_id":          Team,
			"type":             "modal",
			"blocks":           []any{},
			"private_metadata": v.PrivateMetadata,
			"callback_id":      v.CallbackID,
			"state":            map[string]any{"values": values},
			"hash":             "156772938.1827394",
			"title":            map[string]any{"type": "plain_text", "text": "Form"},
			"app_id":           "A0FAKE",
			"bot_id":           "B0FAKE",
		},
		"response_urls": []any{},
	}
	out, _ := json.Marshal(p)
	return out
}
