package tmpl

import (
	"errors"
	htmltemplate "html/template"
	"strings"
	"testing"
	"text/template"
)

type inner struct {
	Name  string
	Count int
	Tags  []string
}

type sample struct {
	Account, Email, ID string
	N                  int
	U                  uint
	F                  float64
	B                  bool
	Ptr                *inner
	NilPtr             *inner
	In                 inner
	List               []inner
	Empty              []string
	M                  map[string]string
	Any                any
	unexported         string
}

func sampleData() sample {
	return sample{
		Account: "alice", Email: "alice@example.com", ID: "U123", N: 3, U: 7, F: 1.5, B: true,
		Ptr: &inner{Name: "p", Count: 2, Tags: []string{"x", "y"}}, In: inner{Name: "in", Count: 0},
		List: []inner{{Name: "a", Count: 1}, {Name: "b", Count: 0, Tags: []string{"t"}}},
		M:    map[string]string{"k": "v", "a": "1", "b": "2"}, Any: "iface", unexported: "hidden",
	}
}

var person = map[string]string{
	"ID": "alice@example.com", "Email": "alice@example.com", "Local": "alice",
	"Name": "Alice", "Platform": "slack", "PlatformID": "U0123",
}

// templates are run by both executors on both kinds of data; the outputs must be equal.
var templates = []string{
	``,
	`plain text`,
	`{{.Account}}`,
	`uid={{.Account}},ou=people,dc=example,dc=org`,
	`(|(uid={{.Account}})(mail={{.Email}}))`,
	`{{.Local}}_ro`,
	`{{ .Email }}`,
	`{{- .Account -}} x {{- .ID}}`,
	"a {{- /* a comment */ -}} b",
	`{{if .PlatformID}}{{.Platform}}_{{.PlatformID}}{{else}}u_{{.Local}}{{end}}`,
	`{{if .Missing}}yes{{else}}no{{end}}`,
	`{{if .B}}b{{else if .N}}n{{else}}none{{end}}`,
	`{{with .Ptr}}{{.Name}}:{{.Count}}{{end}}`,
	`{{with .NilPtr}}{{.Name}}{{else}}nil{{end}}`,
	`{{with $x := .In}}{{$x.Name}}{{end}}`,
	`{{range .List}}[{{.Name}} {{.Count}}{{range .Tags}}<{{.}}>{{end}}]{{end}}`,
	`{{range $i, $e := .List}}{{$i}}={{$e.Name}};{{end}}`,
	`{{range $e := .List}}{{$e.Name}}{{$.Account}}{{end}}`,
	`{{range .Empty}}x{{else}}empty{{end}}`,
	`{{range $k, $v := .M}}{{$k}}={{$v}},{{end}}`,
	`{{range 3}}{{.}}{{end}}`,
	`{{$x := .Account}}{{$x}}{{$x = "bob"}}{{$x}}`,
	`{{.Ptr.Name}} {{.Ptr.Tags}} {{.In}} {{.Ptr}}`,
	`{{.N}} {{.U}} {{.F}} {{.B}} {{.Any}} {{.M}}`,
	`{{.M.k}} {{.M.zz}}`,
	`{{not .B}} {{not .Empty}} {{and .B .N}} {{or .Empty .Account}} {{and .N .Empty .B}} {{or 0 ""}}`,
	`{{eq .N 3}} {{eq .Account "x" "alice"}} {{ne .N 2}} {{lt .N 4}} {{le .N 3}} {{gt .N 3}} {{ge .N 3}} {{gt .U 3}} {{lt .F 2.0}}`,
	`{{eq .N .U}} {{lt .N .U}} {{eq .B true}} {{eq .Any "iface"}}`,
	`{{len .List}} {{len .Account}} {{len .M}} {{index .List 1}} {{index .M "k"}} {{index .Ptr.Tags 0}} {{index .M "none"}}`,
	`{{print .Account 1 2}} {{printf "%s-%03d" .Account .N}} {{println .N}}`,
	`{{.Account | printf "%q"}} {{.N | eq 3}} {{"x" | print .Account}}`,
	`{{(.Ptr).Name}} {{(index .List 0).Name}}`,
	`{{define "sub"}}<{{.}}>{{end}}{{template "sub" .Account}}{{template "sub" 5}}`,
	`{{.Email}}{{.ID}}{{.Account}}`,
	`{{printf "%d" 1}} {{1.5}} {{0x10}} {{-2}} {{true}} {{"str"}}`,
}

// failing are templates both executors refuse at run time.
var failing = []string{
	`{{.Nope}}`,
	`{{.Ptr.Nope}}`,
	`{{.NilPtr.Name}}`,
	`{{.unexported}}`,
	`{{index .List 5}}`,
	`{{lt .B true}}`,
	`{{eq .Account 1}}`,
	`{{template "none"}}`,
	`{{len 3}}`,
}

func TestExecuteMatchesTextTemplateOnManyTemplates(t *testing.T) {
	for _, missingKeyError := range []bool{false, true} {
		for _, data := range []any{sampleData(), person, &struct{ Account string }{"bob"}} {
			for _, text := range append(templates, failing...) {
				want, wantErr := runText(text, data, missingKeyError)
				got, gotErr := runOurs(text, data, Options{MissingKeyError: missingKeyError})
				if errors.Is(gotErr, ErrUnsupported) {
					t.Errorf("%q on %T: refused as unsupported: %v", text, data, gotErr)
					continue
				}
				if (wantErr != nil) != (gotErr != nil) {
					t.Errorf("%q on %T (missingkey=error %v): text/template err %v, ours %v", text, data, missingKeyError, wantErr, gotErr)
					continue
				}
				if wantErr == nil && got != want {
					t.Errorf("%q on %T (missingkey=error %v):\n got %q\nwant %q", text, data, missingKeyError, got, want)
				}
			}
		}
	}
}

func TestErrorsAreWordedAsTextTemplateWordsThem(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		data       any
	}{
		{"a missing map key", `uid={{.Login}}`, person},
		{"an unknown struct field", `x{{.Nope}}`, sampleData()},
		{"a nil pointer", `{{.NilPtr.Name}}`, sampleData()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, want := runText(tt.text, tt.data, true)
			_, got := runOurs(tt.text, tt.data, Options{MissingKeyError: true})
			if want == nil || got == nil || got.Error() != want.Error() {
				t.Errorf("error %v, text/template's %v", got, want)
			}
		})
	}
}

func TestParseErrorsAreTextTemplates(t *testing.T) {
	for _, text := range []string{`{{.Account`, `{{nofunc .Account}}`, `{{if .B}}x`, `{{$undefined}}`, `{{end}}`} {
		_, want := template.New("t").Parse(text)
		_, got := Parse("t", text, Options{})
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%q: error %v, text/template's %v", text, got, want)
		}
	}
}

func TestWhatIsNotSupportedIsRefusedWhenParsed(t *testing.T) {
	for _, text := range []string{
		`{{html .Account}}`, `{{js .Account}}`, `{{urlquery .Account}}`, `{{call .F}}`, `{{slice .Account 1}}`,
		`{{range .List}}{{break}}{{end}}`, `{{range .List}}{{continue}}{{end}}`,
	} {
		if _, err := Parse("t", text, Options{}); err == nil {
			t.Errorf("%q parsed", text)
		}
	}
}

func TestMethodsAreNeverCalled(t *testing.T) {
	_, err := runOurs(`{{.Method}}`, withMethod{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "can't evaluate field Method") {
		t.Errorf("a method was not refused: %v", err)
	}
}

type withMethod struct{}

func (withMethod) Method() string { return "called" }

func TestFieldsListsWhatTheTemplateReads(t *testing.T) {
	tm := Must(Parse("t", `{{if .PlatformID}}{{.Platform}}{{else}}{{$.Local | printf "%s"}}{{end}}{{range .List}}{{.Inner}}{{end}}`, Options{}))
	got := strings.Join(tm.Fields(), ",")
	if got != "Inner,List,Local,Platform,PlatformID" {
		t.Errorf("Fields = %s", got)
	}
}

// hostile are values a page must show as text, never as markup or a script.
var hostile = []string{
	`<script>alert(1)</script>`, `" onmouseover="alert(1)`, `' onclick='x`, `javascript:alert(1)`,
	"a+b & c", "nul\x00byte", "\xff invalid utf8", "<!-- -->", "é ü 日本",
}

func TestPagesEscapeAsHTMLTemplateDoes(t *testing.T) {
	page := `<!DOCTYPE html><html><head><title>{{.Title}}</title><style>p{color:red}</style></head>
<body class="{{if .B}}on{{else}}off{{end}}" data-n="{{.N}}"><h1 id="x-{{.Title}}">{{.Title}}</h1>
<p title='{{.Text}}'>{{.Text}}</p>{{range .List}}<li data-v="{{.}}">{{.}}</li>{{end}}
<meta name="generator" content="accessbot {{.Text}}"></body></html>`
	ours := Must(Parse("p", page, Options{HTML: true}))
	theirs := htmltemplate.Must(htmltemplate.New("p").Parse(page))
	for _, v := range hostile {
		data := struct {
			Title, Text string
			B           bool
			N           int
			List        []string
		}{v, v, true, 4, []string{v, "plain"}}
		var a, b strings.Builder
		if err := ours.Execute(&a, data); err != nil {
			t.Fatal(err)
		}
		if err := theirs.Execute(&b, data); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("value %q:\n got %s\nwant %s", v, a.String(), b.String())
		}
		if strings.Contains(a.String(), "<script>") || strings.Contains(a.String(), `" onmouseover`) {
			t.Errorf("value %q written unescaped: %s", v, a.String())
		}
	}
}

func TestHTMLEscapeIsHTMLTemplatesForEveryByte(t *testing.T) {
	theirs := htmltemplate.Must(htmltemplate.New("t").Parse("{{.}}"))
	for i := 0; i < 256; i++ {
		for _, s := range []string{string(rune(i)), string([]byte{byte(i)}), "a" + string([]byte{byte(i)}) + "é"} {
			var b strings.Builder
			if err := theirs.Execute(&b, s); err != nil {
				t.Fatal(err)
			}
			if got := HTMLEscape(s); got != b.String() {
				t.Errorf("HTMLEscape(%q) = %q, html/template %q", s, got, b.String())
			}
			if got := string(AppendHTMLEscape([]byte("x"), s)); got != "x"+b.String() {
				t.Errorf("AppendHTMLEscape(%q) = %q", s, got)
			}
			if NeedsHTMLEscape(s) != (s != b.String()) {
				t.Errorf("NeedsHTMLEscape(%q) = %v", s, NeedsHTMLEscape(s))
			}
		}
	}
}

func TestPagesRefuseActionsOutsideTextAndPlainAttributes(t *testing.T) {
	for _, page := range []string{
		`<a href="{{.}}">x</a>`,
		`<img src="{{.}}">`,
		`<a href='/x?q={{.}}'>x</a>`,
		`<div data-url="{{.}}">`,
		`<div onclick="{{.}}">`,
		`<div style="{{.}}">`,
		`<div class={{.}}>`,
		`<div {{.}}>`,
		`<{{.}}>`,
		`<script>var x = {{.}};</script>`,
		`<style>p { color: {{.}} }</style>`,
		`<!-- {{.}} -->`,
		`{{if .}}<div class="{{else}}<p>{{end}}`,
		`{{define "s"}}{{.}}{{end}}<script>{{template "s" .}}</script>`,
	} {
		if _, err := Parse("p", page, Options{HTML: true}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: parsed (err %v)", page, err)
		}
	}
}

func runText(text string, data any, missingKeyError bool) (string, error) {
	tm := template.New("t")
	if missingKeyError {
		tm = tm.Option("missingkey=error")
	}
	tm, err := tm.Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tm.Execute(&b, data)
	return b.String(), err
}

func runOurs(text string, data any, o Options) (string, error) {
	tm, err := Parse("t", text, o)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tm.Execute(&b, data)
	return b.String(), err
}
