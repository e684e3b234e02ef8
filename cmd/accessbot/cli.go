package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/storage"
)

// The config sections each kind of command needs (config.LoadFor): a problem elsewhere, such
// as an unset ${SLACK_SIGNING_SECRET}, does not stop it. serve, migrate and config validate
// load the whole file.
var (
	// logSections are what the commands that only read the audit log need.
	logSections = []config.Section{config.SectionStorage, config.SectionLog}
	// digestSections add the digest's window and working hours.
	digestSections = []config.Section{config.SectionStorage, config.SectionLog, config.SectionTimeZone, config.SectionDigest}
	// offlineSections are what the grants service needs without the chat platforms.
	offlineSections = config.SectionsExcept(config.SectionSlack, config.SectionDiscord, config.SectionTeams, config.SectionOIDC)
)

func loadConfig(path string) (*config.Config, error) { return loadConfigFor(path) }

// loadConfigFor loads the config for a command that uses only the given sections (all when
// none are given).
func loadConfigFor(path string, need ...config.Section) (*config.Config, error) {
	cfg, err := config.LoadFor(path, need...)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("config file %s does not exist (give one with --config or ACCESSBOT_CONFIG; config.example.yaml is a start)", path)}
		}
		return nil, &exitError{code: 1, msg: fmt.Sprintf("config %s is not valid:\n%s", path, err)}
	}
	return cfg, nil
}

// openExistingStore opens the database of a command that reads it: a SQLite file that does not
// exist is an error naming it and where it was configured, never a new, empty database on
// which an audit would pass.
func openExistingStore(e *env, cfg *config.Config, log zerolog.Logger) (*storage.DB, error) {
	db, err := app.OpenExistingStore(e.ctx, cfg, log)
	if err != nil {
		return nil, noDatabase(cfg, err)
	}
	return db, nil
}

// noDatabase turns "the SQLite file does not exist" into one sentence for the operator.
func noDatabase(cfg *config.Config, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		file, _, _ := strings.Cut(cfg.Storage.DSN, "?")
		if abs, aerr := filepath.Abs(file); aerr == nil {
			file = abs
		}
		cfgFile := cfg.File()
		if abs, aerr := filepath.Abs(cfgFile); aerr == nil {
			cfgFile = abs
		}
		return &exitError{code: 1, msg: fmt.Sprintf("database %s does not exist (check storage.dsn in %s; accessbot serve or migrate creates it)", file, cfgFile)}
	}
	return err
}

func (e *env) logger(cfg *config.Config) (zerolog.Logger, error) {
	log, err := app.NewLogger(e.stderr, cfg.Log.Level, cfg.Log.Format, cfg.Secrets())
	if err != nil {
		return log, &exitError{code: 1, msg: fmt.Sprintf("log.level %q is not a level (use debug, info, warn or error)", cfg.Log.Level)}
	}
	return log, nil
}

func serveCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the bot: chat endpoints, web chat, scheduler, /healthz, /readyz, /metrics",
		Long: `Serve runs accessbot until it is stopped (SIGINT or SIGTERM): it listens on server.listen for
the chat platforms the config enables, grants and revokes on schedule, and forwards the audit
log to its sinks. It creates the database and applies migrations when needed. Several
replicas may share one PostgreSQL database.`,
		Example: `  accessbot serve --config /etc/accessbot/accessbot.yaml
  ACCESSBOT_CONFIG=/etc/accessbot/accessbot.yaml accessbot serve`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error { return cmdServe(e, *path) }
	return cmd
}

func cmdServe(e *env, path string) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	a, err := app.New(e.ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(e.ctx)
}

func migrateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create the database or bring it up to date, and exit",
		Long: `Migrate applies the database migrations this version needs and exits; serve does the same
at start, so this is for upgrades done as their own step. It creates a SQLite database that
does not exist yet.`,
		Example: `  accessbot migrate --config /etc/accessbot/accessbot.yaml`,
		Args:    noArgs(""),
	}
	path := e.configFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error { return cmdMigrate(e, *path) }
	return cmd
}

func cmdMigrate(e *env, path string) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	db, err := app.OpenStore(e.ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(e.stdout, "database is up to date (%s)\n", cfg.Storage.Driver)
	return nil
}

func configValidateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check the config file and list every problem",
		Long: `Validate reads the config file (FILE, else --config) as serve would, including every
${VAR} and ${file:...} reference, and lists every problem with its line, or says it is valid
and prints any warning. It touches neither the database nor any target.`,
		Example: `  accessbot config validate /etc/accessbot/accessbot.yaml
  accessbot config validate --config deploy/docker/accessbot.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("config validate takes at most one file, got %d", len(args))
			}
			return nil
		},
	}
	path := e.configFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if len(args) == 1 {
			*path = args[0]
		}
		return cmdConfigValidate(e, *path)
	}
	return cmd
}

func cmdConfigValidate(e *env, path string) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is valid: %d resources, storage %s\n", path, len(cfg.Resources), cfg.Storage.Driver)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	return nil
}

// openService builds the grants service over the configured database, for the operator
// commands that read or change grants.
func openService(e *env, path string) (*grants.Service, func(), error) {
	cfg, err := loadConfigFor(path, offlineSections...)
	if err != nil {
		return nil, nil, err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return nil, nil, err
	}
	a, err := app.New(e.ctx, cfg, log, app.Options{ExistingDatabase: true})
	if err != nil {
		return nil, nil, noDatabase(cfg, err)
	}
	return a.Service, func() { a.Close() }, nil
}

// grantsListOptions are the flags of `accessbot grants list`.
type grantsListOptions struct {
	path                  *string
	state, resource, user string
	limit                 int
	json                  bool
}

func grantsListCommand(e *env) *cobra.Command {
	o := &grantsListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List grants, newest first",
		Long: `List prints the grants in the database, newest first, as a table or as JSON lines (never
the lease data). It reads the database and never creates one.`,
		Example: `  accessbot grants list --state active
  accessbot grants list --resource prod-db --user alice@example.com --limit 20
  accessbot grants list --state revoke_failed,revoking --json`,
		Args: noArgs(""),
		RunE: func(*cobra.Command, []string) error { return cmdGrantsList(e, o) },
	}
	o.path = e.configFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.state, "state", "", "only grants in these states, comma-separated (activating, active, revoking, revoked, revoke_failed, failed)")
	fl.StringVar(&o.resource, "resource", "", "only grants of this resource")
	fl.StringVar(&o.user, "user", "", "only grants of this person")
	fl.IntVar(&o.limit, "limit", 100, "at most this many grants")
	fl.BoolVar(&o.json, "json", false, "print JSON lines")
	return cmd
}

func cmdGrantsList(e *env, o *grantsListOptions) error {
	path, state, resource, user, limit, asJSON := o.path, &o.state, &o.resource, &o.user, &o.limit, &o.json
	f := grants.GrantFilter{Resource: *resource, Subject: *user, Limit: *limit}
	if *state != "" {
		for _, s := range strings.Split(*state, ",") {
			gs := grants.GrantState(strings.TrimSpace(s))
			if !validGrantState(gs) {
				return usageErr("--state %q is not a grant state (activating, active, revoking, revoked, revoke_failed, failed)", s)
			}
			f.States = append(f.States, gs)
		}
	}
	svc, done, err := openService(e, *path)
	if err != nil {
		return err
	}
	defer done()
	list, err := svc.ListGrants(e.ctx, f)
	if err != nil {
		return fmt.Errorf("list grants: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, g := range list {
			if err := enc.Encode(grantView(g)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRESOURCE\tSUBJECT\tSTATE\tEXPIRES\tNOTE")
	for _, g := range list {
		note := ""
		if g.BreakGlass {
			note = "break-glass"
			if g.ReviewedBy == "" {
				note += " (unreviewed)"
			}
		}
		if g.LastError != "" && !g.State.Final() {
			note = strings.TrimSpace(note + " last error: " + g.LastError)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Resource, g.Subject, g.State,
			g.ExpiresAt.UTC().Format(time.RFC3339), note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, "no grants match")
	}
	return nil
}

func validGrantState(s grants.GrantState) bool {
	switch s {
	case grants.GrantActivating, grants.GrantActive, grants.GrantRevoking, grants.GrantRevoked,
		grants.GrantRevokeFailed, grants.GrantFailed:
		return true
	}
	return false
}

// grantView is what `grants list --json` prints: never the lease data.
func grantView(g grants.Grant) map[string]any {
	v := map[string]any{
		"id": g.ID, "request_id": g.RequestID, "resource": g.Resource, "subject": g.Subject,
		"account": g.Account, "state": g.State, "break_glass": g.BreakGlass, "reason": g.Reason,
		"starts_at": g.StartsAt.UTC(), "expires_at": g.ExpiresAt.UTC(), "attempts": g.Attempts,
	}
	if g.LastError != "" {
		v["last_error"] = g.LastError
	}
	if !g.RevokedAt.IsZero() {
		v["revoked_at"] = g.RevokedAt.UTC()
		v["revoked_by"] = g.RevokedBy
	}
	if g.BreakGlass {
		v["reviewed_by"] = g.ReviewedBy
	}
	return v
}

// operator is the actor for commands run on the server's host. Whoever can run them can read the
// database and the config, so they act with an admin's rights; the audit log names the OS user.
func operator() grants.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return grants.Actor{ID: "cli:" + name, Name: name, Platform: "cli", PlatformID: name}
}

func grantsRevokeCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a grant now",
		Long: `Revoke makes a grant due for revocation now; a running accessbot serve revokes it within a
second. With --force (and --note saying what was done), a grant whose revocation failed and
that you have cleaned up by hand is marked revoked without the adapter. The audit log names
you (the OS user) as the one who revoked.`,
		Example: `  accessbot grants revoke g-01J9Z3QK7W
  accessbot grants revoke g-01J9Z3QK7W --force --note "dropped the role by hand, ticket OPS-412"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("grants revoke takes one grant ID")
			}
			return nil
		},
	}
	path := e.configFlag(cmd)
	force := cmd.Flags().Bool("force", false, "mark the grant revoked without the adapter's confirmation (for revoke_failed grants you have cleaned up by hand)")
	note := cmd.Flags().String("note", "", "why (recorded in the audit log); required with --force")
	cmd.RunE = func(_ *cobra.Command, args []string) error { return cmdGrantsRevoke(e, *path, args[0], *force, *note) }
	return cmd
}

func cmdGrantsRevoke(e *env, path, id string, force bool, note string) error {
	if force && note == "" {
		return usageErr("--force needs --note saying what was done by hand")
	}
	svc, done, err := openService(e, path)
	if err != nil {
		return err
	}
	defer done()
	var g grants.Grant
	if force {
		g, err = svc.ForceRevoke(e.ctx, operator(), id, note)
	} else {
		g, err = svc.Revoke(e.ctx, operator(), id)
	}
	if err != nil {
		return describe(err)
	}
	if force {
		fmt.Fprintf(e.stdout, "grant %s marked revoked (forced)\n", g.ID)
	} else {
		fmt.Fprintf(e.stdout, "grant %s is due for revocation now; a running accessbot serve revokes it within a second\n", g.ID)
	}
	return nil
}

// describe turns a domain error into one sentence.
func describe(err error) error {
	var ge *grants.Error
	if errors.As(err, &ge) && ge.Message != "" {
		return &exitError{code: 1, msg: ge.Message}
	}
	return err
}

func auditVerifyCommand(e *env) *cobra.Command {
	var since string
	var v verifierFlags
	cmd := &cobra.Command{
		Use:   "verify [--since CHECKPOINT]",
		Short: "Check the audit log's hash chain, whole or since a signed checkpoint",
		Long: `Verify reads the whole audit log and checks every event's hash and its link to the one
before: exit 0 and the head (sequence number and hash) when the chain is intact, exit 1 naming
the first bad event when it is not. It reads the database and never creates one, and needs
only the storage: section of the config (no chat platform's secrets).

With --since, it checks the log against an earlier signed checkpoint (accessbot audit
checkpoint): a consistency proof from the checkpoint's Merkle tree to the tree now, then only
the events after it. A history rewritten before the checkpoint, a tail cut below it or a fork
from it fails. The verifier key comes from --key or --key-file, else from the config's
transparency: signer.`,
		Example: `  accessbot audit verify --config /etc/accessbot/accessbot.yaml
  accessbot audit verify --since checkpoint-2026-12-04.txt --key-file checkpoint.pub`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	cmd.Flags().StringVar(&since, "since", "", "a file with a signed checkpoint: check the log extends it, and the events after it")
	v.add(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		if since != "" {
			return verifySince(e, *path, since, &v)
		}
		if v.key != "" || v.keyFile != "" {
			return usageErr("--key and --key-file go with --since")
		}
		return cmdAuditVerify(e, *path)
	}
	return cmd
}

func cmdAuditVerify(e *env, path string) error {
	cfg, err := loadConfigFor(path, logSections...)
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	db, err := openExistingStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	progress := newProgress(e.stderr, "verifying")
	if head, err := db.AuditHead(e.ctx); err == nil {
		progress.setTotal(head.Seq)
	}
	rep, err := audit.Verify(e.ctx, db, progress.update)
	progress.done()
	if err != nil {
		return fmt.Errorf("verify audit log: %w", err)
	}
	if rep.FirstBad != 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("audit log is NOT intact: first bad event is seq %d: %s", rep.FirstBad, rep.Problem)}
	}
	fmt.Fprintf(e.stdout, "audit log intact: %d events, head seq %d hash %s\n", rep.Events, rep.Head.Seq, rep.Head.Hash)
	return nil
}

// auditExportOptions are the flags of `accessbot audit export`.
type auditExportOptions struct {
	path                                         *string
	format, since, until, resource, user, output string
	events                                       bool
}

func auditExportCommand(e *env) *cobra.Command {
	o := &auditExportOptions{}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export the audit log as JSON lines, CSV or an HTML report",
		Long: `Export writes the audit log's events, or a part of them, as JSON lines or CSV, or a printable
HTML report for auditors (requests, grants, and the verdict on the hash chain). It reads the
database and never creates one, and needs only the storage: section of the config.`,
		Example: `  accessbot audit export --since 7d > last-week.jsonl
  accessbot audit export --format csv --resource prod-db --since 2026-01-01 --until 2026-02-01
  accessbot audit export --format html --events --user alice@example.com --output alice.html`,
		Args: noArgs(""),
		RunE: func(*cobra.Command, []string) error { return cmdAuditExport(e, o) },
	}
	o.path = e.configFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.format, "format", "jsonl", "jsonl, csv or html (a printable report for auditors)")
	fl.StringVar(&o.since, "since", "", "only events at or after this time (RFC 3339, YYYY-MM-DD, or a duration ago such as 7d)")
	fl.StringVar(&o.until, "until", "", "only events before this time")
	fl.StringVar(&o.resource, "resource", "", "only events of this resource")
	fl.StringVar(&o.user, "user", "", "only events this person took part in: their own requests and grants, and what they did")
	fl.StringVar(&o.output, "output", "", "write to this file instead of standard output")
	fl.BoolVar(&o.events, "events", false, "html: add an appendix with every event of the period")
	return cmd
}

func cmdAuditExport(e *env, o *auditExportOptions) error {
	path, format, since, until, resource, user, output, events := o.path, &o.format, &o.since, &o.until, &o.resource, &o.user, &o.output, &o.events
	switch *format {
	case audit.FormatJSONL, audit.FormatCSV, audit.FormatHTML:
	default:
		return usageErr("--format %q is not supported (use jsonl, csv or html)", *format)
	}
	if *events && *format != audit.FormatHTML {
		return usageErr("--events goes with --format html (jsonl and csv hold every event already)")
	}
	now := time.Now()
	f := audit.Filter{Resource: *resource, Person: *user}
	var err error
	if f.Since, err = parseTime(*since, now); err != nil {
		return usageErr("--since: %s", err)
	}
	if f.Until, err = parseTime(*until, now); err != nil {
		return usageErr("--until: %s", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return usageErr("--until must be after --since")
	}
	cfg, err := loadConfigFor(*path, logSections...)
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	db, err := openExistingStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	head, err := db.AuditHead(e.ctx)
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	w := e.stdout
	var file *os.File
	if *output != "" {
		if file, err = os.Create(*output); err != nil {
			return fmt.Errorf("create %s: %w", *output, err)
		}
		w = file
	}
	closeFile := func(err error) error {
		if file != nil {
			if cerr := file.Close(); err == nil {
				err = cerr
			}
		}
		return err
	}
	progress := newProgress(e.stderr, "exporting")
	if *output == "" && isTerminal(e.stdout) {
		progress.tty = false // the export itself is on the terminal: no line to redraw among it
	}
	progress.setTotal(head.Seq)
	if *format == audit.FormatHTML {
		res, err := audit.WriteReport(e.ctx, db, audit.ReportOptions{Filter: f, Events: *events, Version: version,
			Now: now, Progress: progress.updateOf, Sampled: sampledResources(cfg)}, w)
		progress.done()
		if err = closeFile(err); err != nil {
			return fmt.Errorf("export audit report: %w", err)
		}
		s, v := res.Summary, res.Verify
		if !v.Intact() {
			return &exitError{code: 1, msg: fmt.Sprintf("audit log is NOT intact: first bad event is seq %d: %s (the report was written and says so)", v.FirstBad, v.Problem)}
		}
		fmt.Fprintf(e.stderr, "exported a report of %d requests and %d grants (%d events in the period); audit log intact up to seq %d\n",
			s.Requests, s.Grants, s.Events, v.Head.Seq)
		return nil
	}
	n, err := audit.Export(e.ctx, progressSource{db, progress}, f, *format, w)
	progress.done()
	if err = closeFile(err); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	fmt.Fprintf(e.stderr, "exported %d events\n", n)
	return nil
}

// progressSource reports how far a scan of the log has got: the sequence number it has read up
// to, of the head's (filters skip events, so the count exported would not say).
type progressSource struct {
	audit.Source
	p *progress
}

func (s progressSource) ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	var n int64
	return s.Source.ScanAudit(ctx, f, func(e audit.Event) error {
		if n++; n%1024 == 0 {
			s.p.update(e.Seq)
		}
		return fn(e)
	})
}

// parseTime reads an absolute time or a duration ago.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use 2026-01-31, 2026-01-31T09:00:00Z or 7d for seven days ago)", s)
}

// Exit codes of `accessbot scan` beyond 0 (clean) and 1 (findings).
const exitScanIncomplete = 3

// cmdScan runs the standing-privilege scan once, records it in the audit log (a running
// accessbot serve then alerts the security channel when it found something), and prints what it
// found. Exit 0: every resource that can list was listed and nothing was found; 1: access no
// active grant explains; 3: nothing found, but a resource could not be listed.
func scanCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "List access at the targets that no active grant explains",
		Long: `Scan asks every resource whose adapter can list access who holds it, and reports each holder
no active grant explains (standing privilege), except what scan.ignore accepts. It records the
scan in the audit log, so a running accessbot serve alerts the security channel when it found
something. It reads the database and never creates one.

Exit codes: 0 every listable resource was listed and nothing was found; 1 access no active
grant explains; 3 nothing found, but a resource could not be listed.`,
		Example: `  accessbot scan --config /etc/accessbot/accessbot.yaml
  accessbot scan --json | jq '.resources[].findings'`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	asJSON := cmd.Flags().Bool("json", false, "print the report as JSON")
	cmd.RunE = func(*cobra.Command, []string) error { return cmdScan(e, *path, *asJSON) }
	return cmd
}

func cmdScan(e *env, path string, asJSON bool) error {
	cfg, err := loadConfigFor(path, offlineSections...)
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	a, err := app.New(e.ctx, cfg, log, app.Options{ExistingDatabase: true})
	if err != nil {
		return noDatabase(cfg, err)
	}
	defer a.Close()
	sc, err := grants.NewScanner(a.Service, cfg.Scan.ScanOptions())
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	rep, err := sc.Scan(e.ctx, operator())
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printScan(e.stdout, rep); err != nil {
		return err
	}
	findings, errs := rep.Findings(), rep.Errors()
	switch {
	case len(findings) > 0:
		return &exitError{code: 1, msg: strings.TrimSuffix(grants.ScanSummary(findings), ".")}
	case len(errs) > 0:
		return &exitError{code: exitScanIncomplete, msg: fmt.Sprintf("no standing access found, but %d resource(s) could not be listed: %s",
			len(errs), strings.Join(slices.Sorted(maps.Keys(errs)), ", "))}
	}
	return nil
}

// printScan writes a scan report for people: a line per resource, then a table of the findings.
func printScan(w io.Writer, rep grants.ScanReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tHOLDERS\tIGNORED\tFINDINGS\tNOTE")
	for _, rs := range rep.Resources {
		note := ""
		if rs.Error != "" {
			note = "not listed: " + rs.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", rs.Resource, rs.Holders, rs.Ignored, len(rs.Findings), note)
	}
	for _, name := range rep.Unlistable {
		fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", name, "not scanned: its adapter cannot list access")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	findings := rep.Findings()
	if len(rep.Resources) == 0 {
		_, err := fmt.Fprintf(w, "\nNo resource's adapter can list access: nothing was scanned (audit event #%d).\n", rep.AuditSeq)
		return err
	}
	if len(findings) == 0 {
		_, err := fmt.Fprintf(w, "\nNo standing access found (audit event #%d).\n", rep.AuditSeq)
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tACCOUNT\tACCESS\tWHY")
	for _, f := range findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Resource, f.Account, shorten(f.Detail, 60), f.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s Recorded as audit event #%d.\n", grants.ScanSummary(findings), rep.AuditSeq)
	return err
}

// shorten keeps a table cell on one readable line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
