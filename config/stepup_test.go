package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
)

const stepUpResource = `groups:
  sre: [alice@example.com, bob@example.com]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    step_up: oidc
    policy:
      approvers: [sre]
`

const oidcSection = `oidc:
  issuer: "https://login.example.com"
  client_id: accessbot
  client_secret: "${OIDC_SECRET}"
  redirect_url: "https://accessbot.example.com/stepup/callback"
`

func TestAStepUpResourceIsReadWithItsProviderAndDefaults(t *testing.T) {
	c := mustParse(t, stepUpResource+oidcSection, map[string]string{"OIDC_SECRET": "s3cret"})
	o := c.OIDC
	if c.Resources[0].StepUp != config.StepUpOIDC || o.Issuer != "https://login.example.com" || o.ClientSecret.Reveal() != "s3cret" {
		t.Errorf("step_up %q, oidc %+v", c.Resources[0].StepUp, o)
	}
	if o.Claim != "email" || o.MaxAge != 5*time.Minute || o.LinkTTL != 5*time.Minute || o.RequireMFA {
		t.Errorf("defaults not applied: %+v", o)
	}
}

func TestStepUpMistakesAreConfigErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"a resource with step_up but no oidc section", stepUpResource, "oidc: required: a resource has step_up: oidc"},
		{"an unknown step-up method", strings.Replace(stepUpResource, "step_up: oidc", "step_up: sms", 1), `step_up: "sms" is not a step-up method`},
		{"an issuer over plain http", stepUpResource + strings.Replace(oidcSection, "https://login", "http://login", 1), "oidc.issuer:"},
		{"a redirect URL elsewhere than /stepup/callback", stepUpResource + strings.Replace(oidcSection, "/stepup/callback", "/callback", 1), "oidc.redirect_url:"},
		{"no client secret", stepUpResource + strings.Replace(oidcSection, `  client_secret: "${OIDC_SECRET}"`+"\n", "", 1), "oidc.client_secret: required"},
		{"a max_age of a day", stepUpResource + oidcSection + "  max_age: 1d\n", "oidc.max_age: is longer than 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseErr(t, tt.src, map[string]string{"OIDC_SECRET": "s3cret"})
			if !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one with %q", got, tt.want)
			}
		})
	}
}

func TestResourcesCarryTheirStepUp(t *testing.T) {
	c := mustParse(t, stepUpResource+oidcSection, map[string]string{"OIDC_SECRET": "s3cret"})
	rs, err := c.BuildResources(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].StepUp.Approve {
		t.Error("prod-db has step_up: oidc but its approvals need no step-up")
	}
}
