package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
)

// githubEvents are the log's GitHub link events and alerts, in order.
func githubEvents(t *testing.T, db *DB) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, e := range scanAll(t, db, audit.Filter{}) {
		switch e.Type {
		case audit.GitHubLinked, audit.GitHubLinkRefused, audit.GitHubUnlinked, audit.AlertRaised:
			out = append(out, e)
		}
	}
	return out
}

func TestGitHubLoginsAreLinkedReplacedAndRemovedEachWithItsAuditEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		const alice = "Alice@Example.com"
		if _, ok, err := db.VerifiedAccount(ctx, bot.GitHubLoginSource, alice); err != nil || ok {
			t.Fatalf("before any link: VerifiedAccount = %v, %v; want none", ok, err)
		}
		prev, err := db.LinkGitHub(ctx, bot.GitHubLink{Person: alice, Login: "Alice-GH", ID: 101, VerifiedAt: base, Via: audit.GitHubVia})
		if err != nil || prev != (bot.GitHubLink{}) {
			t.Fatalf("first link = %+v, %v; want no previous link", prev, err)
		}
		acct, ok, err := db.VerifiedAccount(ctx, bot.GitHubLoginSource, "alice@example.com")
		if err != nil || !ok || acct != "Alice-GH" {
			t.Fatalf("VerifiedAccount = %q, %v, %v; want Alice-GH as GitHub spells it", acct, ok, err)
		}
		prev, err = db.LinkGitHub(ctx, bot.GitHubLink{Person: alice, Login: "alice-work", ID: 202, VerifiedAt: base.Add(time.Hour), Via: audit.GitHubVia})
		if err != nil || prev.Login != "Alice-GH" || prev.ID != 101 {
			t.Fatalf("re-link = %+v, %v; want the previous link Alice-GH/101", prev, err)
		}
		l, err := db.GitHubLink(ctx, alice)
		if err != nil || l.Login != "alice-work" || l.ID != 202 || !l.VerifiedAt.Equal(base.Add(time.Hour)) || l.Via != audit.GitHubVia {
			t.Fatalf("GitHubLink = %+v, %v; want alice-work/202 verified an hour later by the device flow", l, err)
		}
		if _, err := db.UnlinkGitHub(ctx, "bob@example.com", base); !errors.Is(err, bot.ErrNoGitHubLink) {
			t.Errorf("unlink of someone without a link = %v, want ErrNoGitHubLink", err)
		}
		removed, err := db.UnlinkGitHub(ctx, alice, base.Add(2*time.Hour))
		if err != nil || removed.Login != "alice-work" {
			t.Fatalf("unlink = %+v, %v", removed, err)
		}
		if _, err := db.GitHubLink(ctx, alice); !errors.Is(err, bot.ErrNoGitHubLink) {
			t.Errorf("after unlink GitHubLink = %v, want ErrNoGitHubLink", err)
		}
		evs := githubEvents(t, db)
		if len(evs) != 3 {
			t.Fatalf("events %+v, want linked, linked, unlinked", evs)
		}
		first, _ := audit.Decode[audit.GitHubLinkedData](evs[0])
		second, _ := audit.Decode[audit.GitHubLinkedData](evs[1])
		gone, _ := audit.Decode[audit.GitHubUnlinkedData](evs[2])
		if first != (audit.GitHubLinkedData{Login: "Alice-GH", ID: 101, Via: audit.GitHubVia}) ||
			second != (audit.GitHubLinkedData{Login: "alice-work", ID: 202, Via: audit.GitHubVia, PreviousLogin: "Alice-GH", PreviousID: 101}) ||
			gone != (audit.GitHubUnlinkedData{Login: "alice-work", ID: 202}) || evs[2].Type != audit.GitHubUnlinked {
			t.Errorf("payloads %+v, %+v, %+v", first, second, gone)
		}
		for _, e := range evs {
			if e.Subject != "alice@example.com" || e.Actor != "alice@example.com" {
				t.Errorf("event %d is by %q about %q, want alice's canonical ID", e.Seq, e.Actor, e.Subject)
			}
		}
		if rep := verify(t, db); !rep.Intact() {
			t.Errorf("the chain does not verify: %+v", rep)
		}
	})
}

func TestAGitHubAccountLinkedToAnotherPersonIsRefusedAndAlerted(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		if _, err := db.LinkGitHub(ctx, bot.GitHubLink{Person: "alice@example.com", Login: "octo", ID: 7, VerifiedAt: base, Via: audit.GitHubVia}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			login string
			id    int64
		}{
			{"the same login in another case", "OCTO", 8},
			{"the same GitHub ID under a new login (a rename)", "octo-renamed", 7},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(githubEvents(t, db))
				_, err := db.LinkGitHub(ctx, bot.GitHubLink{Person: "mallory@example.com", Login: tc.login, ID: tc.id, VerifiedAt: base, Via: audit.GitHubVia})
				if !errors.Is(err, bot.ErrGitHubLoginTaken) {
					t.Fatalf("link = %v, want ErrGitHubLoginTaken", err)
				}
				if _, err := db.GitHubLink(ctx, "mallory@example.com"); !errors.Is(err, bot.ErrNoGitHubLink) {
					t.Errorf("mallory has a link after the refusal: %v", err)
				}
				evs := githubEvents(t, db)[before:]
				if len(evs) != 2 || evs[0].Type != audit.GitHubLinkRefused || evs[1].Type != audit.AlertRaised {
					t.Fatalf("events %+v, want refused then alert", evs)
				}
				refused, _ := audit.Decode[audit.GitHubLinkRefusedData](evs[0])
				alert, _ := audit.Decode[audit.AlertRaisedData](evs[1])
				if refused.Refused != audit.GitHubRefusedTaken || refused.Login != tc.login || alert.Alert != audit.AlertGitHubLoginTaken {
					t.Errorf("refused %+v, alert %+v", refused, alert)
				}
				if evs[0].Subject != "mallory@example.com" {
					t.Errorf("the refusal is about %q, want mallory", evs[0].Subject)
				}
			})
		}
		l, err := db.GitHubLink(ctx, "alice@example.com")
		if err != nil || l.Login != "octo" {
			t.Errorf("alice's link after the refusals = %+v, %v; want it untouched", l, err)
		}
	})
}

func TestVerifiedAccountRefusesAnUnknownSource(t *testing.T) {
	db := newDB(t, backends[0])
	if _, _, err := db.VerifiedAccount(testCtx(t), "gitlab-login", "alice@example.com"); err == nil {
		t.Error("an unknown source answered without an error")
	}
}
