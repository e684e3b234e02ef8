package config

import (
	"encoding/hex"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/ident"
)

// DefaultDiscordAPIURL is the Discord REST API base URL (version 10).
const DefaultDiscordAPIURL = "https://discord.com/api/v10"

// Discord is the `discord:` section: the Discord application's credentials, where messages go,
// and who people are (Discord gives bots no email).
type Discord struct {
	// Enabled turns Discord on or off. Unset, it is on when the section sets anything and off
	// when the section is absent; IsEnabled says which.
	Enabled *bool `yaml:"enabled"`
	// ApplicationID is the application's ID (General Information > Application ID): commands
	// are registered under it and interaction follow-ups are addressed with it.
	ApplicationID string `yaml:"application_id"`
	// PublicKey (hex, General Information > Public Key) verifies the Ed25519 signature of every
	// request Discord sends to /discord/interactions. Required unless Gateway.
	PublicKey string `yaml:"public_key"`
	// BotToken authenticates every REST call ("Bot <token>"), and the gateway connection.
	BotToken Secret `yaml:"bot_token"`
	// Gateway receives interactions over Discord's gateway websocket instead of HTTP, for
	// servers Discord cannot reach.
	Gateway bool `yaml:"gateway"`
	// APIURL is the REST API base URL: a proxy, or a test's fake. It never ends with "/".
	APIURL string `yaml:"api_url"`
	// GuildID is the server (guild) the bot serves: commands registered there by default, and
	// where the roles named by discord-role: groups are looked up.
	GuildID string `yaml:"guild_id"`
	// ApproverChannel is the channel ID where approval messages are posted, unless Channels
	// names another for the resource.
	ApproverChannel string `yaml:"approver_channel"`
	// SecurityChannel receives alerts; empty means ApproverChannel.
	SecurityChannel string `yaml:"security_channel"`
	// Channels maps a resource name to its approval channel ID.
	Channels map[string]string `yaml:"channels"`
	// Users maps Discord user IDs to people (their email, their accessbot ID). People not
	// listed link themselves with `/access link <email>`.
	Users map[string]string `yaml:"users"`
	// RoleCacheTTL is how long the guild's roles and a member's roles are cached.
	RoleCacheTTL time.Duration `yaml:"role_cache_ttl"`

	enabled bool
}

// IsEnabled reports whether Discord is on: the section is present and does not say
// `enabled: false`.
func (d *Discord) IsEnabled() bool { return d.enabled }

// ChannelFor returns the channel where approval messages for the resource are posted.
func (d *Discord) ChannelFor(resource string) string {
	if ch, ok := d.Channels[resource]; ok && ch != "" {
		return ch
	}
	return d.ApproverChannel
}

// AlertChannel returns the channel for alerts: SecurityChannel, else ApproverChannel.
func (d *Discord) AlertChannel() string {
	if d.SecurityChannel != "" {
		return d.SecurityChannel
	}
	return d.ApproverChannel
}

func defaultDiscord() Discord {
	return Discord{APIURL: DefaultDiscordAPIURL, RoleCacheTTL: 5 * time.Minute}
}

// snowflake is what Discord IDs look like: a decimal number, 17 to 20 digits today.
var snowflake = ident.New(`^[0-9]{15,21}$`, `^[0-9]+$`, 15, 21)

// discordRolePrefix names a Discord role where a group is expected.
const discordRolePrefix = "discord-role:"

// discord checks the discord: section, one concern at a time; the order of the checks is the
// order of the problems reported.
func (v *validator) discord() {
	d := &v.c.Discord
	d.enabled = v.sectionSet("discord") && (d.Enabled == nil || *d.Enabled)
	if !d.enabled {
		return
	}
	v.discordApplicationID(d)
	v.discordCredentials(d)
	v.discordAPIURL(d)
	v.discordIDs(d)
	v.discordChannels(d)
	v.discordApproverChannel(d)
	v.discordUsers(d)
	v.discordGuild(d)
	v.positive("discord.role_cache_ttl", d.RoleCacheTTL)
}

// sectionSet reports whether the file sets any key of the named top-level section.
func (v *validator) sectionSet(section string) bool {
	for path := range v.d.lines {
		if strings.HasPrefix(path, section+".") {
			return true
		}
	}
	return false
}

// discordApplicationID checks the application ID commands are registered under.
func (v *validator) discordApplicationID(d *Discord) {
	switch {
	case d.ApplicationID == "":
		v.add("discord.application_id", "required: the application ID from the Developer Portal's General Information page")
	case !snowflake.MatchString(d.ApplicationID):
		v.add("discord.application_id", "%s is not a Discord ID (a number such as 1234567890123456789)", v.quote("discord.application_id", d.ApplicationID))
	}
}

// discordCredentials checks the bot token and the public key. Messages name the key, never the
// value: these are credentials.
func (v *validator) discordCredentials(d *Discord) {
	if d.BotToken == "" {
		v.add("discord.bot_token", "required: the bot token from the Developer Portal's Bot page, e.g. \"${DISCORD_BOT_TOKEN}\"")
	} else if strings.HasPrefix(string(d.BotToken), "Bot ") {
		v.add("discord.bot_token", "give the token alone: accessbot adds the \"Bot \" prefix")
	}
	if d.PublicKey == "" {
		if !d.Gateway {
			v.add("discord.public_key", "required (unless gateway is true): the public key from the Developer Portal's General Information page, 64 hex characters")
		}
	} else if k, err := hex.DecodeString(d.PublicKey); err != nil || len(k) != 32 {
		v.add("discord.public_key", "is not an Ed25519 public key: expected 64 hex characters, as the Developer Portal shows it")
	}
}

// discordAPIURL checks the REST API base URL and drops its trailing slashes.
func (v *validator) discordAPIURL(d *Discord) {
	if u, err := url.Parse(d.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("discord.api_url", "must be an absolute http:// or https:// URL, e.g. %s", DefaultDiscordAPIURL)
		return
	}
	d.APIURL = strings.TrimRight(d.APIURL, "/")
}

// discordIDs checks that the guild and channel IDs that are set look like Discord IDs.
func (v *validator) discordIDs(d *Discord) {
	for _, f := range []struct{ key, value string }{
		{"guild_id", d.GuildID}, {"approver_channel", d.ApproverChannel}, {"security_channel", d.SecurityChannel},
	} {
		if f.value != "" && !snowflake.MatchString(f.value) {
			v.add("discord."+f.key, "%s is not a Discord ID: turn on Developer Mode (User Settings > Advanced), right-click and Copy ID", v.quote("discord."+f.key, f.value))
		}
	}
}

// discordChannels checks discord.channels: each names a known resource and a channel ID.
func (v *validator) discordChannels(d *Discord) {
	known := map[string]bool{}
	var names []string
	for _, r := range v.c.Resources {
		known[r.Name] = true
		names = append(names, r.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(d.Channels)) {
		path := joinKey("discord.channels", name)
		if !known[name] {
			hint := ""
			if c := closest(name, names); c != "" {
				hint = ` (did you mean "` + c + `"?)`
			}
			v.add(path, "unknown resource %q%s", name, hint)
		}
		if ch := d.Channels[name]; !snowflake.MatchString(ch) {
			v.add(path, "%s is not a channel ID (right-click the channel > Copy Channel ID)", v.quote(path, ch))
		}
	}
}

// discordApproverChannel requires approver_channel when a resource has no channel of its own.
func (v *validator) discordApproverChannel(d *Discord) {
	if d.ApproverChannel != "" {
		return
	}
	if missing := v.withoutChannel(d.Channels); len(missing) > 0 {
		v.add("discord.approver_channel", "required: the channel ID for approval messages (resources without a channel under discord.channels: %s)", strings.Join(missing, ", "))
	}
}

// discordUsers checks discord.users: Discord user IDs mapped to people.
func (v *validator) discordUsers(d *Discord) {
	for _, id := range slices.Sorted(maps.Keys(d.Users)) {
		path := joinKey("discord.users", id)
		if !snowflake.MatchString(id) {
			v.add(path, "%q is not a Discord user ID: turn on Developer Mode, right-click the person and Copy User ID", id)
		}
		if strings.TrimSpace(d.Users[id]) == "" {
			v.add(path, "empty: write the person's email (their accessbot ID)")
		}
	}
}

// discordGuild requires guild_id when a group names a Discord role: roles are looked up there.
func (v *validator) discordGuild(d *Discord) {
	if d.GuildID != "" {
		return
	}
	if group := v.firstDiscordRole(); group != "" {
		v.add("discord.guild_id", "required: %q names a Discord role, which is looked up in this server (guild)", group)
	}
}

// firstDiscordRole returns the first group name in the config that names a Discord role.
func (v *validator) firstDiscordRole() string { return v.firstGroupWithPrefix(discordRolePrefix) }

// firstGroupWithPrefix returns the first group name in the config (admins, requesters,
// approvers) that starts with prefix.
func (v *validator) firstGroupWithPrefix(prefix string) string {
	lists := [][]string{v.c.Admins.Groups, v.c.Defaults.Approvers}
	if v.c.Defaults.Requesters != nil {
		lists = append(lists, v.c.Defaults.Requesters.Groups)
	}
	for _, r := range v.c.Resources {
		lists = append(lists, r.Policy.Approvers)
		if r.Policy.Requesters != nil {
			lists = append(lists, r.Policy.Requesters.Groups)
		}
	}
	for _, list := range lists {
		for _, g := range list {
			if strings.HasPrefix(g, prefix) {
				return g
			}
		}
	}
	return ""
}
