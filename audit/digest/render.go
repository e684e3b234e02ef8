package digest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/duration"
)

// Section keys, stable for tests and renderers.
const (
	SectionRequests    = "requests"
	SectionDecisions   = "decisions"
	SectionBreakGlass  = "breakglass"
	SectionGrants      = "grants"
	SectionAfterHours  = "after_hours"
	SectionByResource  = "by_resource"
	SectionByPerson    = "by_person"
	SectionLongest     = "longest"
	SectionRevocations = "revocations"
	SectionRefused     = "refused"
	SectionScan        = "scan"
	SectionHead        = "head"
)

// Section is one part of a digest as people read it: a heading, a sentence, and the items
// listed under it. Every rendering (chat, terminal, Markdown) shows the same sections.
type Section struct {
	Key     string
	Title   string
	Summary string
	Items   []string
	// More counts items the digest did not keep (past Options.Limit).
	More int
	// Attention marks a section that shows something to act on.
	Attention bool
}

// Title is the digest's headline: "Access digest: 17–24 Nov 2026".
func (d Digest) Title() string { return "Access digest: " + dateRange(d.Since, d.Until) }

// dateRange writes the days of a window briefly: "17–24 Nov 2026", "28 Nov – 5 Dec 2026",
// "29 Dec 2025 – 5 Jan 2026", "24 Nov 2026".
func dateRange(since, until time.Time) string {
	last := until
	if last.Hour() == 0 && last.Minute() == 0 && last.Second() == 0 && last.Nanosecond() == 0 && last.After(since) {
		// A window ending at midnight ends on the day before.
		last = last.Add(-time.Nanosecond)
	}
	sy, sm, sd := since.Date()
	ly, lm, ld := last.Date()
	switch {
	case sy == ly && sm == lm && sd == ld:
		return since.Format("2 Jan 2006")
	case sy == ly && sm == lm:
		return fmt.Sprintf("%d–%s", sd, last.Format("2 Jan 2006"))
	case sy == ly:
		return since.Format("2 Jan") + " – " + last.Format("2 Jan 2006")
	}
	return since.Format("2 Jan 2006") + " – " + last.Format("2 Jan 2006")
}

// Period says the window exactly: "Mon 17 Nov 2026 09:00 – Mon 24 Nov 2026 09:00 Europe/Berlin".
func (d Digest) Period() string {
	const layout = "Mon 2 Jan 2006 15:04"
	return d.Since.Format(layout) + " – " + d.Until.Format(layout) + " " + zoneName(d.Location)
}

func zoneName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	return loc.String()
}

// when writes a time within the digest: "Tue 18 Nov 02:14".
func when(t time.Time) string { return t.Format("Mon 2 Jan 15:04") }

// dur writes a span as every span people read is written (duration.Approx), so the digest,
// the chat and the report agree: a 10m grant reads "10m", not "9m59s".
func dur(d time.Duration) string { return duration.Approx(d) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func or(s, none string) string {
	if strings.TrimSpace(s) == "" {
		return none
	}
	return s
}

// Sections returns the digest as people read it, in order.
func (d Digest) Sections() []Section {
	out := []Section{
		d.requestsSection(), d.decisionsSection(), d.breakGlassSection(), d.grantsSection(),
		d.afterHoursSection(), d.countsSection(SectionByResource, "Grants by resource", d.Grants.ByResource),
		d.countsSection(SectionByPerson, "Grants by person", d.Grants.ByPerson),
	}
	out = append(out, d.signalSections()...)
	out = append(out, d.longestSection())
	out = append(out, d.unusedSection()...)
	out = append(out, d.revocationsSection(), d.refusedSection(), d.scanSection())
	out = append(out, d.policySections()...)
	return d.withCheckpoint(append(out, d.headSection()))
}

func (d Digest) requestsSection() Section {
	r := d.Requests
	s := Section{Key: SectionRequests, Title: "Requests"}
	if r.Total() == 0 && r.Refused == 0 {
		s.Summary = "No requests."
		return s
	}
	head := plural(r.Total(), "request", "requests")
	var kinds []string
	if r.Extend > 0 {
		kinds = append(kinds, fmt.Sprintf("%d to extend a grant", r.Extend))
	}
	if r.BreakGlass > 0 {
		kinds = append(kinds, plural(r.BreakGlass, "break-glass use", "break-glass uses"))
	}
	if len(kinds) > 0 {
		head += " (" + strings.Join(kinds, ", ") + ")"
	}
	approved := fmt.Sprintf("%d approved", r.Approved+r.AutoApproved)
	if r.AutoApproved > 0 {
		approved += fmt.Sprintf(" (%d automatically)", r.AutoApproved)
	}
	parts := []string{approved, fmt.Sprintf("%d denied", r.Denied)}
	if r.Expired > 0 {
		parts = append(parts, fmt.Sprintf("%d expired undecided", r.Expired))
	}
	if r.Cancelled > 0 {
		parts = append(parts, fmt.Sprintf("%d cancelled", r.Cancelled))
	}
	s.Summary = head + ": " + strings.Join(parts, ", ") + "."
	if r.Refused > 0 {
		s.Summary += fmt.Sprintf(" %s refused by the policy.", plural(r.Refused, "request was", "requests were"))
	}
	return s
}

func (d Digest) decisionsSection() Section {
	x := d.Decisions
	s := Section{Key: SectionDecisions, Title: "Time to decision"}
	if x.Count == 0 {
		s.Summary = "No request made in this window was decided in it."
	} else {
		s.Summary = fmt.Sprintf("Median %s, p95 %s over %s", dur(x.Median), dur(x.P95), plural(x.Count, "decision", "decisions"))
		if auto := x.Count - x.ByPeople; auto > 0 {
			s.Summary += fmt.Sprintf(" (%d automatic)", auto)
			if x.ByPeople > 0 {
				s.Summary += fmt.Sprintf("; by people: median %s, p95 %s over %d", dur(x.PeopleMedian), dur(x.PeopleP95), x.ByPeople)
			}
		}
		s.Summary += "."
	}
	if x.Undecided > 0 {
		s.Summary += fmt.Sprintf(" %s without a decision by the end.", plural(x.Undecided, "request", "requests"))
	}
	return s
}

func (d Digest) breakGlassSection() Section {
	bg := d.BreakGlass
	s := Section{Key: SectionBreakGlass, Title: "Break-glass", Attention: bg.Unreviewed > 0}
	switch {
	case bg.Count == 0:
		s.Summary = "No break-glass use."
	case bg.Unreviewed == 0:
		s.Summary = plural(bg.Count, "use", "uses") + ", every one reviewed."
	default:
		s.Summary = fmt.Sprintf("%s, %d NOT reviewed.", plural(bg.Count, "use", "uses"), bg.Unreviewed)
	}
	if bg.EarlierReviewed > 0 {
		s.Summary += fmt.Sprintf(" %s reviewed.", plural(bg.EarlierReviewed, "earlier use", "earlier uses"))
	}
	for _, u := range bg.Uses {
		item := fmt.Sprintf("%s %s on %s for %s: %q", when(u.At), u.Person, u.Resource, or(u.Duration, "?"), u.Reason)
		if u.ReviewedBy == "" {
			item += " — NOT REVIEWED"
		} else {
			item += fmt.Sprintf(" — reviewed by %s %s", u.ReviewedBy, when(u.ReviewedAt))
			if u.Note != "" {
				item += fmt.Sprintf(": %q", u.Note)
			}
		}
		s.Items = append(s.Items, item+" ("+u.GrantID+")")
	}
	s.More = bg.Count - len(bg.Uses)
	return s
}

func (d Digest) grantsSection() Section {
	g := d.Grants
	s := Section{Key: SectionGrants, Title: "Grants"}
	if g.Activated == 0 {
		s.Summary = "No access was granted."
	} else {
		s.Summary = plural(g.Activated, "grant", "grants") + " made"
		if n := len(g.ByResource); n > 0 {
			s.Summary += fmt.Sprintf(" on %s for %s", plural(n, "resource", "resources"), plural(len(g.ByPerson), "person", "people"))
		}
		s.Summary += "."
	}
	var more []string
	if g.Extended > 0 {
		more = append(more, plural(g.Extended, "extension", "extensions"))
	}
	if g.Failed > 0 {
		more = append(more, plural(g.Failed, "grant failed at its target", "grants failed at their targets"))
	}
	if len(more) > 0 {
		s.Summary += " " + capitalize(strings.Join(more, ", ")) + "."
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (d Digest) afterHoursSection() Section {
	g := d.Grants
	s := Section{Key: SectionAfterHours, Title: "Outside working hours"}
	hours := fmt.Sprintf("(%s %s)", d.WorkingHours, zoneName(d.Location))
	if g.AfterHoursCount == 0 {
		s.Summary = "No grant outside working hours " + hours + "."
		return s
	}
	s.Summary = fmt.Sprintf("%s outside working hours %s.", plural(g.AfterHoursCount, "grant", "grants"), hours)
	for _, x := range g.AfterHours {
		item := fmt.Sprintf("%s %s on %s for %s", when(x.Start), x.Person, x.Resource, dur(x.Length()))
		if x.BreakGlass {
			item += ", break-glass"
		}
		s.Items = append(s.Items, item+" ("+x.GrantID+")")
	}
	s.More = g.AfterHoursCount - len(g.AfterHours)
	return s
}

func (d Digest) countsSection(key, title string, cs []Count) Section {
	s := Section{Key: key, Title: title}
	if len(cs) == 0 {
		s.Summary = "None."
		return s
	}
	for _, c := range cs {
		s.Items = append(s.Items, fmt.Sprintf("%s: %d", c.Name, c.N))
	}
	return s
}

func (d Digest) longestSection() Section {
	s := Section{Key: SectionLongest, Title: "Longest grants"}
	if len(d.Grants.Longest) == 0 {
		s.Summary = "None."
		return s
	}
	for _, g := range d.Grants.Longest {
		end := "revoked " + when(g.End)
		if !g.Revoked {
			end = "until " + when(g.End)
		}
		s.Items = append(s.Items, fmt.Sprintf("%s: %s on %s, from %s, %s (%s)", dur(g.Length()), g.Person, g.Resource, when(g.Start), end, g.GrantID))
	}
	return s
}

func (d Digest) revocationsSection() Section {
	c := d.RevocationCount
	s := Section{Key: SectionRevocations, Title: "Revocations failed or late", Attention: c.Failed > 0}
	if c.Failed+c.Late+c.Forced == 0 {
		if c.Revoked == 0 {
			s.Summary = "No revocation."
		} else {
			s.Summary = fmt.Sprintf("None: %s, each within %s of its expiry.", plural(c.Revoked, "revocation", "revocations"), dur(audit.LateAfter))
		}
		return s
	}
	s.Summary = fmt.Sprintf("%d failed, %d late, %d forced by an admin; %s done in all.", c.Failed, c.Late, c.Forced,
		plural(c.Revoked, "revocation", "revocations"))
	for _, r := range d.Revocations {
		var item string
		switch r.Kind {
		case RevocationFailed:
			item = fmt.Sprintf("%s FAILED: %s on %s after %s: %s", when(r.At), r.Person, r.Resource, plural(r.Attempts, "attempt", "attempts"), or(r.Error, "no error given"))
		case RevocationLate:
			item = fmt.Sprintf("%s late by %s: %s on %s", when(r.At), dur(r.Late), r.Person, r.Resource)
		default:
			item = fmt.Sprintf("%s forced by %s: %s on %s: %q", when(r.At), r.By, r.Person, r.Resource, r.Note)
		}
		s.Items = append(s.Items, item+" ("+r.GrantID+")")
	}
	s.More = c.Failed + c.Late + c.Forced - len(d.Revocations)
	return s
}

func (d Digest) refusedSection() Section {
	s := Section{Key: SectionRefused, Title: "Refused clicks"}
	if d.RefusedCount == 0 {
		s.Summary = "None."
		return s
	}
	s.Summary = fmt.Sprintf("%s: %d on their own request or grant, %d by people who may not decide.",
		plural(d.RefusedCount, "click", "clicks"), d.RefusedSelf, d.RefusedCount-d.RefusedSelf)
	for _, r := range d.Refused {
		what := r.RequestID
		if r.Decision == "breakglass_review" {
			what = "the break-glass use " + r.GrantID
		} else if what == "" {
			what = r.GrantID
		}
		verb := map[string]string{"approve": "approve", "deny": "deny", "breakglass_review": "review"}[r.Decision]
		if verb == "" {
			verb = or(r.Decision, "decide")
		}
		why := "not an approver of " + r.Resource
		if r.Reason == refusedSelf {
			why = "their own"
		} else if r.Reason != "not_approver" && r.Reason != "" {
			why = r.Reason
		}
		s.Items = append(s.Items, fmt.Sprintf("%s %s tried to %s %s (%s; %s)", when(r.At), r.Actor, verb, what, r.Resource, why))
	}
	s.More = d.RefusedCount - len(d.Refused)
	return s
}

func (d Digest) scanSection() Section {
	sc := d.Scan
	s := Section{Key: SectionScan, Title: "Standing-privilege scan", Attention: sc.LastFindings > 0}
	if sc.Runs == 0 {
		s.Summary = "No scan ran."
		return s
	}
	s.Summary = plural(sc.Runs, "scan", "scans")
	if sc.WithFindings == 0 {
		s.Summary += ", none found access that no grant explains."
	} else {
		s.Summary += fmt.Sprintf(", %d found access that no grant explains.", sc.WithFindings)
	}
	if sc.LastFindings > 0 {
		s.Summary += fmt.Sprintf(" The last (%s) found %s.", when(sc.Last), plural(sc.LastFindings, "holder", "holders"))
	} else {
		s.Summary += fmt.Sprintf(" The last (%s) was clean.", when(sc.Last))
	}
	if sc.Incomplete > 0 {
		s.Summary += fmt.Sprintf(" %s could not list every resource.", plural(sc.Incomplete, "scan", "scans"))
	}
	for _, f := range sc.Findings {
		item := fmt.Sprintf("%s: %s — %s", f.Resource, f.Account, or(f.Why, f.Reason))
		if f.Times == 1 {
			item += fmt.Sprintf(" (seen %s)", when(f.First))
		} else {
			item += fmt.Sprintf(" (seen %d times, %s to %s)", f.Times, when(f.First), when(f.Last))
		}
		s.Items = append(s.Items, item)
	}
	return s
}

func (d Digest) headSection() Section {
	return Section{Key: SectionHead, Title: "Audit chain head",
		Summary: fmt.Sprintf("seq %d, hash %s", d.Head.Seq, d.Head.Hash)}
}

// WriteText prints the digest for a terminal: every section with every item kept.
func WriteText(w io.Writer, d Digest) error {
	bw := bufio.NewWriter(w)
	title := d.Title()
	fmt.Fprintf(bw, "%s\n%s\n%s, %s in the window.\n", title, strings.Repeat("=", len([]rune(title))), d.Period(), plural(int(d.Events), "audit event", "audit events"))
	for _, s := range d.Sections() {
		mark := ""
		if s.Attention {
			mark = "  [!]"
		}
		fmt.Fprintf(bw, "\n%s%s\n", s.Title, mark)
		if s.Summary != "" {
			fmt.Fprintf(bw, "  %s\n", s.Summary)
		}
		if s.Key == SectionCheckpoint {
			bw.WriteString(indent(d.CheckpointNote(), "    "))
		}
		for _, it := range s.Items {
			fmt.Fprintf(bw, "  - %s\n", oneLine(it))
		}
		if s.More > 0 {
			fmt.Fprintf(bw, "  ... and %d more (accessbot audit export lists every event)\n", s.More)
		}
	}
	return bw.Flush()
}

// WriteMarkdown prints the digest as Markdown: a heading per section, items as a list.
func WriteMarkdown(w io.Writer, d Digest) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n\n%s, %s in the window.\n", mdEscape(d.Title()), mdEscape(d.Period()), plural(int(d.Events), "audit event", "audit events"))
	for _, s := range d.Sections() {
		mark := ""
		if s.Attention {
			mark = " ⚠"
		}
		fmt.Fprintf(bw, "\n## %s%s\n\n", mdEscape(s.Title), mark)
		if s.Key == SectionHead {
			fmt.Fprintf(bw, "seq %d, hash `%s`\n", d.Head.Seq, d.Head.Hash)
			continue
		}
		if s.Key == SectionCheckpoint {
			fmt.Fprintf(bw, "%s\n\n```\n%s```\n", mdEscape(s.Summary), d.CheckpointNote())
			continue
		}
		if s.Summary != "" {
			fmt.Fprintf(bw, "%s\n", mdEscape(s.Summary))
			if len(s.Items) > 0 {
				bw.WriteString("\n")
			}
		}
		for _, it := range s.Items {
			fmt.Fprintf(bw, "- %s\n", mdEscape(oneLine(it)))
		}
		if s.More > 0 {
			fmt.Fprintf(bw, "- … and %d more\n", s.More)
		}
	}
	return bw.Flush()
}

// oneLine keeps an item on one line whatever a reason or note holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var mdReplacer = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"<", "&lt;", ">", "&gt;", "#", `\#`, "|", `\|`)

// mdEscape keeps what people typed (reasons, notes) from formatting the document.
func mdEscape(s string) string { return mdReplacer.Replace(s) }
