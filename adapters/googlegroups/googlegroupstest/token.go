package googlegroupstest

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
	"strings"
	"testing"
	"time"
)

// ServiceAccount writes a service account key file as Google issues them (type
// service_account, a new RSA key, token_uri at the fake's /token) and returns its path, for
// GOOGLE_APPLICATION_CREDENTIALS. The fake's token endpoint takes an assertion signed with that
// key (the OAuth 2.0 JWT bearer grant, RFC 7523, as oauth2.googleapis.com/token does) and issues
// an access token carrying the scopes the assertion asked for, which the API then checks, so
// Application Default Credentials and the scope they ask for are tested end to end.
//
// gcpiamtest (the gcp-iam adapter's fake) has a token endpoint of the same kind; they are
// candidates for one internal test helper once both are on main.
func (s *Server) ServiceAccount(t testing.TB, email string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyID := newID() + newID()
	s.mu.Lock()
	if s.keys == nil {
		s.keys = map[string]serviceKey{}
	}
	s.keys[keyID] = serviceKey{email: email, key: &key.PublicKey}
	s.mu.Unlock()
	file, _ := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "fake-project",
		"private_key_id": keyID,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "100000000000000000002",
		"token_uri":      s.URL + "token",
	}, "", "  ")
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serviceKey is a key ServiceAccount issued.
type serviceKey struct {
	email string
	key   *rsa.PublicKey
}

// oauthError is the token endpoint's error shape (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, kind, desc string) int {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": kind, "error_description": desc})
	return http.StatusBadRequest
}

// token answers POST /token: it checks the assertion's RS256 signature against the key its
// header names, its issuer, audience and lifetime, and issues a token with its scopes.
func (s *Server) token(w http.ResponseWriter, r *http.Request, call *Call) int {
	call.Method = "token"
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
	s.mu.Lock()
	sk, ok := s.keys[header.Kid]
	s.mu.Unlock()
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ok || header.Alg != "RS256" || err != nil || rsa.VerifyPKCS1v15(sk.key, crypto.SHA256, digest[:], sig) != nil {
		return oauthError(w, "invalid_grant", "Invalid JWT Signature.")
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != sk.email:
		return oauthError(w, "invalid_grant", "Invalid JWT: iss is not the key's service account")
	case claims.Aud != s.URL+"token":
		return oauthError(w, "invalid_grant", "Invalid JWT: aud is not the token endpoint")
	case claims.Exp <= now || claims.Iat > now+60 || claims.Exp-claims.Iat > 3600:
		return oauthError(w, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	case strings.TrimSpace(claims.Scope) == "":
		return oauthError(w, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	}
	var tok [24]byte
	_, _ = rand.Read(tok[:])
	access := "ya29.c." + hex.EncodeToString(tok[:])
	s.mu.Lock()
	s.tokens[access] = strings.Fields(claims.Scope)
	s.scopesAsked = append(s.scopesAsked, claims.Scope)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3599})
	return http.StatusOK
}

// ScopesAsked returns the scope claim of every assertion the token endpoint accepted.
func (s *Server) ScopesAsked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.scopesAsked...)
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
