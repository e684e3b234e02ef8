package audit

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/accessbot/accessbot/internal/tmpl"
)

// The rows of the report are escaped by escaper (tmpl.AppendHTMLEscape), not by html/template.
// This test holds it to what html/template writes in
// every place a row puts text from the log: element text and quoted attributes (plain ones,
// id and class, and data-* ones).
func TestReportEscaperIsHTMLTemplates(t *testing.T) {
	page := template.Must(template.New("row").Parse(
		`<td>{{.}}</td><tr id="grant-{{.}}" class="outcome-{{.}}" data-grant="{{.}}" data-reviewer="{{.}}" title="{{.}}">`))
	var inputs []string
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	for _, r := range []rune{0x7f, 0x80, 0xa0, 0x2028, 0x2029, 0xfdd0, 0xfeff, 0xfffd, 0xffff, 0x1f600, utf8.MaxRune} {
		inputs = append(inputs, string(r), "<"+string(r)+">")
	}
	inputs = append(inputs, "", "plain text, 1h30m", `<m>"'&+`+"\x00</td>", "\xff\xfe<", "a\xc3", "&amp;", "&#43;",
		"INC-1 <script>alert('x')</script> & \"fix\"", strings.Repeat("é+", 100))

	var x escaper
	for _, in := range inputs {
		var want bytes.Buffer
		if err := page.Execute(&want, in); err != nil {
			t.Fatal(err)
		}
		e := string(x.append(nil, in))
		got := "<td>" + e + `</td><tr id="grant-` + e + `" class="outcome-` + e + `" data-grant="` + e +
			`" data-reviewer="` + e + `" title="` + e + `">`
		if got != want.String() {
			t.Errorf("%q: escaper writes %q, html/template %q", in, got, want.String())
		}
		// html/template changes text exactly when tmpl.NeedsHTMLEscape says so.
		if changed := escapeWithTemplate(t, in) != in; changed != tmpl.NeedsHTMLEscape(in) {
			t.Errorf("%q: NeedsHTMLEscape says %v, html/template changes it: %v", in, tmpl.NeedsHTMLEscape(in), changed)
		}
	}
}

// escapeWithTemplate is what html/template writes for text.
func escapeWithTemplate(t *testing.T, text string) string {
	var b bytes.Buffer
	if err := template.Must(template.New("text").Parse("{{.}}")).Execute(&b, text); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The page around the rows shows values from the log too (resource names in the policy, the
// config's version and hash, a broken chain's problem): every template of the page, run with
// hostile values everywhere, writes what html/template wrote with the same files.
func TestReportPageIsHTMLTemplatesWithHostileValuesEscaped(t *testing.T) {
	reference := template.Must(template.New("report").ParseFS(reportFiles, "report/*.tmpl"))
	for _, v := range []string{`<script>alert(1)</script>`, `" onmouseover="x`, `' onclick='x`, `javascript:alert(1)`, "c++ & <b>", "nul\x00"} {
		for _, intact := range []bool{true, false} {
			p := pageView{Title: v, Period: v, Generated: v, Version: v, Filters: v, LateAfter: v,
				Verify:  verifyView{Intact: intact, Events: 3, HeadSeq: 3, HeadHash: v, FirstBad: 2, Problem: v, GoodUpTo: 1},
				Configs: []configView{{First: v, Last: v, Hash: v, Version: v, Resources: v, Count: 2}, {Before: true, Last: v}},
				Policy: policyView{Shown: true, StartKnown: true,
					Resources: []policyResourceView{{Name: v, Requesters: v, Approvers: v, Approvals: v, AutoApprove: v, BreakGlass: v, MaxDuration: v, StepUp: v}},
					Changes:   []policyChangeView{{At: v, Change: v}}},
				Sum:        ReportSummary{Events: 3, Requests: 1, CarriedOver: 1},
				GrantsRows: 1, UnusedRows: 1, UnusedTotal: 2, Events: true}
			for _, name := range []string{"top", "grants-start", "grants-end", "requests-start", "requests-end", "breakglass-start", "breakglass-end",
				"refused-start", "refused-end", "scans-start", "scans-end", "unused-start", "unused-end", "events-start", "events-end", "bottom"} {
				var got, want bytes.Buffer
				if err := reportTemplate.ExecuteTemplate(&got, name, p); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := reference.ExecuteTemplate(&want, name, p); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got.String() != want.String() {
					t.Errorf("%s with %q:\n got %s\nwant %s", name, v, got.String(), want.String())
				}
				if strings.Contains(got.String(), "<script>") || strings.Contains(got.String(), `" onmouseover`) {
					t.Errorf("%s: %q reached the page unescaped", name, v)
				}
			}
		}
	}
}
