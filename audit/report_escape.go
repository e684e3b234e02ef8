package audit

import "github.com/accessbot/accessbot/internal/tmpl"

// escaper escapes text from the log as html/template escapes it in text and in quoted
// attributes (the same way in both): NUL, quotes, &, <, > and '+' (against UTF-7 sniffing)
// become references, everything else is copied. It is tmpl.AppendHTMLEscape, which needs no
// template execution, so no value is remembered.
type escaper struct{}

// append appends text, escaped as html/template escapes it.
func (*escaper) append(dst []byte, text string) []byte {
	return tmpl.AppendHTMLEscape(dst, text)
}
