package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// TestTheReportShowsThePolicyOfItsPeriod: the policy in force when the period began is the
// initial snapshot with every later change before it applied; the changes in the period are
// listed; one after it is not; a secret is never shown; config text is escaped.
func TestTheReportShowsThePolicyOfItsPeriod(t *testing.T) {
	s := &memSource{head: audit.EmptyHead()}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	add := func(h int, p audit.ConfigChangedData) {
		s.append(audit.Event{At: at(h), Actor: "accessbot"}.With(p))
	}
	add(0, audit.ConfigChangedData{Initial: true, Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.approvals", Op: audit.ConfigOpAdded, New: "1"},
		{Key: "policy.prod-db.approvers", Op: audit.ConfigOpAdded, New: "sre"},
		{Key: "policy.prod-db.auto_approve", Op: audit.ConfigOpAdded, New: `hour < 9 && reason != "<b>"`},
		{Key: "policy.old-db.approvals", Op: audit.ConfigOpAdded, New: "1"},
		{Key: "slack.bot_token", Op: audit.ConfigOpAdded, Secret: true},
	}})
	add(2, audit.ConfigChangedData{Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.approvals", Op: audit.ConfigOpChanged, Old: "1", New: "2"},
		{Key: "policy.old-db.approvals", Op: audit.ConfigOpRemoved, Old: "1"},
	}})
	add(30, audit.ConfigChangedData{Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.break_glass", Op: audit.ConfigOpChanged, Old: "false", New: "true"},
		{Key: "slack.bot_token", Op: audit.ConfigOpChanged, Secret: true},
	}})
	add(100, audit.ConfigChangedData{Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.max_duration", Op: audit.ConfigOpChanged, Old: "8h", New: "1d"},
	}})
	var buf bytes.Buffer
	o := audit.ReportOptions{Filter: audit.Filter{Since: at(24), Until: at(48)}, Now: at(200)}
	if _, err := audit.WriteReport(context.Background(), s, o, &buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	i := strings.Index(page, `<section id="policy">`)
	if i < 0 {
		t.Fatalf("the report has no policy section:\n%s", page)
	}
	sec := page[i : i+strings.Index(page[i:], "</section>")]
	for _, want := range []string{
		`<tr data-resource="prod-db"><td>prod-db</td><td>everyone</td><td>sre</td><td class="n">2</td>`,
		`hour &lt; 9 &amp;&amp; reason != &#34;&lt;b&gt;&#34;`,
		"policy.prod-db.break_glass: false → true",
		"slack.bot_token: changed (secret)",
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("the policy section lacks %s:\n%s", want, sec)
		}
	}
	for _, unwanted := range []string{`data-resource="old-db"`, "max_duration", "<b>"} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("the policy section has %s:\n%s", unwanted, sec)
		}
	}
}
