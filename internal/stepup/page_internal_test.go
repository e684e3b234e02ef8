package stepup

import (
	htmltemplate "html/template"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTheStepUpPageIsHTMLTemplatesWithHostileValuesEscaped(t *testing.T) {
	reference := htmltemplate.Must(htmltemplate.New("page").Parse(pageSource))
	for _, v := range []string{`<script>alert(1)</script>`, `" onmouseover="x`, `javascript:alert(1)`, "a+b & 'c'", "nul\x00"} {
		rec := httptest.NewRecorder()
		(&Service{}).page(rec, 400, v, v)
		var want strings.Builder
		if err := reference.Execute(&want, struct{ Title, Text string }{v, v}); err != nil {
			t.Fatal(err)
		}
		if got := rec.Body.String(); got != want.String() {
			t.Errorf("value %q:\n got %s\nwant %s", v, got, want.String())
		}
		if strings.Contains(rec.Body.String(), "<script>") {
			t.Errorf("value %q reached the page unescaped", v)
		}
	}
}
