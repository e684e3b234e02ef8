package config

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/ident"
)

// Secret is a credential from the config file (a token, a signing secret). It prints as
// "[redacted]" with every fmt verb, in JSON and in YAML, so a config dumped into a log line or an
// error keeps it secret; Reveal returns the value for the one place that needs it.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// MarshalYAML redacts the secret.
func (Secret) MarshalYAML() (any, error) { return "[redacted]", nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// DefaultSlackAPIURL is the Slack Web API base URL.
const DefaultSlackAPIURL = "https://slack.com/api/"

// Slack is the `slack:` section: the Slack app's credentials and where messages go.
type Slack struct {
	// Enabled turns Slack on or off. Unset, it is on when the section sets anything and off when
	// the section is absent; IsEnabled says which.
	Enabled *bool `yaml:"enabled"`
	// SigningSecret verifies every request Slack sends to /slack/commands and
	// /slack/interactions. Required unless SocketMode.
	SigningSecret Secret `yaml:"signing_secret"`
	// BotToken (xoxb-...) authenticates every Web API call.
	BotToken Secret `yaml:"bot_token"`
	// AppToken (xapp-...) opens the Socket Mode connection. Required with SocketMode.
	AppToken Secret `yaml:"app_token"`
	// SocketMode receives commands and clicks over an outgoing websocket instead of HTTP, for
	// servers Slack cannot reach.
	SocketMode bool `yaml:"socket_mode"`
	// APIURL is the Web API base URL: a proxy, or a test's fake. It always ends with "/".
	APIURL string `yaml:"api_url"`
	// ApproverChannel is the channel (ID, or #name for a public channel) where approval
	// messages are posted, unless Channels names another for the resource.
	ApproverChannel string `yaml:"approver_channel"`
	// SecurityChannel receives alerts (break-glass use, failed revocations); empty means
	// ApproverChannel.
	SecurityChannel string `yaml:"security_channel"`
	// Channels maps a resource name to its approval channel.
	Channels map[string]string `yaml:"channels"`
	// GroupCacheTTL is how long Slack user group handles and memberships are cached.
	GroupCacheTTL time.Duration `yaml:"group_cache_ttl"`
	// UserCacheTTL is how long a user's profile (email, name) is cached.
	UserCacheTTL time.Duration `yaml:"user_cache_ttl"`
	// RateLimitScale runs the Web API limits the outbox keeps to (Slack's published ones:
	// chat.postMessage 1/s per channel, chat.update and conversations.open 50/min) this many
	// times faster: for a proxy or a test's fake that allows more. Default 1.
	RateLimitScale float64 `yaml:"rate_limit_scale"`

	enabled bool
}

// IsEnabled reports whether Slack is on: the section is present and does not say
// `enabled: false`.
func (s *Slack) IsEnabled() bool { return s.enabled }

// ChannelFor returns the channel where approval messages for the resource are posted.
func (s *Slack) ChannelFor(resource string) string {
	if ch, ok := s.Channels[resource]; ok && ch != "" {
		return ch
	}
	return s.ApproverChannel
}

// AlertChannel returns the channel for alerts: SecurityChannel, else ApproverChannel.
func (s *Slack) AlertChannel() string {
	if s.SecurityChannel != "" {
		return s.SecurityChannel
	}
	return s.ApproverChannel
}

func defaultSlack() Slack {
	return Slack{APIURL: DefaultSlackAPIURL, GroupCacheTTL: 5 * time.Minute, UserCacheTTL: 10 * time.Minute, RateLimitScale: 1}
}

// slackChannel is what a channel reference looks like: an ID (C0123ABCD, G..., D...) or a
// public channel's #name, ^(#[a-z0-9][a-z0-9._-]{0,79}|[A-Z0-9]{6,20})$ written as its two
// alternatives with their length bounds (internal/ident says why).
var slackChannel = slackChannelRef{
	name: ident.New(`^#[a-z0-9][a-z0-9._-]{0,79}$`, `^#[a-z0-9][a-z0-9._-]*$`, 2, 81),
	id:   ident.New(`^[A-Z0-9]{6,20}$`, `^[A-Z0-9]+$`, 6, 20),
}

// slackChannelRef accepts a channel's #name or its ID.
type slackChannelRef struct{ name, id *ident.Pattern }

// MatchString reports whether s is a channel's #name or an ID.
func (r slackChannelRef) MatchString(s string) bool {
	return r.name.MatchString(s) || r.id.MatchString(s)
}

func (v *validator) slack() {
	s := &v.c.Slack
	present := false
	for path := range v.d.lines {
		if strings.HasPrefix(path, "slack.") {
			present = true
			break
		}
	}
	s.enabled = present && (s.Enabled == nil || *s.Enabled)
	if !s.enabled {
		return
	}
	// Messages name the key, never the value: these are credentials.
	switch {
	case s.BotToken == "":
		v.add("slack.bot_token", "required: the bot token (xoxb-...) from the app's OAuth & Permissions page, e.g. \"${SLACK_BOT_TOKEN}\"")
	case !strings.HasPrefix(string(s.BotToken), "xoxb-"):
		v.add("slack.bot_token", "is not a bot token: bot tokens start with xoxb- (an xapp- token belongs in app_token)")
	}
	if s.SocketMode {
		switch {
		case s.AppToken == "":
			v.add("slack.app_token", "required with socket_mode: an app-level token (xapp-...) with the connections:write scope")
		case !strings.HasPrefix(string(s.AppToken), "xapp-"):
			v.add("slack.app_token", "is not an app-level token: those start with xapp-")
		}
	} else if s.SigningSecret == "" {
		v.add("slack.signing_secret", "required (unless socket_mode is true): the signing secret from the app's Basic Information page, e.g. \"${SLACK_SIGNING_SECRET}\"")
	}
	if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("slack.api_url", "must be an absolute http:// or https:// URL, e.g. %s", DefaultSlackAPIURL)
	} else if !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/"
	}
	for _, f := range []struct{ key, value string }{
		{"approver_channel", s.ApproverChannel}, {"security_channel", s.SecurityChannel},
	} {
		if f.value != "" && !slackChannel.MatchString(f.value) {
			v.add("slack."+f.key, "%s is not a channel ID (C0123ABCD) or #channel-name", v.quote("slack."+f.key, f.value))
		}
	}
	known := map[string]bool{}
	for _, r := range v.c.Resources {
		known[r.Name] = true
	}
	names := make([]string, 0, len(s.Channels))
	for name := range s.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := joinKey("slack.channels", name)
		if !known[name] {
			list := make([]string, 0, len(known))
			for k := range known {
				list = append(list, k)
			}
			hint := ""
			if c := closest(name, list); c != "" {
				hint = " (did you mean " + `"` + c + `"?)`
			}
			v.add(path, "unknown resource %q%s", name, hint)
		}
		if ch := s.Channels[name]; !slackChannel.MatchString(ch) {
			v.add(path, "%s is not a channel ID (C0123ABCD) or #channel-name", v.quote(path, ch))
		}
	}
	if s.ApproverChannel == "" {
		if missing := v.withoutChannel(s.Channels); len(missing) > 0 {
			v.add("slack.approver_channel", "required: the channel for approval messages (resources without a channel under slack.channels: %s)", strings.Join(missing, ", "))
		}
	}
	v.positive("slack.group_cache_ttl", s.GroupCacheTTL)
	v.positive("slack.user_cache_ttl", s.UserCacheTTL)
	if !(s.RateLimitScale > 0) {
		v.add("slack.rate_limit_scale", "must be a positive number (1 keeps to Slack's published limits), not %v", s.RateLimitScale)
	}
}
