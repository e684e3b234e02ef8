// Command composecheck loads a compose file as Docker Compose does (the Compose Specification's
// schema, ${VAR} interpolation, merge keys, the consistency checks) with the compose-go library
// that Compose itself uses, and prints the resulting project as JSON. The container test
// (deploy/docker) runs it on compose.yaml, since no test can run compose here (it pulls images).
// It is a module of its own so that accessbot's go.mod does not carry compose's dependencies;
// .ci/run builds it into the tools cache.
//
//	composecheck [-e NAME=VALUE]... compose.yaml
//
// Only the -e variables are set: one the file requires (${NAME:?why}) and not given is an error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

// envFlags collects repeated -e NAME=VALUE flags.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, ",") }

func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not NAME=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	var env envFlags
	flag.Var(&env, "e", "NAME=VALUE: a variable the compose file may read (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-e NAME=VALUE]... compose.yaml")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), env); err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
		os.Exit(1)
	}
}

// run loads file with only env as its environment and prints the project.
func run(file string, env []string) error {
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithEnv(env),
		cli.WithDiscardEnvFile,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return fmt.Errorf("options for %s: %w", file, err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("load %s: %w", file, err)
	}
	out, err := json.MarshalIndent(project, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the project: %w", err)
	}
	_, err = fmt.Printf("%s\n", out)
	return err
}
