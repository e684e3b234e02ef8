package digest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
)

// unusedLog is an empty log whose store answers the never-used query, recording it.
type unusedLog struct {
	emptyLog
	got    audit.UnusedQuery
	grants []audit.UnusedGrant
}

func (u *unusedLog) UnusedGrants(_ context.Context, q audit.UnusedQuery) ([]audit.UnusedGrant, int, error) {
	u.got = q
	return u.grants, len(u.grants), nil
}

// TestTheDigestListsGrantsNeverUsed: with resources that can tell, the digest asks the store
// (SQL, not a scan) for the window's unused grants of those resources only, and lists them; with
// none the section is left out, so a digest of webhook resources never calls a grant unused.
func TestTheDigestListsGrantsNeverUsed(t *testing.T) {
	since := time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC)
	until := since.Add(7 * 24 * time.Hour)
	src := &unusedLog{grants: []audit.UnusedGrant{{GrantID: "g-idle", Resource: "app-db", Subject: "alice@example.com",
		Start: since.Add(time.Hour), End: since.Add(2 * time.Hour)}}}
	d, err := digest.Build(context.Background(), src, since, until, digest.Options{Sampled: []string{"app-db", "shop-db"}})
	if err != nil {
		t.Fatal(err)
	}
	if !src.got.Since.Equal(since) || !src.got.Until.Equal(until) || strings.Join(src.got.Resources, ",") != "app-db,shop-db" {
		t.Fatalf("query %+v, want the window and the resources that can tell", src.got)
	}
	var b strings.Builder
	if err := digest.WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Grants never used", "1 grant ended with no session seen", "alice@example.com on app-db", "(g-idle)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("digest lacks %q:\n%s", want, b.String())
		}
	}

	src = &unusedLog{grants: src.grants}
	d, err = digest.Build(context.Background(), src, since, until, digest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Sections() {
		if s.Key == digest.SectionUnused {
			t.Fatalf("a digest with no resource that can tell has the section %+v", s)
		}
	}
	if src.got.Resources != nil {
		t.Fatal("the store was asked with no resource that can tell")
	}
}
