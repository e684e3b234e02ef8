package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every command's --help, found by walking the command tree (so a command added later is
// covered without touching this test), prints what it does, how to call it and an example,
// and exits 0. The issue found `serve --help`, `demo --help`, `grants list --help` and
// `audit export -h` printing nothing, and `config --help` an error.
func TestEveryCommandHasHelpWithAnExample(t *testing.T) {
	root := newRoot(&env{ctx: context.Background(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }})
	var paths [][]string
	var visit func(c *cobra.Command, path []string)
	visit = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		paths = append(paths, path)
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			visit(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	visit(root, nil)
	if len(paths) < 18 {
		t.Fatalf("walked %d commands; the tree has more", len(paths))
	}
	for _, path := range paths {
		for _, flag := range []string{"--help", "-h"} {
			args := append(append([]string(nil), path...), flag)
			code, out, errOut := runCLI(t, nil, args...)
			if code != 0 || errOut != "" {
				t.Errorf("accessbot %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
				continue
			}
			for _, want := range []string{"Usage:", "Examples:\n  ", "accessbot", "-h, --help"} {
				if !strings.Contains(out, want) {
					t.Errorf("accessbot %s lacks %q:\n%s", strings.Join(args, " "), want, out)
				}
			}
		}
	}
	// `help COMMAND` is the same help.
	if code, out, _ := runCLI(t, nil, "help", "audit", "export"); code != 0 || !strings.Contains(out, "--format") || !strings.Contains(out, "Examples:") {
		t.Errorf("help audit export: exit %d\n%s", code, out)
	}
}

// The top-level help lists every command with its main flags, the demo's --keep among them.
func TestTopLevelHelpListsEveryCommand(t *testing.T) {
	code, out, _ := runCLI(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"demo [--listen ADDR] [--keep]", "grants list [--state S] [--resource R] [--user U] [--limit N] [--json]",
		"audit export", "healthcheck [--url URL]", "completion bash|zsh|fish", "$ACCESSBOT_CONFIG"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// A mistake in how a command is called is exit 2 and one sentence that names the flag or
// word and the command, then where that command's help is. The issue found
// `accessbot: demo: -config` for an unknown flag.
func TestUsageMistakesAreNamedInPlainWords(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown flag names the flag and the command", []string{"demo", "--config", "x.yaml"}, `accessbot: unknown flag --config for "accessbot demo"` + "\nsee 'accessbot demo --help'\n"},
		{"an unknown shorthand flag too", []string{"grants", "list", "-x"}, `accessbot: unknown flag -x for "accessbot grants list"` + "\nsee 'accessbot grants list --help'\n"},
		{"a flag without its value", []string{"audit", "export", "--format"}, `accessbot: --format needs a value (for "accessbot audit export")` + "\n"},
		{"a value of the wrong kind", []string{"grants", "list", "--limit", "ten"}, `accessbot: --limit "ten" is not a valid value (a whole number is expected)` + "\n"},
		{"a mistyped command is suggested", []string{"serv"}, `accessbot: unknown command "serv" for "accessbot"; did you mean serve?` + "\nsee 'accessbot --help'\n"},
		{"a mistyped subcommand is suggested", []string{"audit", "verfy"}, `accessbot: unknown command "verfy" for "accessbot audit"; did you mean verify?` + "\n"},
		{"a mistyped subcommand is named before its flags", []string{"grants", "lst", "--config", "x.yaml"}, `unknown command "lst" for "accessbot grants"; did you mean list?`},
		{"a group alone lists its subcommands", []string{"grants"}, "accessbot: grants needs a subcommand: list, revoke, show\n"},
		{"an argument where none is taken", []string{"serve", "now"}, `accessbot: serve takes no arguments, got "now"` + "\n"},
		{"completion needs a shell", []string{"completion"}, "completion takes one shell: bash, zsh or fish"},
		{"completion knows three shells", []string{"completion", "tcsh"}, `"tcsh" is not a shell accessbot completes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tc.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 2 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and two lines with %q", code, out, errOut, tc.want)
			}
		})
	}
}

// `accessbot completion SHELL` prints a script for that shell that completes accessbot's
// commands.
func TestCompletionPrintsAScriptForEachShell(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -o default -F __start_accessbot accessbot",
		"zsh":  "#compdef accessbot",
		"fish": "complete -c accessbot",
	} {
		code, out, errOut := runCLI(t, nil, "completion", shell)
		if code != 0 || !strings.Contains(out, want) || errOut != "" {
			t.Errorf("completion %s: exit %d, stderr %q, script lacks %q", shell, code, errOut, want)
		}
	}
	// The hidden command the scripts call completes subcommands.
	code, out, _ := runCLI(t, nil, "__complete", "audit", "")
	if code != 0 || !strings.Contains(out, "verify") || !strings.Contains(out, "export") {
		t.Errorf("__complete audit: exit %d\n%s", code, out)
	}
}

// --version and version print the same line.
func TestVersionFlagAndCommandAgree(t *testing.T) {
	_, a, _ := runCLI(t, nil, "--version")
	_, b, _ := runCLI(t, nil, "version")
	if a != b || !strings.HasPrefix(a, "accessbot ") {
		t.Errorf("--version %q, version %q", a, b)
	}
}

// The README's command list and the top-level help name every command and every flag of it
// (the issue found the README without --limit and the help without demo --keep).
func TestTheREADMEAndTheHelpListEveryCommandAndFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(readme), "## Commands\n\n```\n")
	if !ok {
		t.Fatal("README.md has no ## Commands code block")
	}
	list, _, _ = strings.Cut(list, "```")
	root := newRoot(&env{ctx: context.Background(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }})
	for name, text := range map[string]string{"README.md": list, "accessbot --help": overview} {
		lines := map[string]string{}
		for _, l := range strings.Split(text, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "accessbot" {
				lines[l] = l
			}
		}
		var check func(c *cobra.Command)
		check = func(c *cobra.Command) {
			if c.Hidden || c.Name() == "help" {
				return
			}
			if c.HasSubCommands() {
				for _, sub := range c.Commands() {
					check(sub)
				}
				return
			}
			var line string
			for l := range lines {
				if strings.HasPrefix(strings.TrimSpace(l), c.CommandPath()+" ") || strings.TrimSpace(l) == c.CommandPath() {
					line = l
				}
			}
			if line == "" {
				t.Errorf("%s does not list %q", name, c.CommandPath())
				return
			}
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Name != "help" && f.Name != "config" && !strings.Contains(line, "--"+f.Name) {
					t.Errorf("%s lists %q without --%s", name, c.CommandPath(), f.Name)
				}
			})
		}
		for _, c := range root.Commands() {
			check(c)
		}
	}
}
