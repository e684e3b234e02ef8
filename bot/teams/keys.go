package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/accessbot/accessbot/internal/clock"
)

// DefaultOpenIDMetadataURL is the Bot Framework's OpenID metadata document: its jwks_uri lists
// the keys that sign the tokens of requests to bots.
const DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"

const (
	// DefaultMinRefresh is the least time between two fetches of the keys: a flood of tokens
	// with unknown key IDs (anyone can write a kid) costs one fetch per interval, not one each.
	DefaultMinRefresh = 5 * time.Minute
	// DefaultKeysMaxAge is how long fetched keys are used before they are fetched again: the
	// Bot Framework rotates its keys and asks bots to refresh them at least daily.
	DefaultKeysMaxAge = 24 * time.Hour
	// noKeysRetry is how soon a fetch is tried again while no key is held.
	noKeysRetry = 10 * time.Second
	// maxKeysBody bounds the metadata and key documents.
	maxKeysBody = 1 << 20
)

// ErrUnknownKey is a token signed with a key the metadata does not list, even after a refresh.
var ErrUnknownKey = errors.New("token signed with an unknown key")

// signingKey is one key of the JWKS, with the channels it may sign for.
type signingKey struct {
	key          jose.JSONWebKey
	endorsements []string
}

// endorses reports whether the key may sign activities of channelID. A key that lists no
// endorsements says nothing about channels, as the Bot Framework's SDKs read it.
func (k signingKey) endorses(channelID string) bool {
	return len(k.endorsements) == 0 || slices.Contains(k.endorsements, channelID)
}

// KeySet is the Bot Framework's signing keys, fetched through the OpenID metadata document and
// cached: refreshed when older than MaxAge, or when a token names a key it does not hold, at
// most once per MinRefresh. Set its fields before the first Key; it is safe for concurrent use.
type KeySet struct {
	// MetadataURL is the OpenID metadata document (DefaultOpenIDMetadataURL when empty).
	MetadataURL string
	// HTTP fetches the documents (a client with a 10-second timeout when nil).
	HTTP *http.Client
	// Clock tells the time (the wall clock when nil).
	Clock clock.Clock
	// MinRefresh and MaxAge: DefaultMinRefresh and DefaultKeysMaxAge when 0.
	MinRefresh time.Duration
	MaxAge     time.Duration

	mu        sync.Mutex
	keys      map[string]signingKey
	fetchedAt time.Time // when keys were fetched
	triedAt   time.Time // when a fetch was last tried, successful or not
	fetches   int
}

// Key returns the key named kid. When it is not held, or the keys are too old, the keys are
// fetched again, unless a fetch was tried less than MinRefresh ago.
func (s *KeySet) Key(ctx context.Context, kid string) (signingKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k, ok := s.keys[kid]
	stale := s.keys == nil || now.Sub(s.fetchedAt) >= s.maxAge()
	if ok && !stale {
		return k, nil
	}
	// Without any key every request is refused: a failed first fetch is tried again sooner.
	wait := s.minRefresh()
	if s.keys == nil {
		wait = min(wait, noKeysRetry)
	}
	if s.triedAt.IsZero() || now.Sub(s.triedAt) >= wait {
		s.triedAt = now
		s.fetches++
		keys, err := s.fetch(ctx)
		if err != nil && s.keys == nil {
			return signingKey{}, fmt.Errorf("fetch the Bot Framework's signing keys: %w", err)
		}
		if err == nil {
			s.keys, s.fetchedAt = keys, now
		}
		k, ok = s.keys[kid]
	}
	if !ok {
		return signingKey{}, ErrUnknownKey
	}
	return k, nil
}

// Fetches counts the fetches of the keys tried so far (for tests and the benchmark).
func (s *KeySet) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func (s *KeySet) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

func (s *KeySet) minRefresh() time.Duration {
	if s.MinRefresh > 0 {
		return s.MinRefresh
	}
	return DefaultMinRefresh
}

func (s *KeySet) maxAge() time.Duration {
	if s.MaxAge > 0 {
		return s.MaxAge
	}
	return DefaultKeysMaxAge
}

// fetch reads the metadata document, then the JWKS it names: the RSA signing keys by ID.
func (s *KeySet) fetch(ctx context.Context) (map[string]signingKey, error) {
	metadataURL := s.MetadataURL
	if metadataURL == "" {
		metadataURL = DefaultOpenIDMetadataURL
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("OpenID metadata: %w", err)
	}
	u, err := url.Parse(meta.JWKSURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("the OpenID metadata has no absolute jwks_uri")
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := s.getJSON(ctx, meta.JWKSURI, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := map[string]signingKey{}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue // a key of a kind go-jose does not read cannot sign what we accept
		}
		var extra struct {
			Endorsements []string `json:"endorsements"`
		}
		_ = json.Unmarshal(raw, &extra)
		if k.KeyID == "" || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys[k.KeyID] = signingKey{key: k, endorsements: extra.Endorsements}
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS lists no usable signing key")
	}
	return keys, nil
}

func (s *KeySet) getJSON(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered HTTP %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody))
	if err != nil {
		return fmt.Errorf("read %s: %w", u, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}
