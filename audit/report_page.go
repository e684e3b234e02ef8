package audit

import (
	"bufio"
	"embed"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/duration"
	"github.com/accessbot/accessbot/internal/tmpl"
)

// timeLayout is how the report shows a time (always UTC, said once on the page).
const timeLayout = "2006-01-02 15:04:05"

// fmtTime shows a time as the report shows times, and the zero time as nothing.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// fmtDur writes how long something took as every span people read is written
// (duration.Approx), so the report, the digest and the chat agree: an access held 1h30m12.4s
// reads 1h30m, a lateness of 250ms reads 250ms, and nothing below zero is written (0s).
func fmtDur(d time.Duration) string { return duration.Approx(d) }

// pageView is the page around the sections.
type pageView struct {
	Title, Period, Generated, Version, Filters string
	Verify                                     verifyView
	Configs                                    []configView
	Policy                                     policyView
	Sum                                        ReportSummary
	LateAfter                                  string
	GrantsRows, RequestsRows, BGRows           int
	RefusedRows, ScanRows, EventRows           int
	Events                                     bool
	// UnusedRows of UnusedTotal grants never used are listed (report_unused.go).
	UnusedRows, UnusedTotal int
}

// verifyView is the result of verifying the chain, as the page shows it.
type verifyView struct {
	Intact   bool
	Empty    bool
	Events   int64
	HeadSeq  int64
	HeadHash string
	FirstBad int64
	Problem  string
	GoodUpTo int64
}

// configView is one line of the policy in force: a run of starts with the same configuration.
type configView struct {
	First, Last, Hash, Version, Resources string
	Count                                 int
	Before                                bool
}

// write writes the page: the parts known only now, then the spooled sections.
func (b *reportBuilder) write(w io.Writer, rep Report) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	p := b.page(rep)
	if err := b.tmpl.ExecuteTemplate(bw, "top", p); err != nil {
		return err
	}
	for _, sec := range b.sections() {
		if err := b.tmpl.ExecuteTemplate(bw, sec.name+"-start", p); err != nil {
			return err
		}
		if err := sec.rows.copyTo(bw); err != nil {
			return err
		}
		if err := b.tmpl.ExecuteTemplate(bw, sec.name+"-end", p); err != nil {
			return err
		}
	}
	if err := b.tmpl.ExecuteTemplate(bw, "bottom", p); err != nil {
		return err
	}
	return bw.Flush()
}

// section is one section of the page: its templates (name-start, name-end) and its rows.
type section struct {
	name string
	rows *spool
}

// sections are the page's sections in the order they are written; the appendix only with
// ReportOptions.Events.
func (b *reportBuilder) sections() []section {
	s := []section{
		{"grants", &b.grantsOut}, {"requests", &b.requestsOut}, {"breakglass", &b.bgOut},
		{"refused", &b.refusedOut}, {"scans", &b.scansOut},
	}
	if b.unusedShown {
		s = append(s, section{"unused", &b.unusedOut})
	}
	if b.o.Events {
		s = append(s, section{"events", &b.eventsOut})
	}
	return s
}

// page is what the templates around the rows show, known once the log has been read.
func (b *reportBuilder) page(rep Report) pageView {
	period := periodOf(b.f)
	version := b.o.Version
	if version == "" {
		version = "unknown"
	}
	p := pageView{
		Title:     "Access report: " + period,
		Period:    period,
		Generated: b.o.Now.UTC().Format(timeLayout) + " UTC",
		Version:   version,
		Filters:   filtersOf(b.f),
		Sum:       b.sum,
		LateAfter: fmtDur(LateAfter),
		Verify: verifyView{
			Intact: rep.Intact(), Empty: rep.Intact() && rep.Head.Seq == 0, Events: rep.Events,
			HeadSeq: rep.Head.Seq, HeadHash: rep.Head.Hash, FirstBad: rep.FirstBad, Problem: rep.Problem,
			GoodUpTo: rep.FirstBad - 1,
		},
		GrantsRows: b.sum.Grants, RequestsRows: b.sum.Requests - b.sum.Grants,
		BGRows: b.bgOut.rows, RefusedRows: b.refusedOut.rows, ScanRows: b.scansOut.rows,
		EventRows: b.eventsOut.rows, Events: b.o.Events, Policy: b.policy.view(),
		UnusedRows: b.unusedOut.rows, UnusedTotal: b.unusedTotal,
	}
	for _, c := range b.configs {
		p.Configs = append(p.Configs, configView{First: fmtTime(c.first), Last: fmtTime(c.last), Hash: c.hash,
			Version: c.version, Resources: c.resources, Count: c.count, Before: c.before})
	}
	return p
}

// periodOf says which period a report covers, in words.
func periodOf(f Filter) string {
	switch {
	case !f.Since.IsZero() && !f.Until.IsZero():
		return fmtTime(f.Since) + " to " + fmtTime(f.Until) + " UTC"
	case !f.Since.IsZero():
		return "from " + fmtTime(f.Since) + " UTC"
	case !f.Until.IsZero():
		return "until " + fmtTime(f.Until) + " UTC"
	}
	return "the whole audit log"
}

// filtersOf says which grants a report lists when it does not list them all ("" when it does).
func filtersOf(f Filter) string {
	var filters []string
	if f.Resource != "" {
		filters = append(filters, "resource "+f.Resource)
	}
	if f.Subject != "" {
		filters = append(filters, "requests of "+f.Subject)
	}
	if f.Person != "" {
		filters = append(filters, "requests "+f.Person+" took part in")
	}
	return strings.Join(filters, "; ")
}

// reportFiles hold the page around the rows: page.tmpl ("top": title, verification, policy,
// summary; "bottom"), sections.tmpl (each section's start and end) and style.tmpl (the CSS).
//
//go:embed report/*.tmpl
var reportFiles embed.FS

// reportTemplate is parsed once: it is only executed, never changed, after that. internal/tmpl
// escapes every value as html/template did, and refuses a value anywhere but text and plain
// quoted attributes.
var reportTemplate = tmpl.Must(parseReportFiles())

// parseReportFiles parses report/*.tmpl in name order into one set, as ParseFS did.
func parseReportFiles() (*tmpl.Template, error) {
	names, err := fs.Glob(reportFiles, "report/*.tmpl")
	if err != nil {
		return nil, err
	}
	var texts []string
	for _, name := range names {
		b, err := fs.ReadFile(reportFiles, name)
		if err != nil {
			return nil, err
		}
		texts = append(texts, string(b))
	}
	return tmpl.ParseSet("report", tmpl.Options{HTML: true}, texts...)
}
