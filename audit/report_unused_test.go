package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// unusedSource is a log whose store answers the never-used query.
type unusedSource struct {
	*memSource
	got    audit.UnusedQuery
	grants []audit.UnusedGrant
}

func (u *unusedSource) UnusedGrants(_ context.Context, q audit.UnusedQuery) ([]audit.UnusedGrant, int, error) {
	u.got = q
	return u.grants, len(u.grants), nil
}

// TestReportListsGrantsNeverUsed: with resources that can tell, the report has the section with
// each unused grant (escaped like every value); --resource of a resource that cannot tell lists
// none; without such resources the section is left out.
func TestReportListsGrantsNeverUsed(t *testing.T) {
	since := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	src := &unusedSource{memSource: newChain(3), grants: []audit.UnusedGrant{{GrantID: "g-idle<1>", Resource: "app-db",
		Subject: "alice@example.com", Start: since.Add(time.Hour), End: since.Add(3 * time.Hour)}}}
	write := func(o audit.ReportOptions) string {
		t.Helper()
		var b bytes.Buffer
		if _, err := audit.WriteReport(context.Background(), src, o, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	page := write(audit.ReportOptions{Filter: audit.Filter{Since: since, Until: since.Add(90 * 24 * time.Hour)}, Sampled: []string{"app-db"}})
	for _, want := range []string{`<section id="unused">`, "Grants never used (1 of 1)", "g-idle&lt;1&gt;", "alice@example.com", "2026-07-01 01:00:00"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Join(src.got.Resources, ",") != "app-db" || !src.got.Since.Equal(since) {
		t.Errorf("query %+v", src.got)
	}
	page = write(audit.ReportOptions{Filter: audit.Filter{Resource: "ssh"}, Sampled: []string{"app-db"}})
	if !strings.Contains(page, "Grants never used (0 of 0)") {
		t.Error("a report of a resource that cannot tell lists unused grants")
	}
	if page = write(audit.ReportOptions{}); strings.Contains(page, `id="unused"`) {
		t.Error("a report with no resource that can tell has the section")
	}
}
