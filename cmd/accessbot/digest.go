package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/config"
)

// cmdDigestPreview prints the digest that `accessbot serve` posts to chat, for any window: by
// default the config's period (digest.period) ending now. Times without a zone are read in the
// config's time_zone.
func digestPreviewCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Print the access digest for any window",
		Long: `Preview prints the digest that accessbot serve posts to chat (who had access to what, for
how long, break-glass use, revocations on time), for any window: by default the config's
digest.period ending now. Times without a zone are read in the config's time_zone. It reads
the database and never creates one.`,
		Example: `  accessbot digest preview
  accessbot digest preview --since 2026-11-16 --until 2026-11-23 --format markdown
  accessbot digest preview --since 30d --chart grants.png`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	fl := cmd.Flags()
	since := fl.String("since", "", "start of the window (RFC 3339, YYYY-MM-DD, YYYY-MM-DDTHH:MM, or a duration ago such as 7d); default: digest.period before --until")
	until := fl.String("until", "", "end of the window, excluded; default now")
	format := fl.String("format", "text", "text or markdown")
	chart := fl.String("chart", "", "also write the chart (PNG of grants per day by resource) to this file")
	cmd.RunE = func(*cobra.Command, []string) error { return cmdDigestPreview(e, path, since, until, format, chart) }
	return cmd
}

func cmdDigestPreview(e *env, path, since, until, format, chart *string) error {
	write := map[string]func(io.Writer, digest.Digest) error{"text": digest.WriteText, "markdown": digest.WriteMarkdown}
	if _, ok := write[*format]; !ok {
		return usageErr("--format %q is not supported (use text or markdown)", *format)
	}
	cfg, err := loadConfigFor(*path, digestSections...)
	if err != nil {
		return err
	}
	loc := cfg.Location()
	now := time.Now().In(loc)
	to, err := digestTime(*until, now, loc)
	if err != nil {
		return usageErr("--until: %s", err)
	}
	if to.IsZero() {
		to = now
	}
	from, err := digestTime(*since, now, loc)
	if err != nil {
		return usageErr("--since: %s", err)
	}
	if from.IsZero() {
		from = digest.WindowStart(to, cfg.Digest.Period, loc)
	}
	if !to.After(from) {
		return usageErr("--until must be after --since")
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
	start, end := cfg.Digest.WorkHours()
	d, err := digest.Build(e.ctx, db, from, to, digest.Options{
		Location:     loc,
		WorkingHours: digest.WorkingHours{Days: cfg.Digest.WorkDays(), Start: start, End: end},
		Sampled:      sampledResources(cfg),
	})
	if err != nil {
		return fmt.Errorf("build the digest: %w", err)
	}
	if *chart != "" {
		png, err := digest.Chart(d)
		if err != nil {
			return fmt.Errorf("draw the chart: %w", err)
		}
		if png == nil {
			fmt.Fprintln(e.stderr, "no grant in the window: no chart written")
		} else if err := os.WriteFile(*chart, png, 0o644); err != nil {
			return fmt.Errorf("write the chart: %w", err)
		}
	}
	return write[*format](e.stdout, d)
}

// digestTime reads a time for the preview: RFC 3339, or a date or date and time in loc, or a
// duration before now.
func digestTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(loc), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use 2026-11-16, 2026-11-16T09:00 in time_zone, 2026-11-16T08:00:00Z, or 7d for seven days ago)", s)
}
