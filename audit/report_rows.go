package audit

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rows are built in Go, not by executing a template per row: a report has a row per grant
// and, with Events, per event, and a template execution costs about a microsecond per value
// (reflection for the field, a reflected call of the escaper): 27 to 50 µs a grant row against
// 1.3 to 2.8 µs built here (on a busy VM), on the 125,133 grant rows of BENCHMARKS.md's
// million events some 4 s more than the whole report takes. The page around the rows is
// templates (report/*.tmpl, run by internal/tmpl), and every value in a row is escaped exactly
// as html/template escapes it (escaper, report_escape.go). Everything htmlRow.s writes is a
// literal of this file.

// htmlRow builds one row.
type htmlRow struct {
	b    []byte
	keys []string
	esc  escaper
}

// s appends markup written in this file.
func (w *htmlRow) s(markup string) *htmlRow {
	w.b = append(w.b, markup...)
	return w
}

// e appends text from the log, escaped as html/template escapes it in text and in quoted
// attributes (the same way in both).
func (w *htmlRow) e(text string) *htmlRow {
	w.b = w.esc.append(w.b, text)
	return w
}

// n appends a number.
func (w *htmlRow) n(v int64) *htmlRow {
	w.b = strconv.AppendInt(w.b, v, 10)
	return w
}

// t appends a time as the report shows times (nothing for the zero time).
func (w *htmlRow) t(at time.Time) *htmlRow {
	if !at.IsZero() {
		w.b = at.UTC().AppendFormat(w.b, timeLayout)
	}
	return w
}

// when appends markup of this file when cond holds.
func (w *htmlRow) when(cond bool, markup string) *htmlRow {
	if cond {
		w.b = append(w.b, markup...)
	}
	return w
}

// reviews appends a list of reviews (nothing when there are none).
func (w *htmlRow) reviews(rs []reportReview) *htmlRow {
	if len(rs) == 0 {
		return w
	}
	w.s(`<ul class="reviews">`)
	for _, rv := range rs {
		w.s(`<li><span data-reviewer="`).e(rv.who).s(`">`).e(rv.who).s("</span> ").e(rv.decision).s(" ").t(rv.at)
		if rv.reason != "" {
			w.s(": ").e(rv.reason)
		}
		w.s("</li>")
	}
	return w.s("</ul>")
}

// grant writes a row of the grants section.
func (w *htmlRow) grant(r *reportRow, carried bool, outcome, how, held string) {
	w.s("\n<tr id=\"grant-").e(r.grantID).s(`" class="outcome-`).e(outcome).s(`" data-grant="`).e(r.grantID).
		s(`" data-request="`).e(r.requestID).s(`" data-kind="`).e(r.kind).s(`" data-decision="`).e(r.decisionName()).
		s(`" data-outcome="`).e(outcome).s(`" data-state="`).e(r.state).s("\">\n")
	w.s(`<td class="mono">`).e(r.grantID).s(`<br><span class="small">`).e(r.requestID).s("</span>").
		when(carried, `<br><span class="tag">before the period</span>`).
		when(r.kind == "breakglass", `<br><span class="tag">break-glass</span>`).s("</td>\n")
	w.s(`<td data-field="resource">`).e(r.resource).s("</td>\n")
	w.s(`<td><span data-field="subject">`).e(r.subject).s("</span>")
	if r.account != "" {
		w.s(`<br><span class="mono" data-field="account">`).e(r.account).s("</span>")
	}
	w.s("</td>\n")
	w.s(`<td data-field="reason">`).e(r.reason).s("</td>\n")
	w.s(`<td class="when"><span data-field="requested">`).t(r.requestedAt).s(`</span><br><span class="small">for `).
		e(r.duration).s("</span></td>\n")
	w.s(`<td data-field="approval">`)
	switch {
	case r.decision == "auto":
		w.s("auto-approved by rule <code>").e(r.decisionNote).s("</code>")
	case r.decision == "breakglass":
		w.s("none: break-glass")
	case len(r.reviews) > 0:
		w.reviews(r.reviews)
	default:
		w.e(r.decisionName())
	}
	w.s("</td>\n")
	w.s(`<td class="when" data-field="granted">`).t(r.grantedAt).s("</td>\n")
	w.s(`<td><span class="when" data-field="expires">`).t(r.expiresAt).s("</span>")
	for _, x := range r.exts {
		w.s(`<br><span class="small">extension +`).e(x.by).s(" asked ").t(x.at).s(": ").e(x.state)
		if len(x.approvers) > 0 {
			w.s(" by ").e(strings.Join(x.approvers, ", "))
		}
		w.s("</span>")
	}
	w.s("</td>\n")
	w.s(`<td><span class="when" data-field="revoked">`).t(r.revokedAt).s("</span>").when(!r.revokedAt.IsZero(), "<br>").
		s(`<span class="small" data-field="how">`).e(how).s("</span>")
	if r.lastError != "" {
		w.s(`<br><span class="small">last error: `).e(r.lastError).s("</span>")
	}
	w.s("</td>\n")
	w.s(`<td class="when" data-field="held">`).e(held).s("</td>\n</tr>")
}

// request writes a row of the requests that made no grant.
func (w *htmlRow) request(r *reportRow, carried bool) {
	w.s("\n<tr id=\"request-").e(r.requestID).s(`" data-request="`).e(r.requestID).s(`" data-kind="`).e(r.kind).
		s(`" data-decision="`).e(r.decisionName()).s("\">\n")
	w.s(`<td class="mono">`).e(r.requestID).when(carried, `<br><span class="tag">before the period</span>`).s("</td>\n")
	w.s(`<td data-field="resource">`).e(r.resource).s("</td>\n")
	w.s(`<td data-field="subject">`).e(r.subject).s("</td>\n")
	w.s(`<td data-field="reason">`).e(r.reason).s("</td>\n")
	w.s(`<td class="when"><span data-field="requested">`).t(r.requestedAt).s(`</span><br><span class="small">for `).
		e(r.duration).s("</span></td>\n")
	w.s(`<td data-field="outcome">`).e(r.decisionName())
	if r.decisionNote != "" {
		w.s(": ").e(r.decisionNote)
	}
	w.s("</td>\n")
	w.s(`<td class="when">`).t(r.decidedAt)
	if r.decidedBy != "" {
		w.s(`<br><span class="small">`).e(r.decidedBy).s("</span>")
	}
	w.s("</td>\n<td>").reviews(r.reviews).s("</td>\n</tr>")
}

// breakGlass writes a row of the break-glass section.
func (w *htmlRow) breakGlass(r *reportRow, held string) {
	reviewed := r.bgReviewedBy != ""
	w.s("\n<tr id=\"breakglass-").e(r.grantID).s(`"`).when(!reviewed, ` class="unreviewed"`).s(` data-grant="`).e(r.grantID).
		s(`" data-reviewed="`)
	if reviewed {
		w.s("true")
	} else {
		w.s("false")
	}
	w.s("\">\n")
	w.s(`<td class="mono">`).e(r.grantID).s("</td>\n")
	w.s("<td>").e(r.resource).s("</td>\n")
	w.s("<td>").e(r.subject).s("</td>\n")
	w.s(`<td data-field="reason">`).e(r.reason).s("</td>\n")
	w.s(`<td class="when">`).t(r.requestedAt).s(`<br><span class="small">for `).e(r.duration).s("</span></td>\n")
	w.s(`<td class="when">`).e(held).s("</td>\n")
	w.s(`<td class="when">`)
	if reviewed {
		w.s(`<span data-reviewer="`).e(r.bgReviewedBy).s(`">`).e(r.bgReviewedBy).s("</span><br>").t(r.bgReviewedAt)
	} else {
		w.s("<strong>not reviewed</strong>")
	}
	w.s("</td>\n")
	w.s(`<td data-field="review-note">`).e(r.bgNote).s("</td>\n</tr>")
}

// scan writes a row of the scans section.
func (w *htmlRow) scan(sc *scanRow) {
	e := sc.e
	w.s("\n<tr data-seq=\"").n(e.Seq).s(`" data-findings="`).n(int64(sc.findings)).s("\">\n<td>").n(e.Seq).
		s(`</td><td class="when">`).t(e.At).s("</td><td>").e(e.Actor).s("</td><td>").e(sc.resources).
		s(`</td><td class="n">`).n(int64(sc.findings)).s(`</td><td class="n">`).n(int64(sc.errors)).s("</td><td>").
		e(sc.message).s("</td>\n</tr>")
}

// refused writes a row of the refused actions.
func (w *htmlRow) refused(x *refusedRow) {
	e := x.e
	w.s("\n<tr data-seq=\"").n(e.Seq).s(`" data-type="`).e(e.Type).s(`" data-why="`).e(x.why).s("\">\n<td>").
		n(e.Seq).s(`</td><td class="when">`).t(e.At).s("</td><td>").e(e.Actor).s("</td><td>").e(x.what).
		s("</td><td>").e(e.Resource).s(`</td><td class="mono">`).e(x.target).s("</td><td>").e(e.Subject).
		s("</td><td>").e(x.why).s(`</td><td data-field="reason">`).e(x.reason).s("</td>\n</tr>")
}

// event writes a row of the appendix; the data as key=value pairs in key order.
func (w *htmlRow) event(e *Event) {
	w.s("\n<tr data-seq=\"").n(e.Seq).s(`"><td>`).n(e.Seq).s(`</td><td class="when">`).t(e.At).s("</td><td>").e(e.Type).
		s("</td><td>").e(e.Actor).s("</td><td>").e(e.Resource).s("</td><td>").e(e.Subject).s(`</td><td class="mono">`).
		e(e.RequestID).s(`</td><td class="mono">`).e(e.GrantID).s("</td><td>")
	w.keys = w.keys[:0]
	for k := range e.Data {
		w.keys = append(w.keys, k)
	}
	sort.Strings(w.keys)
	for i, k := range w.keys {
		if i > 0 {
			w.s("; ")
		}
		w.e(k).s("=").e(e.Data[k])
	}
	w.s(`</td><td class="mono small">`).e(e.Hash).s("</td></tr>")
}
