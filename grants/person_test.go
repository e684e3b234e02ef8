package grants_test

import (
	"testing"

	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
)

func TestCanonicalPerson(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"  Alice@Example.COM ", "alice@example.com"},
		{"slack:U0ALICE", "slack:U0ALICE"},
		{"SLACK:UNOMAIL", "slack:UNOMAIL"},
		{" Discord:81234 ", "discord:81234"},
		{"slack:unomail", "slack:unomail"},
		{"web:Alice@Example.com", "web:alice@example.com"},
		{"Accessbot", "accessbot"},
		{"", ""},
		{"  ", ""},
		{":U0DANA", ":u0dana"},
	}
	for _, tt := range tests {
		if got := grants.CanonicalPerson(tt.in); got != tt.want {
			t.Errorf("CanonicalPerson(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := grants.CanonicalPerson(grants.CanonicalPerson(tt.in)); again != grants.CanonicalPerson(tt.in) {
			t.Errorf("CanonicalPerson is not idempotent on %q: %q", tt.in, again)
		}
	}
}

// aliasCase is one person with two faces: the second must never count as another person.
type aliasCase struct {
	name          string
	first, second grants.Actor
}

// aliasCases are every way found to make one person two: letter case, a Slack ID against the
// email Slack shows for it, a Discord mapping written in other letters, a Discord link to the
// email.
func aliasCases() []aliasCase {
	slackBob := grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Name: "Bob", Platform: "slack", PlatformID: "U0BOB"}
	slackNoMail := grants.Actor{ID: "slack:UNOMAIL", Name: "Nomail", Platform: "slack", PlatformID: "UNOMAIL"}
	return []aliasCase{
		{"the same email in two letter cases", slackBob,
			grants.Actor{ID: "Bob@Example.COM", Email: "Bob@Example.COM", Name: "Bob", Platform: "web", PlatformID: "bob"}},
		{"a Slack user ID (mapped from Discord) and the email Slack shows for it",
			grants.Actor{ID: "slack:U0BOB", Name: "bob#1", Platform: "discord", PlatformID: "81234"}, slackBob},
		{"a Discord mapping to a Slack ID in other letter case", slackNoMail,
			grants.Actor{ID: "SLACK:UNOMAIL", Name: "nomail#2", Platform: "discord", PlatformID: "85555"}},
		{"a Discord link to the email", slackBob,
			grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Name: "bob#3", Platform: "discord", PlatformID: "86666"}},
	}
}

func aliasHarness(t *testing.T) *gt.Harness {
	r := gt.DefaultResource()
	r.Policy.Approvals = 2
	return gt.New(t, gt.Options{
		Resources: []*grants.Resource{r},
		Groups:    map[string][]string{"sre": {"bob@example.com", "slack:U0BOB", "slack:UNOMAIL", gt.Carol.ID}},
		Aliases:   gt.Aliases{"slack:U0BOB": "bob@example.com"},
	})
}

// Finding 4 of issue 13: one person approved twice through two spellings of their ID.
func TestOnePersonNeverCountsTwiceTowardsApprovals(t *testing.T) {
	for _, tt := range aliasCases() {
		t.Run(tt.name, func(t *testing.T) {
			h := aliasHarness(t)
			req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
			if out := h.Approve(tt.first, req.Request.ID); out.Request.State != grants.RequestPending {
				t.Fatalf("after one approval the request is %s, want pending", out.Request.State)
			}
			_, err := h.Service.Approve(h.Ctx, tt.second, req.Request.ID)
			wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyReviewed)
			if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending {
				t.Fatalf("after the second face approved the request is %s, want pending", got.State)
			}
			if out := h.Approve(gt.Carol, req.Request.ID); out.Request.State != grants.RequestApproved {
				t.Errorf("after a second person approved the request is %s, want approved", out.Request.State)
			}
		})
	}
}

func TestNobodyApprovesTheirOwnRequestUnderAnotherAlias(t *testing.T) {
	for _, tt := range aliasCases() {
		for _, way := range []struct {
			name                string
			requester, reviewer grants.Actor
		}{
			{"asked as the first, approved as the second", tt.first, tt.second},
			{"asked as the second, approved as the first", tt.second, tt.first},
		} {
			t.Run(tt.name+"/"+way.name, func(t *testing.T) {
				h := aliasHarness(t)
				req := h.Request(way.requester, "prod-db", 0, "INC-1")
				_, err := h.Service.Approve(h.Ctx, way.reviewer, req.Request.ID)
				wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)
				if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending {
					t.Errorf("the request is %s, want pending", got.State)
				}
			})
		}
	}
}

func TestNobodyReviewsTheirOwnBreakGlassUnderAnotherAlias(t *testing.T) {
	for _, tt := range aliasCases() {
		t.Run(tt.name, func(t *testing.T) {
			h := aliasHarness(t)
			out, err := h.Service.BreakGlass(h.Ctx, tt.first, grants.RequestInput{Resource: "prod-db", Reason: "INC-1"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Service.ReviewBreakGlass(h.Ctx, tt.second, out.Grant.ID, "looked fine")
			wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)
		})
	}
}
