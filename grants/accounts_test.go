package grants_test

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
)

// ownershipHarness is the default setup on one driver, with the second alice allowed to ask.
func ownershipHarness(t *testing.T, driver string) *gt.Harness {
	dsn := ""
	if driver == "postgres" {
		dsn = pgtest.Shared(t).NewDatabase(t)
	}
	return gt.New(t, gt.Options{Driver: driver, DSN: dsn})
}

// wantAccountAlert checks that exactly one account_taken alert was recorded and notified (the
// notification is what posts it to the security channel), naming both people.
func wantAccountAlert(t *testing.T, h *gt.Harness, intruder, owner string) {
	t.Helper()
	var alerts []audit.Event
	for _, e := range h.AuditEvents(audit.Filter{}, audit.AlertRaised) {
		if p, _ := audit.Decode[audit.AlertRaisedData](e); p.Alert == audit.AlertAccountTaken {
			alerts = append(alerts, e)
		}
	}
	if len(alerts) != 1 {
		t.Fatalf("%d account_taken alerts, want 1", len(alerts))
	}
	p, _ := audit.Decode[audit.AlertRaisedData](alerts[0])
	if !strings.Contains(p.Message, intruder) || !strings.Contains(p.Message, owner) {
		t.Errorf("alert %q does not name %s and %s", p.Message, intruder, owner)
	}
	notified := 0
	for _, e := range h.Events.Events(audit.AlertRaised) {
		if q, _ := audit.Decode[audit.AlertRaisedData](e); q.Alert == audit.AlertAccountTaken {
			notified++
		}
	}
	if notified != 1 {
		t.Errorf("%d account_taken alerts notified (for the security channel), want 1", notified)
	}
}

// Finding 3 of issue 13: alice@evil.example got principal "alice", which alice@example.com
// uses, because the account template takes the local part of the email.
func TestAnAccountBelongsToOnePerson(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h := ownershipHarness(t, driver)
		evil := gt.Person("alice@evil.example")

		first := h.Request(gt.Alice, "prod-db", 0, "INC-1")
		out := h.Approve(gt.Bob, first.Request.ID)
		if out.Grant == nil || out.Grant.Account != "alice" {
			t.Fatalf("alice@example.com's grant: %+v, want account alice", out.Grant)
		}

		for _, ask := range []struct {
			name string
			do   func() (grants.Outcome, error)
		}{
			{"a request", func() (grants.Outcome, error) {
				return h.Service.Request(h.Ctx, evil, grants.RequestInput{Resource: "prod-db", Reason: "INC-2"})
			}},
			{"break-glass", func() (grants.Outcome, error) {
				return h.Service.BreakGlass(h.Ctx, evil, grants.RequestInput{Resource: "prod-db", Reason: "INC-2"})
			}},
		} {
			_, err := ask.do()
			ge := wantError(t, err, grants.ErrForbidden, grants.ReasonAccountTaken)
			if strings.Contains(ge.Message, gt.Alice.Email) {
				t.Errorf("%s: the refusal %q names the account's owner", ask.name, ge.Message)
			}
		}
		if got := h.AuditEvents(audit.Filter{}, audit.RequestRefused); len(got) != 2 {
			t.Errorf("%d request.refused events, want 2", len(got))
		}
		if reqs, _ := h.Service.ListRequests(h.Ctx, grants.RequestFilter{Requester: evil.ID}); len(reqs) != 0 {
			t.Errorf("alice@evil.example has %d stored requests, want none", len(reqs))
		}
		var alerts int
		for _, e := range h.AuditEvents(audit.Filter{}, audit.AlertRaised) {
			if p, _ := audit.Decode[audit.AlertRaisedData](e); p.Alert == audit.AlertAccountTaken {
				alerts++
				if !strings.Contains(p.Message, evil.ID) || !strings.Contains(p.Message, gt.Alice.ID) {
					t.Errorf("alert %q does not name both people", p.Message)
				}
			}
		}
		if alerts != 2 {
			t.Errorf("%d account_taken alerts, want 2", alerts)
		}

		// The owner still works.
		again := h.Request(gt.Alice, "prod-db", 0, "INC-3")
		if out := h.Approve(gt.Carol, again.Request.ID); out.Grant == nil || out.Grant.Account != "alice" {
			t.Errorf("alice@example.com's second grant: %+v", out.Grant)
		}
	})
}

// A request stored before its account was owned (an older version, or a changed mapping) is
// caught when it is approved: no grant, the approver is told, and the alert is raised.
func TestApprovingARequestForAnotherPersonsAccountIsRefused(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		h := ownershipHarness(t, driver)
		evil := gt.Person("alice@evil.example")
		old := grants.Request{
			ID: "r-old", Kind: grants.KindAccess, Resource: "prod-db", Requester: evil.ID, RequesterName: "alice",
			Duration: time.Hour, Reason: "INC-9", State: grants.RequestPending, ApprovalsNeeded: 1,
			CreatedAt: gt.Start, PendingUntil: gt.Start.Add(time.Hour), Version: 1,
		}
		h.Update(func(tx grants.Tx) error {
			if err := tx.InsertRequest(h.Ctx, old); err != nil {
				return err
			}
			_, err := tx.Append(h.Ctx, audit.Event{At: gt.Start, Actor: evil.ID, Resource: "prod-db", Subject: evil.ID,
				RequestID: old.ID}.With(audit.RequestCreatedData{Kind: "access", Duration: time.Hour, Reason: "INC-9",
				ApprovalsNeeded: 1, PendingUntil: old.PendingUntil}))
			return err
		})
		h.Approve(gt.Bob, h.Request(gt.Alice, "prod-db", 0, "INC-1").Request.ID)

		_, err := h.Service.Approve(h.Ctx, gt.Carol, old.ID)
		wantError(t, err, grants.ErrForbidden, grants.ReasonAccountTaken)
		if got := h.StoredRequest(old.ID); got.State != grants.RequestPending || got.GrantID != "" {
			t.Errorf("the old request is %s with grant %q, want pending without a grant", got.State, got.GrantID)
		}
		wantAccountAlert(t, h, evil.ID, gt.Alice.ID)
	})
}

// The first person to use an account owns it, whoever that is; the account is compared without
// letter case, and resources that share an account scope share owners.
func TestAccountOwnershipFollowsTheScope(t *testing.T) {
	db := gt.DefaultResource()
	db.AccountScope = "pg-main"
	ro := gt.DefaultResource()
	ro.Name, ro.AccountScope = "prod-db-ro", "pg-main"
	other := gt.DefaultResource()
	other.Name = "staging-db"
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{db, ro, other}})
	shouty := gt.Person("ALICE@Shouty.example")

	h.Request(gt.Alice, "prod-db-ro", 0, "INC-1")
	_, err := h.Service.Request(h.Ctx, shouty, grants.RequestInput{Resource: "prod-db", Reason: "INC-2"})
	wantError(t, err, grants.ErrForbidden, grants.ReasonAccountTaken)
	if _, err := h.Service.Request(h.Ctx, shouty, grants.RequestInput{Resource: "staging-db", Reason: "INC-2"}); err != nil {
		t.Errorf("another scope: %v, want the request stored", err)
	}
	_, err = h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "staging-db", Reason: "INC-3"})
	wantError(t, err, grants.ErrForbidden, grants.ReasonAccountTaken)
}
