package grants

import (
	"context"
	"fmt"
)

// ReasonAccountNotLinked refuses a request for a resource whose accounts come from an identity
// the person proved (AccountSource) when they have not proved one yet.
const ReasonAccountNotLinked = "account_not_linked"

// AccountSource says that a resource's account names come from an identity each person proved
// to accessbot at an outside service (their GitHub login, verified by GitHub), not from a
// template over their chat identity, which anyone could make say anything.
type AccountSource struct {
	// Name is the key VerifiedAccounts knows the identity by, and the `/access` sub-command
	// that links it ("github-login").
	Name string
	// Label is how people are told what to link ("GitHub account").
	Label string
}

// VerifiedAccounts answers which account a person proved is theirs at an outside identity.
// The store implements it; the proof itself (an OAuth flow, say) is the chat layer's.
type VerifiedAccounts interface {
	// VerifiedAccount returns the account person proved for source; ok is false when they
	// proved none.
	VerifiedAccount(ctx context.Context, source, person string) (account string, ok bool, err error)
}

// linkedAccount returns the verified account of a at r when r takes its accounts from one, ""
// when the person has none or r does not need one (an accounts: entry wins). It reads before
// any transaction of the caller: a read inside one could wait on the store's only connection.
func (s *Service) linkedAccount(ctx context.Context, r *Resource, a Actor) (string, error) {
	if r.AccountFrom == nil {
		return "", nil
	}
	if _, ok := r.Accounts[CanonicalPerson(a.ID)]; ok {
		return "", nil
	}
	if s.verified == nil {
		return "", nil
	}
	ids := []string{CanonicalPerson(a.ID)}
	if who, err := s.actorPerson(ctx, a); err == nil && who != ids[0] && who != "" {
		// The same person under an alias (their email behind a Discord account) has one link.
		ids = append(ids, who)
	}
	for _, id := range ids {
		acct, ok, err := s.verified.VerifiedAccount(ctx, r.AccountFrom.Name, id)
		if err != nil {
			return "", fmt.Errorf("read the verified %s of %s: %w", r.AccountFrom.Name, id, err)
		}
		if ok && acct != "" {
			return acct, nil
		}
	}
	return "", nil
}

// accountWith is AccountFor with the verified account linkedAccount found: an accounts: entry
// first, then, for a resource that takes its accounts from a verified identity, that identity
// (a refusal naming the command that links it when there is none), else the template.
func (r *Resource) accountWith(a Actor, linked string) (string, error) {
	if acct, ok := r.Accounts[CanonicalPerson(a.ID)]; ok {
		return acct, nil
	}
	if r.AccountFrom == nil {
		return r.AccountFor(a)
	}
	if linked == "" {
		return "", notLinked(r, "")
	}
	return linked, nil
}

// notLinked is the refusal of a request, or of the approval of requester's request, for r when
// the person has no verified account for it.
func notLinked(r *Resource, requester string) *Error {
	src := r.AccountFrom
	msg := fmt.Sprintf("Link your %s first: /access %s (%s grants to the account you prove is yours there).", src.Label, src.Name, r.Name)
	if requester != "" {
		msg = fmt.Sprintf("This request cannot be approved: %s has no verified %s linked (they link one with /access %s).", requester, src.Label, src.Name)
	}
	return newError(ErrForbidden, ReasonAccountNotLinked, msg, map[string]string{"link": "/access " + src.Name})
}

// linkedAccountOfRequest is linkedAccount for the requester of a request an approval may
// grant, read before the approval's transaction.
func (s *Service) linkedAccountOfRequest(ctx context.Context, r *Resource, requestID string, d Decision) (string, error) {
	if d != Approve || r.AccountFrom == nil {
		return "", nil
	}
	req, err := s.GetRequest(ctx, requestID)
	if err != nil {
		return "", err
	}
	return s.linkedAccount(ctx, r, actorFromID(req.Requester, req.RequesterName))
}
