package config

import (
	"net/url"
	"strings"
	"time"
)

// StepUpOIDC is the one value of a resource's `step_up:` today: approvals of the resource count
// only after the approver logs in again at the `oidc:` identity provider.
const StepUpOIDC = "oidc"

// Defaults of the `oidc:` section.
const (
	DefaultOIDCClaim   = "email"
	DefaultOIDCMaxAge  = 5 * time.Minute
	DefaultOIDCLinkTTL = 5 * time.Minute
)

// OIDC is the `oidc:` section: the company's OpenID Connect identity provider, where an
// approver of a `step_up: oidc` resource logs in again before the approval counts.
type OIDC struct {
	// Issuer is the provider's issuer URL; its discovery document is read from
	// Issuer + /.well-known/openid-configuration.
	Issuer string `yaml:"issuer"`
	// ClientID and ClientSecret are accessbot's client at the provider.
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// RedirectURL is accessbot's public base URL + /stepup/callback, registered at the
	// provider; step-up links use the same base.
	RedirectURL string `yaml:"redirect_url"`
	// Claim is the ID token claim that holds the person's email. Default "email", which must
	// come with email_verified true.
	Claim string `yaml:"claim"`
	// MaxAge is how long ago the login may have happened (auth_time), sent as max_age.
	// Default 5m.
	MaxAge time.Duration `yaml:"max_age"`
	// RequireMFA refuses a login whose amr shows a single factor.
	RequireMFA bool `yaml:"require_mfa"`
	// ACRValues are sent as acr_values; the token's acr must be one of them.
	ACRValues []string `yaml:"acr_values"`
	// LinkTTL is how long a step-up link stays valid. Default 5m.
	LinkTTL time.Duration `yaml:"link_ttl"`
	// AuthTimeFromIAT reads a token without auth_time as a login at its iat. Only for a provider
	// that keeps no login session, so that every token follows a password entry (Dex).
	AuthTimeFromIAT bool `yaml:"auth_time_from_iat"`
}

// Enabled reports whether the section is set.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// stepUp checks the resources' step_up and the oidc section they need.
func (v *validator) stepUp() {
	need := false
	for i := range v.c.Resources {
		r := &v.c.Resources[i]
		path := joinIndex("resources", i) + ".step_up"
		r.StepUp = strings.TrimSpace(r.StepUp)
		switch r.StepUp {
		case "":
		case StepUpOIDC:
			need = true
		default:
			v.add(path, "%s is not a step-up method: the one method is oidc (approvals need a fresh login at the oidc: identity provider)", v.quote(path, r.StepUp))
		}
	}
	set := v.sectionSet("oidc")
	if need && !set {
		v.add("oidc", "required: a resource has step_up: oidc, so the oidc: section must name the identity provider (issuer, client_id, client_secret, redirect_url)")
		return
	}
	if !set {
		return
	}
	o := &v.c.OIDC
	if o.Issuer == "" {
		v.add("oidc.issuer", "required: the identity provider's issuer URL, e.g. https://login.example.com")
	} else if u, err := url.Parse(o.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !loopbackHost(u.Hostname())) {
		v.add("oidc.issuer", "%s is not an https URL (plain http is allowed only on loopback, for tests)", v.quote("oidc.issuer", o.Issuer))
	}
	if strings.TrimSpace(o.ClientID) == "" {
		v.add("oidc.client_id", "required: accessbot's client ID at the identity provider")
	}
	if o.ClientSecret == "" {
		v.add("oidc.client_secret", "required: accessbot's client secret, e.g. ${OIDC_CLIENT_SECRET}")
	}
	if o.RedirectURL == "" {
		v.add("oidc.redirect_url", "required: accessbot's public base URL + /stepup/callback")
	} else if u, err := url.Parse(o.RedirectURL); err != nil || u.Host == "" || (u.Scheme != "https" && !loopbackHost(u.Hostname())) ||
		!strings.HasSuffix(u.Path, "/stepup/callback") || u.RawQuery != "" || u.Fragment != "" {
		v.add("oidc.redirect_url", "%s is not accessbot's public https base URL + /stepup/callback", v.quote("oidc.redirect_url", o.RedirectURL))
	}
	o.Claim = strings.TrimSpace(o.Claim)
	if o.Claim == "" {
		o.Claim = DefaultOIDCClaim
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultOIDCMaxAge
	}
	if o.LinkTTL == 0 {
		o.LinkTTL = DefaultOIDCLinkTTL
	}
	v.positive("oidc.max_age", o.MaxAge)
	v.positive("oidc.link_ttl", o.LinkTTL)
	if o.MaxAge > time.Hour {
		v.add("oidc.max_age", "is longer than 1h: a step-up login must be fresh")
	}
	if o.LinkTTL > time.Hour {
		v.add("oidc.link_ttl", "is longer than 1h: a step-up link should be used at once")
	}
	for i, a := range o.ACRValues {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t") {
			v.add(joinIndex("oidc.acr_values", i), "%s is not an acr value", v.quote(joinIndex("oidc.acr_values", i), a))
		}
	}
}

// loopbackHost reports whether host is a loopback name or address.
func loopbackHost(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
