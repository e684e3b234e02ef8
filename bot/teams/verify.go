package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

// DefaultIssuer is the issuer of the tokens the Bot Framework sends to bots.
const DefaultIssuer = "https://api.botframework.com"

// DefaultLeeway is the clock skew allowed on a token's exp and nbf.
const DefaultLeeway = 5 * time.Minute

// Why a request was refused. Verify returns or wraps one of these; none of them includes the
// token.
var (
	ErrMissingToken   = fmt.Errorf("no Bearer token: %w", bot.ErrMissingSignature)
	ErrMalformedToken = fmt.Errorf("not a JWT signed with RS256: %w", bot.ErrMalformed)
	ErrBadSignature   = bot.ErrBadSignature
	ErrExpired        = fmt.Errorf("token expired or not yet valid: %w", bot.ErrStale)
	ErrIssuer         = errors.New("token from another issuer")
	ErrAudience       = errors.New("token for another bot (audience)")
	ErrServiceURL     = errors.New("the token's serviceurl is not the activity's")
	ErrNotEndorsed    = errors.New("the signing key is not endorsed for the activity's channel")
	ErrTenant         = errors.New("the activity's tenant is not allowed")
	ErrNoAppID        = errors.New("no app ID configured")
)

// Verifier checks the JWT of a Bot Framework request as the Bot Framework documents it
// ("Authenticate requests from the Bot Connector service to your bot"): signed with RS256 by a
// key of the OpenID metadata's JWKS, that key endorsed for the activity's channel, issued by
// the Bot Framework for this bot (audience = the app ID), within its validity give or take
// Leeway, with a serviceurl claim equal to the activity's serviceUrl; and the activity comes
// from an allowed tenant. The token does not cover the body, so the body is read as far as
// these fields before anything else of it is.
//
// There is no replay check: the Bot Framework reuses one token for every request to the bot
// until it expires, so a token seen twice is the norm. A captured request can be replayed
// within the token's life (an hour); what it carries is then decided again from the current
// state, and each action is one that its person could take again (a click on a decided request
// is refused).
type Verifier struct {
	// AppID is the bot's Microsoft App ID: the tokens' audience.
	AppID string
	// Issuer is the tokens' issuer (DefaultIssuer when empty).
	Issuer string
	// Keys are the signing keys.
	Keys *KeySet
	// Tenants are the Entra ID tenant IDs whose activities are accepted (compared without
	// regard to case). Empty refuses every activity.
	Tenants []string
	// Leeway is the clock skew allowed (DefaultLeeway when 0, at most 5 minutes).
	Leeway time.Duration
	// Clock tells the time (the wall clock when nil).
	Clock clock.Clock
}

// activityHead is what verification reads of an activity.
type activityHead struct {
	ServiceURL   string       `json:"serviceUrl"`
	ChannelID    string       `json:"channelId"`
	ChannelData  *ChannelData `json:"channelData"`
	Conversation *struct {
		TenantID string `json:"tenantId"`
	} `json:"conversation"`
}

// tokenClaims are the Bot Framework's claims beside the registered ones.
type tokenClaims struct {
	ServiceURL string `json:"serviceurl"`
}

// Verify checks the Authorization header of a request against its body. It returns nil only
// for a request the Bot Framework signed for this bot, for an allowed tenant.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	if v.AppID == "" || v.Keys == nil {
		return ErrNoAppID
	}
	raw, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return ErrMissingToken
	}
	tok, err := jwt.ParseSigned(strings.TrimSpace(raw), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return ErrMalformedToken
	}
	key, err := v.Keys.Key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return err
	}
	var std jwt.Claims
	var bf tokenClaims
	if err := tok.Claims(key.key.Key, &std, &bf); err != nil {
		return ErrBadSignature
	}
	if err := v.checkClaims(std); err != nil {
		return err
	}
	var head activityHead
	if err := json.Unmarshal(body, &head); err != nil {
		return fmt.Errorf("the body is not an activity: %w", bot.ErrMalformed)
	}
	if bf.ServiceURL == "" || bf.ServiceURL != head.ServiceURL {
		return ErrServiceURL
	}
	if head.ChannelID == "" || !key.endorses(head.ChannelID) {
		return ErrNotEndorsed
	}
	tenant := ""
	if head.ChannelData != nil && head.ChannelData.Tenant != nil {
		tenant = head.ChannelData.Tenant.ID
	}
	if tenant == "" && head.Conversation != nil {
		tenant = head.Conversation.TenantID
	}
	if !v.tenantAllowed(tenant) {
		return ErrTenant
	}
	return nil
}

// checkClaims checks issuer, audience and validity; exp is required.
func (v *Verifier) checkClaims(c jwt.Claims) error {
	issuer := v.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	leeway := v.Leeway
	if leeway <= 0 || leeway > DefaultLeeway {
		leeway = DefaultLeeway
	}
	if c.Expiry == nil {
		return ErrExpired
	}
	err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{v.AppID}, Time: bot.Now(v.Clock)}, leeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrExpired), errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return ErrExpired
	}
	return ErrMalformedToken
}

// tenantAllowed reports whether the tenant is on the allow-list.
func (v *Verifier) tenantAllowed(tenant string) bool {
	return tenant != "" && slices.ContainsFunc(v.Tenants, func(t string) bool { return strings.EqualFold(t, tenant) })
}

var _ bot.SignatureVerifier = (*Verifier)(nil)
