package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

func linkEvent(typ, actor string) audit.Event {
	return audit.Event{At: base, Type: typ, Actor: actor, Data: map[string]string{"platform": "discord"}}
}

func TestADiscordLinkIsAskedForConfirmedOnceAndRemovedWithItsAuditEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		req := bot.Link{UserID: "623456789012345678", Person: "alice@example.com", Name: "alice",
			CodeHash: "hash-1", RequestedAt: base}
		if err := db.RequestDiscordLink(ctx, req, linkEvent(audit.IdentityLinkRequested, "discord:623456789012345678")); err != nil {
			t.Fatal(err)
		}
		// Asking again replaces the pending link (a new code).
		req.CodeHash, req.RequestedAt = "hash-2", base.Add(time.Minute)
		if err := db.RequestDiscordLink(ctx, req, linkEvent(audit.IdentityLinkRequested, "discord:623456789012345678")); err != nil {
			t.Fatal(err)
		}
		l, ok, err := db.DiscordLink(ctx, req.UserID)
		if err != nil || !ok || l.Confirmed() || l.CodeHash != "hash-2" || l.Person != "alice@example.com" {
			t.Fatalf("DiscordLink = %+v, %v, %v; want the second pending link", l, ok, err)
		}
		if pending, err := db.PendingDiscordLinks(ctx, "alice@example.com"); err != nil || len(pending) != 1 {
			t.Fatalf("pending of alice = %+v, %v", pending, err)
		}
		if _, ok, _ := db.DiscordLinkOf(ctx, "alice@example.com"); ok {
			t.Error("a pending link counts as alice's")
		}

		// The old code does not confirm it; the new one does, once.
		if _, err := db.ConfirmDiscordLink(ctx, req.UserID, "hash-1", "alice@example.com", bot.LinkViaCode, base, linkEvent(audit.IdentityLinked, "alice@example.com")); !errors.Is(err, bot.ErrNoPendingLink) {
			t.Fatalf("confirm with the old code: %v, want ErrNoPendingLink", err)
		}
		got, err := db.ConfirmDiscordLink(ctx, req.UserID, "hash-2", "alice@example.com", bot.LinkViaCode, base.Add(2*time.Minute), linkEvent(audit.IdentityLinked, "alice@example.com"))
		if err != nil || !got.Confirmed() || got.Via != bot.LinkViaCode || got.ConfirmedBy != "alice@example.com" {
			t.Fatalf("confirm = %+v, %v", got, err)
		}
		if _, err := db.ConfirmDiscordLink(ctx, req.UserID, "hash-2", "alice@example.com", bot.LinkViaCode, base, linkEvent(audit.IdentityLinked, "alice@example.com")); !errors.Is(err, bot.ErrNoPendingLink) {
			t.Errorf("confirm twice: %v, want ErrNoPendingLink", err)
		}
		if of, ok, err := db.DiscordLinkOf(ctx, "alice@example.com"); err != nil || !ok || of.UserID != req.UserID {
			t.Errorf("DiscordLinkOf(alice) = %+v, %v, %v", of, ok, err)
		}
		// A confirmed link cannot be replaced by asking again.
		if err := db.RequestDiscordLink(ctx, req, linkEvent(audit.IdentityLinkRequested, "discord:623456789012345678")); !errors.Is(err, bot.ErrAlreadyLinked) {
			t.Errorf("ask again when linked: %v, want ErrAlreadyLinked", err)
		}

		// Another Discord account cannot be linked to alice as well.
		other := bot.Link{UserID: "723456789012345678", Person: "alice@example.com", Name: "mallory", CodeHash: "hash-3", RequestedAt: base}
		if err := db.RequestDiscordLink(ctx, other, linkEvent(audit.IdentityLinkRequested, "discord:723456789012345678")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ConfirmDiscordLink(ctx, other.UserID, "hash-3", "alice@example.com", bot.LinkViaCode, base, linkEvent(audit.IdentityLinked, "alice@example.com")); !errors.Is(err, bot.ErrAlreadyLinked) {
			t.Errorf("a second account for alice: %v, want ErrAlreadyLinked", err)
		}
		if all, err := db.PendingDiscordLinks(ctx, ""); err != nil || len(all) != 1 || all[0].UserID != other.UserID {
			t.Errorf("all pending = %+v, %v", all, err)
		}

		removed, err := db.RemoveDiscordLink(ctx, req.UserID, linkEvent(audit.IdentityUnlinked, "erin@example.com"))
		if err != nil || removed.Person != "alice@example.com" {
			t.Fatalf("remove = %+v, %v", removed, err)
		}
		if _, err := db.RemoveDiscordLink(ctx, req.UserID, linkEvent(audit.IdentityUnlinked, "erin@example.com")); !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("remove twice: %v, want ErrNotFound", err)
		}

		var types []string
		if err := db.ScanAudit(ctx, audit.Filter{}, func(e audit.Event) error {
			types = append(types, e.Type+"/"+e.Subject)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"identity.link_requested/", "identity.link_requested/",
			"identity.linked/alice@example.com",
			"identity.link_requested/",
			"identity.unlinked/alice@example.com",
		}
		if len(types) != len(want) {
			t.Fatalf("audit events = %v, want %v (a refused change records nothing)", types, want)
		}
		for i := range want {
			if types[i] != want[i] {
				t.Errorf("audit event %d = %s, want %s", i, types[i], want[i])
			}
		}
	})
}

// Issue 13: nobody confirms a link without its code (the admin path is gone), and a confirmed
// link is where DMs reach the person on Discord until it is removed: a grant's secret never goes
// to an account whose link is gone.
func TestALinkIsConfirmedOnlyWithItsCodeAndDMsFollowIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		// A stale address from an earlier account.
		if err := db.RememberPerson(ctx, bot.Person{ID: "alice@example.com", Platform: "discord", PlatformID: "999", Name: "old", SeenAt: base}); err != nil {
			t.Fatal(err)
		}
		req := bot.Link{UserID: "623456789012345678", Person: "alice@example.com", Name: "alice",
			CodeHash: "hash-1", RequestedAt: base.Add(time.Minute)}
		if err := db.RequestDiscordLink(ctx, req, linkEvent(audit.IdentityLinkRequested, "discord:623456789012345678")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ConfirmDiscordLink(ctx, req.UserID, "", "dana@example.com", bot.LinkViaAdmin, base, linkEvent(audit.IdentityLinked, "dana@example.com")); !errors.Is(err, grants.ErrInvalid) {
			t.Errorf("confirm without the code: %v, want ErrInvalid", err)
		}
		if _, err := db.ConfirmDiscordLink(ctx, req.UserID, "hash-1", "alice@example.com", bot.LinkViaCode, base.Add(2*time.Minute), linkEvent(audit.IdentityLinked, "alice@example.com")); err != nil {
			t.Fatal(err)
		}
		if id, err := db.PlatformUser(ctx, "alice@example.com", "discord"); err != nil || id != req.UserID {
			t.Errorf("alice on Discord = %q, %v; want the linked account", id, err)
		}
		if _, err := db.RemoveDiscordLink(ctx, req.UserID, linkEvent(audit.IdentityUnlinked, "erin@example.com")); err != nil {
			t.Fatal(err)
		}
		if id, err := db.PlatformUser(ctx, "alice@example.com", "discord"); !errors.Is(err, bot.ErrUnknownPerson) {
			t.Errorf("alice on Discord after the removal = %q, %v; want unknown", id, err)
		}
	})
}

// Migration 0007: a person's Discord DM address that came from a link an admin confirmed alone
// (finding 2 of issue 13: the admin's account got the person's DMs) is forgotten; others stay.
func TestMigration7ForgetsDMAddressesOfAdminConfirmedLinks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		for _, q := range []string{
			`INSERT INTO discord_links (user_id, person_id, name, code_hash, requested_at, confirmed_at, confirmed_by, via)
				VALUES ('100', 'bob@example.com', 'dana-alt', '', 1, 2, 'dana@example.com', 'admin')`,
			`INSERT INTO discord_links (user_id, person_id, name, code_hash, requested_at, confirmed_at, confirmed_by, via)
				VALUES ('200', 'alice@example.com', 'alice', '', 1, 2, 'alice@example.com', 'code')`,
			`DELETE FROM schema_migrations WHERE version = 7`,
		} {
			if _, err := db.write.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []bot.Person{
			{ID: "bob@example.com", Platform: "discord", PlatformID: "100", Name: "dana-alt", SeenAt: base},
			{ID: "bob@example.com", Platform: "slack", PlatformID: "U100", Name: "Bob", SeenAt: base},
			{ID: "alice@example.com", Platform: "discord", PlatformID: "200", Name: "alice", SeenAt: base},
		} {
			if err := db.RememberPerson(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if applied, err := db.Migrate(ctx); err != nil || len(applied) != 1 || applied[0] != 7 {
			t.Fatalf("migrate = %v, %v; want 7", applied, err)
		}
		if id, err := db.PlatformUser(ctx, "bob@example.com", "discord"); !errors.Is(err, bot.ErrUnknownPerson) {
			t.Errorf("bob on Discord = %q, %v; want unknown", id, err)
		}
		if id, err := db.PlatformUser(ctx, "bob@example.com", "slack"); err != nil || id != "U100" {
			t.Errorf("bob on Slack = %q, %v", id, err)
		}
		if id, err := db.PlatformUser(ctx, "alice@example.com", "discord"); err != nil || id != "200" {
			t.Errorf("alice on Discord = %q, %v", id, err)
		}
	})
}
