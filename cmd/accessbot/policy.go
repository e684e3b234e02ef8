package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/config/policyaudit"
)

// policySections are what the policy report reads: who the admins and groups are, the defaults
// and the resources. It needs no database and no chat platform.
var policySections = []config.Section{config.SectionTimeZone, config.SectionAdmins, config.SectionGroups,
	config.SectionDefaults, config.SectionResources}

// policyReportCommand is `accessbot policy report`: each resource's policy for a review, with
// the warnings a reviewer should act on.
func policyReportCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print each resource's policy and what in it needs a look",
		Long: `Report prints, for each resource in the config, who may request it, who approves and how
many approvals it needs, its auto-approve rule, whether break-glass is allowed, the longest
and default grant, the second lock (step_up: an approver's fresh login at the identity
provider) and the reason a request must give, with defaults merged. Then the warnings: too
few approvers for the approvals needed, an auto-approve rule that never looks at the
duration, break-glass with no admin to review it or no reason asked, approvers who are all
requesters themselves, and requesters who can never be approved because nobody approves
their own request. It reads only the config: no database is needed.`,
		Example: `  accessbot policy report
  accessbot policy report --format markdown --output policy.md
  accessbot policy report --format html --output policy.html`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	fl := cmd.Flags()
	format := fl.String("format", "text", "text, markdown or html")
	output := fl.String("output", "", "write to this file instead of standard output")
	cmd.RunE = func(*cobra.Command, []string) error { return cmdPolicyReport(e, *path, *format, *output) }
	return cmd
}

func cmdPolicyReport(e *env, path, format, output string) error {
	write := map[string]func(io.Writer, policyaudit.Report) error{
		"text": policyaudit.WriteText, "markdown": policyaudit.WriteMarkdown, "html": policyaudit.WriteHTML,
	}[format]
	if write == nil {
		return usageErr("--format %q is not supported (use text, markdown or html)", format)
	}
	cfg, err := loadConfigFor(path, policySections...)
	if err != nil {
		return err
	}
	r := policyaudit.Build(cfg)
	w := e.stdout
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			return fmt.Errorf("create %s: %w", output, err)
		}
		if err := write(f, r); err != nil {
			_ = f.Close()
			return fmt.Errorf("write policy report to %s: %w", output, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write policy report to %s: %w", output, err)
		}
		fmt.Fprintf(e.stderr, "wrote the policy of %d resources with %d warnings to %s\n", len(r.Resources), len(r.Warnings()), output)
		return nil
	}
	if err := write(w, r); err != nil {
		return fmt.Errorf("write policy report: %w", err)
	}
	return nil
}
