package discordtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PrivateKey is the application's test signing key: fixed, so a config can name its public key.
func PrivateKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("accessbot discordtest application key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// PublicKeyHex is the test application's public key as the Developer Portal shows it
// (discord.public_key).
func PublicKeyHex() string {
	return hex.EncodeToString(PrivateKey().Public().(ed25519.PublicKey))
}

// Sign returns the X-Signature-Timestamp and X-Signature-Ed25519 headers Discord sends with body
// at time t: the hex Ed25519 signature of timestamp + body.
func Sign(key ed25519.PrivateKey, t time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(t.Unix(), 10)
	msg := append([]byte(timestamp), body...)
	return timestamp, hex.EncodeToString(ed25519.Sign(key, msg))
}

// SignedRequest builds a POST of body to rawURL, signed with key at time t, as Discord sends.
func SignedRequest(ctx context.Context, rawURL string, key ed25519.PrivateKey, t time.Time, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts, sig := Sign(key, t, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Ed25519", sig)
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	return req, nil
}

// Sender posts interactions to accessbot's endpoint as Discord does.
type Sender struct {
	// BaseURL is accessbot's root URL: interactions go to BaseURL + "/discord/interactions".
	BaseURL string
	// Key signs (PrivateKey when nil).
	Key ed25519.PrivateKey
	// Now is the time requests are signed at (time.Now when nil): a test's fake clock.
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

// Answer is an interaction response as accessbot sends it.
type Answer struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Answer decodes the body as an interaction response.
func (r *Response) Answer() (Answer, error) {
	var a Answer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		return a, fmt.Errorf("decode answer %q: %w", r.Body, err)
	}
	return a, nil
}

// Send signs the interaction and posts it.
func (s *Sender) Send(ctx context.Context, i *Interaction) (*Response, error) {
	return s.Post(ctx, i.JSON())
}

// Post signs body and posts it to /discord/interactions.
func (s *Sender) Post(ctx context.Context, body []byte) (*Response, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	key := s.Key
	if key == nil {
		key = PrivateKey()
	}
	req, err := SignedRequest(ctx, s.BaseURL+"/discord/interactions", key, now(), body)
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

// Interaction types and option types, as Discord numbers them.
const (
	TypePing         = 1
	TypeCommand      = 2
	TypeComponent    = 3
	TypeAutocomplete = 4
	TypeModalSubmit  = 5

	optSubCommand      = 1
	optSubCommandGroup = 2
	optString          = 3
)

// User is the person who acts.
type User struct {
	ID         string
	Username   string
	GlobalName string
	// Nick is their nickname in the guild; Roles their role IDs there.
	Nick  string
	Roles []string
}

// Opt is an option of a slash command.
type Opt struct {
	Name    string
	Value   string
	Focused bool
}

// Interaction is one interaction as Discord sends it.
type Interaction struct {
	Type int
	// ID and Token are made up when empty (and then kept, so a test can find the follow-ups).
	ID, Token string
	User      User
	// DM sends it from a direct message (user at the top level, no guild) instead of the guild.
	DM        bool
	ChannelID string
	// Data is the interaction's data, as documented for its type.
	Data map[string]any
	// Message is the message a clicked button is on.
	Message map[string]any
}

func random(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func randomSnowflake() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return strconv.FormatUint(n%8_000_000_000_000_000_000+1_000_000_000_000_000_000, 10)
}

// JSON is the interaction's payload, as Discord posts it.
func (i *Interaction) JSON() []byte {
	if i.ID == "" {
		i.ID = randomSnowflake()
	}
	if i.Token == "" {
		i.Token = random("aW50ZXJhY3Rpb246", 24)
	}
	channel := i.ChannelID
	if channel == "" {
		channel = "400000000000000001"
	}
	user := map[string]any{"id": i.User.ID, "username": i.User.Username, "global_name": nullable(i.User.GlobalName),
		"discriminator": "0", "avatar": nil}
	p := map[string]any{
		"id": i.ID, "application_id": ApplicationID, "type": i.Type, "token": i.Token, "version": 1,
		"locale": "en-US", "app_permissions": "2248473465835073", "entitlements": []any{},
	}
	if i.Type != TypePing {
		p["channel_id"] = channel
		p["channel"] = map[string]any{"id": channel, "type": 0}
		if i.DM {
			p["user"] = user
			p["context"] = 1
			p["channel"] = map[string]any{"id": channel, "type": 1}
		} else {
			roles := i.User.Roles
			if roles == nil {
				roles = []string{}
			}
			p["guild_id"] = GuildID
			p["guild_locale"] = "en-US"
			p["context"] = 0
			p["member"] = map[string]any{"user": user, "roles": roles, "nick": nullable(i.User.Nick),
				"joined_at": "2024-01-02T03:04:05.000000+00:00", "permissions": "2248473465835073", "deaf": false,
				"mute": false, "flags": 0}
		}
	}
	if i.Data != nil {
		p["data"] = i.Data
	}
	if i.Message != nil {
		p["message"] = i.Message
	}
	b, _ := json.Marshal(p)
	return b
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Ping is Discord's check of the endpoint.
func Ping() *Interaction { return &Interaction{Type: TypePing} }

// Command is `/access <sub> <options>`; sub may name a group and its subcommand ("ssh-key add").
func Command(u User, sub string, opts ...Opt) *Interaction {
	return &Interaction{Type: TypeCommand, User: u, Data: commandData(sub, opts)}
}

// Autocomplete is Discord asking for the completions of the option marked Focused.
func Autocomplete(u User, sub string, opts ...Opt) *Interaction {
	return &Interaction{Type: TypeAutocomplete, User: u, Data: commandData(sub, opts)}
}

func commandData(sub string, opts []Opt) map[string]any {
	var options []any
	for _, o := range opts {
		m := map[string]any{"name": o.Name, "type": optString, "value": o.Value}
		if o.Focused {
			m["focused"] = true
		}
		options = append(options, m)
	}
	if options == nil {
		options = []any{}
	}
	words := strings.Fields(sub)
	var top map[string]any
	switch len(words) {
	case 0:
		return map[string]any{"id": "500000000000000001", "name": "access", "type": 1}
	case 1:
		top = map[string]any{"name": words[0], "type": optSubCommand, "options": options}
	default:
		top = map[string]any{"name": words[0], "type": optSubCommandGroup, "options": []any{
			map[string]any{"name": words[1], "type": optSubCommand, "options": options}}}
	}
	return map[string]any{"id": "500000000000000001", "name": "access", "type": 1, "options": []any{top}}
}

// Click is a click on the button with customID, on a message in a channel.
func Click(u User, channelID, messageID, customID string) *Interaction {
	return &Interaction{Type: TypeComponent, User: u, ChannelID: channelID,
		Data: map[string]any{"custom_id": customID, "component_type": 2},
		Message: map[string]any{"id": messageID, "channel_id": channelID, "type": 0, "content": "",
			"author": map[string]any{"id": BotUserID, "username": "accessbot", "bot": true, "discriminator": "0"},
			"embeds": []any{}, "components": []any{}, "flags": 0}}
}

// ModalSubmit is a submitted modal: its custom_id and the text inputs' values by custom_id.
func ModalSubmit(u User, customID string, values map[string]string) *Interaction {
	ids := make([]string, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	rows := []any{}
	for _, id := range ids {
		rows = append(rows, map[string]any{"type": 1, "components": []any{
			map[string]any{"type": 4, "custom_id": id, "value": values[id]}}})
	}
	return &Interaction{Type: TypeModalSubmit, User: u, Data: map[string]any{"custom_id": customID, "components": rows}}
}
