package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/app"
)

// The demo's config and the script its exec adapter runs, written into a temporary directory.
var (
	//go:embed demo/accessbot.yaml
	demoConfig string
	//go:embed demo/access.sh
	demoScript string
)

const demoListen = "127.0.0.1:8080"

// cmdDemo runs accessbot on a throwaway SQLite database, with the web chat and a demo config
// (four people, an auto-approved and an approved resource, a script that really grants and
// revokes), until Ctrl-C; then it deletes what it made.
func demoCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try accessbot in a browser: local web chat, demo config, throwaway SQLite",
		Long: `Demo runs accessbot with a built-in config (four people, a resource approved at once and one
that needs an approver, a script that really grants and revokes) on a throwaway SQLite
database in a temporary directory, with the web chat on this machine only, until Ctrl-C; then
it deletes the directory, unless --keep. It needs no config file.`,
		Example: `  accessbot demo
  accessbot demo --listen 127.0.0.1:8081 --keep`,
		Args: noArgs(""),
	}
	listen := cmd.Flags().String("listen", demoListen, "host:port of the web chat, on this machine only")
	keep := cmd.Flags().Bool("keep", false, "keep the temporary directory (config, database, access files) after Ctrl-C")
	cmd.RunE = func(*cobra.Command, []string) error { return cmdDemo(e, listen, keep) }
	return cmd
}

func cmdDemo(e *env, listen *string, keep *bool) error {
	if !config.IsLoopback(*listen) {
		return usageErr("--listen %q is not a loopback address: the demo's web chat has no login, so it listens on this machine only (127.0.0.1:PORT or localhost:PORT)", *listen)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &exitError{code: 1, msg: fmt.Sprintf("%s is already in use by another program; try accessbot demo --listen 127.0.0.1:8081", *listen)}
		}
		return &exitError{code: 1, msg: fmt.Sprintf("cannot listen on %s: %v", *listen, err)}
	}
	defer ln.Close()

	dir, err := os.MkdirTemp("", "accessbot-demo-")
	if err != nil {
		return fmt.Errorf("create the demo's directory: %w", err)
	}
	removed := false
	defer func() {
		if !*keep && !removed {
			_ = os.RemoveAll(dir)
		}
	}()
	cfgPath, err := writeDemo(dir, ln.Addr().String())
	if err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("the demo's own config is not valid (please report this): %w", err)
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	// The demo prints the web chat's URL itself, so the token is not in its log too.
	a, err := app.New(e.ctx, cfg, log, app.Options{Listener: ln, WebURLShown: true})
	if err != nil {
		return err
	}

	if a.Web == nil {
		_ = a.Close()
		return errors.New("the demo's own config has no web chat (please report this)")
	}
	addr := ln.Addr().String()
	fmt.Fprintf(e.stdout, `accessbot demo: open %s

The link carries this run's token: the chat opens only with it (it becomes a cookie), so
keep it to yourself. A new run has a new token.

Try this:
  1. As Alice, send:  /access request prod-db 2m checking the demo
  2. Switch to Bob (top right), open #approvals and press Approve: Alice's DM says she has access.
  3. Two minutes later the access is revoked on its own; /access request staging-db 10m needs nobody.

Who has access now: ls %s (the demo's exec adapter, %s, writes it).
Ctrl-C stops the demo and deletes %s.
`, a.Web.URL("http://"+addr, "alice"), filepath.Join(dir, "access"), filepath.Join(dir, "access.sh"), dir)
	if *keep {
		fmt.Fprintf(e.stdout, "(--keep: the directory stays; `accessbot serve --config %s` runs it again, and logs the chat's URL with a new token.)\n", cfgPath)
	}

	runErr := a.Run(e.ctx)
	closeErr := a.Close()
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return fmt.Errorf("close the demo's database: %w", closeErr)
	}
	if *keep {
		fmt.Fprintf(e.stdout, "accessbot demo stopped; its files are in %s\n", dir)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the demo's directory: %w", err)
	}
	removed = true
	fmt.Fprintf(e.stdout, "accessbot demo stopped; removed %s\n", dir)
	return nil
}

// writeDemo writes the demo's config, its script and the directory the script keeps access in,
// and returns the config's path.
func writeDemo(dir, listen string) (string, error) {
	script := filepath.Join(dir, "access.sh")
	if err := os.WriteFile(script, []byte(demoScript), 0o755); err != nil {
		return "", fmt.Errorf("write the demo's script: %w", err)
	}
	access := filepath.Join(dir, "access")
	if err := os.Mkdir(access, 0o755); err != nil {
		return "", fmt.Errorf("create the demo's access directory: %w", err)
	}
	// JSON strings are YAML double-quoted scalars: any path is written safely.
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	text := strings.NewReplacer(
		"{{listen}}", q(listen),
		"{{dsn}}", q(filepath.Join(dir, "accessbot.db")),
		"{{script}}", q(script),
		"{{access}}", q(access),
	).Replace(demoConfig)
	path := filepath.Join(dir, "accessbot.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("write the demo's config: %w", err)
	}
	return path, nil
}
