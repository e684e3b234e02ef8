package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// RolePrefix names a Discord role where the config expects a group: "discord-role:<role ID>"
// or "discord-role:<role name>" (case-insensitive). A name must be unique in the guild: when two
// roles share it, membership is an error (fail closed) that names both IDs, never whichever
// role came last.
const RolePrefix = "discord-role:"

// ErrNotLinked is returned by Actor for a Discord user the config does not map and who has no
// confirmed link: they are told how to link.
var ErrNotLinked = errors.New("this Discord account is not linked to a person")

// The link store's types live in the platform-neutral core (bot.Link, bot.LinkStore), so that
// storage needs no chat platform. These aliases remain only because the package's tests spell
// them this way; new code names the bot ones.
type (
	// Link is bot.Link.
	Link = bot.Link
	// LinkStore is bot.LinkStore.
	LinkStore = bot.LinkStore
)

// How a link was confirmed: bot.LinkViaCode (by its person), or bot.LinkViaAdmin (by an
// admin alone, in older versions: not in force).
const (
	LinkViaAdmin = bot.LinkViaAdmin
	LinkViaCode  = bot.LinkViaCode
)

// Errors of the link store: bot.ErrAlreadyLinked and bot.ErrNoPendingLink.
var (
	ErrAlreadyLinked = bot.ErrAlreadyLinked
	ErrNoPendingLink = bot.ErrNoPendingLink
)

// Person is who sent an interaction, as Discord shows them.
type Person struct {
	ID   string
	Name string
}

// Actor returns the person behind a Discord user: the config's discord.users first, then a
// confirmed link. ID and Email are the person's (lowercase) accessbot ID; Name is their
// Discord name. ErrNotLinked when neither knows them.
func (c *Client) Actor(ctx context.Context, p Person) (grants.Actor, error) {
	if p.ID == "" {
		return grants.Actor{}, errors.New("discord: no user in the interaction")
	}
	a := grants.Actor{Platform: PlatformName, PlatformID: p.ID, Name: p.Name}
	if a.Name == "" {
		a.Name = p.ID
	}
	if person := c.users[p.ID]; person != "" {
		a.ID = person
	} else if c.links != nil {
		l, ok, err := c.links.DiscordLink(ctx, p.ID)
		if err != nil {
			return grants.Actor{}, fmt.Errorf("discord: read the link of %s: %w", p.ID, err)
		}
		switch {
		case !ok || !l.Confirmed():
		case !l.InForce():
			c.log.Warn().Str("discord_user", p.ID).Str("person", l.Person).
				Msg("ignored a Discord link an admin confirmed alone: an admin removes it and the person links again")
		case c.MappedUser(l.Person) != "":
			// The config gives the person another account: a link cannot make them two.
			c.log.Warn().Str("discord_user", p.ID).Str("person", l.Person).
				Msg("ignored a Discord link of a person discord.users maps to another account")
		default:
			a.ID = l.Person
		}
	}
	if a.ID == "" {
		return grants.Actor{}, ErrNotLinked
	}
	if strings.Contains(a.ID, "@") {
		a.Email = a.ID
	}
	return a, nil
}

// Mapped returns the person the config maps a Discord user to ("" for none).
func (c *Client) Mapped(userID string) string { return c.users[userID] }

// MappedUser returns the Discord user ID the config maps a person to ("" for none): such a
// person has their account from the config and cannot link another.
func (c *Client) MappedUser(person string) string {
	if person == "" {
		return ""
	}
	for id, p := range c.users {
		if grants.CanonicalPerson(p) == grants.CanonicalPerson(person) {
			return id
		}
	}
	return ""
}

// userOf returns the Discord user ID of an actor: their own on Discord, else the one the
// config or a confirmed link ties to their ID ("" for none).
func (c *Client) userOf(ctx context.Context, a grants.Actor) (string, error) {
	if a.Platform == PlatformName {
		return a.PlatformID, nil
	}
	if a.ID == "" {
		return "", nil
	}
	if id := c.MappedUser(a.ID); id != "" {
		return id, nil
	}
	if c.links == nil {
		return "", nil
	}
	l, ok, err := c.links.DiscordLinkOf(ctx, strings.ToLower(a.ID))
	if err != nil || !ok || !l.InForce() || c.users[l.UserID] != "" {
		return "", err
	}
	return l.UserID, nil
}

// MemberOf reports whether the actor has the Discord role named by group
// ("discord-role:<ID or name>") in the configured guild. Someone acting from another platform
// is looked up through the Discord account the config or a link ties to them. The guild's roles
// and each member's roles are cached for RoleTTL; a failure is an error, so authorization fails
// closed.
func (c *Client) MemberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	role, ok := strings.CutPrefix(group, RolePrefix)
	role = strings.TrimSpace(role)
	if !ok || role == "" {
		return false, nil
	}
	if c.guildID == "" {
		c.log.Warn().Str("group", group).Msg("discord.guild_id is not set: nobody has a Discord role")
		return false, nil
	}
	userID, err := c.userOf(ctx, a)
	if err != nil {
		return false, fmt.Errorf("discord role %s: %w", group, err)
	}
	if userID == "" {
		return false, nil
	}
	return c.roles.has(ctx, userID, role)
}

// Directory returns base's directory extended with Discord roles: base answers first, and for
// "discord-role:" groups Discord answers when base says no. base may be nil.
func (c *Client) Directory(base grants.Directory) grants.Directory {
	return bot.PlatformDirectory(base, RolePrefix, c)
}

// roleCache answers role membership from GET /guilds/{guild}/roles (names to IDs) and
// GET /guilds/{guild}/members/{user} (a member's role IDs), each cached for a TTL. Errors are
// not cached.
type roleCache struct {
	c   *Client
	ttl time.Duration

	mu         sync.Mutex
	names      map[string][]string // lowercase role name -> the IDs of the roles so named
	namesUntil time.Time
	members    map[string]cachedRoles
}

type cachedRoles struct {
	roles map[string]bool
	until time.Time
}

// maxCachedMembers bounds the member cache; past it, expired entries go first, then any.
const maxCachedMembers = 10_000

func newRoleCache(c *Client, ttl time.Duration) *roleCache {
	return &roleCache{c: c, ttl: ttl, members: map[string]cachedRoles{}}
}

func (r *roleCache) has(ctx context.Context, userID, role string) (bool, error) {
	roleID := role
	if !isDigits(role) {
		id, err := r.roleID(ctx, strings.ToLower(role))
		if err != nil {
			return false, err
		}
		if id == "" {
			r.c.log.Warn().Str("role", role).Msg("no Discord role has this name: nobody has it")
			return false, nil
		}
		roleID = id
	}
	roles, err := r.memberRoles(ctx, userID)
	if err != nil {
		return false, err
	}
	return roles[roleID], nil
}

// ErrAmbiguousRole is returned when a role named in the config by name has namesakes in the
// guild: the config must name it by ID.
var ErrAmbiguousRole = errors.New("several Discord roles have this name")

// roleID returns the ID of the one role named name ("" for none); ErrAmbiguousRole when
// several roles have that name.
func (r *roleCache) roleID(ctx context.Context, name string) (string, error) {
	now := r.c.clock.Now()
	r.mu.Lock()
	names := r.names
	if names == nil || !now.Before(r.namesUntil) {
		names = nil
	}
	r.mu.Unlock()
	if names == nil {
		var err error
		if names, err = r.loadNames(ctx, now); err != nil {
			return "", err
		}
	}
	ids := names[name]
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("discord role %q: %w (IDs %s): name it by ID in the config, as %s<ID>",
		name, ErrAmbiguousRole, strings.Join(ids, " and "), RolePrefix)
}

// loadNames reads the guild's roles and caches them by lowercase name.
func (r *roleCache) loadNames(ctx context.Context, now time.Time) (map[string][]string, error) {
	var list []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	route := "GET /guilds/" + r.c.guildID + "/roles"
	if err := r.c.call(ctx, http.MethodGet, "/guilds/"+url.PathEscape(r.c.guildID)+"/roles", route, true, nil, &list); err != nil {
		return nil, fmt.Errorf("discord %s: %w", route, err)
	}
	names := make(map[string][]string, len(list))
	for _, role := range list {
		n := strings.ToLower(role.Name)
		names[n] = append(names[n], role.ID)
	}
	r.mu.Lock()
	r.names, r.namesUntil = names, now.Add(r.ttl)
	r.mu.Unlock()
	return names, nil
}

func (r *roleCache) memberRoles(ctx context.Context, userID string) (map[string]bool, error) {
	now := r.c.clock.Now()
	r.mu.Lock()
	if e, ok := r.members[userID]; ok && now.Before(e.until) {
		r.mu.Unlock()
		return e.roles, nil
	}
	r.mu.Unlock()
	var m struct {
		Roles []string `json:"roles"`
	}
	route := "GET /guilds/" + r.c.guildID + "/members/" + userID
	err := r.c.call(ctx, http.MethodGet, "/guilds/"+url.PathEscape(r.c.guildID)+"/members/"+url.PathEscape(userID), route, true, nil, &m)
	if ae, ok := errors.AsType[*APIError](err); ok && (ae.Code == 10007 || ae.Code == 10013) {
		err = nil // Unknown Member, Unknown User: not in the guild, no roles
	}
	if err != nil {
		return nil, fmt.Errorf("discord %s: %w", route, err)
	}
	return r.store(userID, m.Roles, now), nil
}

// seed caches a member's roles as an interaction from the guild shows them: fresh, and free.
func (r *roleCache) seed(userID string, roles []string) {
	r.store(userID, roles, r.c.clock.Now())
}

func (r *roleCache) store(userID string, list []string, now time.Time) map[string]bool {
	roles := make(map[string]bool, len(list))
	for _, id := range list {
		roles[id] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) >= maxCachedMembers {
		for id, e := range r.members {
			if !now.Before(e.until) {
				delete(r.members, id)
			}
		}
		for id := range r.members {
			if len(r.members) < maxCachedMembers {
				break
			}
			delete(r.members, id)
		}
	}
	r.members[userID] = cachedRoles{roles: roles, until: now.Add(r.ttl)}
	return roles
}
