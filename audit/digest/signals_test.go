package digest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/digest/digesttest"
)

func TestTheDigestListsTheRequestsThatRaisedSignals(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	at := digesttest.Since.Add(26 * time.Hour)
	add := func(at time.Time, person, resource, id, reason string, raised ...string) {
		t.Helper()
		var sig *audit.RequestSignals
		if raised != nil {
			sig = &audit.RequestSignals{Raised: raised}
		}
		e := audit.Event{At: at, Actor: person, Resource: resource, Subject: person, RequestID: id}.With(
			audit.RequestCreatedData{Kind: "access", Duration: time.Hour, Reason: reason, ApprovalsNeeded: 1,
				PendingUntil: at.Add(time.Hour), Signals: sig})
		if _, err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	add(at, "erin@example.com", "prod-db", "r-s1", "INC-1", "first_access", "outside_hours")
	add(at.Add(time.Hour), "erin@example.com", "prod-db", "r-s2", "INC-2", "recent_denial")
	add(at.Add(2*time.Hour), "erin@example.com", "prod-db", "r-s3", "the alert was raised twice", []string{}...)
	add(digesttest.Until.Add(time.Hour), "erin@example.com", "prod-db", "r-s4", "after the window", "first_access")

	d := build(t, db)
	got := d.Signals
	if got.Count != 2 || len(got.Requests) != 2 || got.Requests[0].RequestID != "r-s1" || got.Requests[1].RequestID != "r-s2" {
		t.Fatalf("signals %+v, want r-s1 and r-s2 (not the one that raised none, nor the one after the window)", got)
	}
	if !slices.Equal(got.Requests[0].Signals, []string{"first_access", "outside_hours"}) {
		t.Errorf("r-s1 signals %v", got.Requests[0].Signals)
	}
	var section digest.Section
	for _, s := range d.Sections() {
		if s.Key == digest.SectionSignals {
			section = s
		}
	}
	if section.Summary != "2 requests raised signals: first access 1, outside working hours 1, denied in the last 24 h 1." ||
		len(section.Items) != 2 || !section.Attention {
		t.Errorf("section %+v", section)
	}
	if want := "erin@example.com for prod-db: first access · outside working hours (r-s1)"; len(section.Items) > 0 && !hasSuffix(section.Items[0], want) {
		t.Errorf("item %q, want it to end %q", section.Items[0], want)
	}
	if i := slices.IndexFunc(got.RequestsByPerson, func(c digest.Count) bool { return c.Name == "erin@example.com" }); i < 0 || got.RequestsByPerson[i].N != 3 {
		t.Errorf("requests by person %v, want erin 3 (the window's)", got.RequestsByPerson)
	}
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
