package ops_test

import (
	"context"
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/ops"
)

func TestAuditCountsFollowTheLogFromStartByTypeWithTheLatestScansFindings(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	add := func(e audit.Event) {
		t.Helper()
		e.At = t0
		if _, err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// What the log held before the process started is not this process's to count, but its
	// latest scan's findings stand until the next scan: a restart must not clear them.
	appendN(t, db, 2)
	add(audit.Event{Actor: "accessbot"}.With(audit.ScanCompletedData{Resources: []string{"prod-db"}, Findings: 4}))
	appendN(t, db, 1)
	m := ops.NewMetrics(nil)
	if err := m.AddAuditCounts(ctx, db); err != nil {
		t.Fatal(err)
	}
	names := []string{"accessbot_audit_events_total", "accessbot_scan_findings", "accessbot_scan_last_completed_timestamp_seconds"}
	got := gather(t, m, names...)
	for _, k := range []string{"accessbot_audit_events_total{request.created}", "accessbot_audit_events_total{request.refused}",
		"accessbot_audit_events_total{auth.failed}", "accessbot_audit_events_total{scan.completed}"} {
		if v, ok := got[k]; !ok || v != 0 {
			t.Errorf("before any new event: %s = %v (reported: %v), want 0", k, v, ok)
		}
	}
	if got["accessbot_scan_findings{}"] != 4 || got["accessbot_scan_last_completed_timestamp_seconds{}"] != float64(t0.Unix()) {
		t.Errorf("the scan before the start: findings %v at %v, want 4 at %v", got["accessbot_scan_findings{}"],
			got["accessbot_scan_last_completed_timestamp_seconds{}"], t0.Unix())
	}

	appendN(t, db, 3)
	add(audit.Event{Actor: "mallory@example.com", Resource: "prod-db"}.With(audit.RequestRefusedData{Kind: "access", Refused: "not_allowed"}))
	add(audit.Event{Actor: "unknown"}.With(audit.AuthFailedData{Platform: "slack", Path: "/slack/events", Remote: "192.0.2.7", Reason: "bad signature"}))
	add(audit.Event{Actor: "accessbot"}.With(audit.ScanCompletedData{Resources: []string{"prod-db"}, Findings: 2,
		List:  []audit.ScanFinding{{Resource: "prod-db", Account: "eve", Reason: "no_grant", Why: "no grant"}, {Resource: "prod-db", Account: "bob", Reason: "no_grant", Why: "no grant"}},
		Alert: "standing_access", Message: "2 holders"}))
	want := map[string]float64{
		"accessbot_audit_events_total{request.created}":     3,
		"accessbot_audit_events_total{request.refused}":     1,
		"accessbot_audit_events_total{auth.failed}":         1,
		"accessbot_audit_events_total{scan.completed}":      1,
		"accessbot_audit_events_total{request.approved}":    0,
		"accessbot_scan_findings{}":                         2,
		"accessbot_scan_last_completed_timestamp_seconds{}": float64(t0.Unix()),
	}
	// A second scrape with nothing new counts nothing twice.
	for scrape := 1; scrape <= 2; scrape++ {
		got = gather(t, m, names...)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("scrape %d: %s = %v, want %v", scrape, k, got[k], v)
			}
		}
	}

	// The next scan found nothing: the gauge falls back to 0 while the counter goes on.
	add(audit.Event{Actor: "accessbot"}.With(audit.ScanCompletedData{Resources: []string{"prod-db"}}))
	got = gather(t, m, names...)
	if got["accessbot_scan_findings{}"] != 0 || got["accessbot_audit_events_total{scan.completed}"] != 2 {
		t.Errorf("after a clean scan: findings %v, scans %v; want 0 and 2", got["accessbot_scan_findings{}"], got["accessbot_audit_events_total{scan.completed}"])
	}
}

func TestRevokeFailuresAreReportedAtZeroPerResourceBeforeTheFirstFailure(t *testing.T) {
	m := ops.NewMetrics(nil)
	m.AddResources([]string{"prod-db", "scratch"})
	got := gather(t, m, "accessbot_revoke_failures_total")
	want := map[string]float64{"accessbot_revoke_failures_total{prod-db}": 0, "accessbot_revoke_failures_total{scratch}": 0}
	if len(got) != len(want) || got["accessbot_revoke_failures_total{prod-db}"] != 0 || got["accessbot_revoke_failures_total{scratch}"] != 0 {
		t.Fatalf("before any failure: %v, want %v", got, want)
	}
	m.RevokeFailure("prod-db")
	if got := gather(t, m, "accessbot_revoke_failures_total"); got["accessbot_revoke_failures_total{prod-db}"] != 1 {
		t.Errorf("after one failure: %v", got)
	}
}
