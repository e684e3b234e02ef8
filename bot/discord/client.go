package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// PlatformName is the platform's name in MessageRefs, Actors and audit events.
const PlatformName = "discord"

// DefaultAPIURL is Discord's REST API, version 10.
const DefaultAPIURL = "https://discord.com/api/v10"

// userAgent is the User-Agent Discord asks bots to send: "DiscordBot ($url, $version)".
const userAgent = "DiscordBot (https://github.com/accessbot/accessbot, 1)"

// RequiredPermissions are the bot permissions the code uses; the invite link asks for them.
// View Channel, Send Messages, Embed Links, Read Message History (to edit its own messages
// after a restart).
const RequiredPermissions = discordgo.PermissionViewChannel | discordgo.PermissionSendMessages |
	discordgo.PermissionEmbedLinks | discordgo.PermissionReadMessageHistory | discordgo.PermissionAttachFiles

// ClientOptions configure a Client.
type ClientOptions struct {
	// BotToken authenticates every REST call ("Authorization: Bot <token>"). Required.
	BotToken string
	// ApplicationID addresses commands and interaction follow-ups. Required.
	ApplicationID string
	// APIURL is the REST API base URL (DefaultAPIURL when empty): a proxy, or a test's fake.
	APIURL string
	// GuildID is the server where discord-role: groups are looked up.
	GuildID string
	// Users maps Discord user IDs to people (the config's discord.users).
	Users map[string]string
	// Links holds the links people asked for with `/access link`; nil means config only.
	Links bot.LinkStore
	// HTTPClient makes the calls; nil means one with connection and overall timeouts.
	HTTPClient *http.Client
	// CallTimeout bounds each call whose context has no earlier deadline (10s when 0).
	CallTimeout time.Duration
	// RoleTTL is how long the guild's roles and members' roles are cached (5m when 0).
	RoleTTL time.Duration
	// Clock tells the time for the caches (the wall clock when nil).
	Clock clock.Clock
	Log   zerolog.Logger
}

// Client talks to the Discord REST API. It is the bot.Platform the outbox delivers through, and
// it knows who people are (Actor) and which roles they have (MemberOf).
type Client struct {
	http        *http.Client
	apiURL      string
	botToken    string
	appID       string
	guildID     string
	users       map[string]string // Discord user ID -> person
	links       bot.LinkStore
	callTimeout time.Duration
	clock       clock.Clock
	log         zerolog.Logger
	roles       *roleCache

	dmMu sync.Mutex
	dms  map[string]string // user ID -> DM channel ID

	// limiter follows the per-route buckets Discord announces in its answers'
	// X-RateLimit-Remaining and -Reset-After headers (and a global 429's X-RateLimit-Global):
	// discordgo's, which waits for a bucket's reset before a call it has no room for.
	limiter *discordgo.RateLimiter
}

// NewClient returns a Client. It does not contact Discord; Check does.
func NewClient(o ClientOptions) (*Client, error) {
	if o.BotToken == "" {
		return nil, errors.New("discord: a bot token is required")
	}
	if o.ApplicationID == "" {
		return nil, errors.New("discord: an application ID is required")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(o.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("discord: api url %q is not an absolute http(s) URL", o.APIURL)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = newHTTPClient()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.RoleTTL <= 0 {
		o.RoleTTL = 5 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	users := make(map[string]string, len(o.Users))
	for id, person := range o.Users {
		// One normal form for people: a mapping to "slack:UNOMAIL" keeps the Slack ID's case.
		users[strings.TrimSpace(id)] = grants.CanonicalEntry(person)
	}
	c := &Client{
		http:        o.HTTPClient,
		apiURL:      strings.TrimRight(o.APIURL, "/"),
		botToken:    o.BotToken,
		appID:       o.ApplicationID,
		guildID:     o.GuildID,
		users:       users,
		links:       o.Links,
		callTimeout: o.CallTimeout,
		clock:       o.Clock,
		log:         o.Log.With().Str("platform", PlatformName).Logger(),
		dms:         map[string]string{},
		limiter:     discordgo.NewRatelimiter(),
	}
	c.roles = newRoleCache(c, o.RoleTTL)
	return c, nil
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 15 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		},
	}
}

// Name is "discord".
func (c *Client) Name() string { return PlatformName }

// ApplicationID is the application the client acts for.
func (c *Client) ApplicationID() string { return c.appID }

// APIURL is the REST API base URL the client calls.
func (c *Client) APIURL() string { return c.apiURL }

type messageRef struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id"`
}

// Post posts v to a channel: POST /channels/{channel}/messages.
// A View whose Secret goes as a file (SecretFile) is sent as multipart/form-data with the file.
func (c *Client) Post(ctx context.Context, channel string, v bot.View) (bot.MessageRef, error) {
	body, err := messageBody(v)
	if err != nil {
		return bot.MessageRef{}, err
	}
	return c.post(ctx, channel, c.withMentions(ctx, body, v))
}

// post posts a message body (messageBody's) to a channel.
func (c *Client) post(ctx context.Context, channel string, body any) (bot.MessageRef, error) {
	var m messageRef
	route := "POST /channels/" + channel + "/messages"
	if err := c.call(ctx, http.MethodPost, "/channels/"+url.PathEscape(channel)+"/messages", route, true, body, &m); err != nil {
		return bot.MessageRef{}, deliveryError(route, err)
	}
	if m.ChannelID == "" {
		m.ChannelID = channel
	}
	if m.ID == "" {
		return bot.MessageRef{}, fmt.Errorf("discord %s: no message ID in the answer", route)
	}
	return bot.MessageRef{Platform: PlatformName, Channel: m.ChannelID, ID: m.ID}, nil
}

var _ bot.FileUploader = (*Client)(nil)

// multipartBody is a request body sent as it is (a file upload), not as JSON.
type multipartBody struct {
	contentType string
	data        []byte
}

// Upload posts a file to a channel with title, escaped, as the message text: POST
// /channels/{channel}/messages as multipart/form-data, with payload_json and files[0], as
// Discord documents for attachments.
func (c *Client) Upload(ctx context.Context, channel, filename string, data []byte, title string) error {
	body, err := multipartMessage(map[string]any{
		"content":          Escape(title),
		"allowed_mentions": map[string]any{"parse": []string{}},
		"attachments":      []map[string]any{{"id": 0, "filename": filename}},
	}, filename, data)
	if err != nil {
		return err
	}
	route := "POST /channels/" + channel + "/messages"
	if err := c.call(ctx, http.MethodPost, "/channels/"+url.PathEscape(channel)+"/messages", route, true, body, nil); err != nil {
		return deliveryError(route, err)
	}
	return nil
}

// multipartMessage is a message with one file, as Discord documents attachments:
// multipart/form-data with the message's JSON as payload_json and the file as files[0].
func multipartMessage(payload any, filename string, data []byte) (*multipartBody, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	js, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	if err := w.WriteField("payload_json", string(js)); err != nil {
		return nil, err
	}
	fw, err := w.CreateFormFile("files[0]", filename)
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &multipartBody{contentType: w.FormDataContentType(), data: buf.Bytes()}, nil
}

// messageBody is what Post or Update sends for v: the rendered message as JSON, or, when v's
// Secret goes as a file, the message with that file as multipart/form-data. A Secret too long
// for a file Discord takes is refused (bot.ErrSecretTooLong) before anything is sent.
func messageBody(v bot.View) (any, error) {
	m := Render(v)
	if v.Secret == nil {
		return m, nil
	}
	name, ok := SecretFile(*v.Secret)
	if !ok {
		return m, nil
	}
	if n := len(v.Secret.Value); n > maxSecretFile {
		return nil, fmt.Errorf("discord: the secret %q is %d bytes, over the %d a file carries: %w",
			v.Secret.Label, n, maxSecretFile, bot.ErrSecretTooLong)
	}
	m.Attachments = []Attachment{{ID: 0, Filename: name}}
	return multipartMessage(m, name, []byte(v.Secret.Value))
}

// Update replaces a message posted before: PATCH /channels/{channel}/messages/{id}.
func (c *Client) Update(ctx context.Context, ref bot.MessageRef, v bot.View) error {
	body, err := messageBody(v)
	if err != nil {
		return err
	}
	route := "PATCH /channels/" + ref.Channel + "/messages/" + ref.ID
	path := "/channels/" + url.PathEscape(ref.Channel) + "/messages/" + url.PathEscape(ref.ID)
	if err := c.call(ctx, http.MethodPatch, path, route, true, c.forUpdate(ctx, body, v), nil); err != nil {
		return deliveryError(route, err)
	}
	return nil
}

// DM sends v to a person: POST /users/@me/channels for the DM channel (remembered), then a
// message there.
func (c *Client) DM(ctx context.Context, userID string, v bot.View) (bot.MessageRef, error) {
	body, err := messageBody(v)
	if err != nil {
		return bot.MessageRef{}, err
	}
	ch, err := c.dmChannel(ctx, userID)
	if err != nil {
		return bot.MessageRef{}, err
	}
	return c.post(ctx, ch, body)
}

func (c *Client) dmChannel(ctx context.Context, userID string) (string, error) {
	c.dmMu.Lock()
	ch := c.dms[userID]
	c.dmMu.Unlock()
	if ch != "" {
		return ch, nil
	}
	var out struct {
		ID string `json:"id"`
	}
	route := "POST /users/@me/channels for " + userID
	if err := c.call(ctx, http.MethodPost, "/users/@me/channels", route, true, map[string]string{"recipient_id": userID}, &out); err != nil {
		return "", deliveryError(route, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("discord %s: no channel in the answer", route)
	}
	c.dmMu.Lock()
	if len(c.dms) > 10_000 {
		clear(c.dms)
	}
	c.dms[userID] = out.ID
	c.dmMu.Unlock()
	return out.ID, nil
}

// Check calls GET /users/@me: the token works and the API is reachable.
func (c *Client) Check(ctx context.Context) error {
	var me struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, http.MethodGet, "/users/@me", "GET /users/@me", true, nil, &me); err != nil {
		return fmt.Errorf("discord GET /users/@me: %w", err)
	}
	return nil
}

// respond answers an interaction through the REST API (gateway mode, where there is no HTTP
// answer): POST /interactions/{id}/{token}/callback.
func (c *Client) respond(ctx context.Context, interactionID, token string, r Response) error {
	path := "/interactions/" + url.PathEscape(interactionID) + "/" + url.PathEscape(token) + "/callback"
	return c.call(ctx, http.MethodPost, path, "POST /interactions/"+interactionID+"/…/callback", false, r, nil)
}

// editOriginal replaces the answer to an interaction (after a deferred one):
// PATCH /webhooks/{application}/{token}/messages/@original.
func (c *Client) editOriginal(ctx context.Context, token string, m Message) error {
	path := "/webhooks/" + url.PathEscape(c.appID) + "/" + url.PathEscape(token) + "/messages/@original"
	return c.call(ctx, http.MethodPatch, path, "PATCH /webhooks/"+c.appID+"/…/messages/@original", false, m, nil)
}

// RegisterCommands replaces the application's commands with cmds: in the guild when guildID is
// set (available at once), else globally. PUT /applications/{app}[/guilds/{guild}]/commands.
func (c *Client) RegisterCommands(ctx context.Context, guildID string, cmds []*discordgo.ApplicationCommand) ([]*discordgo.ApplicationCommand, error) {
	path := "/applications/" + url.PathEscape(c.appID) + "/commands"
	route := "PUT /applications/" + c.appID + "/commands"
	if guildID != "" {
		path = "/applications/" + url.PathEscape(c.appID) + "/guilds/" + url.PathEscape(guildID) + "/commands"
		route = "PUT /applications/" + c.appID + "/guilds/" + guildID + "/commands"
	}
	var out []*discordgo.ApplicationCommand
	if err := c.call(ctx, http.MethodPut, path, route, true, cmds, &out); err != nil {
		return nil, fmt.Errorf("discord %s: %w", route, err)
	}
	return out, nil
}

// deadline bounds a call to CallTimeout unless ctx already ends sooner.
func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= c.callTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.callTimeout)
}

// APIError is an answer of the REST API that is not a success: its HTTP status and Discord's
// JSON error code (50001 Missing Access, 10008 Unknown Message...).
type APIError struct {
	Status  int
	Code    int
	Message string
}

func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%d %s: %s (code %d)", e.Status, http.StatusText(e.Status), e.Message, e.Code)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// RateLimitError is a 429 answer: wait RetryAfter before calling again.
type RateLimitError struct {
	RetryAfter time.Duration
	Global     bool
}

func (e *RateLimitError) Error() string {
	scope := "route"
	if e.Global {
		scope = "global"
	}
	return fmt.Sprintf("429 rate limited (%s), retry after %s", scope, e.RetryAfter)
}

// call makes one REST call; route names it in errors (without tokens). auth adds the bot
// token; interaction callbacks and webhooks are authorized by their token in the path.
func (c *Client) call(ctx context.Context, method, path, route string, auth bool, body, out any) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case *multipartBody:
		rd, contentType = bytes.NewReader(b.data), b.contentType
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", route, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.apiURL+path, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", route, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bot "+c.botToken)
	}
	req.Header.Set("User-Agent", userAgent)
	if auth {
		// Bot calls wait for room in their route's bucket. Interaction callbacks and webhooks
		// (auth false) are keyed by a token per interaction: buckets kept for them would only pile up.
		b := c.limiter.LockBucket(bucketKey(method, path))
		resp, err := c.http.Do(req)
		if err != nil {
			_ = b.Release(nil)
		} else {
			_ = b.Release(resp.Header)
		}
		return c.answer(route, resp, err, out)
	}
	resp, err := c.http.Do(req)
	return c.answer(route, resp, err, out)
}

// bucketKey names the rate-limit bucket of a bot call as Discord counts them: by route and its
// major parameter (the channel), with the message ID left out, since every message of a channel
// shares its bucket.
func bucketKey(method, path string) string {
	segs := strings.Split(path, "/")
	for i := 1; i < len(segs); i++ {
		if segs[i-1] == "messages" {
			segs[i] = "{message}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// answer reads the answer to a call made.
func (c *Client) answer(route string, resp *http.Response, err error, out any) error {
	if err != nil {
		// The URL may hold an interaction token: say only which route failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %w", route, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", route, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return rateLimit(resp.Header, data)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		var body struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &body) == nil && (body.Code != 0 || body.Message != "") {
			e.Code, e.Message = body.Code, body.Message
		} else {
			e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return e
	}
	if out != nil && resp.StatusCode != http.StatusNoContent && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", route, err)
		}
	}
	return nil
}

// rateLimit reads a 429: retry_after (seconds, fractional) in the body, else the Retry-After
// header; at least a second.
func rateLimit(h http.Header, body []byte) *RateLimitError {
	var rl struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	_ = json.Unmarshal(body, &rl)
	after := time.Duration(rl.RetryAfter * float64(time.Second))
	if after <= 0 {
		if s, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil && s > 0 && !math.IsInf(s, 0) {
			after = time.Duration(s * float64(time.Second))
		}
	}
	if after < time.Second {
		after = time.Second
	}
	return &RateLimitError{RetryAfter: after, Global: rl.Global || h.Get("X-RateLimit-Global") == "true"}
}

// permanentCodes are Discord JSON error codes that retrying the same call will not fix.
var permanentCodes = map[int]bool{
	10003: true, // Unknown Channel
	10004: true, // Unknown Guild
	10008: true, // Unknown Message
	10013: true, // Unknown User
	20001: true, // Bots cannot use this endpoint
	50001: true, // Missing Access
	50007: true, // Cannot send messages to this user
	50013: true, // Missing Permissions
	50035: true, // Invalid Form Body
	40005: true, // Request entity too large (a file over the upload limit)
}

// deliveryError maps a REST failure to what the outbox understands: a *bot.RetryAfterError for
// a 429, bot.ErrPermanent for what retrying will not fix (a missing channel, missing access, a
// user who does not accept DMs, a bad token), and the error as it is otherwise (5xx, network).
func deliveryError(route string, err error) error {
	if rl, ok := errors.AsType[*RateLimitError](err); ok {
		// A route's 429 holds back that route only (its bucket, which the limiter now knows
		// to be empty); a global one, every call.
		key := route
		if rl.Global {
			key = ""
		}
		return &bot.RetryAfterError{After: rl.RetryAfter, Key: key, Err: fmt.Errorf("discord %s: %w", route, err)}
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		if permanentCodes[ae.Code] || ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden ||
			ae.Status == http.StatusNotFound || ae.Status == http.StatusBadRequest ||
			ae.Status == http.StatusRequestEntityTooLarge {
			return fmt.Errorf("discord %s: %w: %w", route, bot.ErrPermanent, err)
		}
	}
	return fmt.Errorf("discord %s: %w", route, err)
}

var (
	_ bot.Platform     = (*Client)(nil)
	_ grants.Directory = (*Client)(nil)
)
