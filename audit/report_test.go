package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

var updateReport = flag.Bool("update-report", false, "rewrite audit/testdata/report.golden.html")

// The reason alice types for her first request: a report must show it, never run it.
const scriptReason = `INC-1 <script>alert('x')</script> & "fix"`

// reportFixture runs a fixed week-day morning through the real grants Service and Scheduler on
// SQLite, with a fake clock and IDs that count, so that the report is the same every time:
//
//	r-001 (g-002) alice prod-db, approved by bob, extended 30m (approved by carol), revoked on time
//	r-003 (g-004) dave prod-db, approved by carol, revoked 32m late (nobody ran the scheduler)
//	r-005 alice prod-db, denied by bob
//	r-006 (g-007) alice staging, auto-approved by a rule, revoked early by alice
//	r-008 (g-009) dave break-glass on prod-db, reviewed by erin, revoked on time
//	r-010 alice prod-db: alice approves herself (refused), dave approves (refused), expires
//	alice asks prod-db for 10h: refused by the policy
//	one config.loaded and one scan with 2 findings
func reportFixture(t *testing.T) *gt.Harness {
	t.Helper()
	staging := &grants.Resource{Name: "staging", AdapterType: "fake", Policy: grants.Policy{
		ApproverGroups: []string{"sre"}, Approvals: 1, DefaultDuration: time.Hour, MaxDuration: 4 * time.Hour,
		PendingTTL: time.Hour,
	}}
	rule, err := grants.CompileRule(`resource == "staging"`)
	if err != nil {
		t.Fatal(err)
	}
	staging.Policy.AutoApprove = rule
	n := 0
	h := gt.New(t, gt.Options{
		Resources: []*grants.Resource{gt.DefaultResource(), staging},
		NewID: func(prefix string) string {
			n++
			return fmt.Sprintf("%s%03d", prefix, n)
		},
	})
	at := func(hhmm string) {
		t.Helper()
		when, err := time.Parse("2006-01-02 15:04", "2026-03-03 "+hhmm)
		if err != nil {
			t.Fatal(err)
		}
		if d := when.Sub(h.Clock.Now()); d > 0 {
			h.Advance(d)
		}
	}
	appendEvent := func(e audit.Event) {
		t.Helper()
		e.At = h.Clock.Now()
		if _, err := h.DB.AppendAudit(h.Ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	appendEvent(audit.Event{Type: audit.ConfigLoaded, Actor: "accessbot", Data: map[string]string{
		"config_sha256": strings.Repeat("c0ffee", 10) + "abcd", "resources": "2", "version": "v1.2.3"}})

	r1 := h.Request(gt.Alice, "prod-db", time.Hour, scriptReason)
	at("10:01")
	g1 := h.Approve(gt.Bob, r1.Request.ID).Grant.ID
	h.RunDue()
	at("10:02")
	r2 := h.Request(gt.Dave, "prod-db", 30*time.Minute, "INC-2 rotate keys")
	at("10:03")
	h.Approve(gt.Carol, r2.Request.ID)
	h.RunDue()
	at("10:04")
	r3 := h.Request(gt.Alice, "prod-db", time.Hour, "INC-3 look at the slow query")
	at("10:05")
	if _, err := h.Service.Deny(h.Ctx, gt.Bob, r3.Request.ID, "use the replica"); err != nil {
		t.Fatal(err)
	}
	at("10:06")
	r4 := h.Request(gt.Alice, "staging", 2*time.Hour, "debugging a flaky job")
	if !r4.AutoApproved {
		t.Fatal("staging was not auto-approved")
	}
	h.RunDue()
	at("10:10")
	bg, err := h.Service.BreakGlass(h.Ctx, gt.Dave, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-5 outage, primary down"})
	if err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	at("10:12")
	r6 := h.Request(gt.Alice, "prod-db", time.Hour, "INC-6")
	// Each refusal must be the one the report will show, not any error.
	refusedFor := func(err error, code error, reason, what string) {
		t.Helper()
		var ge *grants.Error
		if !errors.As(err, &ge) || !errors.Is(err, code) || ge.Reason != reason {
			t.Fatalf("%s: got %v, want %v / %s", what, err, code, reason)
		}
	}
	_, err = h.Service.Approve(h.Ctx, gt.Alice, r6.Request.ID)
	refusedFor(err, grants.ErrForbidden, grants.ReasonSelfApproval, "alice approving her own request")
	_, err = h.Service.Approve(h.Ctx, gt.Dave, r6.Request.ID)
	refusedFor(err, grants.ErrForbidden, grants.ReasonNotApprover, "dave, not an approver, approving")
	at("10:13")
	_, err = h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Duration: 10 * time.Hour, Reason: "INC-7"})
	refusedFor(err, grants.ErrInvalid, grants.ReasonDurationTooLong, "a 10h request")
	at("10:20")
	appendEvent(audit.Event{Type: audit.ScanCompleted, Actor: "accessbot", Data: map[string]string{
		"resources": "prod-db", "findings": "2", "errors": "0", "alert": "standing_access",
		"message": "Standing access found: 2 holders on prod-db no grant explains (prod-db: old_admin, <b>x</b>)."}})
	at("10:26")
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, r4.Grant.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	at("10:30")
	if _, err := h.Service.ReviewBreakGlass(h.Ctx, gt.Erin, bg.Grant.ID, "checked with on-call: fine"); err != nil {
		t.Fatal(err)
	}
	at("10:40")
	ext, err := h.Service.Extend(h.Ctx, gt.Alice, g1, 30*time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	at("10:41")
	h.Approve(gt.Carol, ext.Request.ID)
	// Nobody runs the scheduler at 10:33, when r2's grant expires: it is revoked 32m late. (One
	// adapter call per pass keeps the order of the events, and so the golden file, fixed.)
	at("11:05")
	h.RunDue()
	at("11:10")
	h.RunDue()
	at("11:12")
	h.RunDue()
	at("11:31")
	h.RunDue()
	at("12:00")
	return h
}

var reportNow = time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)

func writeReport(t *testing.T, h *gt.Harness, o audit.ReportOptions) (string, audit.ReportResult) {
	t.Helper()
	o.Now, o.Version = reportNow, "test"
	var buf bytes.Buffer
	res, err := audit.WriteReport(h.Ctx, h.DB, o, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), res
}

var numberCell = regexp.MustCompile(`data-n="([a-z_]+)">(\d+)`)

// numbers reads the summary table: every <td data-n="name">N...</td>.
func numbers(t *testing.T, page string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range numberCell.FindAllStringSubmatch(page, -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	if len(out) < 20 {
		t.Fatalf("found %d numbers in the summary:\n%s", len(out), page)
	}
	return out
}

var rowElem = regexp.MustCompile(`(?s)<tr id="(grant|request|breakglass)-([^"]+)"([^>]*)>(.*?)</tr>`)
var attr = regexp.MustCompile(`data-([a-z-]+)="([^"]*)"`)
var field = regexp.MustCompile(`(?s)data-field="([a-z-]+)">(.*?)</(?:td|span)>`)

// row is one table row of the report: its data attributes and its fields, unescaped.
type row struct {
	attrs, fields map[string]string
	html          string
}

func rows(page, section string) map[string]row {
	out := map[string]row{}
	for _, m := range rowElem.FindAllStringSubmatch(page, -1) {
		if m[1] != section {
			continue
		}
		r := row{attrs: map[string]string{}, fields: map[string]string{}, html: m[4]}
		for _, a := range attr.FindAllStringSubmatch(m[3], -1) {
			r.attrs[a[1]] = html.UnescapeString(a[2])
		}
		for _, f := range field.FindAllStringSubmatch(m[4], -1) {
			r.fields[f[1]] = html.UnescapeString(f[2])
		}
		out[m[2]] = r
	}
	return out
}

func fmtT(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// The numbers on the page are worked out again here from what the database holds (requests,
// grants, events), not from the report's own model, and must agree.
func TestReportNumbersMatchTheData(t *testing.T) {
	h := reportFixture(t)
	page, res := writeReport(t, h, audit.ReportOptions{})
	got := numbers(t, page)

	reqs, err := h.Service.ListRequests(h.Ctx, grants.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := h.Service.ListGrants(h.Ctx, grants.GrantFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, r := range reqs {
		if r.Kind == grants.KindExtend {
			if r.State == grants.RequestApproved {
				want["extensions"]++
			}
			continue
		}
		want["requests"]++
		switch {
		case r.Kind == grants.KindBreakGlass:
			want["breakglass"]++
		case r.State == grants.RequestApproved && r.DecidedBy == grants.PolicyActor:
			want["auto_approved"]++
		case r.State == grants.RequestApproved:
			want["approved"]++
		case r.State == grants.RequestPending:
			want["pending"]++
		default:
			want[string(r.State)]++ // denied, cancelled, expired
		}
	}
	for _, g := range gs {
		want["grants"]++
		if g.BreakGlass && g.ReviewedBy != "" {
			want["breakglass_reviewed"]++
		}
		switch {
		case g.State == grants.GrantFailed:
			want["failed"]++
		case g.State == grants.GrantRevokeFailed:
			want["revoke_failing"]++
		case g.State != grants.GrantRevoked:
			want["open"]++
		case g.RevokedBy != grants.System.ID:
			want["revoked_early"]++
		case g.RevokedAt.Sub(g.ExpiresAt) > audit.LateAfter:
			want["revoked_late"]++
		default:
			want["revoked_on_time"]++
		}
	}
	count := func(types ...string) int { return len(h.AuditEvents(audit.Filter{}, types...)) }
	want["refused_requests"] = count(audit.RequestRefused)
	want["refused_clicks"] = count(audit.ReviewRefused)
	want["alerts"] = count(audit.AlertRaised)
	want["auth_failures"] = count(audit.AuthFailed)
	want["scans"] = count(audit.ScanCompleted)
	want["scan_findings"] = 2
	want["config_loads"] = count(audit.ConfigLoaded)
	want["events"] = count()

	// And the fixture is what its comment says, so that none of these is a vacuous zero.
	fixed := map[string]int{"requests": 6, "approved": 2, "auto_approved": 1, "breakglass": 1, "denied": 1,
		"expired": 1, "cancelled": 0, "pending": 0, "breakglass_reviewed": 1, "extensions": 1, "grants": 4,
		"revoked_on_time": 2, "revoked_late": 1, "revoked_early": 1, "revoked_forced": 0, "revoke_failing": 0,
		"failed": 0, "open": 0, "refused_requests": 1, "refused_clicks": 2, "alerts": 1, "scans": 1,
		"scan_findings": 2, "config_loads": 1}
	for k, v := range fixed {
		if want[k] != v {
			t.Errorf("the database holds %s = %d, the fixture meant %d", k, want[k], v)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("report says %s = %d, the data holds %d", k, got[k], v)
		}
	}
	if got["approved"]+got["auto_approved"]+got["breakglass"]+got["denied"]+got["cancelled"]+got["expired"]+got["pending"] != got["requests"] {
		t.Errorf("requests do not add up: %v", got)
	}
	if res.Summary.Events != int64(want["events"]) || res.Summary.Grants != want["grants"] {
		t.Errorf("ReportResult.Summary = %+v", res.Summary)
	}

	// Every grant in the database has its row, with what the database says about it.
	grantRows := rows(page, "grant")
	if len(grantRows) != len(gs) {
		t.Errorf("%d grant rows, %d grants", len(grantRows), len(gs))
	}
	for _, g := range gs {
		r, ok := grantRows[g.ID]
		if !ok {
			t.Errorf("grant %s has no row", g.ID)
			continue
		}
		req := h.StoredRequest(g.RequestID)
		for k, v := range map[string]string{
			"resource": g.Resource, "subject": g.Subject, "account": g.Account, "reason": g.Reason,
			"requested": fmtT(req.CreatedAt), "granted": fmtT(g.StartsAt), "revoked": fmtT(g.RevokedAt),
		} {
			if r.fields[k] != v {
				t.Errorf("grant %s: %s = %q, want %q", g.ID, k, r.fields[k], v)
			}
		}
		if r.attrs["request"] != g.RequestID || r.attrs["state"] != string(g.State) {
			t.Errorf("grant %s: attributes %v", g.ID, r.attrs)
		}
		if g.RevokedBy == grants.System.ID && r.fields["expires"] != fmtT(g.ExpiresAt) {
			t.Errorf("grant %s: expires %q, want %q", g.ID, r.fields["expires"], fmtT(g.ExpiresAt))
		}
		reviews, err := reviewsOf(h, g.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		for _, rv := range reviews {
			if !strings.Contains(r.html, `data-reviewer="`+rv.Reviewer+`"`) || !strings.Contains(r.html, fmtT(rv.At)) {
				t.Errorf("grant %s: review by %s at %s missing from %s", g.ID, rv.Reviewer, fmtT(rv.At), r.html)
			}
		}
	}
	// Specific rows: how each grant ended, and who approved it.
	for id, want := range map[string]struct{ outcome, how, approval string }{
		"g-002": {"on_time", "at expiry", "bob@example.com approved 2026-03-03 10:01:00"},
		"g-004": {"late", "at expiry, 32m late", "carol@example.com approved 2026-03-03 10:03:00"},
		"g-007": {"early", "early, by alice@example.com at 2026-03-03 10:26:00", `auto-approved by rule resource == "staging"`},
		"g-009": {"on_time", "at expiry", "none: break-glass"},
	} {
		r := grantRows[id]
		if r.attrs["outcome"] != want.outcome || r.fields["how"] != want.how || !strings.Contains(stripTags(r.html), want.approval) {
			t.Errorf("grant %s: outcome %q how %q row %q; want %+v", id, r.attrs["outcome"], r.fields["how"], stripTags(r.html), want)
		}
	}
	if r := grantRows["g-002"]; !strings.Contains(r.html, "extension +30m asked 2026-03-03 10:40:00: applied by carol@example.com") ||
		r.fields["expires"] != "2026-03-03 11:31:00" || r.fields["held"] != "1h30m" {
		t.Errorf("the extended grant: %v\n%s", r.fields, r.html)
	}
	reqRows := rows(page, "request")
	if len(reqRows) != 2 || reqRows["r-005"].attrs["decision"] != "denied" || reqRows["r-010"].attrs["decision"] != "expired" ||
		!strings.Contains(reqRows["r-005"].fields["outcome"], "use the replica") {
		t.Errorf("requests without a grant: %v", reqRows)
	}
	bgRows := rows(page, "breakglass")
	if r := bgRows["g-009"]; len(bgRows) != 1 || r.attrs["reviewed"] != "true" || r.fields["review-note"] != "checked with on-call: fine" ||
		!strings.Contains(r.html, `data-reviewer="erin@example.com"`) {
		t.Errorf("break-glass rows: %v", bgRows)
	}
	for _, why := range []string{grants.ReasonSelfApproval, grants.ReasonNotApprover, grants.ReasonDurationTooLong} {
		if !strings.Contains(page, `data-why="`+why+`"`) {
			t.Errorf("refused actions lack %s", why)
		}
	}
	if !strings.Contains(page, "Chain intact: events 1–"+strconv.Itoa(want["events"])) {
		t.Errorf("no intact verdict for %d events", want["events"])
	}
	if !strings.Contains(page, strings.Repeat("c0ffee", 10)+"abcd") {
		t.Error("the config hash in force is missing")
	}
}

// reviewsOf reads a request's reviews as stored.
func reviewsOf(h *gt.Harness, requestID string) ([]grants.Review, error) {
	var out []grants.Review
	err := h.DB.View(h.Ctx, func(tx grants.ReadTx) error {
		var err error
		out, err = tx.Reviews(h.Ctx, requestID)
		return err
	})
	return out, err
}

var tag = regexp.MustCompile(`<[^>]*>`)

func stripTags(s string) string { return html.UnescapeString(tag.ReplaceAllString(s, "")) }

func TestReportEscapesWhatPeopleTyped(t *testing.T) {
	h := reportFixture(t)
	page, _ := writeReport(t, h, audit.ReportOptions{Events: true})
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "<b>x</b>") {
		t.Fatal("text from the log reached the page as markup")
	}
	escaped := html.EscapeString(scriptReason)
	if n := strings.Count(page, escaped); n < 2 {
		// In the grant row and in the appendix's event data (request.created), at least.
		t.Errorf("the escaped reason appears %d times, want at least 2 (%s)", n, escaped)
	}
	// Self-contained and printable: no script, nothing loaded from elsewhere, print rules.
	for _, banned := range []string{"<script", "<link", "<img", "<iframe", "src=", "http://", "https://", "@import", "url("} {
		if strings.Contains(page, banned) {
			t.Errorf("the page contains %q", banned)
		}
	}
	for _, needed := range []string{"@media print", "break-before: page", `<section id="events"`} {
		if !strings.Contains(page, needed) {
			t.Errorf("the page lacks %q", needed)
		}
	}
}

func TestReportOfATamperedLogSaysBroken(t *testing.T) {
	h := reportFixture(t)
	db, err := sql.Open("sqlite", h.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var actor string
	if err := db.QueryRow(`SELECT actor FROM audit_events WHERE seq = 7`).Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'mallory@example.com' WHERE seq = 7`); err != nil {
		t.Fatal(err)
	}
	page, res := writeReport(t, h, audit.ReportOptions{})
	// Put it back, so that the harness's own check at the end passes.
	if _, err := db.Exec(`UPDATE audit_events SET actor = ? WHERE seq = 7`, actor); err != nil {
		t.Fatal(err)
	}
	if res.Verify.FirstBad != 7 || res.Verify.Intact() {
		t.Fatalf("Verify = %+v, want first bad seq 7", res.Verify)
	}
	for _, want := range []string{`class="broken" data-intact="false"`, `data-first-bad="7"`,
		"BROKEN at seq 7: hash does not match the event", "Events 1–6 are intact."} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "Chain intact") {
		t.Error("a tampered log is called intact")
	}
	// The grants are still listed: the auditor sees what the log says, and that it is broken.
	if got := numbers(t, page)["grants"]; got != 4 {
		t.Errorf("grants = %d on a broken log, want 4", got)
	}
}

// The period and the filters select which requests are listed, as they select events for the
// other formats; the verification is always of the whole log.
func TestReportPeriodAndFilters(t *testing.T) {
	h := reportFixture(t)
	at := func(hhmm string) time.Time {
		v, _ := time.Parse("2006-01-02 15:04", "2026-03-03 "+hhmm)
		return v
	}
	for _, tt := range []struct {
		name     string
		f        audit.Filter
		grants   []string
		requests []string
		n        map[string]int
	}{
		{"until 10:05: the requests made before", audit.Filter{Until: at("10:05")},
			[]string{"g-002", "g-004"}, []string{"r-005"}, map[string]int{"requests": 3, "denied": 1, "refused_clicks": 0}},
		{"from 10:27: only requests whose story was not over, carried over", audit.Filter{Since: at("10:27")},
			[]string{"g-002", "g-004", "g-009"}, []string{"r-010"}, map[string]int{"requests": 4, "carried_over": 4, "extensions": 1, "config_loads": 0}},
		{"one resource", audit.Filter{Resource: "staging"},
			[]string{"g-007"}, nil, map[string]int{"requests": 1, "auto_approved": 1, "scans": 0, "refused_requests": 0}},
		{"what bob took part in", audit.Filter{Person: "bob@example.com"},
			[]string{"g-002"}, []string{"r-005"}, map[string]int{"requests": 2, "approved": 1, "denied": 1}},
		{"what dave took part in, refused click included", audit.Filter{Person: "dave@example.com"},
			[]string{"g-004", "g-009"}, []string{"r-010"}, map[string]int{"requests": 3, "refused_clicks": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page, res := writeReport(t, h, audit.ReportOptions{Filter: tt.f})
			got := numbers(t, page)
			for k, v := range tt.n {
				if got[k] != v {
					t.Errorf("%s = %d, want %d", k, got[k], v)
				}
			}
			if g := rows(page, "grant"); !sameKeys(g, tt.grants) {
				t.Errorf("grants listed %v, want %v", keys(g), tt.grants)
			}
			if r := rows(page, "request"); !sameKeys(r, tt.requests) {
				t.Errorf("requests listed %v, want %v", keys(r), tt.requests)
			}
			// Events in the period: what a jsonl export with the same filter writes.
			var jsonl bytes.Buffer
			n, err := audit.Export(h.Ctx, h.DB, tt.f, audit.FormatJSONL, &jsonl)
			if err != nil {
				t.Fatal(err)
			}
			if res.Summary.Events != n || got["events"] != int(n) {
				t.Errorf("events = %d (page %d), jsonl exports %d", res.Summary.Events, got["events"], n)
			}
			if !res.Verify.Intact() || res.Verify.Events != int64(len(h.AuditEvents(audit.Filter{}))) {
				t.Errorf("verification %+v is not of the whole log", res.Verify)
			}
		})
	}
}

func sameKeys(m map[string]row, want []string) bool {
	if len(m) != len(want) {
		return false
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

func keys(m map[string]row) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The whole page over the fixture, byte for byte. go test ./audit -run Golden -update-report
// rewrites it after a deliberate change; read the diff.
func TestReportGolden(t *testing.T) {
	h := reportFixture(t)
	page, _ := writeReport(t, h, audit.ReportOptions{Events: true})
	path := filepath.Join("testdata", "report.golden.html")
	if *updateReport {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-report to create it)", err)
	}
	if page != string(want) {
		t.Errorf("the report differs from %s (run with -update-report and read the diff); got:\n%s", path, page)
	}
}

// A report bigger than what a section keeps in memory goes through temporary files, and they
// are gone afterwards.
func TestReportSpoolsLargeSectionsAndCleansUp(t *testing.T) {
	s := &memSource{head: audit.EmptyHead()}
	const n = 6000
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		rid, gid := fmt.Sprintf("r-%05d", i), fmt.Sprintf("g-%05d", i)
		reason := strings.Repeat("long reason ", 60)
		s.append(audit.Event{At: at, Type: audit.RequestCreated, Actor: "a@example.com", Resource: "db", Subject: "a@example.com",
			RequestID: rid, Data: map[string]string{"kind": "access", "reason": reason, "duration": "1h"}})
		s.append(audit.Event{At: at, Type: audit.RequestApproved, Actor: "policy", Resource: "db", Subject: "a@example.com",
			RequestID: rid, Data: map[string]string{"approvals": "auto", "rule": "true"}})
		s.append(audit.Event{At: at, Type: audit.GrantActivating, Actor: "accessbot", Resource: "db", Subject: "a@example.com",
			RequestID: rid, GrantID: gid, Data: map[string]string{"account": "a", "expires_at": at.Add(time.Hour).Format(time.RFC3339)}})
		s.append(audit.Event{At: at, Type: audit.GrantActive, Actor: "accessbot", Resource: "db", Subject: "a@example.com",
			RequestID: rid, GrantID: gid})
		s.append(audit.Event{At: at.Add(time.Hour), Type: audit.GrantRevoked, Actor: "accessbot", Resource: "db", Subject: "a@example.com",
			RequestID: rid, GrantID: gid, Data: map[string]string{"lateness_ms": "3"}})
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	var calls int
	res, err := audit.WriteReport(context.Background(), s, audit.ReportOptions{TempDir: dir, Events: true,
		Progress: func(done, total int64) {
			calls++
			if total != 5*n || done > total {
				t.Errorf("progress %d of %d", done, total)
			}
		}}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Grants != n || res.Summary.RevokedOnTime != n || !res.Verify.Intact() {
		t.Fatalf("summary %+v, verify %+v", res.Summary, res.Verify)
	}
	if buf.Len() < 8<<20 || strings.Count(buf.String(), `<tr id="grant-`) != n {
		t.Fatalf("report of %d bytes with %d grant rows", buf.Len(), strings.Count(buf.String(), `<tr id="grant-`))
	}
	if calls < 2 {
		t.Errorf("progress called %d times", calls)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestReportReturnsWriteAndReadErrors(t *testing.T) {
	if _, err := audit.WriteReport(context.Background(), newChain(50), audit.ReportOptions{}, failingWriter{}); !errors.Is(err, errFull) {
		t.Errorf("err = %v, want the writer's error", err)
	}
	broken := errors.New("disk on fire")
	if _, err := audit.WriteReport(context.Background(), failingSource{broken}, audit.ReportOptions{}, &bytes.Buffer{}); !errors.Is(err, broken) {
		t.Errorf("err = %v, want the source's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := audit.WriteReport(ctx, newChain(3000), audit.ReportOptions{}, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// Whatever people typed, in any field of any event, reaches the page as text: the marker below
// never appears as markup, and every tag on the page is one the report writes, well formed.
func TestReportEscapesEveryField(t *testing.T) {
	const m = "<m>\"'&+\x00</td>"
	s := &memSource{head: audit.EmptyHead()}
	add := func(typ, rid, gid string, data map[string]string) {
		s.append(audit.Event{At: t0.Add(time.Duration(len(s.events)) * time.Minute), Type: typ, Actor: "actor" + m,
			Resource: "res" + m, Subject: "subj" + m, RequestID: rid, GrantID: gid, Data: data})
	}
	d := func(kv ...string) map[string]string {
		out := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1] + m
		}
		return out
	}
	r1, g1, r2, g2, r3, r4 := "r1"+m, "g1"+m, "r2"+m, "g2"+m, "r3"+m, "r4"+m
	add(audit.ConfigLoaded, "", "", d("config_sha256", "abc", "version", "v", "resources", "2"))
	add(audit.RequestCreated, r1, "", map[string]string{"kind": "access", "reason": "why" + m, "duration": "1h" + m})
	add(audit.ReviewApproved, r1, "", d("approvals", "1/1"))
	add(audit.RequestApproved, r1, "", d("approvals", "1/1"))
	add(audit.GrantActivating, r1, g1, d("account", "acct", "expires_at", "soon"))
	add(audit.GrantActive, r1, g1, d("expires_at", "soon"))
	add(audit.RequestCreated, r4, g1, map[string]string{"kind": "extend", "duration": "30m" + m})
	add(audit.RequestApproved, r4, g1, map[string]string{"approvals": "auto", "rule": "true" + m})
	add(audit.GrantExtended, r1, g1, map[string]string{"extend_request_id": r4, "expires_at": "later" + m})
	add(audit.GrantRetry, r1, g1, d("error", "boom"))
	add(audit.GrantRevoking, r1, g1, map[string]string{"early": "true"})
	add(audit.GrantRevokeFailed, r1, g1, d("error", "still boom"))
	add(audit.GrantRevoked, r1, g1, map[string]string{"forced": "true", "note": "by hand" + m})
	add(audit.RequestCreated, r2, "", map[string]string{"kind": "breakglass", "reason": "fire" + m, "duration": "1h"})
	add(audit.BreakGlassUsed, r2, "", d("reason", "fire"))
	add(audit.GrantActivating, r2, g2, map[string]string{"breakglass": "true", "account": "acct" + m})
	add(audit.GrantActive, r2, g2, nil)
	add(audit.BreakGlassReviewed, r2, g2, d("note", "ok"))
	add(audit.RequestCreated, r3, "", map[string]string{"kind": "access", "reason": "r3" + m})
	add(audit.ReviewDenied, r3, "", d("reason", "no"))
	add(audit.RequestDenied, r3, "", d("reason", "no"))
	add(audit.RequestRefused, "", "", d("kind", "access", "refused", "too_long", "reason", "x", "duration", "9h"))
	add(audit.ReviewRefused, r3, "", d("decision", "approve", "refused", "self_approval"))
	add(audit.ScanCompleted, "", "", map[string]string{"findings": "3", "errors": "1", "resources": "a" + m, "message": "found" + m})
	add(audit.AlertRaised, r2, g2, d("message", "alert"))

	var buf bytes.Buffer
	res, err := audit.WriteReport(context.Background(), s, audit.ReportOptions{Events: true, Version: "v" + m, Now: reportNow,
		Filter: audit.Filter{Resource: "res" + m}}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if res.Summary.Grants != 2 || res.Summary.Requests != 3 || res.Summary.RefusedClicks != 1 || res.Summary.ScanFindings != 3 ||
		res.Summary.RevokedForced != 1 || res.Summary.Extensions != 1 || res.Summary.BreakGlassReviewed != 1 {
		t.Errorf("summary %+v", res.Summary)
	}
	if strings.Contains(page, "<m>") || strings.Contains(page, "\x00") || strings.Contains(page, `"'`) {
		t.Fatal("the marker reached the page unescaped")
	}
	escaped := "&lt;m&gt;&#34;&#39;&amp;&#43;\uFFFD&lt;/td&gt;"
	if n := strings.Count(page, escaped); n < 100 {
		t.Errorf("the escaped marker appears %d times; every field should show it", n)
	}
	wellFormed := regexp.MustCompile(`^<(/?[a-z0-9]+(\s+[a-z-]+="[^"<>]*")*|!DOCTYPE html)>$`)
	allowed := map[string]bool{}
	for _, name := range strings.Fields("html head meta title style body header h1 h2 dl dt dd section p code table thead tbody tr th td br span ul li strong footer") {
		allowed[name] = true
	}
	for _, tag := range regexp.MustCompile(`<[^>]*>`).FindAllString(page, -1) {
		name := strings.TrimPrefix(strings.Fields(strings.Trim(tag, "<>"))[0], "/")
		if !wellFormed.MatchString(tag) || (!allowed[name] && name != "!DOCTYPE") {
			t.Errorf("tag %q is not one the report writes", tag)
		}
	}
}

// Export writes JSON Lines and the CSV data cell without reflection; they must stay what
// encoding/json writes (SetEscapeHTML(false) for JSON Lines, json.Marshal for the data cell),
// on anything a person could type.
func TestExportMatchesEncodingJSON(t *testing.T) {
	awkward := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "ünïcödé ✓ 🎉", "\u2028\u2029", "bad utf8 \xff\xfe", "=cmd|' /C calc'!A0", "\b\f"}
	s := &memSource{head: audit.EmptyHead()}
	for i := range 300 {
		pick := func(k int) string { return awkward[(i*7+k*3)%len(awkward)] }
		e := audit.Event{At: time.Date(1999+i%40, time.Month(1+i%12), 1+i%28, i%24, i%60, i%60, i*1001000, time.UTC),
			Type: pick(1), Actor: pick(2), Resource: pick(3), Subject: pick(4), RequestID: pick(5), GrantID: pick(6)}
		if i%4 != 0 {
			e.Data = map[string]string{pick(7): pick(8), pick(9) + "k": pick(10), "z": pick(11)}
		}
		s.append(e)
	}
	var jsonl, csvOut bytes.Buffer
	if _, err := audit.Export(context.Background(), s, audit.Filter{}, audit.FormatJSONL, &jsonl); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Export(context.Background(), s, audit.Filter{}, audit.FormatCSV, &csvOut); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	for _, e := range s.events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	if jsonl.String() != want.String() {
		got, exp := strings.Split(jsonl.String(), "\n"), strings.Split(want.String(), "\n")
		for i := range min(len(got), len(exp)) {
			if got[i] != exp[i] {
				t.Fatalf("line %d:\n got %s\nwant %s", i+1, got[i], exp[i])
			}
		}
		t.Fatalf("%d lines, want %d", len(got), len(exp))
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range s.events {
		cell := "{}"
		if len(e.Data) > 0 {
			b, _ := json.Marshal(e.Data)
			cell = string(b)
		}
		if rows[i+1][8] != cell {
			t.Errorf("seq %d: data cell %q, want %q", e.Seq, rows[i+1][8], cell)
		}
	}
}

// An active grant's Held is measured to the report's time, not to the log's last event: a grant
// made at 08:00, in a log whose last event is at 08:05, has been held 3h at 11:00.
func TestAnActiveGrantIsHeldUntilTheReportsTime(t *testing.T) {
	s := &memSource{head: audit.EmptyHead()}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	exp := at(8 * 60).Format(time.RFC3339)
	for _, e := range []audit.Event{
		{At: at(0), Type: audit.RequestCreated, Data: map[string]string{"kind": "access", "duration": "8h", "reason": "x", "approvals_needed": "1"}},
		{At: at(0), Type: audit.ReviewApproved, Actor: "bob", Data: map[string]string{"approvals": "1/1"}},
		{At: at(0), Type: audit.RequestApproved, Actor: "bob", Data: map[string]string{"approvals": "1/1"}},
		{At: at(0), Type: audit.GrantActivating, GrantID: "g-1", Data: map[string]string{"account": "alice", "expires_at": exp}},
		{At: at(0), Type: audit.GrantActive, GrantID: "g-1", Data: map[string]string{"attempts": "1", "expires_at": exp}},
		{At: at(5), Type: audit.ConfigLoaded, Data: map[string]string{"config_sha256": "abc", "version": "v", "resources": "1"}},
	} {
		if e.Type != audit.ConfigLoaded {
			e.Resource, e.Subject, e.RequestID = "prod-db", "alice", "r-1"
		}
		s.append(e)
	}
	var buf bytes.Buffer
	if _, err := audit.WriteReport(context.Background(), s, audit.ReportOptions{Now: at(3 * 60)}, &buf); err != nil {
		t.Fatal(err)
	}
	const want = `<td class="when" data-field="held">3h so far</td>`
	if !strings.Contains(buf.String(), want) {
		i := strings.Index(buf.String(), `data-field="held"`)
		t.Errorf("the report lacks %s; it shows %.80s", want, buf.String()[max(i, 0):])
	}
}
