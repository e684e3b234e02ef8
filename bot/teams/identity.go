package teams

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// DefaultMemberTTL is how long what the member API said of a user is used: a user made a guest,
// or moved out of the tenant, is seen as such within it.
const DefaultMemberTTL = 10 * time.Minute

// IdentityPolicy says which Teams users accessbot acts for (config `identity:` and
// `teams.tenants`). Teams says who a user is through the connector's member API: their Entra ID
// object, tenant, email and UPN, and whether they are a guest.
type IdentityPolicy struct {
	// Tenants are the Entra ID tenants whose users are accepted.
	Tenants []string
	// EmailDomains, when set, are the only email domains accepted (lowercase, no "@"); a user
	// without an email is then refused too.
	EmailDomains []string
	// AllowGuests accepts users whose role is "guest" (B2B guests of the tenant). Anonymous
	// users are never accepted.
	AllowGuests bool
}

// RefusedError is the refusal of a Teams user the IdentityPolicy does not accept.
type RefusedError struct {
	UserID  string
	Refused string // one of the audit.Refused* values
	Tenant  string
	Email   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("teams user %s refused: %s", e.UserID, e.Refused)
}

// Sentence is the one private sentence the refused person gets.
func (e *RefusedError) Sentence() string {
	switch e.Refused {
	case audit.RefusedGuest:
		return "accessbot does not act for guest accounts; ask your Teams admins if you need access."
	case audit.RefusedTeam:
		return "accessbot acts only for members of its own organization; your account belongs to another one."
	default:
		return "accessbot acts only for people whose email is in one of the company's domains; yours is not."
	}
}

// Event is the identity.refused audit event of the refusal.
func (e *RefusedError) Event() audit.Event {
	who := grants.CanonicalPerson(PlatformName + ":" + e.UserID)
	return audit.Event{Actor: who, Subject: who}.With(audit.IdentityRefusedData{
		Platform: PlatformName, PlatformID: e.UserID, Refused: e.Refused, Team: e.Tenant, Person: e.Email,
	})
}

// objectID is what an Entra ID object ID looks like: a GUID.
var objectID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Actor returns the person behind the sender of an activity, from what the member API says of
// them in the activity's conversation, or the refusal (*RefusedError) of a user the
// IdentityPolicy does not accept. The person ID is their lowercase email, or "teams:<Entra
// object ID>" when Teams shows none.
func (c *Client) Actor(ctx context.Context, act *Activity) (grants.Actor, error) {
	if act.From == nil || checkID(act.From.ID) != nil || act.Conversation == nil || checkID(act.Conversation.ID) != nil {
		return grants.Actor{}, errors.New("teams: no user or conversation in the activity")
	}
	m, err := c.members.get(ctx, act.Conversation.ID, act.From.ID)
	if err != nil {
		return grants.Actor{}, err
	}
	a, err := c.verify(act, m)
	if err != nil {
		return grants.Actor{}, err
	}
	c.seen.add(a)
	return a, nil
}

// verify applies the IdentityPolicy to a member.
func (c *Client) verify(act *Activity, m Member) (grants.Actor, error) {
	p := c.identity
	tenant := m.TenantID
	if tenant == "" {
		tenant = act.tenantOf()
	}
	email := strings.ToLower(strings.TrimSpace(m.Email))
	if email == "" && m.UserRole != "guest" {
		// A member's UPN is their sign-in name, an address in one of the tenant's domains; a
		// guest's is an #EXT# alias that names nobody.
		email = strings.ToLower(strings.TrimSpace(m.UserPrincipalName))
	}
	if !strings.Contains(email, "@") {
		email = ""
	}
	refuse := func(why string) error {
		return &RefusedError{UserID: act.From.ID, Refused: why, Tenant: tenant, Email: email}
	}
	switch {
	case !slices.ContainsFunc(p.Tenants, func(t string) bool { return strings.EqualFold(t, tenant) }):
		return grants.Actor{}, refuse(audit.RefusedTeam)
	case m.UserRole == "anonymous", m.UserRole == "guest" && !p.AllowGuests:
		return grants.Actor{}, refuse(audit.RefusedGuest)
	}
	if !bot.EmailInDomains(p.EmailDomains, email) {
		return grants.Actor{}, refuse(audit.RefusedEmailDomain)
	}
	aad := m.AADObjectID
	if aad == "" {
		aad = act.From.AADObjectID
	}
	a := grants.Actor{Email: email, Name: strings.TrimSpace(m.Name), Platform: PlatformName, PlatformID: act.From.ID}
	switch {
	case email != "":
		a.ID = email
	case objectID.MatchString(aad):
		a.ID = PlatformName + ":" + strings.ToLower(aad)
	default:
		return grants.Actor{}, errors.New("teams: the member API shows neither an email nor an Entra object ID")
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	return a, nil
}

// memberCache keeps what the member API said of each user for a while.
type memberCache struct {
	c     *Client
	ttl   time.Duration
	clock clock.Clock

	mu      sync.Mutex
	entries map[string]memberEntry
}

type memberEntry struct {
	m  Member
	at time.Time
}

// maxMembers bounds the member cache; when full, it starts again.
const maxMembers = 10_000

func newMemberCache(c *Client, ttl time.Duration, clk clock.Clock) *memberCache {
	if ttl <= 0 {
		ttl = DefaultMemberTTL
	}
	return &memberCache{c: c, ttl: ttl, clock: clk, entries: map[string]memberEntry{}}
}

// cached returns what the member API said of a user, when it is in the cache and fresh.
func (mc *memberCache) cached(userID string) (Member, bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	e, ok := mc.entries[userID]
	if !ok || mc.clock.Now().Sub(e.at) >= mc.ttl {
		return Member{}, false
	}
	return e.m, true
}

// get returns what the member API says of a user of a conversation, from the cache when fresh.
func (mc *memberCache) get(ctx context.Context, conversation, userID string) (Member, error) {
	now := mc.clock.Now()
	mc.mu.Lock()
	e, ok := mc.entries[userID]
	mc.mu.Unlock()
	if ok && now.Sub(e.at) < mc.ttl {
		return e.m, nil
	}
	var m Member
	path := "v3/conversations/" + url.PathEscape(conversation) + "/members/" + url.PathEscape(userID)
	if err := mc.c.call(ctx, "GET", path, nil, &m); err != nil {
		return Member{}, fmt.Errorf("teams: read member %s: %w", userID, err)
	}
	if m.ID != "" && m.ID != userID {
		return Member{}, fmt.Errorf("teams: the member API answered for %s, not %s", m.ID, userID)
	}
	mc.mu.Lock()
	if len(mc.entries) >= maxMembers {
		mc.entries = map[string]memberEntry{}
	}
	mc.entries[userID] = memberEntry{m: m, at: now}
	mc.mu.Unlock()
	return m, nil
}

// maxSeenUsers bounds the users kept for the refresh of approval cards.
const maxSeenUsers = 500

// seenUsers are the Teams users who used accessbot lately, most recent last.
type seenUsers struct {
	max   int
	mu    sync.Mutex
	order []string
	users map[string]grants.Actor
}

func newSeenUsers(max int) *seenUsers { return &seenUsers{max: max, users: map[string]grants.Actor{}} }

func (s *seenUsers) add(a grants.Actor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[a.PlatformID]; ok {
		s.order = slices.DeleteFunc(s.order, func(id string) bool { return id == a.PlatformID })
	}
	s.users[a.PlatformID] = a
	s.order = append(s.order, a.PlatformID)
	if len(s.order) > s.max {
		delete(s.users, s.order[0])
		s.order = s.order[1:]
	}
}

// list returns the users, most recent first.
func (s *seenUsers) list() []grants.Actor {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]grants.Actor, 0, len(s.order))
	for i := len(s.order) - 1; i >= 0; i-- {
		out = append(out, s.users[s.order[i]])
	}
	return out
}
