package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/user"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
)

const usage = `accessbot: temporary access to production, approved in chat, revoked on time, audited.

Usage:
  accessbot demo [--listen ADDR]     try it in a browser: local web chat, demo config, throwaway SQLite
  accessbot serve                    run the bot (HTTP, scheduler)
  accessbot migrate                  apply database migrations and exit
  accessbot config validate          check the config file and list every problem
  accessbot grants list [--state S] [--resource R] [--user U] [--limit N] [--json]
  accessbot grants revoke ID [--force] [--note TEXT]
  accessbot audit verify             check the audit log's hash chain
  accessbot audit export --format jsonl|csv|html [--since T] [--until T] [--resource R] [--user U] [--output FILE] [--events]
  accessbot discord register [--guild ID | --global]   register the /access command with Discord
  accessbot digest preview [--since T] [--until T] [--format text|markdown] [--chart FILE]   print the access digest
  accessbot scan [--json]            list access at the targets that no active grant explains;
                                     exit 0 clean, 1 findings, 3 a resource could not be listed
  accessbot version

Every command takes --config FILE (default: $ACCESSBOT_CONFIG, else accessbot.yaml).
`

// exitError is an error with an exit code; its message is one sentence for a person.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

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

// run executes one command and returns the process exit code. It never panics at a person:
// every failure becomes one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	app.Version = version
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "accessbot: internal error: %v (please report this)\n", r)
			code = 70
		}
	}()
	err := dispatch(e, args)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "accessbot: %s\n", ee.msg)
		}
		if ee.code == 2 {
			fmt.Fprintln(stderr, "run 'accessbot help' for usage")
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "accessbot: %s\n", err)
	return 1
}

func dispatch(e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return &exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	case "version", "--version":
		return cmdVersion(e)
	case "serve":
		return cmdServe(e, rest)
	case "demo":
		return cmdDemo(e, rest)
	case "migrate":
		return cmdMigrate(e, rest)
	case "config":
		return sub(e, "config", rest, map[string]func(*env, []string) error{"validate": cmdConfigValidate})
	case "grants":
		return sub(e, "grants", rest, map[string]func(*env, []string) error{"list": cmdGrantsList, "revoke": cmdGrantsRevoke})
	case "audit":
		return sub(e, "audit", rest, map[string]func(*env, []string) error{"verify": cmdAuditVerify, "export": cmdAuditExport})
	case "discord":
		return cmdDiscord(e, rest)
	case "digest":
		return cmdDigest(e, rest)
	case "scan":
		return cmdScan(e, rest)
	}
	return usageErr("unknown command %q", cmd)
}

func sub(e *env, name string, args []string, cmds map[string]func(*env, []string) error) error {
	if len(args) == 0 {
		return usageErr("%s needs a subcommand: %s", name, strings.Join(slices.Sorted(maps.Keys(cmds)), ", "))
	}
	f, ok := cmds[args[0]]
	if !ok {
		return usageErr("unknown command %q %q: try %s", name, args[0], strings.Join(slices.Sorted(maps.Keys(cmds)), ", "))
	}
	return f(e, args[1:])
}

// flags makes a FlagSet that takes --config and reports errors as one sentence.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := e.getenv("ACCESSBOT_CONFIG")
	if def == "" {
		def = "accessbot.yaml"
	}
	path := fs.String("config", def, "config file")
	return fs, path
}

// parse parses flags, allowing them before and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%s: %s", fs.Name(), strings.TrimPrefix(err.Error(), "flag provided but not defined: "))
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("config file %s does not exist (give one with --config or ACCESSBOT_CONFIG; config.example.yaml is a start)", path)}
		}
		return nil, &exitError{code: 1, msg: fmt.Sprintf("config %s is not valid:\n%s", path, err)}
	}
	return cfg, nil
}

func (e *env) logger(cfg *config.Config) (zerolog.Logger, error) {
	log, err := app.NewLogger(e.stderr, cfg.Log.Level, cfg.Log.Format, cfg.Secrets())
	if err != nil {
		return log, &exitError{code: 1, msg: fmt.Sprintf("log.level %q is not a level (use debug, info, warn or error)", cfg.Log.Level)}
	}
	return log, nil
}

func cmdVersion(e *env) error {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Fprintf(e.stdout, "accessbot %s\n", v)
	return nil
}

func cmdServe(e *env, args []string) error {
	fs, path := e.flags("serve")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("serve takes no arguments, got %q", pos[0])
	}
	cfg, err := loadConfig(*path)
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

func cmdMigrate(e *env, args []string) error {
	fs, path := e.flags("migrate")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
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

func cmdConfigValidate(e *env, args []string) error {
	fs, path := e.flags("config validate")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		*path = pos[0]
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is valid: %d resources, storage %s\n", *path, len(cfg.Resources), cfg.Storage.Driver)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	return nil
}

// openService builds the grants service over the configured database, for the operator
// commands that read or change grants.
func openService(e *env, path string) (*grants.Service, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return nil, nil, err
	}
	a, err := app.New(e.ctx, cfg, log, app.Options{})
	if err != nil {
		return nil, nil, err
	}
	return a.Service, func() { a.Close() }, nil
}

func cmdGrantsList(e *env, args []string) error {
	fs, path := e.flags("grants list")
	state := fs.String("state", "", "only grants in this state (activating, active, revoking, revoked, revoke_failed, failed)")
	resource := fs.String("resource", "", "only grants of this resource")
	user := fs.String("user", "", "only grants of this person")
	limit := fs.Int("limit", 100, "at most this many grants")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if _, err := parse(fs, args); err != nil {
		return err
	}
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

func cmdGrantsRevoke(e *env, args []string) error {
	fs, path := e.flags("grants revoke")
	force := fs.Bool("force", false, "mark the grant revoked without the adapter's confirmation (for revoke_failed grants you have cleaned up by hand)")
	note := fs.String("note", "", "why (recorded in the audit log)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("grants revoke takes one grant ID")
	}
	svc, done, err := openService(e, *path)
	if err != nil {
		return err
	}
	defer done()
	var g grants.Grant
	if *force {
		if *note == "" {
			return usageErr("--force needs --note saying what was done by hand")
		}
		g, err = svc.ForceRevoke(e.ctx, operator(), pos[0], *note)
	} else {
		g, err = svc.Revoke(e.ctx, operator(), pos[0])
	}
	if err != nil {
		return describe(err)
	}
	if *force {
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

func cmdAuditVerify(e *env, args []string) error {
	fs, path := e.flags("audit verify")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
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

func cmdAuditExport(e *env, args []string) error {
	fs, path := e.flags("audit export")
	format := fs.String("format", "jsonl", "jsonl, csv or html (a printable report for auditors)")
	since := fs.String("since", "", "only events at or after this time (RFC 3339, YYYY-MM-DD, or a duration ago such as 7d)")
	until := fs.String("until", "", "only events before this time")
	resource := fs.String("resource", "", "only events of this resource")
	user := fs.String("user", "", "only events this person took part in: their own requests and grants, and what they did")
	output := fs.String("output", "", "write to this file instead of standard output")
	events := fs.Bool("events", false, "html: add an appendix with every event of the period")
	if _, err := parse(fs, args); err != nil {
		return err
	}
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
	cfg, err := loadConfig(*path)
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
			Now: now, Progress: progress.updateOf}, w)
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
func cmdScan(e *env, args []string) error {
	fs, path := e.flags("scan")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("scan takes no arguments, got %q", pos[0])
	}
	cfg, err := loadConfig(*path)
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
	sc, err := grants.NewScanner(a.Service, cfg.Scan.ScanOptions())
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	rep, err := sc.Scan(e.ctx, operator())
	if err != nil {
		return err
	}
	if *asJSON {
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
