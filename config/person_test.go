package config_test

import (
	"context"
	"testing"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
)

// TestTheConfigNamesPeopleAsGrantsDoes holds the config's person matching to the domain's: an
// admin or group member named in the config is exactly the person grants.MatchesPerson sees
// in that entry, so no one is an admin to the config but a stranger to grants, or the reverse.
func TestTheConfigNamesPeopleAsGrantsDoes(t *testing.T) {
	actors := []grants.Actor{
		{ID: "alice@example.com", Email: "alice@example.com", Platform: "slack", PlatformID: "U0ALICE"},
		{ID: "bob", Email: "bob@example.com", Platform: "discord", PlatformID: "81234"},
		{ID: "carol@example.com"},
		{Platform: "slack", PlatformID: "U0DANA"},
		{},
	}
	entries := []string{
		"alice@example.com", " ALICE@example.com ", "U0ALICE", "u0alice", "slack:U0ALICE", "SLACK:U0ALICE",
		"discord:U0ALICE", "bob", "BOB", "bob@example.com", "81234", "discord:81234", "Discord:81234",
		"slack:81234", "carol@example.com", "U0DANA", "slack:U0DANA", "slack:", ":U0DANA", "", "  ",
	}
	ctx := context.Background()
	for _, a := range actors {
		for _, entry := range entries {
			want := grants.MatchesPerson(a, entry)
			if got := config.Matches(a, entry); got != want {
				t.Errorf("Matches(%+v, %q) = %v, grants says %v", a, entry, got, want)
			}
			c := &config.Config{Groups: map[string][]string{"oncall": {entry}}}
			c.Admins.Users = []string{entry}
			if got, err := c.IsAdmin(ctx, a, nil); err != nil || got != want {
				t.Errorf("admins.users [%q]: IsAdmin(%+v) = %v, %v; grants says %v", entry, a, got, err, want)
			}
			if got, err := c.Directory().MemberOf(ctx, a, "oncall"); err != nil || got != want {
				t.Errorf("groups.oncall [%q]: MemberOf(%+v) = %v, %v; grants says %v", entry, a, got, err, want)
			}
		}
	}
}
