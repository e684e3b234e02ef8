package grants_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/tmpl"
)

func TestNobodyDecidesTheirOwnRequestAdminsIncluded(t *testing.T) {
	// Alice as each platform shows her: on Slack with her verified email, on Slack before the
	// email was known (her person ID is then her Slack ID), and on Discord, which never knows
	// an email (the config or a resolver maps her account to her).
	aliceOnSlack := grants.Actor{ID: gt.Alice.ID, Email: gt.Alice.ID, Platform: "slack", PlatformID: "U0ALICE"}
	aliceOnSlackNoEmail := grants.Actor{ID: "slack:U0ALICE", Platform: "slack", PlatformID: "U0ALICE"}
	aliceOnDiscord := grants.Actor{ID: "discord:81234", Platform: "discord", PlatformID: "81234"}
	aliceOnWeb := grants.Actor{ID: gt.Alice.ID, Email: gt.Alice.ID, Platform: "web"}
	tests := []struct {
		name                string
		requester, reviewer grants.Actor
		// sre lists the approvers; the reviewer is always one, so that only the self-approval
		// check stands between them and their own access.
		sre     []string
		aliases grants.Aliases
	}{
		{name: "an approver", requester: gt.Bob, reviewer: gt.Bob, sre: []string{gt.Bob.ID, gt.Erin.ID}},
		{name: "an admin who is also an approver", requester: gt.Erin, reviewer: gt.Erin, sre: []string{gt.Bob.ID, gt.Erin.ID}},
		{name: "the same person seen from another platform", requester: gt.Bob, reviewer: grants.Actor{ID: gt.Bob.ID, Platform: "discord", PlatformID: "81234"}, sre: []string{gt.Bob.ID}},
		{
			name:      "the same person under her Discord ID, which the resolver maps to her email",
			requester: aliceOnSlack, reviewer: aliceOnDiscord, sre: []string{"discord:81234"},
			aliases: gt.Aliases{"discord:81234": gt.Alice.ID},
		},
		{
			name:      "the same person who asked under her Slack ID and decides under her email on the web",
			requester: aliceOnSlackNoEmail, reviewer: aliceOnWeb, sre: []string{gt.Alice.ID},
			aliases: gt.Aliases{"slack:U0ALICE": gt.Alice.ID},
		},
		{
			name:      "the same Slack user who asked before her email was known and decides after",
			requester: aliceOnSlackNoEmail, reviewer: aliceOnSlack, sre: []string{gt.Alice.ID},
		},
	}
	for _, tt := range tests {
		for _, d := range []grants.Decision{grants.Approve, grants.Deny} {
			t.Run(tt.name+" "+string(d), func(t *testing.T) {
				h := gt.New(t, gt.Options{Groups: map[string][]string{"sre": tt.sre}, Aliases: tt.aliases})
				if ok, err := h.Service.MayApprove(h.Ctx, tt.reviewer, "prod-db"); err != nil || !ok {
					t.Fatalf("the reviewer is not an approver (%v, %v): the case would test nothing", ok, err)
				}
				req := h.Request(tt.requester, "prod-db", 0, "INC-1")
				var err error
				if d == grants.Approve {
					_, err = h.Service.Approve(h.Ctx, tt.reviewer, req.Request.ID)
				} else {
					_, err = h.Service.Deny(h.Ctx, tt.reviewer, req.Request.ID, "no")
				}
				wantError(t, err, grants.ErrForbidden, grants.ReasonSelfApproval)
				if rv, _ := h.Service.Reviews(h.Ctx, req.Request.ID); len(rv) != 0 {
					t.Errorf("a refused decision left reviews %+v", rv)
				}
				refused := h.AuditEvents(audit.Filter{}, audit.ReviewRefused)
				if len(refused) != 1 || refused[0].Data["refused"] != grants.ReasonSelfApproval || refused[0].Data["decision"] != string(d) {
					t.Fatalf("review.refused = %+v", refused)
				}
				if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending {
					t.Errorf("request is %s, want still pending", got.State)
				}
			})
		}
	}
}

func TestOnlyApproversDecideAndMembershipIsReadOnEveryCall(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")

	for _, who := range []grants.Actor{gt.Dave, gt.Erin /* admin, not an approver */} {
		_, err := h.Service.Approve(h.Ctx, who, req.Request.ID)
		ge := wantError(t, err, grants.ErrForbidden, grants.ReasonNotApprover)
		if ge.Details["allowed"] != "sre" {
			t.Errorf("details = %v, want allowed=sre", ge.Details)
		}
	}
	if n := len(h.AuditEvents(audit.Filter{}, audit.ReviewRefused)); n != 2 {
		t.Fatalf("%d review.refused events, want 2", n)
	}

	// Bob leaves sre; he can no longer approve, whatever a button said when it was posted.
	h.Dir.Set("sre", gt.Carol.ID)
	_, err := h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrForbidden, grants.ReasonNotApprover)
	h.Dir.Set("sre", gt.Dave.ID)
	if out := h.Approve(gt.Dave, req.Request.ID); out.Grant == nil {
		t.Fatal("dave, now in sre, approved but no grant was made")
	}
}

func TestADirectoryFailureRefusesRatherThanAllows(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	down := errors.New("directory down")
	h.Dir.FailWith(down)
	// Refused because of the directory, not for a reason of the policy: a person must not be
	// told they are not an approver when nobody could tell.
	if _, err := h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID); !errors.Is(err, down) || errors.Is(err, grants.ErrForbidden) {
		t.Fatalf("approval while group membership could not be checked: %v, want the directory's error", err)
	}
	if h.Service.IsAdmin(h.Ctx, grants.Actor{ID: "x@example.com"}) {
		t.Fatal("IsAdmin said yes while the directory failed")
	}
	h.Dir.FailWith(nil)
	if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending {
		t.Fatalf("request is %s", got.State)
	}
}

func TestNApprovalsMeanNDistinctPeople(t *testing.T) {
	r := gt.DefaultResource()
	r.Policy.Approvals = 2
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}, Groups: map[string][]string{"sre": {gt.Bob.ID, gt.Carol.ID, gt.Dave.ID}}})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	if req.Request.ApprovalsNeeded != 2 {
		t.Fatalf("ApprovalsNeeded = %d", req.Request.ApprovalsNeeded)
	}

	first := h.Approve(gt.Bob, req.Request.ID)
	if first.Request.State != grants.RequestPending || first.Grant != nil {
		t.Fatalf("after one of two approvals: %+v", first)
	}
	_, err := h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyReviewed)

	second := h.Approve(gt.Carol, req.Request.ID)
	if second.Request.State != grants.RequestApproved || second.Grant == nil {
		t.Fatalf("after two approvals: %+v", second)
	}
	_, err = h.Service.Approve(h.Ctx, gt.Dave, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyDecided)

	tallies := []string{}
	for _, e := range h.AuditEvents(audit.Filter{}, audit.ReviewApproved) {
		tallies = append(tallies, e.Actor+" "+e.Data["approvals"])
	}
	if want := []string{gt.Bob.ID + " 1/2", gt.Carol.ID + " 2/2"}; !slices.Equal(tallies, want) {
		t.Fatalf("review.approved = %v, want %v", tallies, want)
	}
	reviews, err := h.Service.Reviews(h.Ctx, req.Request.ID)
	if err != nil || len(reviews) != 2 {
		t.Fatalf("reviews = %+v, %v", reviews, err)
	}
}

func TestOneDenialDeniesEvenAfterAnApproval(t *testing.T) {
	r := gt.DefaultResource()
	r.Policy.Approvals = 2
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")
	h.Approve(gt.Bob, req.Request.ID)
	denied, err := h.Service.Deny(h.Ctx, gt.Carol, req.Request.ID, "not during the freeze")
	if err != nil {
		t.Fatal(err)
	}
	if denied.State != grants.RequestDenied || denied.DecidedBy != gt.Carol.ID || denied.Note != "not during the freeze" {
		t.Fatalf("denied = %+v", denied)
	}
	if gs, _ := h.Service.ListGrants(h.Ctx, grants.GrantFilter{}); len(gs) != 0 {
		t.Fatalf("a denied request made grants %+v", gs)
	}
	want := []string{audit.RequestCreated, audit.ReviewApproved, audit.ReviewDenied, audit.RequestDenied}
	if got := h.EventTypes(req.Request.ID); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	_, err = h.Service.Approve(h.Ctx, gt.Carol, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyDecided)
}

func TestOnlyTheRequesterCancelsAndOnlyWhilePending(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")

	_, err := h.Service.Cancel(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrForbidden, grants.ReasonNotRequester)

	got, err := h.Service.Cancel(h.Ctx, gt.Alice, req.Request.ID)
	if err != nil || got.State != grants.RequestCancelled || got.DecidedBy != gt.Alice.ID {
		t.Fatalf("cancel = %+v, %v", got, err)
	}
	_, err = h.Service.Cancel(h.Ctx, gt.Alice, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonNotPending)
	_, err = h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyDecided)

	_, err = h.Service.Cancel(h.Ctx, gt.Alice, "r-nosuchthing")
	wantError(t, err, grants.ErrNotFound, grants.ReasonUnknownRequest)
	if got := h.EventTypes(req.Request.ID); !slices.Equal(got, []string{audit.RequestCreated, audit.RequestCancelled}) {
		t.Fatalf("events = %v", got)
	}
}

func TestAPendingRequestExpiresAtItsTTL(t *testing.T) {
	h := gt.New(t, gt.Options{})
	req := h.Request(gt.Alice, "prod-db", 0, "INC-1")

	h.Clock.Set(req.Request.PendingUntil.Add(-time.Second))
	h.RunDue()
	if got := h.StoredRequest(req.Request.ID); got.State != grants.RequestPending {
		t.Fatalf("a second before its TTL the request is %s", got.State)
	}

	// Between the TTL and the scheduler's pass, nobody can approve it any more.
	h.Clock.Set(req.Request.PendingUntil)
	_, err := h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonRequestExpired)

	h.RunDue()
	got := h.StoredRequest(req.Request.ID)
	if got.State != grants.RequestExpired || got.DecidedBy != grants.System.ID || !got.DecidedAt.Equal(req.Request.PendingUntil) {
		t.Fatalf("after the TTL: %+v", got)
	}
	if types := h.EventTypes(req.Request.ID); !slices.Equal(types, []string{audit.RequestCreated, audit.RequestExpired}) {
		t.Fatalf("events = %v", types)
	}
	_, err = h.Service.Approve(h.Ctx, gt.Bob, req.Request.ID)
	wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyDecided)
}

func TestUnknownIDsAreNotFound(t *testing.T) {
	h := gt.New(t, gt.Options{})
	_, err := h.Service.Approve(h.Ctx, gt.Bob, "r-missing")
	wantError(t, err, grants.ErrNotFound, grants.ReasonUnknownRequest)
	_, err = h.Service.Revoke(h.Ctx, gt.Erin, "g-missing")
	wantError(t, err, grants.ErrNotFound, grants.ReasonUnknownGrant)
	_, err = h.Service.ForceRevoke(h.Ctx, gt.Erin, "g-missing", "cleaned up")
	wantError(t, err, grants.ErrNotFound, grants.ReasonUnknownGrant)
	_, err = h.Service.GetGrant(h.Ctx, "g-missing")
	wantError(t, err, grants.ErrNotFound, grants.ReasonUnknownGrant)
}

func TestWhoMayDoWhat(t *testing.T) {
	open := gt.DefaultResource()
	open.Name = "staging-db"
	closed := gt.DefaultResource()
	closed.Name = "billing"
	closed.Policy.RequesterGroups = []string{"finance"}
	closed.Policy.Requesters = []string{"slack:Udave"}
	h := gt.New(t, gt.Options{
		Resources:   []*grants.Resource{open, closed},
		Groups:      map[string][]string{"sre": {gt.Bob.ID}, "finance": {gt.Carol.ID}, "admins": {gt.Dave.ID}},
		AdminUsers:  []string{"Erin@Example.com"},
		AdminGroups: []string{"admins"},
	})
	names := func(rs []*grants.Resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	tests := []struct {
		who         grants.Actor
		requestable []string
		admin       bool
		approver    bool
	}{
		{gt.Alice, []string{"staging-db"}, false, false},
		{gt.Bob, []string{"staging-db"}, false, true},
		{gt.Carol, []string{"billing", "staging-db"}, false, false},
		{gt.Dave, []string{"billing", "staging-db"}, true, false},
		{gt.Erin, []string{"staging-db"}, true, false},
		{grants.Actor{ID: "cli:root", Platform: "cli", PlatformID: "root"}, []string{"staging-db"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.who.ID, func(t *testing.T) {
			rs, err := h.Service.Requestable(h.Ctx, tt.who)
			if err != nil || !slices.Equal(names(rs), tt.requestable) {
				t.Errorf("Requestable = %v, %v; want %v", names(rs), err, tt.requestable)
			}
			if got := h.Service.IsAdmin(h.Ctx, tt.who); got != tt.admin {
				t.Errorf("IsAdmin = %v, want %v", got, tt.admin)
			}
			if got, err := h.Service.MayApprove(h.Ctx, tt.who, "billing"); err != nil || got != tt.approver {
				t.Errorf("MayApprove = %v, %v; want %v", got, err, tt.approver)
			}
		})
	}
	_, err := h.Service.MayApprove(h.Ctx, gt.Bob, "nope")
	wantError(t, err, grants.ErrNotFound, grants.ReasonUnknownResource)
	if r, ok := h.Service.Resource("billing"); !ok || r != closed {
		t.Error("Resource(billing) did not return the resource")
	}
	if got := names(h.Service.Resources()); !slices.Equal(got, []string{"billing", "staging-db"}) {
		t.Errorf("Resources = %v", got)
	}
}

func TestNewServiceRejectsABrokenSetup(t *testing.T) {
	h := gt.New(t, gt.Options{})
	noAdapter := &grants.Resource{Name: "x"}
	dup := gt.DefaultResource()
	tests := []struct {
		name string
		o    grants.Options
		want string // what the error must say, so that it is refused for this reason
	}{
		{"no store", grants.Options{}, "needs a store"},
		{"a resource without an adapter", grants.Options{Store: h.DB, Resources: []*grants.Resource{noAdapter}}, "resource \"x\" has no adapter"},
		{"a resource twice", grants.Options{Store: h.DB, Resources: []*grants.Resource{h.Resources[0], h.Resources[0], dup}}, "resource \"prod-db\" is defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := grants.NewService(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewService: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestAnApprovedGrantUsesTheRequestersAccountName(t *testing.T) {
	acct := tmpl.Must(tmpl.Parse("acct", `{{if .PlatformID}}{{.Platform}}_{{.PlatformID}}{{else}}u_{{.Local}}{{end}}`, tmpl.Options{}))
	tests := []struct {
		name      string
		requester grants.Actor
		accounts  map[string]string
		want      string
	}{
		{"a person known by email", gt.Alice, nil, "u_alice"},
		{"a person known only on a platform", grants.Actor{ID: "discord:81234", Name: "zed", Platform: "discord", PlatformID: "81234"}, nil, "discord_81234"},
		{"a person with an explicit mapping", gt.Alice, map[string]string{gt.Alice.ID: "alice_dba"}, "alice_dba"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gt.DefaultResource()
			r.Account = acct
			r.Accounts = tt.accounts
			h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
			req := h.Request(tt.requester, "prod-db", 0, "INC-1")
			g := h.Approve(gt.Bob, req.Request.ID).Grant
			if g.Account != tt.want || g.Subject != tt.requester.ID || g.Email != tt.requester.Email {
				t.Fatalf("grant account/subject/email = %q/%q/%q, want %q", g.Account, g.Subject, g.Email, tt.want)
			}
		})
	}
}
