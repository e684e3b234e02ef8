package discord_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
)

var commandName = regexp.MustCompile(`^[-_a-z0-9]{1,32}$`)

// The command follows Discord's rules for application commands: lowercase names of at most 32
// characters, descriptions of 1 to 100, at most 25 options, required options first, and at
// most 4000 characters of names, descriptions and choices in all.
func TestTheAccessCommandIsValidForDiscord(t *testing.T) {
	cmds := discord.Commands()
	if len(cmds) != 1 || cmds[0].Name != "access" || cmds[0].Type != discordgo.ChatApplicationCommand {
		t.Fatalf("commands = %+v", cmds)
	}
	total := 0
	var check func(path string, opts []*discordgo.ApplicationCommandOption)
	check = func(path string, opts []*discordgo.ApplicationCommandOption) {
		if len(opts) > 25 {
			t.Errorf("%s has %d options", path, len(opts))
		}
		optional := false
		for _, o := range opts {
			p := path + " " + o.Name
			total += utf8.RuneCountInString(o.Name) + utf8.RuneCountInString(o.Description)
			if !commandName.MatchString(o.Name) || o.Description == "" || utf8.RuneCountInString(o.Description) > 100 {
				t.Errorf("%s: bad name or description %q", p, o.Description)
			}
			for _, c := range o.Choices {
				total += utf8.RuneCountInString(c.Name) + utf8.RuneCountInString(c.Value.(string))
			}
			if o.Type == discordgo.ApplicationCommandOptionString {
				if o.Required && optional {
					t.Errorf("%s: a required option after an optional one", p)
				}
				optional = optional || !o.Required
				if o.Autocomplete && len(o.Choices) > 0 {
					t.Errorf("%s: autocomplete and choices", p)
				}
			}
			check(p, o.Options)
		}
	}
	total += len(cmds[0].Name) + len(cmds[0].Description)
	check("/access", cmds[0].Options)
	if total > 4000 {
		t.Errorf("the command has %d characters, over 4000", total)
	}
	subs := map[string]bool{}
	for _, o := range cmds[0].Options {
		subs[o.Name] = true
	}
	for _, verb := range append(append([]string{}, bot.Verbs...), discord.VerbLink) {
		if !subs[verb] {
			t.Errorf("no subcommand for %q", verb)
		}
	}
}

func TestRegisterPutsTheCommandsInTheGuildOrGlobally(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	got, err := c.RegisterCommands(ctx(t), discordtest.GuildID, discord.Commands())
	if err != nil || len(got) != 1 || got[0].ID == "" {
		t.Fatalf("register in the guild = %+v, %v", got, err)
	}
	call := fake.Calls(discordtest.RouteGuildCommands)[0]
	var sent []map[string]any
	if err := json.Unmarshal(call.Body, &sent); err != nil || len(sent) != 1 || sent[0]["name"] != "access" || call.Auth != "Bot "+discordtest.BotToken {
		t.Errorf("PUT %s %s (%v)", call.Path, call.Body, err)
	}
	if _, err := c.RegisterCommands(ctx(t), "", discord.Commands()); err != nil || fake.Count(discordtest.RouteGlobalCommands) != 1 {
		t.Errorf("register globally: %v", err)
	}
	if _, err := c.RegisterCommands(ctx(t), "299999999999999999", discord.Commands()); err == nil || !strings.Contains(err.Error(), "Missing Access") {
		t.Errorf("registering in a guild the bot is not in: %v, want Discord's Missing Access", err)
	}
}
