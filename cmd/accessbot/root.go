package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/internal/app"
)

// overview is the top of `accessbot --help`: every command with the flags that matter most, so
// a new operator sees the whole tool on one screen. Each command's own --help has the rest.
const overview = `accessbot: temporary access to production, approved in chat, revoked on time, audited.

  accessbot demo [--listen ADDR] [--keep]   try it in a browser: local web chat, demo config, throwaway SQLite
  accessbot serve                    run the bot (HTTP, scheduler)
  accessbot migrate                  apply database migrations and exit
  accessbot config validate [FILE]   check the config file and list every problem
  accessbot grants list [--state S] [--resource R] [--user U] [--limit N] [--json]
  accessbot grants revoke ID [--force --note TEXT]
  accessbot grants show ID [--json]   one grant's story: request, reviews, extensions, revocation, sessions
  accessbot audit verify [--since CHECKPOINT [--key-file F]]   check the hash chain (whole, or since a signed checkpoint)
  accessbot audit keygen --origin NAME --out FILE   make the key pair that signs checkpoints
  accessbot audit checkpoint         sign and print a checkpoint of the log (size, root hash, time)
  accessbot audit prove --seq N [--checkpoint FILE]   print an event with its inclusion proof
  accessbot audit check --key-file F PROOF.json   check a proof offline with only the verifier key
  accessbot audit export [--format jsonl|csv|html] [--since T] [--until T] [--resource R] [--user U] [--output FILE] [--events]
  accessbot discord register [--guild ID | --global]   register the /access command with Discord
  accessbot digest preview [--since T] [--until T] [--format text|markdown] [--chart FILE]   print the access digest
  accessbot policy report [--format text|markdown|html] [--output FILE]   each resource's policy and its warnings
  accessbot scan [--json]            list access at the targets that no active grant explains;
                                     exit 0 clean, 1 findings, 3 a resource could not be listed
  accessbot healthcheck [--url URL]  exit 0 when the server's /readyz answers 200 (a container's HEALTHCHECK)
  accessbot completion bash|zsh|fish print a shell completion script
  accessbot version

Every command that reads the config takes --config FILE (default: $ACCESSBOT_CONFIG, else
accessbot.yaml). Relative paths in the config are relative to the config file's directory.`

// exitError is an error with an exit code; its message is one sentence for a person.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a mistake in how a command was called: exit 2, and a pointer to the command's help.
func usageErr(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// env is what the CLI reads from its surroundings, replaceable in tests.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// setVersion hands the build's version to internal/app once: tests call run from several
// goroutines at a time (a serve and the healthcheck that asks it).
var setVersion sync.Once

// run executes one command and returns the process exit code. It never panics at a person:
// every failure becomes one line on stderr (two for a usage mistake: the second says where the
// command's help is).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	setVersion.Do(func() { app.Version = version })
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "accessbot: internal error: %v (please report this)\n", r)
			code = 70
		}
	}()
	root := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		if strings.HasPrefix(err.Error(), "unknown command") {
			// Cobra's own, with its "Did you mean this?" suggestions.
			ee = &exitError{code: 2, msg: strings.TrimSpace(err.Error())}
		} else {
			fmt.Fprintf(stderr, "accessbot: %s\n", err)
			return 1
		}
	}
	if ee.msg != "" {
		fmt.Fprintf(stderr, "accessbot: %s\n", ee.msg)
	}
	if ee.code == 2 {
		fmt.Fprintf(stderr, "see '%s --help'\n", cmd.CommandPath())
	}
	return ee.code
}

// configFlag adds --config to cmd and returns where its value goes. The default is
// $ACCESSBOT_CONFIG, else accessbot.yaml, as it always was.
func (e *env) configFlag(cmd *cobra.Command) *string {
	def := e.getenv("ACCESSBOT_CONFIG")
	if def == "" {
		def = "accessbot.yaml"
	}
	return cmd.Flags().String("config", def, "config file; relative paths in it are relative to its directory ($ACCESSBOT_CONFIG when set)")
}

// flagError turns pflag's terse messages into a sentence that names the flag and the command.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	where := fmt.Sprintf("for %q", cmd.CommandPath())
	switch {
	case strings.HasPrefix(msg, "unknown flag: "):
		return usageErr("unknown flag %s %s", strings.TrimPrefix(msg, "unknown flag: "), where)
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// "unknown shorthand flag: 'x' in -x"
		name := msg[strings.LastIndex(msg, " ")+1:]
		return usageErr("unknown flag %s %s", name, where)
	case strings.HasPrefix(msg, "flag needs an argument: "):
		name := strings.TrimPrefix(msg, "flag needs an argument: ")
		if !strings.HasPrefix(name, "-") {
			name = "-" + strings.Trim(name, "'")
		}
		return usageErr("%s needs a value (%s)", name, where)
	case strings.HasPrefix(msg, "invalid argument "):
		// invalid argument "x" for "--limit" flag: strconv.ParseInt: parsing "x": invalid syntax
		var val, name string
		if _, err := fmt.Sscanf(msg, "invalid argument %q for %q", &val, &name); err == nil {
			name = name[strings.LastIndex(name, " ")+1:]
			return usageErr("%s %q is not a valid value (%s)", name, val, describeFlagType(cmd, name))
		}
	}
	return usageErr("%s %s", msg, where)
}

// describeFlagType says what a flag takes, for a message about a value it could not parse.
func describeFlagType(cmd *cobra.Command, name string) string {
	f := cmd.Flags().Lookup(strings.TrimLeft(name, "-"))
	if f == nil {
		return "see the command's help"
	}
	switch f.Value.Type() {
	case "int", "int64", "uint", "uint64":
		return "a whole number is expected"
	case "bool":
		return "true or false is expected"
	case "duration":
		return "a duration such as 30s is expected"
	}
	return "a " + f.Value.Type() + " is expected"
}

// noArgs refuses positional arguments in one sentence (cobra's own says "unknown command").
func noArgs(hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErr("%s takes no arguments, got %q%s", strings.TrimPrefix(cmd.CommandPath(), "accessbot "), args[0], hint)
		}
		return nil
	}
}

// exactArgs wants n positional arguments, and says what they are (what) when they are not there.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %d argument%s: %s; got %d", strings.TrimPrefix(cmd.CommandPath(), "accessbot "), n, map[bool]string{true: "", false: "s"}[n == 1], what, len(args))
		}
		return nil
	}
}

// group makes a command that only holds subcommands: alone, or with a word that is none of
// them, it is a usage error that lists them (cobra would print the help and exit 0).
func group(use, short, long, example string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		// `grants lst --config x`: the mistake is the word, not the flag lst would have taken.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			if len(args) == 0 {
				return usageErr("%s needs a subcommand: %s", use, strings.Join(names, ", "))
			}
			return unknownCommand(cmd, args[0])
		},
	}
	g.AddCommand(subs...)
	return g
}

// unknownCommand says that word is none of cmd's subcommands, with cobra's suggestions of the
// ones it may have meant, else the list of them.
func unknownCommand(cmd *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		return usageErr("%s; did you mean %s?", msg, strings.Join(s, " or "))
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return usageErr("%s; the commands are %s", msg, strings.Join(names, ", "))
}

// newRoot builds the command tree. Every command has Short, Long and Example; the test
// TestEveryCommandHasHelpWithAnExample walks the tree to keep it so.
func newRoot(e *env) *cobra.Command {
	v := versionString()
	root := &cobra.Command{
		Use:   "accessbot",
		Short: "Temporary access to production, approved in chat, revoked on time, audited",
		Long:  overview,
		Example: `  accessbot demo
  accessbot config validate --config /etc/accessbot/accessbot.yaml
  ACCESSBOT_CONFIG=/etc/accessbot/accessbot.yaml accessbot serve`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if show, _ := cmd.Flags().GetBool("version"); show {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "accessbot %s\n", v)
				return err
			}
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			cmd.SetOut(e.stderr)
			_ = cmd.Help()
			return &exitError{code: 2}
		},
	}
	// --version is ours, not cobra's (Command.Version): cobra prints a custom version line
	// through text/template, whose method lookups by name switch the linker's dead-code
	// elimination of methods off for the whole binary (BENCHMARKS.md "4. Memory").
	root.Flags().BoolP("version", "v", false, "version for accessbot")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(flagError)
	root.CompletionOptions.DisableDefaultCmd = true // ours below has examples and only bash, zsh and fish
	root.SetHelpCommand(helpCommand())
	root.AddCommand(
		demoCommand(e),
		serveCommand(e),
		migrateCommand(e),
		group("config", "Check the config file", "Commands on the config file itself.",
			"  accessbot config validate --config /etc/accessbot/accessbot.yaml", configValidateCommand(e)),
		group("grants", "List and revoke grants", "Commands on the grants in the database: who has access now, and taking it away.",
			"  accessbot grants list --state active\n  accessbot grants revoke g-01J9Z3", grantsListCommand(e), grantsRevokeCommand(e), grantsShowCommand(e)),
		group("audit", "Verify, prove and export the audit log", "Commands on the hash-chained audit log and its Merkle tree (docs/transparency.md). They read the database and never create one.",
			"  accessbot audit verify --config /etc/accessbot/accessbot.yaml\n  accessbot audit export --format html --since 30d --output report.html\n  accessbot audit prove --seq 1842 | accessbot audit check --key-file checkpoint.pub -",
			auditVerifyCommand(e), auditExportCommand(e), auditKeygenCommand(e), auditCheckpointCommand(e),
			auditProveCommand(e), auditCheckCommand(e)),
		group("discord", "Set up the Discord bot", "Commands on the Discord application configured in discord:.",
			"  accessbot discord register --guild 123456789012345678", discordRegisterCommand(e)),
		group("digest", "Preview the access digest", "The digest is what accessbot serve posts to chat every digest.period.",
			"  accessbot digest preview --since 7d --format markdown", digestPreviewCommand(e)),
		group("policy", "Review the access policy", "Commands on the policy the config sets.", "  accessbot policy report --format markdown", policyReportCommand(e)),
		scanCommand(e),
		healthcheckCommand(e),
		completionCommand(),
		versionCommand(e, v),
	)
	// Commands added above inherit the error function only at the root; set it on each so a
	// flag error names the command it happened in.
	walk(root, func(c *cobra.Command) {
		c.SetFlagErrorFunc(flagError)
		c.SuggestionsMinimumDistance = 2 // cobra sets it on the root only, when it suggests itself
	})
	return root
}

// walk calls fn on cmd and every command below it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// helpCommand is `accessbot help [COMMAND]`, as cobra's but with an example.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: what it does, its flags, and examples.",
		Example: `  accessbot help
  accessbot help audit export`,
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if cmd == nil || err != nil || len(rest) > 0 {
				return usageErr("unknown help topic %q", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// versionString is the version set at build time, else the module's version from the build
// info, else "dev".
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}

func versionCommand(e *env, v string) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Long:    "Version prints the version of this accessbot binary (also: accessbot --version).",
		Example: "  accessbot version",
		Args:    noArgs(""),
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(e.stdout, "accessbot %s\n", v)
			return nil
		},
	}
}

func completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Completion prints a script that completes accessbot's commands and flags in bash, zsh or
fish. Load it in your shell's start-up file, or install it where your shell looks for
completions.`,
		Example: `  source <(accessbot completion bash)
  accessbot completion zsh > "${fpath[1]}/_accessbot"
  accessbot completion fish > ~/.config/fish/completions/accessbot.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("completion takes one shell: bash, zsh or fish")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return usageErr("completion: %q is not a shell accessbot completes (use bash, zsh or fish)", args[0])
		},
	}
}
