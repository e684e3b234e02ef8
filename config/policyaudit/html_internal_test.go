package policyaudit

import (
	htmltemplate "html/template"
	"io"
	"strings"
	"testing"
	"time"
)

// hostile are values a config author could write that must reach the page as text.
var hostile = []string{
	`<script>alert(1)</script>`, `" onmouseover="alert(1)`, `' x='`, `javascript:alert(1)`,
	"hour < 9 && c++", "nul\x00", "é 日本",
}

// writeHTMLTemplate is WriteHTML as it was on html/template, the reference the page must match
// byte for byte.
func writeHTMLTemplate(w io.Writer, r Report) error {
	page := htmltemplate.Must(htmltemplate.New("policy").Parse(htmlSource))
	return page.Execute(w, struct {
		File, Short, Summary, Admins string
		Resources                    []Resource
	}{r.File, short(r.ConfigSHA256), plural(len(r.Resources), "resource", "resources") + ", " +
		plural(len(r.Warnings()), "warning", "warnings"), listOrNone(r.Admins), r.Resources})
}

func TestThePolicyPageIsHTMLTemplatesWithHostileValuesEscaped(t *testing.T) {
	for _, v := range hostile {
		r := Report{File: "/etc/" + v, ConfigSHA256: v + "0123456789abcdef", Admins: []string{v, "alice"},
			Resources: []Resource{
				{Name: v, Adapter: v, Description: v, Requesters: []string{v}, AutoApprove: v,
					RequesterGroups: []Group{{Name: v, Members: []string{v}}}, Approvers: []Group{{Name: v, Platform: true}},
					Approvals: 2, BreakGlass: true, MaxDuration: time.Hour, ReasonPattern: v, StepUp: "oidc",
					Warnings: []Warning{{Resource: v, Code: v, Message: v}}},
				{Name: "db", Adapter: "postgres", Everyone: true},
			}}
		var got, want strings.Builder
		if err := WriteHTML(&got, r); err != nil {
			t.Fatal(err)
		}
		if err := writeHTMLTemplate(&want, r); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("value %q: the page differs from html/template's:\n got %s\nwant %s", v, got.String(), want.String())
		}
		for _, bad := range []string{"<script>", `" onmouseover=`, "' x='"} {
			if strings.Contains(got.String(), bad) {
				t.Errorf("value %q: %q reached the page unescaped", v, bad)
			}
		}
	}
}
