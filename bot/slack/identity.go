package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// maxCachedUsers bounds the profile cache; past it, expired entries go first, then any.
const maxCachedUsers = 10_000

// userCache maps Slack user IDs to Actors, from users.info, for a TTL. A profile change (a new
// email) is seen at the latest one TTL later.
type userCache struct {
	c   *Client
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]cachedActor
}

type cachedActor struct {
	actor grants.Actor
	// refused, when set, is why accessbot will not act for this user.
	refused *RefusedError
	until   time.Time
}

func newUserCache(c *Client, ttl time.Duration) *userCache {
	return &userCache{c: c, ttl: ttl, entries: map[string]cachedActor{}}
}

func (u *userCache) actor(ctx context.Context, userID string) (grants.Actor, error) {
	if userID == "" {
		return grants.Actor{}, errors.New("slack: no user ID in the request")
	}
	now := u.c.clock.Now()
	u.mu.Lock()
	e, ok := u.entries[userID]
	u.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.result()
	}

	user, err := u.c.userInfo(ctx, userID)
	if err != nil {
		return grants.Actor{}, err
	}
	if user.Deleted {
		return grants.Actor{}, fmt.Errorf("slack user %s: %w", userID, errDeactivated)
	}
	a := grants.Actor{Platform: PlatformName, PlatformID: userID, ID: PlatformName + ":" + userID}
	if email := grants.CanonicalPerson(user.Profile.Email); email != "" {
		a.ID, a.Email = email, email
	}
	for _, name := range []string{user.Profile.RealName, user.RealName, user.Profile.DisplayName, user.Name, userID} {
		if name = strings.TrimSpace(name); name != "" {
			a.Name = name
			break
		}
	}
	refused, err := u.c.verify(ctx, user, a)
	if err != nil {
		return grants.Actor{}, err
	}
	e = cachedActor{actor: a, refused: refused, until: now.Add(u.ttl)}

	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.entries) >= maxCachedUsers {
		for id, e := range u.entries {
			if !now.Before(e.until) {
				delete(u.entries, id)
			}
		}
		for id := range u.entries {
			if len(u.entries) < maxCachedUsers {
				break
			}
			delete(u.entries, id)
		}
	}
	u.entries[userID] = e
	return e.result()
}

// result is the cached answer: the actor, or the refusal.
func (e cachedActor) result() (grants.Actor, error) {
	if e.refused != nil {
		return grants.Actor{}, e.refused
	}
	return e.actor, nil
}

// groupCache answers user group membership from usergroups.list (handle to ID) and
// usergroups.users.list (members), each cached for a TTL. Errors are not cached, and a
// failure is an error: authorization fails closed rather than on stale data.
type groupCache struct {
	c   *Client
	ttl time.Duration

	mu           sync.Mutex
	handles      map[string]string // lowercase handle -> group ID
	handlesUntil time.Time
	members      map[string]cachedMembers // group ID -> members
}

type cachedMembers struct {
	users map[string]bool
	until time.Time
}

func newGroupCache(c *Client, ttl time.Duration) *groupCache {
	return &groupCache{c: c, ttl: ttl, members: map[string]cachedMembers{}}
}

func (g *groupCache) memberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	handle, ok := strings.CutPrefix(group, "@")
	if !ok || handle == "" || a.Platform != PlatformName || a.PlatformID == "" {
		return false, nil
	}
	id, err := g.groupID(ctx, strings.ToLower(handle))
	if err != nil {
		return false, err
	}
	if id == "" {
		g.c.log.Warn().Str("group", group).Msg("no Slack user group has this handle (or it is disabled): nobody is a member")
		return false, nil
	}
	users, err := g.groupMembers(ctx, id)
	if err != nil {
		return false, fmt.Errorf("slack user group %s: %w", group, err)
	}
	return users[a.PlatformID], nil
}

func (g *groupCache) groupID(ctx context.Context, handle string) (string, error) {
	now := g.c.clock.Now()
	g.mu.Lock()
	if g.handles != nil && now.Before(g.handlesUntil) {
		id := g.handles[handle]
		g.mu.Unlock()
		return id, nil
	}
	g.mu.Unlock()

	ctx, cancel := g.c.deadline(ctx)
	defer cancel()
	list, err := g.c.api.GetUserGroupsContext(ctx)
	if err != nil {
		return "", fmt.Errorf("slack usergroups.list: %w", err)
	}
	handles := make(map[string]string, len(list))
	// usergroups.list leaves disabled groups out unless asked: a disabled group has no members.
	for _, ug := range list {
		handles[strings.ToLower(ug.Handle)] = ug.ID
	}
	g.mu.Lock()
	g.handles, g.handlesUntil = handles, now.Add(g.ttl)
	g.mu.Unlock()
	return handles[handle], nil
}

func (g *groupCache) groupMembers(ctx context.Context, id string) (map[string]bool, error) {
	now := g.c.clock.Now()
	g.mu.Lock()
	if e, ok := g.members[id]; ok && now.Before(e.until) {
		g.mu.Unlock()
		return e.users, nil
	}
	g.mu.Unlock()

	ctx, cancel := g.c.deadline(ctx)
	defer cancel()
	list, err := g.c.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("usergroups.users.list: %w", err)
	}
	users := make(map[string]bool, len(list))
	for _, u := range list {
		users[u] = true
	}
	g.mu.Lock()
	for gid, e := range g.members {
		if !now.Before(e.until) {
			delete(g.members, gid)
		}
	}
	g.members[id] = cachedMembers{users: users, until: now.Add(g.ttl)}
	g.mu.Unlock()
	return users, nil
}
