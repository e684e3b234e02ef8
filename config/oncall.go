package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/oncall"
)

// OnCall is the `oncall:` section: the on-call providers that approver groups such as
// pagerduty:schedule/PABC123 and the rules' oncall / oncall_for ask.
type OnCall struct {
	PagerDuty OnCallPagerDuty `yaml:"pagerduty"`
	Opsgenie  OnCallOpsgenie  `yaml:"opsgenie"`
	// CacheTTL is how long who is on call is kept before asking again. Default 1m.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Timeout bounds one question to a provider. Default 1.5s, inside a request's 2s of checks.
	Timeout time.Duration `yaml:"timeout"`
}

// OnCallPagerDuty is PagerDuty's REST API v2.
type OnCallPagerDuty struct {
	// Token is a read-only REST API key, e.g. ${PAGERDUTY_TOKEN}.
	Token Secret `yaml:"token"`
	// APIURL is the API's base URL; default https://api.pagerduty.com.
	APIURL string `yaml:"api_url"`
}

// OnCallOpsgenie is Opsgenie's Who is On Call API.
type OnCallOpsgenie struct {
	// APIKey is an API integration's key with Read access only, e.g. ${OPSGENIE_API_KEY}.
	APIKey Secret `yaml:"api_key"`
	// Region is "us" (default) or "eu" (api.eu.opsgenie.com); api_url overrides it.
	Region string `yaml:"region"`
	// APIURL is the API's base URL; default from region.
	APIURL string `yaml:"api_url"`
}

// Defaults of the oncall: section.
const (
	DefaultOnCallCacheTTL = time.Minute
	DefaultOnCallTimeout  = 1500 * time.Millisecond
	opsgenieUS            = "https://api.opsgenie.com"
	opsgenieEU            = "https://api.eu.opsgenie.com"
)

// Enabled reports whether PagerDuty is configured.
func (p OnCallPagerDuty) Enabled() bool { return p.Token != "" || p.APIURL != "" }

// Enabled reports whether Opsgenie is configured.
func (o OnCallOpsgenie) Enabled() bool { return o.APIKey != "" || o.APIURL != "" || o.Region != "" }

// providerSet reports whether the named provider has its section.
func (o OnCall) providerSet(name string) bool {
	switch name {
	case oncall.PagerDuty:
		return o.PagerDuty.Enabled()
	case oncall.Opsgenie:
		return o.Opsgenie.Enabled()
	}
	return false
}

// rota checks a rota group named at path: its syntax, and that its provider is configured.
func (v *validator) rota(path, name string) {
	r, err := oncall.ParseRota(name)
	if err != nil {
		v.add(path, "%v", err)
		return
	}
	if !v.c.OnCall.providerSet(r.Provider) {
		v.add(path, "%s names %s, but the oncall: section has no %s: (add oncall.%s with its API key)", v.quote(path, name), r.Provider, r.Provider, r.Provider)
	}
}

// ruleRotas checks the rotas a rule names through oncall_for.
func (v *validator) ruleRotas(path string, rule *grants.Rule) {
	if rule == nil {
		return
	}
	for _, name := range rule.OnCallRotas {
		if !oncall.IsRotaGroup(name) {
			v.add(path, "oncall_for(%q): not a rota: write pagerduty:schedule/<ID>, pagerduty:escalation/<ID>/level/<n> or opsgenie:schedule/<name>%s", name, rotaHint(name))
			continue
		}
		v.rota(path, name)
	}
}

// rotaHint suggests the provider a misspelt prefix meant: " (did you mean \"pagerduty:…\"?)".
func rotaHint(name string) string {
	prefix, rest, ok := strings.Cut(name, ":")
	if !ok {
		return ""
	}
	if s := closest(prefix, []string{oncall.PagerDuty, oncall.Opsgenie}); s != "" && s != prefix {
		return fmt.Sprintf(" (did you mean %q?)", s+":"+rest)
	}
	return ""
}

// onCall checks the oncall: section and fills in its defaults.
func (v *validator) onCall() {
	o := &v.c.OnCall
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultOnCallCacheTTL
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultOnCallTimeout
	}
	v.positive("oncall.cache_ttl", o.CacheTTL)
	v.positive("oncall.timeout", o.Timeout)
	if o.CacheTTL > time.Hour {
		v.add("oncall.cache_ttl", "is longer than 1h: the rota changes; a minute or a few is enough")
	}
	if o.PagerDuty.Enabled() {
		if o.PagerDuty.Token == "" {
			v.add("oncall.pagerduty.token", "required: a read-only REST API key, e.g. ${PAGERDUTY_TOKEN}")
		}
		v.apiURL("oncall.pagerduty.api_url", o.PagerDuty.APIURL)
	}
	if o.Opsgenie.Enabled() {
		if o.Opsgenie.APIKey == "" {
			v.add("oncall.opsgenie.api_key", "required: an API integration's key with Read access, e.g. ${OPSGENIE_API_KEY}")
		}
		switch strings.ToLower(strings.TrimSpace(o.Opsgenie.Region)) {
		case "", "us":
		case "eu":
		default:
			v.add("oncall.opsgenie.region", "%s is not a region: us or eu", v.quote("oncall.opsgenie.region", o.Opsgenie.Region))
		}
		v.apiURL("oncall.opsgenie.api_url", o.Opsgenie.APIURL)
	}
}

func (v *validator) apiURL(path, s string) {
	if s == "" {
		return
	}
	if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "https" && !loopbackHost(u.Hostname())) {
		v.add(path, "%s is not an https URL (plain http is allowed only on loopback, for tests)", v.quote(path, s))
	}
}

// OpsgenieURL is the Opsgenie API's base URL: api_url, else the region's.
func (o OnCallOpsgenie) OpsgenieURL() string {
	if o.APIURL != "" {
		return o.APIURL
	}
	if strings.EqualFold(strings.TrimSpace(o.Region), "eu") {
		return opsgenieEU
	}
	return opsgenieUS
}
