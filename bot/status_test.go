package bot_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/grants"
)

// Finding 7 of issue 13: `/access status <id>` showed anyone the requester, reason and
// approvers of any request. Now the requester, the resource's approvers and admins see it; to
// anyone else, by request or grant ID, it is exactly as if the ID did not exist.
func TestStatusIsShownOnlyToTheRequesterApproversAndAdmins(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42 fixing the index")
	h.Click(bob, "approve", "r-1")
	h.RunDue()
	h.Command(alice, "request prod-api 2h INC-43 deploy") // r-2, pending

	tests := []struct {
		name string
		who  grants.Actor
		sees bool
	}{
		{"the requester", alice, true},
		{"the requester on another platform", grants.Actor{ID: alice.ID, Email: alice.Email, Name: "alice", Platform: "discord", PlatformID: "81234"}, true},
		{"the approver who approved", bob, true},
		{"an approver of the resource who did not act", carol, true},
		{"an admin who is no approver", erin, true},
		{"an approver of another resource only", dave, false},
		{"someone accessbot does not know", grants.Actor{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, id := range []string{"r-1", "g-1", "r-2"} {
				v := view(t, h.Command(tt.who, "status "+id))
				text := viewText(v)
				if tt.sees {
					says(t, v, "alice requests prod-")
					continue
				}
				// The answer is the one for an ID that does not exist, word for word.
				unknown := strings.ReplaceAll(id, "-", "-9")
				want := strings.ReplaceAll(viewText(view(t, h.Command(tt.who, "status "+unknown))), unknown, id)
				if text != want {
					t.Errorf("status %s:\n%s\nwant the unknown-ID answer:\n%s", id, text, want)
				}
				for _, secret := range []string{"alice", "INC-4", "bob", "prod-"} {
					if strings.Contains(text, secret) {
						t.Errorf("status %s shows %q to %s:\n%s", id, secret, tt.name, text)
					}
				}
			}
		})
	}

	// Approvers are who may approve now: someone who left the group no longer sees.
	h.Dir.Set("sre", carol.ID)
	v := view(t, h.Command(bob, "status r-1"))
	says(t, v, `There is no request "r-1"`)
	says(t, view(t, h.Command(carol, "status g-1")), "alice requests prod-db")
}

// A directory that cannot answer hides the request: fail closed.
func TestStatusIsHiddenWhenApproversCannotBeChecked(t *testing.T) {
	h := newHarness(t)
	h.Command(alice, "request prod-db 1h INC-42 fixing the index")
	h.Dir.FailWith(errors.New("slack usergroups.users.list: ratelimited"))
	says(t, view(t, h.Command(bob, "status r-1")), `There is no request "r-1"`)
	says(t, view(t, h.Command(alice, "status r-1")), "alice requests prod-db")
}
