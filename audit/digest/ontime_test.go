package digest_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/storage"
)

// The report and the digest count a revocation as on time by one definition (audit.LateAfter):
// a revocation 30s after its expiry was on time in the report (within a minute there) and late
// in the digest (within a second), so the two documents an auditor reads disagreed.
func TestTheReportAndTheDigestAgreeOnWhatIsOnTime(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DSN: filepath.Join(t.TempDir(), "ontime.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 17, 10, 0, 0, 0, time.UTC)
	// Each grant lasts 10m and is revoked its lateness after its expiry.
	latenesses := []time.Duration{300 * time.Millisecond, audit.LateAfter, audit.LateAfter + time.Millisecond, 30 * time.Second, 2 * time.Minute}
	for i, late := range latenesses {
		rid, gid := fmt.Sprintf("r-%d", i), fmt.Sprintf("g-%d", i)
		at := start.Add(time.Duration(i) * time.Hour)
		exp := at.Add(10 * time.Minute)
		for _, e := range []audit.Event{
			{At: at, Type: audit.RequestCreated, Data: map[string]string{"kind": "access", "duration": "10m", "reason": "x", "approvals_needed": "1"}},
			{At: at, Type: audit.ReviewApproved, Actor: "bob@example.com", Data: map[string]string{"approvals": "1/1"}},
			{At: at, Type: audit.RequestApproved, Actor: "bob@example.com", Data: map[string]string{"approvals": "1/1"}},
			{At: at, Type: audit.GrantActivating, GrantID: gid, Data: map[string]string{"account": "alice", "duration": "10m", "expires_at": exp.Format(time.RFC3339)}},
			{At: at, Type: audit.GrantActive, GrantID: gid, Data: map[string]string{"attempts": "1", "expires_at": exp.Format(time.RFC3339)}},
			{At: exp, Type: audit.GrantRevoking, GrantID: gid},
			{At: exp.Add(late), Type: audit.GrantRevoked, GrantID: gid, Data: map[string]string{"lateness_ms": fmt.Sprint(late.Milliseconds()), "attempts": "1"}},
		} {
			e.Actor = cmp.Or(e.Actor, "accessbot")
			e.Resource, e.Subject, e.RequestID = "prod-db", "alice@example.com", rid
			if _, err := db.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	since, until := start.Add(-time.Hour), start.Add(24*time.Hour)
	d, err := digest.Build(ctx, db, since, until, digest.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.WriteReport(ctx, db, audit.ReportOptions{Filter: audit.Filter{Since: since, Until: until}, Now: until}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	const wantLate = 3 // 1s and a millisecond, 30s, 2m
	if d.RevocationCount.Late != wantLate || res.Summary.RevokedLate != wantLate || res.Summary.RevokedOnTime != len(latenesses)-wantLate {
		t.Errorf("late: digest %d, report %d (on time %d); want %d late in both", d.RevocationCount.Late,
			res.Summary.RevokedLate, res.Summary.RevokedOnTime, wantLate)
	}
}
