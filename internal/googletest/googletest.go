// Package googletest is the part of Google's OAuth 2.0 token endpoint that the fakes of Google
// APIs share (adapters/gcpiam/gcpiamtest, adapters/googlegroups/googlegroupstest): service account
// key files as Google issues them, and a token endpoint that exchanges an assertion signed with
// such a key (the JWT bearer grant of RFC 7523, as Google's token endpoint does) for an access
// token the fake's API then checks. Application Default Credentials are tested end to end with it.
package googletest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Grant is what an issued access token stands for.
type Grant struct {
	// Email is the service account's.
	Email string
	// Scopes are those the assertion asked for.
	Scopes []string
}

// Issuer issues service account keys and exchanges assertions signed with them for access
// tokens. Set URL (the fake's base URL, ending in "/"; the token endpoint is URL + "token")
// before use; it is safe for concurrent use.
type Issuer struct {
	URL string
	// Require, when set, is a scope every assertion must ask for.
	Require string

	mu     sync.Mutex
	keys   map[string]key
	issued map[string]Grant
	asked  []string
}

type key struct {
	email string
	pub   *rsa.PublicKey
}

// ServiceAccount writes a service account key file (type service_account, a new RSA key,
// token_uri at the issuer's token endpoint) and returns its path, for
// GOOGLE_APPLICATION_CREDENTIALS.
func (is *Issuer) ServiceAccount(t testing.TB, email string) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var id [20]byte
	_, _ = rand.Read(id[:])
	keyID := hex.EncodeToString(id[:])
	is.mu.Lock()
	if is.keys == nil {
		is.keys = map[string]key{}
	}
	is.keys[keyID] = key{email: email, pub: &priv.PublicKey}
	is.mu.Unlock()
	file, _ := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "fake-project",
		"private_key_id": keyID,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "100000000000000000001",
		"token_uri":      is.URL + "token",
	}, "", "  ")
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Lookup returns what an access token the issuer issued stands for.
func (is *Issuer) Lookup(token string) (Grant, bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	g, ok := is.issued[token]
	return g, ok
}

// ScopesAsked returns the scope claim of every assertion the endpoint accepted.
func (is *Issuer) ScopesAsked() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return slices.Clone(is.asked)
}

// oauthError is the token endpoint's error shape (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, kind, desc string) int {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": kind, "error_description": desc})
	return http.StatusBadRequest
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Token answers the token endpoint and returns the status: it checks the assertion's RS256
// signature against the key its header names, its issuer, audience, lifetime and scope, and
// issues a token for the scopes asked.
func (is *Issuer) Token(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		return oauthError(w, "invalid_request", "POST a form")
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return oauthError(w, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		return oauthError(w, "invalid_grant", "Invalid JWT: not three parts")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	if decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil {
		return oauthError(w, "invalid_grant", "Invalid JWT")
	}
	is.mu.Lock()
	k, ok := is.keys[header.Kid]
	is.mu.Unlock()
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ok || header.Alg != "RS256" || err != nil || rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, digest[:], sig) != nil {
		return oauthError(w, "invalid_grant", "Invalid JWT Signature.")
	}
	now := time.Now().Unix()
	scopes := strings.Fields(claims.Scope)
	switch {
	case claims.Iss != k.email:
		return oauthError(w, "invalid_grant", "Invalid JWT: iss is not the key's service account")
	case claims.Aud != is.URL+"token":
		return oauthError(w, "invalid_grant", "Invalid JWT: aud is not the token endpoint")
	case claims.Exp <= now || claims.Iat > now+60 || claims.Exp-claims.Iat > 3600:
		return oauthError(w, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	case len(scopes) == 0, is.Require != "" && !slices.Contains(scopes, is.Require):
		return oauthError(w, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	}
	var tok [24]byte
	_, _ = rand.Read(tok[:])
	access := "ya29.c." + base64.RawURLEncoding.EncodeToString(tok[:])
	is.mu.Lock()
	if is.issued == nil {
		is.issued = map[string]Grant{}
	}
	is.issued[access] = Grant{Email: k.email, Scopes: scopes}
	is.asked = append(is.asked, claims.Scope)
	is.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3599})
	return http.StatusOK
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
