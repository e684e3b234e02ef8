package deploy

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/internal/servertest"
)

// promtoolVersion is the Prometheus module version .ci/promtool builds (Prometheus 3.16.0).
const promtoolVersion = "v0.316.0"

const (
	dashboardFile  = "grafana/accessbot.json"
	rulesFile      = "prometheus/alerts.yaml"
	rulesTestFile  = "prometheus/alerts_test.yaml"
	operationsFile = "../docs/operations.md"
)

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// panel is one dashboard panel, or a row with the panels folded into it.
type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// rules is the part of a Prometheus rule file the tests read.
type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

// rule is one alerting or recording rule.
type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// rulesTests is the part of a promtool unit-test file the tests read.
type rulesTests struct {
	Tests []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// readDashboard parses the dashboard, failing t when it is not JSON.
func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	return d
}

// readYAML parses the YAML file at path into a T.
func readYAML[T any](t *testing.T, path string) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// allPanels flattens rows' panels into one list.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboardAndAlertsNameOnlyMetricsThatServeExports(t *testing.T) {
	ex, _ := scrapeServe(t)
	type named struct {
		where, expr string
		// values: the label values matched must be on /metrics too. The unit tests' input
		// series name sinks and platforms of their own making, so only their labels are checked.
		values bool
	}
	var exprs []named
	for _, p := range allPanels(readDashboard(t).Panels) {
		for i, tg := range p.Targets {
			exprs = append(exprs, named{fmt.Sprintf("%s: panel %q target %d", dashboardFile, p.Title, i), tg.Expr, true})
		}
	}
	for _, g := range readYAML[rules](t, rulesFile).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, named{fmt.Sprintf("%s: %s", rulesFile, r.Alert+r.Record), r.Expr, true})
		}
	}
	// The unit tests' input series too: a test feeding a metric that no longer exists proves
	// nothing about the real one.
	for _, tc := range readYAML[rulesTests](t, rulesTestFile).Tests {
		for _, s := range tc.InputSeries {
			exprs = append(exprs, named{fmt.Sprintf("%s: %s", rulesTestFile, tc.Name), s.Series, false})
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found in the dashboard, the rules and their tests", len(exprs))
	}
	for _, e := range exprs {
		for _, err := range checkExpr(ex, e.expr, e.values) {
			t.Errorf("%s: %v\n  expr: %s", e.where, err, e.expr)
		}
	}
}

// checkExpr reports each metric the expression names that the scrape did not show, each label
// it matches on that no scraped sample of the metric has, and, when values is set, each label
// matcher no scraped sample can satisfy.
func checkExpr(ex exposition, expr string, values bool) []error {
	if strings.TrimSpace(expr) == "" {
		return []error{errors.New("empty expression")}
	}
	sels, err := selectors(expr)
	if err != nil {
		return []error{err}
	}
	if len(sels) == 0 {
		return []error{errors.New("names no metric")}
	}
	var errs []error
	for _, s := range sels {
		if !ex.names[s.name] {
			errs = append(errs, fmt.Errorf("%s is not on /metrics", s.name))
			continue
		}
		labelValues := map[string]map[string]bool{}
		for _, sm := range ex.samples {
			if sm.name != s.name {
				continue
			}
			for k, v := range sm.labels {
				if labelValues[k] == nil {
					labelValues[k] = map[string]bool{}
				}
				labelValues[k][v] = true
			}
		}
		for _, m := range s.matchers {
			if m.label == "instance" || m.label == "job" {
				continue // added by Prometheus when it scrapes
			}
			switch {
			case labelValues[m.label] == nil:
				errs = append(errs, fmt.Errorf("%s has no label %q on /metrics", s.name, m.label))
			case values:
				errs = append(errs, checkMatcher(s.name, m, labelValues[m.label])...)
			}
		}
	}
	return errs
}

// plainAlternatives matches a regexp that is only literal alternatives ("a|b.c|d").
var plainAlternatives = regexp.MustCompile(`^[A-Za-z0-9_.:+-]+(\|[A-Za-z0-9_.:+-]+)*$`)

// checkMatcher reports a matcher that none of the label's scraped values satisfies.
func checkMatcher(name string, m matcher, values map[string]bool) []error {
	switch {
	case m.op == "=" && m.value != "" && !values[m.value]:
		return []error{fmt.Errorf("%s{%s=%q}: no such label value on /metrics (have %v)", name, m.label, m.value, slices.Sorted(maps.Keys(values)))}
	case m.op == "=~" && plainAlternatives.MatchString(m.value):
		var errs []error
		for _, alt := range strings.Split(m.value, "|") {
			if !values[alt] {
				errs = append(errs, fmt.Errorf("%s{%s=~%q}: %q is no label value on /metrics (have %v)", name, m.label, m.value, alt, slices.Sorted(maps.Keys(values))))
			}
		}
		return errs
	case m.op == "=~":
		re, err := regexp.Compile("^(?:" + m.value + ")$")
		if err != nil {
			return []error{fmt.Errorf("%s{%s=~%q}: %v", name, m.label, m.value, err)}
		}
		for v := range values {
			if re.MatchString(v) {
				return nil
			}
		}
		return []error{fmt.Errorf("%s{%s=~%q} matches no label value on /metrics", name, m.label, m.value)}
	}
	return nil
}

func TestDashboardShowsWhatTheIssueAsksFromTheDataSourceVariable(t *testing.T) {
	d := readDashboard(t)
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want 39 or later", d.SchemaVersion)
	}
	hasVar := false
	for _, v := range d.Templating.List {
		hasVar = hasVar || v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && v.Query == "prometheus"
	}
	if !hasVar {
		t.Errorf("no datasource variable DS_PROMETHEUS of type prometheus in templating: %+v", d.Templating.List)
	}
	titles := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		titles[p.Title] = true
		if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q reads %+v, want the ${DS_PROMETHEUS} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	for _, want := range []string{"Revocation lateness", "Grants by state", "Grants revoke_failed",
		"Revocations given up, by resource", "Chat outbox", "Audit sink lag", "Requests and decisions",
		"Refused requests", "Replicas ready", "Standing access found"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// runbookBase is where every alert's runbook_url points: a section of docs/operations.md.
const runbookBase = "https://github.com/accessbot/accessbot/blob/main/docs/operations.md#"

func TestEveryAlertHasForSeverityAnnotationsAndARunbookSectionThatExists(t *testing.T) {
	doc, err := os.ReadFile(operationsFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := headingAnchors(string(doc))
	want := []string{"AccessbotRevocationFailed", "AccessbotRevocationLate", "AccessbotOutboxLagGrowing",
		"AccessbotAuditSinkLagGrowing", "AccessbotStandingAccessFound", "AccessbotReplicaNotReady", "AccessbotDown"}
	var got []string
	for _, g := range readYAML[rules](t, rulesFile).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			if _, err := time.ParseDuration(r.For); err != nil || r.For == "" {
				t.Errorf("%s: for %q, want a duration", r.Alert, r.For)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, runbookBase)
			if !ok {
				t.Errorf("%s: runbook_url %q is not a section of docs/operations.md", r.Alert, u)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("%s: docs/operations.md has no heading #%s (has %v)", r.Alert, anchor, slices.Sorted(maps.Keys(anchors)))
			}
			if _, err := url.Parse(u); err != nil {
				t.Errorf("%s: runbook_url: %v", r.Alert, err)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
	// Each alert is unit-tested both firing and staying quiet.
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range readYAML[rulesTests](t, rulesTestFile).Tests {
		for _, at := range tc.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, a := range want {
		if !fires[a] || !quiet[a] {
			t.Errorf("%s: unit tests show it firing %v, staying quiet %v; want both", a, fires[a], quiet[a])
		}
	}
}

// headingAnchors returns the anchors GitHub gives the Markdown headings of doc: lower case,
// punctuation other than - and _ dropped, spaces as -.
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// promtool returns the path of promtool: $ACCESSBOT_PROMTOOL, else the tools cache where
// .ci/promtool puts it.
func promtool() (string, error) {
	if p := os.Getenv("ACCESSBOT_PROMTOOL"); p != "" {
		return p, nil
	}
	tools := os.Getenv("ACCESSBOT_TOOLS")
	if tools == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", servertest.Unavailable{Msg: "deploy: no home directory to find the tools cache in"}
			}
			cache = filepath.Join(home, ".cache")
		}
		tools = filepath.Join(cache, "accessbot-tools")
	}
	p := filepath.Join(tools, "bin", "promtool")
	build := "run .ci/promtool (GOBIN=" + filepath.Dir(p) + " go install github.com/prometheus/prometheus/cmd/promtool@" + promtoolVersion + ")"
	if _, err := os.Stat(p); err != nil {
		return "", servertest.Unavailable{Msg: "deploy: promtool " + promtoolVersion + " is not built (" + p + "): " + build}
	}
	// The cache may hold the build of an older pin: its rule checks are not the ones the pin
	// promises.
	if bi, err := buildinfo.ReadFile(p); err != nil || bi.Main.Version != promtoolVersion {
		got := "unknown"
		if err == nil {
			got = bi.Main.Version
		}
		return "", servertest.Unavailable{Msg: "deploy: " + p + " is promtool " + got + ", want " + promtoolVersion + ": " + build}
	}
	return p, nil
}

// runPromtool runs promtool with args in this directory, failing t with its output on an error.
func runPromtool(t *testing.T, bin string, stdin []byte, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAlertRulesPassPromtoolsCheckAndUnitTests(t *testing.T) {
	bin, err := promtool()
	if err != nil {
		servertest.Handle(t, err)
	}
	runPromtool(t, bin, nil, "check", "rules", rulesFile)
	// promtool resolves rule_files relative to the test file.
	runPromtool(t, bin, nil, "test", "rules", rulesTestFile)
}

func TestMetricsOfARunningServePassPromtoolsLint(t *testing.T) {
	bin, err := promtool()
	if err != nil {
		servertest.Handle(t, err)
	}
	_, text := scrapeServe(t)
	runPromtool(t, bin, []byte(text), "check", "metrics")
}
