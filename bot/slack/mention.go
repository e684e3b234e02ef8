package slack

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/grants"
)

// A message that calls on people (bot.View.Notify: the people on call for a request) mentions
// each as <@U…>, found by email with users.lookupByEmail (scope users:read.email, which
// accessbot has for users.info), so that Slack notifies them. A person Slack does not know is
// named by their email instead; a failed lookup never holds the message up.

const (
	// mentionTTL is how long an email's user ID (or its absence) is kept.
	mentionTTL = 10 * time.Minute
	// mentionLookupTimeout bounds the lookups of one message.
	mentionLookupTimeout = 2 * time.Second
	blockMentions        = "mentions"
)

// mentionCache holds users.lookupByEmail's answers by email; the zero value is ready.
type mentionCache struct {
	mu  sync.Mutex
	ids map[string]mentionEntry
}

type mentionEntry struct {
	id string // "" when Slack has no such user
	at time.Time
}

// mentions returns a mention for each person: <@U…> for a Slack user, else their escaped ID.
func (c *Client) mentions(ctx context.Context, people []string) []string {
	if len(people) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, mentionLookupTimeout)
	defer cancel()
	out := make([]string, 0, len(people))
	for _, p := range people {
		p = grants.CanonicalPerson(p)
		if id := c.userIDByEmail(ctx, p); id != "" {
			out = append(out, "<@"+id+">")
		} else {
			out = append(out, Escape(p))
		}
	}
	return out
}

// userIDByEmail returns the Slack user ID with that email, "" for none or on failure.
func (c *Client) userIDByEmail(ctx context.Context, email string) string {
	if !strings.Contains(email, "@") {
		return ""
	}
	now := c.clock.Now()
	c.mentionIDs.mu.Lock()
	e, ok := c.mentionIDs.ids[email]
	c.mentionIDs.mu.Unlock()
	if ok && now.Sub(e.at) < mentionTTL {
		return e.id
	}
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := c.callJSON(ctx, "users.lookupByEmail", url.Values{"email": {email}}, &out); err != nil {
		c.log.Warn().Err(err).Str("person", email).Msg("slack users.lookupByEmail failed; the message names the person instead")
		return ""
	}
	if !out.OK && out.Error != "users_not_found" {
		c.log.Warn().Str("error", out.Error).Str("person", email).Msg("slack users.lookupByEmail refused; the message names the person instead")
		return ""
	}
	c.mentionIDs.mu.Lock()
	if c.mentionIDs.ids == nil {
		c.mentionIDs.ids = map[string]mentionEntry{}
	}
	c.mentionIDs.ids[email] = mentionEntry{id: out.User.ID, at: now}
	c.mentionIDs.mu.Unlock()
	return out.User.ID
}

// mentionBlock is the line of a message that calls on people; none when it calls on nobody.
func mentionBlock(mentions []string) []slackapi.Block {
	if len(mentions) == 0 {
		return nil
	}
	return []slackapi.Block{&slackapi.SectionBlock{
		Type:    slackapi.MBTSection,
		BlockID: blockMentions,
		Text:    mrkdwn("Calling on "+strings.Join(mentions, " "), maxSectionText),
	}}
}

// withMentions adds the mentions to the notification text, which is what pings them.
func withMentions(text string, mentions []string) string {
	if len(mentions) == 0 {
		return text
	}
	return text + "\n" + "Calling on " + strings.Join(mentions, " ")
}
