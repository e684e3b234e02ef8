package policyaudit

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/duration"
	"github.com/accessbot/accessbot/internal/tmpl"
)

func itoa(n int) string { return strconv.Itoa(n) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return "no limit"
	}
	return duration.Format(d)
}

// Line is one row of a resource's policy as every format shows it: a label and its value.
type Line struct{ Label, Value string }

// Lines returns the resource's policy row by row, in the words of the report.
func (r Resource) Lines() []Line {
	return []Line{
		{"requesters", r.requesterText()},
		{"approvers", r.approverText()},
		{"auto-approve", orNone(r.AutoApprove)},
		{"break-glass", r.breakGlassText()},
		{"max duration", formatDuration(r.MaxDuration) + " (default " + formatDuration(r.DefaultDuration) + ")"},
		{"second lock", r.stepUpText()},
		{"reason", r.reasonText()},
		{"pending for", formatDuration(r.PendingTTL)},
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func groupText(g Group) string {
	switch {
	case g.Platform:
		return g.Name + " (platform group: members known at request time)"
	case len(g.Members) == 0:
		return g.Name + " (no members)"
	default:
		return g.Name + " (" + strings.Join(g.Members, ", ") + ")"
	}
}

func (r Resource) requesterText() string {
	if r.Everyone {
		return "everyone who may use accessbot"
	}
	var parts []string
	for _, g := range r.RequesterGroups {
		parts = append(parts, "group "+groupText(g))
	}
	parts = append(parts, r.Requesters...)
	return strings.Join(parts, "; ")
}

func (r Resource) approverText() string {
	if len(r.Approvers) == 0 {
		return "none"
	}
	var parts []string
	for _, g := range r.Approvers {
		parts = append(parts, groupText(g))
	}
	return itoa(r.Approvals) + " of " + strings.Join(parts, "; ")
}

func (r Resource) breakGlassText() string {
	if !r.BreakGlass {
		return "not allowed"
	}
	return "allowed, reviewed afterwards by admins"
}

func (r Resource) stepUpText() string {
	if r.StepUp == "" {
		return "none"
	}
	return "approvers log in again at the " + strings.ToUpper(r.StepUp) + " provider (step_up: " + r.StepUp + ")"
}

func (r Resource) reasonText() string {
	switch {
	case r.ReasonPattern != "":
		return "required, matching " + r.ReasonPattern
	case r.ReasonRequired:
		return "required"
	default:
		return "optional"
	}
}

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	ew.printf("Policy report for %s (config sha256 %s)\n", r.File, short(r.ConfigSHA256))
	ew.printf("%s, %s; admins: %s\n", plural(len(r.Resources), "resource", "resources"),
		plural(len(r.Warnings()), "warning", "warnings"), listOrNone(r.Admins))
	for _, res := range r.Resources {
		ew.printf("\n%s (%s)", res.Name, res.Adapter)
		if res.Description != "" {
			ew.printf(": %s", res.Description)
		}
		ew.printf("\n")
		for _, l := range res.Lines() {
			ew.printf("  %-13s %s\n", l.Label+":", l.Value)
		}
		for _, wn := range res.Warnings {
			ew.printf("  ! %s: %s\n", wn.Code, wn.Message)
		}
	}
	return ew.err
}

// WriteMarkdown writes the report as Markdown: a table per resource, its warnings as a list.
func WriteMarkdown(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	ew.printf("# Policy report\n\n`%s`, config sha256 `%s`: %s, %s. Admins: %s.\n", mdCell(r.File), short(r.ConfigSHA256),
		plural(len(r.Resources), "resource", "resources"), plural(len(r.Warnings()), "warning", "warnings"), mdCell(listOrNone(r.Admins)))
	for _, res := range r.Resources {
		ew.printf("\n## %s (%s)\n\n", mdCell(res.Name), mdCell(res.Adapter))
		if res.Description != "" {
			ew.printf("%s\n\n", mdCell(res.Description))
		}
		ew.printf("| | |\n|---|---|\n")
		for _, l := range res.Lines() {
			ew.printf("| %s | %s |\n", l.Label, mdCell(l.Value))
		}
		if len(res.Warnings) > 0 {
			ew.printf("\n**Warnings**\n\n")
			for _, wn := range res.Warnings {
				ew.printf("- `%s`: %s\n", wn.Code, mdCell(wn.Message))
			}
		}
	}
	return ew.err
}

// mdCell keeps a value inside its table cell: no pipe ends it, no newline breaks the row.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// htmlSource is the page; htmlPage runs it. Every value is escaped for HTML (a rule, a
// description, a group name are the config author's text, not markup), and internal/tmpl
// refuses the page if a value sits anywhere but text or a plain quoted attribute.
const htmlSource = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Policy report</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{text-align:left;padding:.25rem .75rem;border-bottom:1px solid #ddd;vertical-align:top}
.warn{color:#8a1c00}code{word-break:break-all}</style></head><body>
<h1>Policy report</h1>
<p><code>{{.File}}</code>, config sha256 <code>{{.Short}}</code>: {{.Summary}}. Admins: {{.Admins}}.</p>
{{template "resources" .Resources}}
</body></html>
{{define "resources"}}{{range .}}<section id="resource-{{.Name}}">
<h2>{{.Name}} <small>({{.Adapter}})</small></h2>
{{if .Description}}<p>{{.Description}}</p>{{end}}
<table>{{range .Lines}}<tr><th scope="row">{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
{{if .Warnings}}<ul class="warn">{{range .Warnings}}<li><code>{{.Code}}</code>: {{.Message}}</li>{{end}}</ul>{{end}}
</section>
{{end}}{{end}}`

// htmlPage is parsed once and only executed after that.
var htmlPage = tmpl.Must(tmpl.Parse("policy", htmlSource, tmpl.Options{HTML: true}))

// htmlView is what the page shows: plain fields, since templates read fields, never methods.
type htmlView struct {
	File, Short, Summary, Admins string
	Resources                    []htmlResource
}

// htmlResource is one resource's section of the page.
type htmlResource struct {
	Name, Adapter, Description string
	Lines                      []Line
	Warnings                   []Warning
}

// WriteHTML writes the report as a page of its own.
func WriteHTML(w io.Writer, r Report) error {
	v := htmlView{File: r.File, Short: short(r.ConfigSHA256), Summary: plural(len(r.Resources), "resource", "resources") + ", " +
		plural(len(r.Warnings()), "warning", "warnings"), Admins: listOrNone(r.Admins)}
	for _, res := range r.Resources {
		v.Resources = append(v.Resources, htmlResource{Name: res.Name, Adapter: res.Adapter, Description: res.Description,
			Lines: res.Lines(), Warnings: res.Warnings})
	}
	return htmlPage.Execute(w, v)
}

// errWriter keeps the first write error, so a report is written without a check per line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
