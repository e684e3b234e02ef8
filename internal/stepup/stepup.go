// Package stepup makes an approval count only after the approver logs in again at the
// company's OpenID Connect identity provider. A chat click says who clicked as far as the chat
// platform knows, and chat cannot enforce MFA; so for a resource with `step_up: oidc` the
// Approve button answers with a one-time link, the browser does the authorization code flow
// with PKCE (S256), state and nonce, and only an ID token that the provider signed, that names
// the person who clicked, that shows a fresh login (and MFA, when asked for) records the
// approval, through grants.Service.ApproveVerified.
//
// Everything between the click and the callback lives in the database (Store), so any replica
// can finish a login another started, and a crash loses at most a login to redo. The state is
// kept only as a hash; each link and each state is used once.
package stepup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/flood"
)

// Paths the Handler serves; the link and the provider's redirect point at them.
const (
	StartPath    = "/stepup/start"
	CallbackPath = "/stepup/callback"
)

// Attempt is one step-up: a link given to the person who clicked, then (once started) the
// login at the identity provider that must come back to the callback.
type Attempt struct {
	// LinkHash is the hex SHA-256 of the link's opaque ID; the ID itself is never stored.
	LinkHash  string
	RequestID string
	Decision  grants.Decision
	// Actor is who clicked, as the chat platform said: the login must be theirs.
	Actor         grants.Actor
	CreatedAt     time.Time
	LinkExpiresAt time.Time
	// StateHash is the hex SHA-256 of the OAuth state sent to the provider, once started.
	StateHash string
	// Nonce goes into the ID token; Verifier is the PKCE code verifier. Both are one-time
	// values of this login, useless without the provider's code, which only the callback sees.
	Nonce      string
	Verifier   string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Errors of Store.
var (
	// ErrNotFound: no attempt has that link or state (forged, or never issued).
	ErrNotFound = errors.New("no such step-up")
	// ErrUsed: the link was already opened, or the state already came back.
	ErrUsed = errors.New("step-up already used")
)

// Store keeps attempts; storage implements it (the stepup_attempts table, migration 0009).
type Store interface {
	// CreateStepUp stores a new attempt (not started).
	CreateStepUp(ctx context.Context, a Attempt) error
	// StartStepUp marks the attempt of the link started at `at` with the login's state hash,
	// nonce and verifier, once, and returns it. ErrNotFound for an unknown link; ErrUsed, with
	// the attempt, when it was already started.
	StartStepUp(ctx context.Context, linkHash, stateHash, nonce, verifier string, at time.Time) (Attempt, error)
	// FinishStepUp marks the attempt of the state finished at `at`, once, and returns it.
	// ErrNotFound for an unknown state; ErrUsed, with the attempt, when it already finished.
	FinishStepUp(ctx context.Context, stateHash string, at time.Time) (Attempt, error)
}

// Approver is the part of grants.Service that step-up uses.
type Approver interface {
	ApproveVerified(ctx context.Context, a grants.Actor, requestID string, p grants.Proof) (grants.Outcome, error)
	RefuseStepUp(ctx context.Context, a grants.Actor, requestID string, d grants.Decision, refused, detail, subject string)
}

// Options configure the relying party.
type Options struct {
	// Issuer is the provider's issuer URL (discovery at Issuer + /.well-known/openid-configuration).
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is accessbot's public base URL + /stepup/callback; links use the same base.
	RedirectURL string
	// Claim holds the person's address in the ID token; "email" (the default) also needs
	// email_verified true.
	Claim string
	// MaxAge is how old the login may be (auth_time); also sent as max_age. Default 5m.
	MaxAge time.Duration
	// RequireMFA refuses a login whose amr does not show a second factor.
	RequireMFA bool
	// ACRValues are sent as acr_values, and the token's acr must be one of them.
	ACRValues []string
	// LinkTTL is how long a link may wait to be opened. Default 5m.
	LinkTTL time.Duration
	// AuthTimeFromIAT takes the token's iat as the login time when the provider sends no
	// auth_time. Only for a provider that keeps no login session (every token follows a
	// password entry, as with Dex): elsewhere a token can be issued long after the login.
	AuthTimeFromIAT bool
	// HTTPClient talks to the provider; it should have a timeout. Default: 10s timeout.
	HTTPClient *http.Client
	Clock      clock.Clock
	Log        zerolog.Logger
}

// Defaults of Options.
const (
	DefaultMaxAge  = 5 * time.Minute
	DefaultLinkTTL = 5 * time.Minute
	DefaultClaim   = "email"
)

// Service issues links and serves the browser's part (Handler).
type Service struct {
	o       Options
	store   Store
	grants  Approver
	baseURL string

	// repeats bounds the audit events of forged and replayed links and states.
	repeats *flood.Gate

	mu       sync.Mutex
	provider *oidc.Provider
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New builds a Service. It does no I/O: the provider is discovered at the first login, so a
// provider that is down at start does not stop accessbot.
func New(o Options, store Store, approver Approver) (*Service, error) {
	if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
		return nil, errors.New("step-up needs an issuer, a client ID and a redirect URL")
	}
	u, err := url.Parse(o.RedirectURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("step-up redirect URL %q is not an absolute URL", o.RedirectURL)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), CallbackPath)
	if o.Claim == "" {
		o.Claim = DefaultClaim
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = DefaultLinkTTL
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	o.Log = o.Log.With().Str("component", "stepup").Logger()
	return &Service{o: o, store: store, grants: approver, baseURL: u.Scheme + "://" + u.Host + base,
		repeats: &flood.Gate{Max: RepeatRefusalsPerMinute}}, nil
}

// Link issues a one-time link for the actor to confirm decision d on the request by logging in
// at the identity provider, valid for LinkTTL. The caller has checked that the actor may
// decide (grants.Service.CheckReview): the link is given only to someone whose login could
// count.
func (s *Service) Link(ctx context.Context, a grants.Actor, requestID string, d grants.Decision) (string, time.Time, error) {
	id, err := randomToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	at := Attempt{LinkHash: hash(id), RequestID: requestID, Decision: d, Actor: a,
		CreatedAt: now, LinkExpiresAt: now.Add(s.o.LinkTTL)}
	if err := s.store.CreateStepUp(ctx, at); err != nil {
		return "", time.Time{}, fmt.Errorf("store step-up link for request %s: %w", requestID, err)
	}
	return s.baseURL + StartPath + "?s=" + url.QueryEscape(id), at.LinkExpiresAt, nil
}

func (s *Service) now() time.Time { return s.o.Clock.Now().UTC().Truncate(time.Microsecond) }

// client returns the provider's endpoints and token verifier, discovering them once.
func (s *Service) client(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, s.o.HTTPClient), s.o.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("discover identity provider %s: %w", s.o.Issuer, err)
		}
		s.provider = p
		s.oauth = &oauth2.Config{
			ClientID: s.o.ClientID, ClientSecret: s.o.ClientSecret, RedirectURL: s.o.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
		}
		// The verifier's key set fetches with a context of its own; the client goes along.
		s.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), s.o.HTTPClient),
			&oidc.Config{ClientID: s.o.ClientID, Now: s.o.Clock.Now})
	}
	return s.oauth, s.verifier, nil
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hash is the hex SHA-256 of a one-time value, as stored.
func hash(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}
