package audit

import (
	"bytes"
	"html/template"
	"strings"
)

// needsEscaping reports whether html/template would change text, in text or in a quoted
// attribute: whether it has a NUL, a quote, &, +, < or >. Text without any is written as it
// is. template.HTMLEscapeString replaces the same bytes with the same references but for '+',
// which html/template also escapes (against UTF-7 sniffing). TestReportEscaperIsHTMLTemplates
// holds all three to what html/template writes, for every byte and the runes around them.
func needsEscaping(text string) bool {
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case 0, '"', '&', '\'', '+', '<', '>':
			return true
		}
	}
	return false
}

// escapeTemplate escapes one value in text: {{.}}, nothing else. It is only executed.
var escapeTemplate = template.Must(template.New("text").Parse("{{.}}"))

// escaperRemembers is how many values with a '+' an escaper keeps before it starts afresh.
const escaperRemembers = 4096

// escaper escapes text from the log as html/template does. Most text needs nothing; text
// with quotes, & or angle brackets (an apostrophe in a reason) goes through
// template.HTMLEscapeString; text with a '+' goes through html/template itself, which costs
// a template execution (some 2 µs), so what it returned is remembered: such text is rare, and
// when it is not, it is a name that repeats on every row (a resource called "c++-build").
type escaper struct {
	buf  bytes.Buffer
	seen map[string]string
}

// append appends text, escaped as html/template escapes it.
func (x *escaper) append(dst []byte, text string) []byte {
	if !needsEscaping(text) {
		return append(dst, text...)
	}
	if strings.IndexByte(text, '+') < 0 {
		return append(dst, template.HTMLEscapeString(text)...)
	}
	if v, ok := x.seen[text]; ok {
		return append(dst, v...)
	}
	x.buf.Reset()
	if err := escapeTemplate.Execute(&x.buf, text); err != nil {
		// Executing {{.}} on a string into memory does not fail; were it to, the text is left
		// out rather than written unescaped.
		return dst
	}
	if x.seen == nil || len(x.seen) >= escaperRemembers {
		x.seen = make(map[string]string)
	}
	v := x.buf.String()
	x.seen[text] = v
	return append(dst, v...)
}
