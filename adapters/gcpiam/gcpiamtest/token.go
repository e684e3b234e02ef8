package gcpiamtest

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
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cloudPlatformScope is the scope the adapter asks Application Default Credentials for.
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// serviceAccount is a key the fake issued, by its key ID.
type serviceAccount struct {
	email string
	key   *rsa.PublicKey
}

// ServiceAccount makes a service account with a new RSA key and writes its key file as Google
// issues them (type service_account, the PEM private key, token_uri pointing at the fake's
// token endpoint) into a temporary directory; it returns the file's path, for
// GOOGLE_APPLICATION_CREDENTIALS. The token endpoint exchanges an assertion signed with that
// key (OAuth 2.0 JWT bearer, RFC 7523, as Google's oauth2.googleapis.com/token does) for an
// access token the API then accepts, so Application Default Credentials are tested end to end.
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
	var id [20]byte
	_, _ = rand.Read(id[:])
	keyID := hex.EncodeToString(id[:])
	s.mu.Lock()
	if s.accounts == nil {
		s.accounts = map[string]serviceAccount{}
	}
	s.accounts[keyID] = serviceAccount{email: email, key: &key.PublicKey}
	s.mu.Unlock()
	file, _ := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "fake-project",
		"private_key_id": keyID,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "100000000000000000001",
		"token_uri":      s.URL + "token",
	}, "", "  ")
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// oauthError is the token endpoint's error shape (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, code int, kind, desc string) int {
	writeJSON(w, code, map[string]string{"error": kind, "error_description": desc})
	return code
}

// token answers the token endpoint: it verifies the assertion's RS256 signature with the public
// key of the key ID in its header, and its issuer, audience, scope and lifetime.
func (s *Server) token(w http.ResponseWriter, r *http.Request) int {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		return oauthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: not three parts")
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
	if err := decodeSegment(parts[0], &header); err != nil {
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT header")
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT claims")
	}
	s.mu.Lock()
	sa, ok := s.accounts[header.Kid]
	s.mu.Unlock()
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ok || header.Alg != "RS256" || err != nil || rsa.VerifyPKCS1v15(sa.key, crypto.SHA256, digest[:], sig) != nil {
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != sa.email:
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: iss is not the key's service account")
	case claims.Aud != s.URL+"token":
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: aud is not the token endpoint")
	case claims.Exp <= now || claims.Iat > now+60 || claims.Exp-claims.Iat > 3600:
		return oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	case !strings.Contains(" "+claims.Scope+" ", " "+cloudPlatformScope+" "):
		return oauthError(w, http.StatusBadRequest, "invalid_scope", "the assertion does not ask for "+cloudPlatformScope)
	}
	var tok [24]byte
	_, _ = rand.Read(tok[:])
	access := "ya29.c." + base64.RawURLEncoding.EncodeToString(tok[:])
	s.mu.Lock()
	if s.issued == nil {
		s.issued = map[string]string{}
	}
	s.issued[access] = sa.email
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3599})
	return http.StatusOK
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return json.Unmarshal(b, v)
}
