package slack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// PlatformName is the platform's name in MessageRefs, Actors and audit events.
const PlatformName = "slack"

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = slackapi.APIURL

// RequiredScopes are the bot token scopes the code uses; the app manifest must ask for them.
var RequiredScopes = []string{
	"commands",         // the /access slash command
	"chat:write",       // chat.postMessage, chat.update, chat.postEphemeral
	"im:write",         // conversations.open for DMs
	"users:read",       // users.info
	"users:read.email", // the email in users.info, which is a person's accessbot ID
	"usergroups:read",  // usergroups.list, usergroups.users.list for "@handle" approver groups
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// BotToken (xoxb-...) authenticates every Web API call. Required.
	BotToken string
	// APIURL is the Web API base URL (DefaultAPIURL when empty): a proxy, or a test's fake.
	APIURL string
	// HTTPClient makes the calls; nil means one with connection and overall timeouts.
	HTTPClient *http.Client
	// CallTimeout bounds each Web API call whose context has no earlier deadline (10s when 0).
	CallTimeout time.Duration
	// UserTTL is how long a user's profile is cached (10m when 0).
	UserTTL time.Duration
	// GroupTTL is how long user group handles and members are cached (5m when 0).
	GroupTTL time.Duration
	// Clock tells the time for the caches (the wall clock when nil).
	Clock clock.Clock
	Log   zerolog.Logger
	// Identity says which Slack users accessbot acts for; the zero value accepts members of
	// the bot token's own workspace who are not guests and whose email is not unconfirmed.
	Identity IdentityPolicy
	// Rates are the limits the outbox keeps to; the zero value is DefaultRates.
	Rates Rates
}

// Client talks to the Slack Web API. It is the bot.Platform the outbox delivers through, and it
// knows who people are (Actor) and which user groups they belong to (MemberOf).
type Client struct {
	api         *slackapi.Client
	http        *http.Client
	apiURL      string
	botToken    string
	callTimeout time.Duration
	clock       clock.Clock
	log         zerolog.Logger
	users       *userCache
	groups      *groupCache
	identity    IdentityPolicy

	rates Rates

	// imMu guards ims, the DM conversation of each user DMed (conversations.open's answer,
	// which does not change), so that a DM costs one call, not two.
	imMu sync.Mutex
	ims  map[string]string

	// teamMu guards team, the bot token's workspace once auth.test named it.
	teamMu sync.Mutex
	team   string

	// mentionIDs keeps users.lookupByEmail's answers for the people messages call on.
	mentionIDs mentionCache
}

// NewClient returns a Client. It does not contact Slack; Check does.
func NewClient(o ClientOptions) (*Client, error) {
	if o.BotToken == "" {
		return nil, errors.New("slack: a bot token is required")
	}
	if o.APIURL == "" {
		o.APIURL = DefaultAPIURL
	}
	u, err := url.Parse(o.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("slack: api url %q is not an absolute http(s) URL", o.APIURL)
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		// slack-go appends the method name to the base URL as it is.
		o.APIURL += "/"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = newHTTPClient()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.UserTTL <= 0 {
		o.UserTTL = 10 * time.Minute
	}
	if o.GroupTTL <= 0 {
		o.GroupTTL = 5 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Rates == (Rates{}) {
		o.Rates = DefaultRates()
	}
	c := &Client{
		rates:       o.Rates,
		ims:         map[string]string{},
		api:         slackapi.New(o.BotToken, slackapi.OptionAPIURL(o.APIURL), slackapi.OptionHTTPClient(o.HTTPClient)),
		http:        o.HTTPClient,
		apiURL:      o.APIURL,
		botToken:    o.BotToken,
		callTimeout: o.CallTimeout,
		clock:       o.Clock,
		log:         o.Log,
		identity:    o.Identity,
	}
	c.users = newUserCache(c, o.UserTTL)
	c.groups = newGroupCache(c, o.GroupTTL)
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

// Name is "slack".
func (c *Client) Name() string { return PlatformName }

// Post posts v to a channel (an ID, or #name for a public channel) with chat.postMessage.
func (c *Client) Post(ctx context.Context, channel string, v bot.View) (bot.MessageRef, error) {
	return c.post(ctx, channel, postKey(channel), v)
}

// post posts v with chat.postMessage; key is the bucket a 429 holds back.
func (c *Client) post(ctx context.Context, channel, key string, v bot.View) (bot.MessageRef, error) {
	opts, err := messageOptions(v, c.mentions(ctx, v.Notify)...)
	if err != nil {
		return bot.MessageRef{}, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	ch, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return bot.MessageRef{}, deliveryError(fmt.Sprintf("slack chat.postMessage to %s", channel), key, err)
	}
	if ch == "" {
		ch = channel
	}
	return bot.MessageRef{Platform: PlatformName, Channel: ch, ID: ts}, nil
}

// Update replaces a message posted before with chat.update.
func (c *Client) Update(ctx context.Context, ref bot.MessageRef, v bot.View) error {
	opts, err := messageOptions(v, c.mentions(ctx, v.Notify)...)
	if err != nil {
		return err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if _, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.ID, opts...); err != nil {
		return deliveryError(fmt.Sprintf("slack chat.update of %s in %s", ref.ID, ref.Channel), updateKey, err)
	}
	return nil
}

// DM sends v to a person: conversations.open for the direct message channel (once per person:
// the answer is kept), then chat.postMessage there.
func (c *Client) DM(ctx context.Context, userID string, v bot.View) (bot.MessageRef, error) {
	if err := checkSecret(v); err != nil {
		return bot.MessageRef{}, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	ch, ok := c.imChannel(userID)
	if !ok {
		opened, _, _, err := c.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{userID}})
		if err != nil {
			return bot.MessageRef{}, deliveryError(fmt.Sprintf("slack conversations.open with %s", userID), openKey, err)
		}
		if opened == nil || opened.ID == "" {
			return bot.MessageRef{}, fmt.Errorf("slack conversations.open with %s: no channel in the answer", userID)
		}
		ch = opened.ID
		c.keepIMChannel(userID, ch)
	}
	ref, err := c.post(ctx, ch, dmPostKey(userID), v)
	if err != nil && errors.Is(err, bot.ErrPermanent) {
		// A conversation kept that no longer works is opened again next time.
		c.keepIMChannel(userID, "")
	}
	return ref, err
}

// postEphemeral shows v to one person in a channel with chat.postEphemeral.
func (c *Client) postEphemeral(ctx context.Context, channel, userID string, v bot.View) error {
	opts, err := messageOptions(v)
	if err != nil {
		return err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if _, err := c.api.PostEphemeralContext(ctx, channel, userID, opts...); err != nil {
		return deliveryError(fmt.Sprintf("slack chat.postEphemeral to %s in %s", userID, channel), "", err)
	}
	return nil
}

// openModal opens f with views.open; triggerID comes from the command or click, and is valid
// for three seconds.
func (c *Client) openModal(ctx context.Context, triggerID string, f bot.Form) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if _, err := c.api.OpenViewContext(ctx, triggerID, Modal(f)); err != nil {
		return fmt.Errorf("slack views.open for form %s: %w", f.ID, err)
	}
	return nil
}

// Check calls auth.test: the token works and the API is reachable. It is for /readyz and start.
func (c *Client) Check(ctx context.Context) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if _, err := c.api.AuthTestContext(ctx); err != nil {
		return fmt.Errorf("slack auth.test: %w", err)
	}
	return nil
}

// deadline bounds a call to CallTimeout unless ctx already ends sooner.
func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= c.callTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.callTimeout)
}

// messageOptions are the arguments of a message showing v; a View whose Secret Slack could not
// show whole is refused (bot.ErrSecretTooLong) before anything is sent.
func messageOptions(v bot.View, mentions ...string) ([]slackapi.MsgOption, error) {
	if err := checkSecret(v); err != nil {
		return nil, err
	}
	return []slackapi.MsgOption{
		slackapi.MsgOptionText(withMentions(Text(v), mentions), false),
		slackapi.MsgOptionBlocks(append(Blocks(v), mentionBlock(mentions)...)...),
		slackapi.MsgOptionDisableLinkUnfurl(),
	}, nil
}

// permanentErrors are Slack error codes that retrying the same call will not fix.
var permanentErrors = map[string]bool{
	"channel_not_found":       true,
	"not_in_channel":          true,
	"is_archived":             true,
	"invalid_auth":            true,
	"not_authed":              true,
	"account_inactive":        true,
	"token_revoked":           true,
	"token_expired":           true,
	"no_permission":           true,
	"missing_scope":           true,
	"restricted_action":       true,
	"message_not_found":       true,
	"cant_update_message":     true,
	"edit_window_closed":      true,
	"invalid_blocks":          true,
	"invalid_blocks_format":   true,
	"msg_too_long":            true,
	"msg_blocks_too_long":     true,
	"user_not_found":          true,
	"user_not_visible":        true,
	"user_disabled":           true,
	"cannot_dm_bot":           true,
	"team_access_not_granted": true,
	"ekm_access_denied":       true,
}

// deliveryError maps a Web API failure to what the outbox understands: a *bot.RetryAfterError
// for a 429 (for the bucket key: Slack limits each method, and posts per channel, apart),
// bot.ErrPermanent for what retrying will not fix, and the error as it is otherwise.
func deliveryError(what, key string, err error) error {
	if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
		after := rl.RetryAfter
		if after < time.Second {
			after = time.Second
		}
		return &bot.RetryAfterError{After: after, Key: key, Err: fmt.Errorf("%s: %w", what, err)}
	}
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); ok && permanentErrors[se.Err] {
		return fmt.Errorf("%s: %w: %w", what, bot.ErrPermanent, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Actor returns the person behind a Slack user ID: ID is their lowercase email (or
// "slack:<user ID>" when Slack shows none), with their name. A user the IdentityPolicy does not
// accept gets a *RefusedError. Profiles and refusals are cached for UserTTL.
func (c *Client) Actor(ctx context.Context, userID string) (grants.Actor, error) {
	return c.users.actor(ctx, userID)
}

// MemberOf reports whether a Slack user belongs to a Slack user group named "@handle". Other
// names, and actors from other platforms, are never members here. Handles and memberships are
// cached for GroupTTL; an unknown handle is no one's group (and logged).
func (c *Client) MemberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	return c.groups.memberOf(ctx, a, group)
}

// Directory returns base's directory extended with Slack user groups: base answers first, and
// for "@handle" groups Slack answers when base says no. base may be nil.
func (c *Client) Directory(base grants.Directory) grants.Directory {
	return bot.PlatformDirectory(base, "@", c)
}

var (
	_ bot.Platform     = (*Client)(nil)
	_ grants.Directory = (*Client)(nil)
)
