package discord

import (
	"github.com/bwmarrin/discordgo"

	"github.com/accessbot/accessbot/bot"
)

// Option names of the /access subcommands.
const (
	optResource    = "resource"
	optDuration    = "duration"
	optReason      = "reason"
	optID          = "id"
	optTopic       = "topic"
	optKey         = "key"
	optFingerprint = "fingerprint"
	optEmail       = "email"
	optLogin       = "login"
)

// optionOrder is the order in which the grammar reads each subcommand's options.
var optionOrder = map[string][]string{
	bot.VerbRequest:            {optResource, optDuration, optReason},
	bot.VerbBreakGlass:         {optResource, optDuration, optReason},
	bot.VerbStatus:             {optID},
	bot.VerbRevoke:             {optID},
	bot.VerbCancel:             {optID},
	bot.VerbExtend:             {optID, optDuration, optReason},
	bot.VerbHelp:               {optTopic},
	VerbLink:                   {optEmail},
	bot.VerbSSHKey + " add":    {optKey},
	bot.VerbSSHKey + " remove": {optFingerprint},
	bot.VerbList:               nil,
	bot.VerbResources:          nil,
	bot.VerbSSHKey + " list":   nil,
	bot.VerbGitHubLogin:        {optLogin},
}

// Commands is the /access command as `accessbot discord register` registers it: one
// subcommand per verb of the grammar, with its options in the grammar's order. request's
// options are optional (what is missing is asked in a form), and resource names complete to
// those the person may request.
func Commands() []*discordgo.ApplicationCommand {
	str := func(name, desc string, required bool) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: name,
			Description: desc, Required: required}
	}
	resource := func(required bool) *discordgo.ApplicationCommandOption {
		o := str(optResource, "The resource (completes to those you may request)", required)
		o.Autocomplete = true
		return o
	}
	duration := func(required bool, desc string) *discordgo.ApplicationCommandOption {
		o := str(optDuration, desc, required)
		o.MaxLength = 16
		return o
	}
	reason := func(required bool) *discordgo.ApplicationCommandOption {
		o := str(optReason, "Why: a ticket and a few words, e.g. INC-42 fixing the index", required)
		o.MaxLength = 1000
		return o
	}
	id := func(desc string) *discordgo.ApplicationCommandOption { return str(optID, desc, true) }
	sub := func(name, desc string, opts ...*discordgo.ApplicationCommandOption) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: name,
			Description: desc, Options: opts}
	}
	topic := str(optTopic, "A command to explain", false)
	for _, v := range bot.Verbs {
		topic.Choices = append(topic.Choices, &discordgo.ApplicationCommandOptionChoice{Name: v, Value: v})
	}
	email := str(optEmail, "Your work email (admins: pending, or remove <user ID>)", false)
	email.MaxLength = 254
	login := str(optLogin, "Your GitHub login, checked against what GitHub says (or: remove)", false)
	login.MaxLength = 39
	key := str(optKey, "Your public key: the one line of your .pub file", true)
	key.MaxLength = 6000
	return []*discordgo.ApplicationCommand{{
		Type:        discordgo.ChatApplicationCommand,
		Name:        CommandName,
		Description: "Temporary access to production: ask, approve, revoke",
		Options: []*discordgo.ApplicationCommandOption{
			sub(bot.VerbRequest, "Ask for temporary access (a form asks for what you leave out)",
				resource(false), duration(false, "How long: 30m, 1h, 8h, 1d (empty: the resource's default)"), reason(false)),
			sub(bot.VerbList, "Your active grants and pending requests"),
			sub(bot.VerbResources, "What you can ask for, and who approves it"),
			sub(bot.VerbStatus, "Where a request or grant is", id("A request or grant ID (r-… or g-…)")),
			sub(bot.VerbRevoke, "End a grant now (I'm done)", id("A grant ID (g-…)")),
			sub(bot.VerbExtend, "Ask for more time on a grant", id("A grant ID (g-…)"),
				duration(true, "How much longer: 30m, 1h"), reason(false)),
			sub(bot.VerbCancel, "Cancel a request that is still pending", id("A request ID (r-…)")),
			sub(bot.VerbBreakGlass, "Emergency access now, reviewed afterwards",
				resource(true), duration(true, "How long: 30m, 1h"), reason(true)),
			{
				Type: discordgo.ApplicationCommandOptionSubCommandGroup, Name: bot.VerbSSHKey,
				Description: "Your SSH public keys, for SSH certificates",
				Options: []*discordgo.ApplicationCommandOption{
					sub("add", "Register a public key", key),
					sub("list", "Your registered keys"),
					sub("remove", "Remove a key", str(optFingerprint, "The key's fingerprint (SHA256:…)", true)),
				},
			},
			sub(bot.VerbGitHubLogin, "Link your GitHub login, verified by GitHub (you enter a code there)", login),
			sub(VerbLink, "Link this Discord account to your work email", email),
			sub(bot.VerbHelp, "What accessbot does and how to ask", topic),
		},
	}}
}
