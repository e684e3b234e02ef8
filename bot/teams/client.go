package teams

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

const (
	// DefaultServiceURL is the Bot Connector's global service URL for Teams, through which
	// proactive messages reach any region.
	DefaultServiceURL = "https://smba.trafficmanager.net/teams/"
	// TokenScope is the scope of the connector's client-credentials token.
	TokenScope = "https://api.botframework.com/.default"
	// DefaultCallTimeout bounds one connector call.
	DefaultCallTimeout = 10 * time.Second
	// tokenEarly is how long before its expiry a token is replaced.
	tokenEarly = 5 * time.Minute
	// maxMessageBytes is the size of a message Teams accepts for sure: the limit is about
	// 100 KB of the payload encoded as UTF-16, base64 images not counted, and Microsoft
	// advises staying within 80 KB.
	maxMessageBytes = 80 * 1024
	// maxAnswer bounds what is read of a connector answer.
	maxAnswer = 1 << 20
)

// DefaultTokenURL returns the token endpoint of a single-tenant bot registered in tenant.
func DefaultTokenURL(tenant string) string {
	return "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// AppID and AppPassword are the bot's Microsoft App ID and client secret.
	AppID       string
	AppPassword string
	// TenantID is the bot's home tenant: where personal conversations are created.
	TenantID string
	// TokenURL is the OAuth token endpoint (DefaultTokenURL(TenantID) when empty).
	TokenURL string
	// ServiceURL is the connector's base URL (DefaultServiceURL when empty).
	ServiceURL string
	// GraphURL is Microsoft Graph's base URL (DefaultGraphURL when empty), where entra-group:
	// groups are read.
	GraphURL string
	// Identity says which Teams users accessbot acts for.
	Identity IdentityPolicy
	// MemberTTL is how long what the member API said of a user is kept (DefaultMemberTTL
	// when 0).
	MemberTTL time.Duration
	// HTTP makes the calls (one with the call timeout when nil).
	HTTP        *http.Client
	CallTimeout time.Duration
	Clock       clock.Clock
	Log         zerolog.Logger
}

// Client is the Bot Connector REST client: it posts, updates and sends personal messages for
// the outbox (bot.Platform), and reads users through the member API.
type Client struct {
	appID       string
	tenant      string
	serviceURL  string
	http        *http.Client
	tokens      oauth2.TokenSource
	graphURL    string
	graphTokens oauth2.TokenSource
	groups      *groupCache
	callTimeout time.Duration
	clock       clock.Clock
	log         zerolog.Logger
	identity    IdentityPolicy
	members     *memberCache

	convMu sync.Mutex
	convs  map[string]string // Teams user ID -> personal conversation ID

	// seen are the Teams users who used accessbot lately, for the refresh of approval cards.
	seen *seenUsers
	// mayReview says whether someone may decide a request (grants.Service.MayReview); nil:
	// approval cards carry no refresh.
	mayReview func(ctx context.Context, a grants.Actor, requestID string) (bool, error)
}

// NewClient returns a Client. It does no I/O: the first token is fetched with the first call.
func NewClient(o ClientOptions) (*Client, error) {
	if o.AppID == "" || o.AppPassword == "" || o.TenantID == "" {
		return nil, errors.New("teams: the app ID, app password and tenant ID are required")
	}
	if o.ServiceURL == "" {
		o.ServiceURL = DefaultServiceURL
	}
	if !strings.HasSuffix(o.ServiceURL, "/") {
		o.ServiceURL += "/"
	}
	if o.TokenURL == "" {
		o.TokenURL = DefaultTokenURL(o.TenantID)
	}
	if o.GraphURL == "" {
		o.GraphURL = DefaultGraphURL
	}
	if !strings.HasSuffix(o.GraphURL, "/") {
		o.GraphURL += "/"
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: o.CallTimeout}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	cc := clientcredentials.Config{ClientID: o.AppID, ClientSecret: o.AppPassword, TokenURL: o.TokenURL,
		Scopes: []string{TokenScope}, AuthStyle: oauth2.AuthStyleInParams}
	// The token source keeps this context for its fetches: it carries only the HTTP client,
	// whose timeout bounds each fetch.
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, o.HTTP)
	c := &Client{
		appID: o.AppID, tenant: o.TenantID, serviceURL: o.ServiceURL, http: o.HTTP,
		tokens:      oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(tctx), tokenEarly),
		callTimeout: o.CallTimeout, clock: o.Clock, log: o.Log.With().Str("platform", PlatformName).Logger(),
		identity: o.Identity, convs: map[string]string{}, seen: newSeenUsers(maxSeenUsers),
	}
	c.members = newMemberCache(c, o.MemberTTL, o.Clock)
	gc := cc
	gc.Scopes = []string{GraphScope}
	c.graphURL, c.graphTokens = o.GraphURL, oauth2.ReuseTokenSourceWithExpiry(nil, gc.TokenSource(tctx), tokenEarly)
	c.groups = &groupCache{ttl: c.members.ttl, clock: o.Clock, entries: map[string]groupEntry{}}
	return c, nil
}

// UseReviewers lets approval cards carry a refresh for the Teams users who may decide them (and
// for their requester), so that each sees the buttons they may use. Set it before the first
// post.
func (c *Client) UseReviewers(mayReview func(ctx context.Context, a grants.Actor, requestID string) (bool, error)) {
	c.mayReview = mayReview
}

// Name implements bot.Platform.
func (c *Client) Name() string { return PlatformName }

// Post posts v to a conversation (a channel's, or a personal one).
func (c *Client) Post(ctx context.Context, conversation string, v bot.View) (bot.MessageRef, error) {
	act, err := c.message(ctx, v)
	if err != nil {
		return bot.MessageRef{}, err
	}
	id, err := c.send(ctx, conversation, act)
	if err != nil {
		return bot.MessageRef{}, err
	}
	return bot.MessageRef{Platform: PlatformName, Channel: conversation, ID: id}, nil
}

// send posts an activity to a conversation and returns its ID.
func (c *Client) send(ctx context.Context, conversation string, act Activity) (string, error) {
	if err := checkID(conversation); err != nil {
		return "", fmt.Errorf("teams send: %w: %w", bot.ErrPermanent, err)
	}
	var out struct {
		ID string `json:"id"`
	}
	path := "v3/conversations/" + url.PathEscape(conversation) + "/activities"
	if err := c.call(ctx, http.MethodPost, path, act, &out); err != nil {
		return "", deliveryError("send to conversation", err)
	}
	return out.ID, nil
}

// Update replaces a message posted before (PUT the activity): for everyone who sees it.
func (c *Client) Update(ctx context.Context, ref bot.MessageRef, v bot.View) error {
	if err := checkID(ref.Channel); err != nil {
		return fmt.Errorf("teams update: %w: %w", bot.ErrPermanent, err)
	}
	if err := checkID(ref.ID); err != nil {
		return fmt.Errorf("teams update: %w: %w", bot.ErrPermanent, err)
	}
	act, err := c.message(ctx, v)
	if err != nil {
		return err
	}
	act.ID = ref.ID
	path := "v3/conversations/" + url.PathEscape(ref.Channel) + "/activities/" + url.PathEscape(ref.ID)
	if err := c.call(ctx, http.MethodPut, path, act, nil); err != nil {
		return deliveryError("update activity", err)
	}
	return nil
}

// DM sends v to a person in their personal chat with the bot, which is created (or found: Teams
// answers with the existing one) first.
func (c *Client) DM(ctx context.Context, userID string, v bot.View) (bot.MessageRef, error) {
	// Rendered first: a secret over the size limit is refused before any call.
	act, err := c.message(ctx, v)
	if err != nil {
		return bot.MessageRef{}, err
	}
	conv, err := c.personalConversation(ctx, userID)
	if err != nil {
		return bot.MessageRef{}, err
	}
	id, err := c.send(ctx, conv, act)
	if err != nil {
		return bot.MessageRef{}, err
	}
	return bot.MessageRef{Platform: PlatformName, Channel: conv, ID: id}, nil
}

// personalConversation returns the personal conversation of the bot with a user.
func (c *Client) personalConversation(ctx context.Context, userID string) (string, error) {
	if err := checkID(userID); err != nil {
		return "", fmt.Errorf("teams create conversation: %w: %w", bot.ErrPermanent, err)
	}
	c.convMu.Lock()
	conv := c.convs[userID]
	c.convMu.Unlock()
	if conv != "" {
		return conv, nil
	}
	body := map[string]any{
		"bot":         Account{ID: "28:" + c.appID},
		"members":     []Account{{ID: userID}},
		"channelData": ChannelData{Tenant: &Tenant{ID: c.tenant}},
		"tenantId":    c.tenant,
		"isGroup":     false,
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "v3/conversations", body, &out); err != nil {
		return "", deliveryError("create conversation", err)
	}
	if checkID(out.ID) != nil {
		return "", errors.New("teams create conversation: the connector named no conversation")
	}
	c.convMu.Lock()
	c.convs[userID] = out.ID
	c.convMu.Unlock()
	return out.ID, nil
}

// Upload posts a file's picture (the digest's chart) as a card with the image inline, as a
// data: URI, which Teams shows and does not count in a message's size.
func (c *Client) Upload(ctx context.Context, conversation, filename string, data []byte, title string) error {
	card := newCard()
	card.Body = append(card.Body, Element{Type: "TextBlock", Text: escape(title), Weight: "Bolder", Wrap: true},
		Element{Type: "Image", URL: "data:" + http.DetectContentType(data) + ";base64," + base64.StdEncoding.EncodeToString(data), AltText: filename})
	_, err := c.send(ctx, conversation, cardMessage(card, title))
	return err
}

// message renders v as a message with its card, checked against Teams' size limit.
func (c *Client) message(ctx context.Context, v bot.View) (Activity, error) {
	card := Render(v)
	if id := ApprovalRequest(v); id != "" {
		card = WithRefresh(card, id, c.refreshUsers())
	}
	act := cardMessage(card, v.Title)
	b, err := json.Marshal(act)
	if err != nil {
		return Activity{}, fmt.Errorf("teams: encode the message: %w", err)
	}
	if utf16Size(b) > maxMessageBytes {
		if v.Secret != nil {
			return Activity{}, bot.ErrSecretTooLong
		}
		return Activity{}, fmt.Errorf("teams: the message is over Teams' size limit: %w", bot.ErrPermanent)
	}
	return act, nil
}

// cardMessage is a message activity carrying one card; summary is what notifications show.
func cardMessage(card Card, summary string) Activity {
	return Activity{Type: ActivityMessage, Summary: summary, Attachments: []Attachment{{ContentType: ContentTypeCard, Content: card}}}
}

// utf16Size is the size of b's text encoded as UTF-16, as Teams counts a message.
func utf16Size(b []byte) int {
	return 2 * len(utf16.Encode([]rune(string(b))))
}

// refreshUsers returns the Teams users who used accessbot lately, most recent first, at most
// 60: Teams refreshes the card for each of them, and the refresh shows each the buttons they
// may use (approvalCard). Without a way to tell who may decide, there is no refresh.
func (c *Client) refreshUsers() []string {
	if c.mayReview == nil {
		return nil
	}
	var out []string
	for _, a := range c.seen.list() {
		out = append(out, a.PlatformID)
		if len(out) == maxRefreshUsers {
			break
		}
	}
	return out
}

// checkID refuses an ID that could not be a Teams conversation, activity or user ID, before it
// goes into a URL path.
func checkID(id string) error {
	if id == "" || len(id) > 1024 || strings.ContainsAny(id, "/\\?#\r\n\t ") {
		return fmt.Errorf("%q is not a Teams ID", id)
	}
	return nil
}

// APIError is a connector answer that is not a success.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s (%s)", e.Status, http.StatusText(e.Status), e.Message, e.Code)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// RateLimitError is a 429: wait RetryAfter.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("429 rate limited, retry after %s", e.RetryAfter)
}

// call makes one connector call with the bot's token.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, c.tokens, c.serviceURL, method, path, body, out)
}

// do makes one call to base+path with a token of tokens (the connector's, or Graph's).
func (c *Client) do(ctx context.Context, tokens oauth2.TokenSource, base, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	tok, err := tokens.Token()
	if err != nil {
		return fmt.Errorf("get a token for %s: %w", base, tokenError(err))
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return &RateLimitError{RetryAfter: retryAfter(resp.Header)}
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		} else {
			e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return e
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
}

// tokenError keeps the token endpoint's error code and drops its body, which may echo what
// was sent.
func tokenError(err error) error {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("token endpoint answered HTTP %d %s", status, re.ErrorCode)
	}
	return err
}

// retryAfter reads Retry-After in seconds; at least a second.
func retryAfter(h http.Header) time.Duration {
	after := time.Second
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		after = time.Duration(s) * time.Second
	}
	return after
}

// deliveryError maps a connector failure to what the outbox understands: a 429 is a
// *bot.RetryAfterError (every call waits: the connector's limits are per bot and
// conversation, and it says which only by answering 429), what retrying will not fix is
// bot.ErrPermanent, the rest is retried.
func deliveryError(route string, err error) error {
	if rl, ok := errors.AsType[*RateLimitError](err); ok {
		return &bot.RetryAfterError{After: rl.RetryAfter, Err: fmt.Errorf("teams %s: %w", route, err)}
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		switch ae.Status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			return fmt.Errorf("teams %s: %w: %w", route, bot.ErrPermanent, err)
		}
	}
	return fmt.Errorf("teams %s: %w", route, err)
}

var _ bot.Platform = (*Client)(nil)
var _ bot.FileUploader = (*Client)(nil)
