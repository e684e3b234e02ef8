package config

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The Bot Framework's endpoints, which teams: may replace (a sovereign cloud, a test's fake).
const (
	DefaultTeamsOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	DefaultTeamsServiceURL        = "https://smba.trafficmanager.net/teams/"
	DefaultTeamsGraphURL          = "https://graph.microsoft.com/v1.0/"
)

// Teams is the `teams:` section: the bot registered in Azure (Azure Bot, single tenant), the
// tenants it serves, and where its messages go.
type Teams struct {
	// Enabled turns Teams on or off. Unset, it is on when the section sets anything.
	Enabled *bool `yaml:"enabled"`
	// AppID is the bot's Microsoft App ID (the Entra ID app registration's client ID): the
	// audience of every token the Bot Framework sends.
	AppID string `yaml:"app_id"`
	// AppPassword is the app registration's client secret, for the connector's token.
	AppPassword Secret `yaml:"app_password"`
	// TenantID is the Entra ID tenant the bot is registered in.
	TenantID string `yaml:"tenant_id"`
	// Tenants are the tenants whose activities are accepted; default [tenant_id].
	Tenants []string `yaml:"tenants"`
	// OpenIDMetadataURL is the Bot Framework's OpenID metadata, whose keys sign its tokens.
	OpenIDMetadataURL string `yaml:"openid_metadata_url"`
	// TokenURL is the OAuth token endpoint of the client-credentials grant; default
	// https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token.
	TokenURL string `yaml:"token_url"`
	// ServiceURL is the connector every outbound call goes to (the global Teams one by
	// default): the token never goes to a URL an activity names.
	ServiceURL string `yaml:"service_url"`
	// ApproverChannel is the conversation ID of the approvers' channel ("19:…@thread.tacv2"),
	// unless Channels names another for the resource.
	ApproverChannel string `yaml:"approver_channel"`
	// SecurityChannel receives alerts; empty means ApproverChannel.
	SecurityChannel string `yaml:"security_channel"`
	// Channels maps a resource name to its approvers' conversation ID.
	Channels map[string]string `yaml:"channels"`
	// GraphURL is Microsoft Graph's base URL, where entra-group: groups are read.
	GraphURL string `yaml:"graph_url"`
	// MemberCacheTTL is how long what the member API says of a user is used, and an Entra ID
	// group membership read from Graph.
	MemberCacheTTL time.Duration `yaml:"member_cache_ttl"`

	enabled bool
}

// IsEnabled reports whether Teams is on.
func (t *Teams) IsEnabled() bool { return t.enabled }

// AlertChannel returns the conversation for alerts: SecurityChannel, else ApproverChannel.
func (t *Teams) AlertChannel() string {
	if t.SecurityChannel != "" {
		return t.SecurityChannel
	}
	return t.ApproverChannel
}

// isTeamsConversation reports whether s looks like a Teams conversation ID.
func isTeamsConversation(s string) bool { return len(s) <= 512 && teamsConversation.MatchString(s) }

func defaultTeams() Teams {
	return Teams{OpenIDMetadataURL: DefaultTeamsOpenIDMetadataURL, ServiceURL: DefaultTeamsServiceURL,
		GraphURL: DefaultTeamsGraphURL, MemberCacheTTL: 10 * time.Minute}
}

var (
	// guid is an Entra ID app or tenant ID.
	guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// teamsConversation is a Teams conversation ID: "19:…@thread.tacv2" for a channel. (No
	// {1,500}: a counted repetition compiles to a program of that many steps, held by every
	// process from init; isTeamsConversation bounds the length.)
	teamsConversation = regexp.MustCompile(`^[0-9a-z]{1,3}:[^\s/\\?#]+$`)
)

// entraGroupPrefix names an Entra ID group where a group is expected.
const entraGroupPrefix = "entra-group:"

// teams checks the teams: section.
func (v *validator) teams() {
	t := &v.c.Teams
	t.enabled = v.sectionSet("teams") && (t.Enabled == nil || *t.Enabled)
	if !t.enabled {
		if g := v.firstGroupWithPrefix(entraGroupPrefix); g != "" {
			v.add("teams", "%q names an Entra ID group, which accessbot reads through Microsoft Graph with the Teams bot's credentials: configure teams:", g)
		}
		return
	}
	if !guid.MatchString(t.AppID) {
		v.add("teams.app_id", "required: the bot's Microsoft App ID, a GUID (Azure Bot > Configuration)")
	}
	if t.AppPassword == "" {
		v.add("teams.app_password", "required: the app registration's client secret, e.g. \"${TEAMS_APP_PASSWORD}\"")
	}
	if !guid.MatchString(t.TenantID) {
		v.add("teams.tenant_id", "required: the Entra ID tenant ID the bot is registered in, a GUID")
	}
	for i, id := range t.Tenants {
		if !guid.MatchString(id) {
			path := joinIndex("teams.tenants", i)
			v.add(path, "%s is not an Entra ID tenant ID (a GUID)", v.quote(path, id))
		}
	}
	if len(t.Tenants) == 0 && t.TenantID != "" {
		t.Tenants = []string{t.TenantID}
	}
	if t.TokenURL == "" && guid.MatchString(t.TenantID) {
		t.TokenURL = "https://login.microsoftonline.com/" + t.TenantID + "/oauth2/v2.0/token"
	}
	for _, f := range []struct {
		key string
		val *string
	}{{"openid_metadata_url", &t.OpenIDMetadataURL}, {"token_url", &t.TokenURL}, {"service_url", &t.ServiceURL}, {"graph_url", &t.GraphURL}} {
		if u, err := url.Parse(*f.val); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.add("teams."+f.key, "must be an absolute https:// URL")
		}
	}
	for _, f := range []struct{ key, value string }{{"approver_channel", t.ApproverChannel}, {"security_channel", t.SecurityChannel}} {
		if f.value != "" && !isTeamsConversation(f.value) {
			v.add("teams."+f.key, "%s is not a Teams conversation ID (a channel's is 19:…@thread.tacv2: the channel's link, after /channel/, URL-decoded)", v.quote("teams."+f.key, f.value))
		}
	}
	v.teamsChannels(t)
	v.positive("teams.member_cache_ttl", t.MemberCacheTTL)
}

// teamsChannels checks teams.channels and that every resource has an approvers' channel.
func (v *validator) teamsChannels(t *Teams) {
	known := map[string]bool{}
	for _, r := range v.c.Resources {
		known[r.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(t.Channels)) {
		path := joinKey("teams.channels", name)
		if !known[name] {
			v.add(path, "unknown resource %q", name)
		}
		if !isTeamsConversation(t.Channels[name]) {
			v.add(path, "%s is not a Teams conversation ID", v.quote(path, t.Channels[name]))
		}
	}
	if t.ApproverChannel != "" {
		return
	}
	if missing := v.withoutChannel(t.Channels); len(missing) > 0 {
		v.add("teams.approver_channel", "required: the approvers' channel conversation ID (resources without one under teams.channels: %s)", strings.Join(missing, ", "))
	}
}
