package dextest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/accessbot/accessbot/internal/dextest"
)

func TestDexStartsAndServesItsDiscoveryDocument(t *testing.T) {
	s := dextest.Start(t, dextest.Options{RedirectURI: "http://127.0.0.1:9/stepup/callback",
		Users: []dextest.User{{Email: "bob@example.com", Password: "pw"}}})
	resp, err := http.Get(s.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer   string   `json:"issuer"`
		JWKS     string   `json:"jwks_uri"`
		Token    string   `json:"token_endpoint"`
		Auth     string   `json:"authorization_endpoint"`
		Response []string `json:"response_types_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != s.Issuer || doc.JWKS == "" || doc.Token == "" || doc.Auth == "" {
		t.Errorf("discovery document %+v", doc)
	}
}
