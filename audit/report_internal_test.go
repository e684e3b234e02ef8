package audit

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The rows of the report are escaped by escaper: what html/template leaves as it is is copied,
// the rest goes through html/template. These tests hold that to what html/template writes in
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
		for pass := range 2 { // the second time from what the escaper remembers
			e := string(x.append(nil, in))
			got := "<td>" + e + `</td><tr id="grant-` + e + `" class="outcome-` + e + `" data-grant="` + e +
				`" data-reviewer="` + e + `" title="` + e + `">`
			if got != want.String() {
				t.Errorf("pass %d, %q: escaper writes %q, html/template %q", pass, in, got, want.String())
			}
		}
		// The fast paths: html/template changes text exactly when needsEscaping says so, and
		// without a '+', template.HTMLEscapeString writes what html/template writes.
		if changed := escapeWithTemplate(t, in) != in; changed != needsEscaping(in) {
			t.Errorf("%q: needsEscaping says %v, html/template changes it: %v", in, needsEscaping(in), changed)
		}
		if noPlus := strings.ReplaceAll(in, "+", ""); template.HTMLEscapeString(noPlus) != escapeWithTemplate(t, noPlus) {
			t.Errorf("%q: template.HTMLEscapeString writes %q, html/template %q", noPlus, template.HTMLEscapeString(noPlus), escapeWithTemplate(t, noPlus))
		}
	}
}

// escapeWithTemplate is what html/template writes for text.
func escapeWithTemplate(t *testing.T, text string) string {
	var b bytes.Buffer
	if err := escapeTemplate.Execute(&b, text); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The escaper remembers what it escaped up to escaperRemembers values, then starts afresh,
// so a log full of distinct awkward text does not grow it without bound.
func TestReportEscaperForgetsPastItsLimit(t *testing.T) {
	var x escaper
	for i := range escaperRemembers + 10 {
		in := "<+" + strconv.Itoa(i) + ">"
		if got := string(x.append(nil, in)); got != "&lt;&#43;"+strconv.Itoa(i)+"&gt;" {
			t.Fatalf("%q escaped as %q", in, got)
		}
		if len(x.seen) > escaperRemembers {
			t.Fatalf("remembers %d values", len(x.seen))
		}
	}
	if len(x.seen) != 10 {
		t.Errorf("remembers %d values, want the 10 since it started afresh", len(x.seen))
	}
	if got := string(x.append(nil, "a+b")); got != "a&#43;b" {
		t.Errorf("after starting afresh: %q", got)
	}
}
