package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/bot/discord"
)

// cmdDiscordRegister registers /access with its subcommands and options: in a guild (at once)
// or globally (Discord takes up to an hour to show it everywhere). Registering again replaces
// the definition, so it is also how an upgrade brings new subcommands.
func discordRegisterCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register the /access command with Discord",
		Long: `Register registers /access with its subcommands and options: in a server (guild), where it is
available at once, or globally (Discord takes up to an hour to show it everywhere).
Registering again replaces the definition, so it is also how an upgrade brings new
subcommands. It prints the link that invites the bot to a server.`,
		Example: `  accessbot discord register
  accessbot discord register --guild 123456789012345678
  accessbot discord register --global`,
		Args: noArgs("; use --guild ID or --global"),
	}
	path := e.configFlag(cmd)
	guild := cmd.Flags().String("guild", "", "register in this server (guild) ID; default: discord.guild_id")
	global := cmd.Flags().Bool("global", false, "register globally, in every server the bot is in")
	cmd.RunE = func(*cobra.Command, []string) error { return cmdDiscordRegister(e, path, guild, global) }
	return cmd
}

func cmdDiscordRegister(e *env, path, guild *string, global *bool) error {
	if *guild != "" && *global {
		return usageErr("discord register: --guild and --global exclude each other")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if !cfg.Discord.IsEnabled() {
		return &exitError{code: 1, msg: fmt.Sprintf("config %s has no discord: section (or it says enabled: false): nothing to register", *path)}
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	target := *guild
	if target == "" && !*global {
		target = cfg.Discord.GuildID
	}
	client, err := discord.NewClient(discord.ClientOptions{
		BotToken:      cfg.Discord.BotToken.Reveal(),
		ApplicationID: cfg.Discord.ApplicationID,
		APIURL:        cfg.Discord.APIURL,
		Log:           log,
	})
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	cmds, err := client.RegisterCommands(ctx, target, discord.Commands())
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("could not register the /access command: %v", err)}
	}
	subs := 0
	for _, c := range cmds {
		subs += len(c.Options)
	}
	if target != "" {
		fmt.Fprintf(e.stdout, "registered /access (%d subcommands) in server %s; it is available now\n", subs, target)
	} else {
		fmt.Fprintf(e.stdout, "registered /access (%d subcommands) globally; Discord may take up to an hour to show it\n", subs)
	}
	invite := url.Values{}
	invite.Set("client_id", cfg.Discord.ApplicationID)
	invite.Set("scope", "bot applications.commands")
	invite.Set("permissions", strconv.FormatInt(discord.RequiredPermissions, 10))
	fmt.Fprintf(e.stdout, "invite the bot to a server with: https://discord.com/oauth2/authorize?%s\n", invite.Encode())
	return nil
}
