package grants

import (
	"context"
	"fmt"
	"strings"

	"github.com/accessbot/accessbot/audit"
)

// CanonicalPerson is the one normal form of a person ID, used wherever a person is stored or
// compared (requesters, reviewers, account owners, the config's people):
//
//   - an email is trimmed and case-folded: "  Alice@Example.COM" is "alice@example.com";
//   - a platform ID "platform:ID" keeps the ID exactly as the platform gives it and lowercases
//     only the platform name: "SLACK:U0ALICE" is "slack:U0ALICE" (Slack and Discord IDs are
//     case-sensitive strings; folding them once made "slack:UNOMAIL" and "slack:unomail" two
//     people, so one person could approve twice);
//   - anything else (a bare word such as "accessbot", "policy") is trimmed and lowercased.
//
// A bare platform user ID ("U0ALICE") in the config is not a person ID but a way to name one;
// MatchesPerson compares it with the actor's PlatformID exactly, and it is not passed here.
func CanonicalPerson(id string) string {
	id = strings.TrimSpace(id)
	if id == "" || strings.Contains(id, "@") {
		return strings.ToLower(id)
	}
	if platform, user, ok := strings.Cut(id, ":"); ok && isPlatformName(platform) && user != "" {
		return strings.ToLower(platform) + ":" + strings.TrimSpace(user)
	}
	return strings.ToLower(id)
}

// isPlatformName reports whether s can be a platform name: letters, digits, '-' and '_',
// starting with a letter.
func isPlatformName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return true
}

// Canonical returns the actor with ID and Email in their normal form (CanonicalPerson).
// Platforms build actors this way; the Service applies it again to whatever it is handed, so a
// caller that forgot cannot make one person two.
func (a Actor) Canonical() Actor {
	a.ID = CanonicalPerson(a.ID)
	a.Email = CanonicalPerson(a.Email)
	return a
}

// Aliases resolves a platform person ID ("slack:U0ALICE") to the person's canonical ID when the
// platform knows more (their verified email). It is how a Discord account that the config maps
// to "slack:U0ALICE" and the Slack user U0ALICE, whose ID is their email, are seen as one
// person when approvals are counted and accounts are owned. An ID the resolver does not know is
// returned as it is.
type Aliases interface {
	ResolvePerson(ctx context.Context, id string) (string, error)
}

// person returns the canonical, alias-resolved key of a person ID: the key under which a review
// is stored and counted and an account is owned. A resolver failure is an error: who someone is
// must not be guessed when it decides whether they count twice.
func (s *Service) person(ctx context.Context, id string) (string, error) {
	id = CanonicalPerson(id)
	if id == "" || strings.Contains(id, "@") || s.aliases == nil {
		return id, nil
	}
	resolved, err := s.aliases.ResolvePerson(ctx, id)
	if err != nil {
		return "", fmt.Errorf("resolve person %s: %w", id, err)
	}
	if resolved = CanonicalPerson(resolved); resolved == "" {
		return id, nil
	}
	return resolved, nil
}

// actorPerson is person for an actor: their email when they have one, else their ID resolved.
func (s *Service) actorPerson(ctx context.Context, a Actor) (string, error) {
	if e := CanonicalPerson(a.Email); e != "" {
		return e, nil
	}
	return s.person(ctx, a.ID)
}

// CanonicalEntry is the normal form of a person entry in the config (admins, groups,
// requesters, mappings): an email or "platform:ID" becomes CanonicalPerson; a bare platform
// user ID ("U0ALICE"), which MatchesPerson compares exactly with an actor's PlatformID, is
// only trimmed.
func CanonicalEntry(entry string) string {
	entry = strings.TrimSpace(entry)
	if strings.Contains(entry, "@") {
		return CanonicalPerson(entry)
	}
	if platform, user, ok := strings.Cut(entry, ":"); ok && isPlatformName(platform) && user != "" {
		return CanonicalPerson(entry)
	}
	return entry
}

// isPerson reports whether the actor is the person id names, under any alias: the same
// canonical ID, an entry MatchesPerson accepts, or the same person once aliases are resolved.
func (s *Service) isPerson(ctx context.Context, a Actor, id string) (bool, error) {
	a = a.Canonical()
	if a.ID == CanonicalPerson(id) || MatchesPerson(a, id) {
		return true, nil
	}
	who, err := s.actorPerson(ctx, a)
	if err != nil {
		return false, err
	}
	other, err := s.person(ctx, id)
	if err != nil {
		return false, err
	}
	return who == other, nil
}

// accountTaken is the refusal of a request whose account belongs to another person. It unwraps
// to the *Error people see, which never names the owner; the owner goes only to the alert.
type accountTaken struct {
	refusal *Error
	owner   AccountOwner
}

func (e *accountTaken) Error() string { return e.refusal.Error() }
func (e *accountTaken) Unwrap() error { return e.refusal }

// claimAccount makes person the owner of the account on the resource's scope, in the
// transaction that stores the request or the grant, or refuses with *accountTaken when the
// account is, or was, another person's. message is the sentence for whoever acted.
func (s *Service) claimAccount(ctx context.Context, t *txn, r *Resource, account, person, requestID, message string) error {
	claim := AccountOwner{
		Scope: r.accountScope(), Account: strings.ToLower(strings.TrimSpace(account)),
		Person: person, RequestID: requestID, FirstSeen: t.now,
	}
	owner, err := t.ClaimAccount(ctx, claim)
	if err != nil {
		return fmt.Errorf("claim account %s on %s: %w", claim.Account, claim.Scope, err)
	}
	if owner.Person == person {
		return nil
	}
	return &accountTaken{owner: owner, refusal: newError(ErrForbidden, ReasonAccountTaken, message,
		map[string]string{"account": account})}
}

// raiseAccountTaken records, in its own transaction (the refused one rolled back), that someone
// asked for another person's account: refused, when it was the request itself, and an alert for
// the security channel in every case.
func (s *Service) raiseAccountTaken(ctx context.Context, a Actor, req Request, account string, taken *accountTaken, refused *audit.RequestRefusedData) {
	msg := fmt.Sprintf("%s (%s) asked for %s as account %q, which belongs to %s (first used by request %s); refused.",
		displayName(a), req.Requester, req.Resource, account, taken.owner.Person, taken.owner.RequestID)
	if a.ID != CanonicalPerson(req.Requester) {
		msg = fmt.Sprintf("%s approved request %s of %s for %s as account %q, which belongs to %s (first used by request %s); refused.",
			displayName(a), req.ID, req.Requester, req.Resource, account, taken.owner.Person, taken.owner.RequestID)
	}
	err := s.update(ctx, s.now(), func(t *txn) error {
		if refused != nil {
			e := audit.Event{Actor: a.ID, Resource: req.Resource, Subject: req.Requester}.With(*refused)
			if err := t.event(ctx, e); err != nil {
				return err
			}
		}
		alert := audit.Event{Actor: a.ID, Resource: req.Resource, Subject: req.Requester}.With(audit.AlertRaisedData{
			Alert: audit.AlertAccountTaken, Message: msg,
		})
		if refused == nil {
			alert.RequestID = req.ID
		}
		return t.event(ctx, alert)
	})
	if err != nil {
		s.log.Error().Err(err).Str("resource", req.Resource).Str("actor", a.ID).Msg("could not record a refused account claim")
	}
}
