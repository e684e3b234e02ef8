package teams

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// GroupPrefix names an Entra ID group where the config expects a group (approvers, requesters,
// admins): "entra-group:<the group's object ID>".
const GroupPrefix = "entra-group:"

const (
	// DefaultGraphURL is Microsoft Graph's v1.0 endpoint.
	DefaultGraphURL = "https://graph.microsoft.com/v1.0/"
	// GraphScope is the scope of the Graph token (application permission
	// GroupMember.Read.All, granted by an admin).
	GraphScope = "https://graph.microsoft.com/.default"
)

// Directory answers entra-group: groups through Microsoft Graph, after base (the config's
// groups, the other platforms').
func (c *Client) Directory(base grants.Directory) grants.Directory {
	return bot.PlatformDirectory(base, GroupPrefix, c)
}

// MemberOf reports whether the actor is a member (directly or through nested groups) of the
// Entra ID group named by group ("entra-group:<object ID>"), as Graph's checkMemberGroups says.
// A Teams user is looked up by their Entra object ID; someone acting from another platform by
// their email, as their user principal name. Answers are cached for the member TTL; a failure
// is an error, so authorization fails closed.
func (c *Client) MemberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	groupID, ok := strings.CutPrefix(group, GroupPrefix)
	if !ok || !objectID.MatchString(groupID) {
		return false, fmt.Errorf("teams: %q is not an Entra ID group (entra-group:<object ID>)", group)
	}
	user := c.entraUser(a)
	if user == "" {
		return false, nil
	}
	key := strings.ToLower(user + "/" + groupID)
	if ok, hit := c.groups.get(key); hit {
		return ok, nil
	}
	var out struct {
		Value []string `json:"value"`
	}
	path := "users/" + url.PathEscape(user) + "/checkMemberGroups"
	err := c.do(ctx, c.graphTokens, c.graphURL, http.MethodPost, path, map[string][]string{"groupIds": {groupID}}, &out)
	if ae, ok := errors.AsType[*APIError](err); ok && ae.Status == http.StatusNotFound {
		// Not a user of the tenant: in no group of it.
		c.groups.put(key, false)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("teams: check %s's membership of Entra ID group %s: %w", user, groupID, err)
	}
	member := slices.ContainsFunc(out.Value, func(id string) bool { return strings.EqualFold(id, groupID) })
	c.groups.put(key, member)
	return member, nil
}

// entraUser is how Graph names the actor: their Entra object ID when accessbot knows it (a Teams
// user, or a "teams:<object ID>" person), else their email as a user principal name.
func (c *Client) entraUser(a grants.Actor) string {
	if a.Platform == PlatformName {
		if m, ok := c.members.cached(a.PlatformID); ok && objectID.MatchString(m.AADObjectID) {
			return m.AADObjectID
		}
	}
	if id, ok := strings.CutPrefix(a.ID, PlatformName+":"); ok && objectID.MatchString(id) {
		return id
	}
	if strings.Contains(a.Email, "@") {
		return a.Email
	}
	if strings.Contains(a.ID, "@") {
		return a.ID
	}
	return ""
}

// groupCache keeps Graph's membership answers for a while.
type groupCache struct {
	ttl   time.Duration
	clock clock.Clock

	mu      sync.Mutex
	entries map[string]groupEntry
}

type groupEntry struct {
	member bool
	at     time.Time
}

func (g *groupCache) get(key string) (member, hit bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.entries[key]
	if !ok || g.clock.Now().Sub(e.at) >= g.ttl {
		return false, false
	}
	return e.member, true
}

func (g *groupCache) put(key string, member bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.entries) >= maxMembers {
		g.entries = map[string]groupEntry{}
	}
	g.entries[key] = groupEntry{member: member, at: g.clock.Now()}
}
