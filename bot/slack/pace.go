package slack

import (
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/ratelimit"
)

// Rates are the Web API limits the outbox keeps to, as Slack publishes them
// (https://api.slack.com/apis/rate-limits).
type Rates struct {
	// Post is chat.postMessage's, per channel: "1 message per second per channel, short
	// bursts above that allowed". A DM conversation is a channel of its own.
	Post ratelimit.Rate
	// Update is chat.update's, for the workspace: Tier 3, 50+ a minute.
	Update ratelimit.Rate
	// Open is conversations.open's, for the workspace: Tier 3, 50+ a minute. A DM needs it
	// only the first time: the conversation of a person is kept.
	Open ratelimit.Rate
}

// DefaultRates are Slack's published limits: a burst of 3 posts per channel, then one a
// second; chat.update and conversations.open 50 a minute after a burst of 5.
func DefaultRates() Rates {
	return Rates{
		Post:   ratelimit.Rate{Every: time.Second, Burst: 3},
		Update: ratelimit.PerMinute(50, 5),
		Open:   ratelimit.PerMinute(50, 5),
	}
}

// Scaled returns the rates factor times faster (benchmarks against a fake that enforces the
// same scaled rates).
func (r Rates) Scaled(factor float64) Rates {
	return Rates{Post: r.Post.Scaled(factor), Update: r.Update.Scaled(factor), Open: r.Open.Scaled(factor)}
}

// Bucket keys, which a *bot.RetryAfterError names so that a 429 holds back only its bucket.
const (
	updateKey = "chat.update"
	openKey   = "conversations.open"
)

// postKey is the bucket of posts to a channel.
func postKey(channel string) string { return "chat.postMessage " + channel }

// dmPostKey is the bucket of posts to a person's DM conversation, by user ID: the conversation
// is the person's alone, and its ID is known only once conversations.open answered.
func dmPostKey(userID string) string { return "chat.postMessage @" + userID }

// Limits implements bot.Pacer.
func (c *Client) Limits(op bot.Op, dest string) []ratelimit.Limit {
	switch op {
	case bot.OpPost:
		return []ratelimit.Limit{{Key: postKey(dest), Rate: inReserve(c.rates.Post)}}
	case bot.OpUpdate:
		return []ratelimit.Limit{{Key: updateKey, Rate: inReserve(c.rates.Update)}}
	case bot.OpDM:
		ls := []ratelimit.Limit{{Key: dmPostKey(dest), Rate: inReserve(c.rates.Post)}}
		if _, ok := c.imChannel(dest); !ok {
			ls = append(ls, ratelimit.Limit{Key: openKey, Rate: inReserve(c.rates.Open)})
		}
		return ls
	}
	return nil
}

// inReserve returns the rate the client keeps to: two calls of Slack's burst are kept in
// reserve (at least one call is left). Slack counts a call when it arrives, not when it was
// sent: without the reserve, calls that arrive late (the network, a busy process) and then
// together use up Slack's burst, and the next one, sent on time, arrives early and is refused
// with a wait of a whole second. It costs two intervals over a whole burst.
func inReserve(r ratelimit.Rate) ratelimit.Rate {
	r.Burst = max(1, r.Burst-2)
	return r
}

// imChannel returns the DM conversation kept for a user.
func (c *Client) imChannel(userID string) (string, bool) {
	c.imMu.Lock()
	defer c.imMu.Unlock()
	ch, ok := c.ims[userID]
	return ch, ok
}

// keepIMChannel keeps (or, with "", forgets) the DM conversation of a user.
func (c *Client) keepIMChannel(userID, channel string) {
	c.imMu.Lock()
	defer c.imMu.Unlock()
	if channel == "" {
		delete(c.ims, userID)
		return
	}
	c.ims[userID] = channel
}

var _ bot.Pacer = (*Client)(nil)
