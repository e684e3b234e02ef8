package discord

import (
	"context"
	"strings"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// A message that calls on people (bot.View.Notify: the people on call for a request) mentions
// those the config or a confirmed `/access link` ties to a Discord account, in the message's
// content (embeds do not ping), and allows exactly those users to be pinged; a person with no
// Discord account is named by their ID. Everything else a message carries still pings nobody.

// withMentions adds v's people to a rendered message body; other bodies (a file upload) are
// left as they are.
func (c *Client) withMentions(ctx context.Context, body any, v bot.View) any {
	m, ok := body.(Message)
	if !ok || len(v.Notify) == 0 {
		return body
	}
	var names, users []string
	for _, p := range v.Notify {
		p = grants.CanonicalPerson(p)
		id, err := c.userOf(ctx, grants.Actor{ID: p})
		if err != nil {
			c.log.Warn().Err(err).Str("person", p).Msg("discord link lookup failed; the message names the person instead")
		}
		if isUserID(id) {
			names = append(names, "<@"+id+">")
			users = append(users, id)
		} else {
			names = append(names, Escape(p))
		}
	}
	m.Content = "Calling on " + strings.Join(names, " ")
	m.AllowedMentions = &AllowedMentions{Parse: []string{}, Users: users}
	return m
}

// updateBody is a message edit that always says its content: an edit that leaves content out
// keeps the old one, and a decided request's card must stop calling on people.
type updateBody struct {
	Message
	Content string `json:"content"`
}

// forUpdate is withMentions for an edit: the content is the mentions, or empty.
func (c *Client) forUpdate(ctx context.Context, body any, v bot.View) any {
	m, ok := c.withMentions(ctx, body, v).(Message)
	if !ok {
		return body
	}
	return updateBody{Message: m, Content: m.Content}
}

// isUserID reports whether id can be a Discord user ID (a snowflake: digits), so that nothing
// else is ever put inside a mention.
func isUserID(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
