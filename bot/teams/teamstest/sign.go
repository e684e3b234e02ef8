package teamstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Token says how Sign makes a token; the zero value is a good token for the activity.
type Token struct {
	// Now is the time the token is issued at (time.Now when zero).
	Now time.Time
	// Life is how long it lasts (an hour when 0); negative makes an expired token.
	Life time.Duration
	// Audience, Issuer and ServiceURL replace the right ones when set.
	Audience, Issuer, ServiceURL string
	// KeyID replaces the signing key's ID in the header.
	KeyID string
	// Forge signs with a key the JWKS does not hold, under the real key's ID.
	Forge bool
	// Alg "none" or "HS256" makes a token of that algorithm instead of RS256.
	Alg string
}

// Sign returns the Authorization header value the Bot Framework would send with activity
// body (its serviceUrl becomes the token's serviceurl claim).
func (s *Server) Sign(body []byte, o Token) string {
	s.t.Helper()
	var head struct {
		ServiceURL string `json:"serviceUrl"`
	}
	_ = json.Unmarshal(body, &head)
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	life := o.Life
	if life == 0 {
		life = time.Hour
	}
	std := jwt.Claims{
		Issuer: Issuer, Audience: jwt.Audience{AppID},
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(now.Add(life)),
	}
	if life < 0 {
		std.IssuedAt = jwt.NewNumericDate(now.Add(2 * life))
		std.NotBefore = std.IssuedAt
	}
	if o.Audience != "" {
		std.Audience = jwt.Audience{o.Audience}
	}
	if o.Issuer != "" {
		std.Issuer = o.Issuer
	}
	extra := map[string]any{"serviceurl": head.ServiceURL, "appid": "00000000-0000-0000-0000-000000000bf0"}
	if o.ServiceURL != "" {
		extra["serviceurl"] = o.ServiceURL
	}
	s.mu.Lock()
	k := s.signer
	s.mu.Unlock()
	kid := k.kid
	if o.KeyID != "" {
		kid = o.KeyID
	}
	switch o.Alg {
	case "none", "HS256":
		return "Bearer " + unsignedToken(o.Alg, kid, std, extra, k.priv.N.Bytes())
	}
	priv := k.priv
	if o.Forge {
		priv = s.newKey("forged", nil).priv
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
	if err != nil {
		s.t.Fatal(err)
	}
	return "Bearer " + tok
}

// unsignedToken writes a token with alg none (no signature), or HS256 keyed with the
// public key's modulus (the old confusion of a verifier that takes any algorithm): what an
// attacker would send.
func unsignedToken(alg, kid string, std jwt.Claims, extra map[string]any, pub []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	if alg == "none" {
		claims := map[string]any{}
		b, _ := json.Marshal(std)
		_ = json.Unmarshal(b, &claims)
		for k, v := range extra {
			claims[k] = v
		}
		return enc(map[string]string{"alg": "none", "kid": kid, "typ": "JWT"}) + "." + enc(claims) + "."
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pub},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		panic(err)
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
	if err != nil {
		panic(err)
	}
	return tok
}

// Sender posts activities to a bot's messaging endpoint, signed by the fake.
type Sender struct {
	Fake *Server
	// URL is the messaging endpoint (…/teams/messages).
	URL string
	// Now tells the time of the tokens (time.Now when nil).
	Now func() time.Time
}

// Send posts an activity with a good token and returns the status and body of the answer.
func (s *Sender) Send(act any) (int, []byte) {
	return s.SendWith(act, Token{})
}

// SendWith posts an activity with the token o describes.
func (s *Sender) SendWith(act any, o Token) (int, []byte) {
	s.Fake.t.Helper()
	body, err := json.Marshal(act)
	if err != nil {
		s.Fake.t.Fatal(err)
	}
	if o.Now.IsZero() && s.Now != nil {
		o.Now = s.Now()
	}
	req, err := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		s.Fake.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", s.Fake.Sign(body, o))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.Fake.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.Fake.t.Fatal(fmt.Errorf("read the bot's answer: %w", err))
	}
	return resp.StatusCode, out
}
