package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/internal/ratelimit"
)

// MessageRef says where a posted message is, so that it can be updated later, after a restart
// or from another replica.
type MessageRef struct {
	Platform string `json:"platform"`
	// Channel is the channel (or DM conversation) ID.
	Channel string `json:"channel"`
	// ID is the platform's message ID (Slack's ts, Discord's snowflake).
	ID string `json:"id"`
}

// Platform is what the outbox needs of a chat platform to deliver messages.
type Platform interface {
	// Name is the platform's name: "slack", "discord", "web".
	Name() string
	// Post posts a message to a channel.
	Post(ctx context.Context, channel string, v View) (MessageRef, error)
	// Update replaces a message posted before.
	Update(ctx context.Context, ref MessageRef, v View) error
	// DM sends a direct message to a person, by their user ID on this platform.
	DM(ctx context.Context, userID string, v View) (MessageRef, error)
}

// FileUploader is a Platform that can post a file to a channel (the digest's chart). It is
// optional: a platform without it gets the text only.
type FileUploader interface {
	// Upload posts data as a file named filename to a channel, with title as its caption.
	Upload(ctx context.Context, channel, filename string, data []byte, title string) error
}

// Op is what a delivery asks of a Platform, for its rate limits.
type Op string

// The calls the outbox makes.
const (
	OpPost   Op = "post"
	OpUpdate Op = "update"
	OpDM     Op = "dm"
)

// Pacer is a Platform that publishes its rate limits. The outbox reserves the buckets of a call
// before making it, so that it stays within them, and meanwhile sends to other destinations
// instead of waiting for the slowest. A Platform that paces itself (Discord's client library
// follows the buckets its API announces) need not be a Pacer.
type Pacer interface {
	// Limits returns the buckets one call counts against: dest is the channel of a post or an
	// update, the user ID of a DM.
	Limits(op Op, dest string) []ratelimit.Limit
}

// RetryAfterError is returned by a Platform when the API asked to wait (HTTP 429 with
// Retry-After): the outbox waits at least that long before trying again. It is not a failure:
// the delivery's attempts are not counted.
type RetryAfterError struct {
	After time.Duration
	// Key names the bucket the wait applies to (a Limit's Key, as the Pacer declared it): only
	// calls counted against it wait. Empty, every call of the delivery's buckets waits, or the
	// whole platform when it is no Pacer.
	Key string
	Err error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.After, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// ErrPermanent marks a delivery error that retrying will not fix (a channel that does not exist,
// a bot not in the channel). The outbox gives up on the message, logs it and raises an alert.
var ErrPermanent = errors.New("permanent delivery error")

// ErrSecretTooLong is a send refused before it was made: the View's Secret is longer than the
// platform can deliver whole (see Secret). It is permanent: no retry makes it fit.
var ErrSecretTooLong = fmt.Errorf("the secret is too long to deliver whole: %w", ErrPermanent)
