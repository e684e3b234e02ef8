package grants_test

import (
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// githubResource is prod-db taking its accounts from verified GitHub logins, with an accounts:
// entry for carol.
func githubHarness(t *testing.T, driver string) *gt.Harness {
	r := gt.DefaultResource()
	r.Name = "org-admin"
	r.AccountFrom = &grants.AccountSource{Name: bot.GitHubLoginSource, Label: "GitHub account"}
	r.Accounts = map[string]string{gt.Carol.ID: "carol-from-config"}
	dsn := ""
	if driver == "postgres" {
		dsn = pgtest.Shared(t).NewDatabase(t)
	}
	return gt.New(t, gt.Options{Driver: driver, DSN: dsn, Resources: []*grants.Resource{r}})
}

func linkGitHub(t *testing.T, h *gt.Harness, person, login string, id int64) {
	t.Helper()
	if _, err := h.DB.LinkGitHub(h.Ctx, bot.GitHubLink{Person: person, Login: login, ID: id, VerifiedAt: h.Clock.Now(), Via: audit.GitHubVia}); err != nil {
		t.Fatal(err)
	}
}

func TestAResourceWithAccountFromGrantsToTheVerifiedLoginAndRefusesWithout(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h := githubHarness(t, driver)

		_, err := h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "org-admin", Reason: "INC-1"})
		ge := wantError(t, err, grants.ErrForbidden, grants.ReasonAccountNotLinked)
		if ge.Message != "Link your GitHub account first: /access github-login (org-admin grants to the account you prove is yours there)." {
			t.Errorf("refusal %q", ge.Message)
		}
		refused := h.AuditEvents(audit.Filter{}, audit.RequestRefused)
		if len(refused) != 1 {
			t.Fatalf("%d request.refused events, want 1", len(refused))
		}
		if p, _ := audit.Decode[audit.RequestRefusedData](refused[0]); p.Refused != grants.ReasonAccountNotLinked {
			t.Errorf("refused for %q, want %q", p.Refused, grants.ReasonAccountNotLinked)
		}
		if n := len(h.AuditEvents(audit.Filter{}, audit.RequestCreated)); n != 0 {
			t.Errorf("%d requests stored for a refusal", n)
		}

		linkGitHub(t, h, gt.Alice.ID, "Alice-GH", 42)
		out := h.Approve(gt.Bob, h.Request(gt.Alice, "org-admin", 0, "INC-2").Request.ID)
		if out.Grant == nil || out.Grant.Account != "Alice-GH" {
			t.Fatalf("grant %+v, want account Alice-GH (the verified login)", out.Grant)
		}

		// An accounts: entry wins over the verified login, and needs none.
		out = h.Approve(gt.Bob, h.Request(gt.Carol, "org-admin", 0, "INC-3").Request.ID)
		if out.Grant == nil || out.Grant.Account != "carol-from-config" {
			t.Fatalf("carol's grant %+v, want the accounts: entry", out.Grant)
		}
	})
}

func TestAnApprovalIsRefusedWhenTheRequesterUnlinkedTheirLoginMeanwhile(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h := githubHarness(t, driver)
		linkGitHub(t, h, gt.Dave.ID, "dave-gh", 7)
		req := h.Request(gt.Dave, "org-admin", 0, "INC-1").Request
		if _, err := h.DB.UnlinkGitHub(h.Ctx, gt.Dave.ID, h.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := h.Service.Approve(h.Ctx, gt.Bob, req.ID)
		wantError(t, err, grants.ErrForbidden, grants.ReasonAccountNotLinked)
		if got := h.StoredRequest(req.ID); got.State != grants.RequestPending || got.GrantID != "" {
			t.Errorf("request after the refused approval: %s, grant %q; want still pending, no grant", got.State, got.GrantID)
		}
	})
}
