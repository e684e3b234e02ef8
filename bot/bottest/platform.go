// Package bottest helps test code that uses bot: FakePlatform, a bot.Platform that records what
// it is asked to post, update and DM and fails on demand; and a Harness that runs a Bot over a
// real grants.Service and SQLite (or PostgreSQL) store with a fake clock.
package bottest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/accessbot/accessbot/bot"
)

// Operations recorded in Call.Op.
const (
	OpPost   = "post"
	OpUpdate = "update"
	OpDM     = "dm"
)

// Call is one call the platform received.
type Call struct {
	Op string
	// Channel is where the message is: the channel posted to or updated in, or the DM channel.
	Channel string
	// UserID is who a DM is for.
	UserID string
	// Ref is the message posted, updated or sent (empty when the call failed).
	Ref  bot.MessageRef
	View bot.View
	// Err is what the call returned.
	Err error
}

// FakePlatform is a bot.Platform that keeps every message in memory. It is safe for concurrent
// use.
type FakePlatform struct {
	name string

	mu       sync.Mutex
	calls    []Call
	messages map[string]bot.View // current content by message ID
	channel  map[string]string   // channel of each message ID
	errs     []error
	down     error
	nextID   int
}

var _ bot.Platform = (*FakePlatform)(nil)

// NewFakePlatform returns a working platform with the given name ("slack", say).
func NewFakePlatform(name string) *FakePlatform {
	return &FakePlatform{name: name, messages: map[string]bot.View{}, channel: map[string]string{}}
}

// ErrDown is what a platform that was set down returns, unless told otherwise.
var ErrDown = errors.New("platform unreachable")

// FailNext queues errors returned by the next calls, one per call (a *bot.RetryAfterError to
// play a rate limit, an error wrapping bot.ErrPermanent for one that retrying cannot fix).
func (f *FakePlatform) FailNext(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, errs...)
}

// SetDown makes every call fail with err until SetDown(nil).
func (f *FakePlatform) SetDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

// Name implements bot.Platform.
func (f *FakePlatform) Name() string { return f.name }

// failure returns the error the next call gets, if any. f.mu is held.
func (f *FakePlatform) failure(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return err
	}
	return f.down
}

func (f *FakePlatform) newRef(channel string) bot.MessageRef {
	f.nextID++
	return bot.MessageRef{Platform: f.name, Channel: channel, ID: fmt.Sprintf("m%d", f.nextID)}
}

// Post implements bot.Platform.
func (f *FakePlatform) Post(ctx context.Context, channel string, v bot.View) (bot.MessageRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := Call{Op: OpPost, Channel: channel, View: v}
	if c.Err = f.failure(ctx); c.Err == nil && channel == "" {
		c.Err = fmt.Errorf("post: no channel: %w", bot.ErrPermanent)
	}
	if c.Err == nil {
		c.Ref = f.newRef(channel)
		f.messages[c.Ref.ID] = v
		f.channel[c.Ref.ID] = channel
	}
	f.calls = append(f.calls, c)
	return c.Ref, c.Err
}

// Update implements bot.Platform. Updating a message that was never posted is a permanent error.
func (f *FakePlatform) Update(ctx context.Context, ref bot.MessageRef, v bot.View) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := Call{Op: OpUpdate, Channel: ref.Channel, View: v, Ref: ref}
	if c.Err = f.failure(ctx); c.Err == nil {
		if ch, ok := f.channel[ref.ID]; !ok || ch != ref.Channel {
			c.Err = fmt.Errorf("update %s in %s: message not found: %w", ref.ID, ref.Channel, bot.ErrPermanent)
		}
	}
	if c.Err == nil {
		f.messages[ref.ID] = v
	} else {
		c.Ref = bot.MessageRef{}
	}
	f.calls = append(f.calls, c)
	return c.Err
}

// DM implements bot.Platform.
func (f *FakePlatform) DM(ctx context.Context, userID string, v bot.View) (bot.MessageRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := Call{Op: OpDM, Channel: "D" + userID, UserID: userID, View: v}
	if c.Err = f.failure(ctx); c.Err == nil && userID == "" {
		c.Err = fmt.Errorf("dm: no user: %w", bot.ErrPermanent)
	}
	if c.Err == nil {
		c.Ref = f.newRef(c.Channel)
		f.messages[c.Ref.ID] = v
		f.channel[c.Ref.ID] = c.Channel
	}
	f.calls = append(f.calls, c)
	return c.Ref, c.Err
}

// Calls returns every call so far, failed ones included, optionally only those of the given
// operations.
func (f *FakePlatform) Calls(ops ...string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if len(ops) == 0 || slices.Contains(ops, c.Op) {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns the calls that succeeded, optionally only those of the given operations.
func (f *FakePlatform) Sent(ops ...string) []Call {
	var out []Call
	for _, c := range f.Calls(ops...) {
		if c.Err == nil {
			out = append(out, c)
		}
	}
	return out
}

// Posts returns the messages posted to a channel, in order.
func (f *FakePlatform) Posts(channel string) []Call {
	var out []Call
	for _, c := range f.Sent(OpPost) {
		if c.Channel == channel {
			out = append(out, c)
		}
	}
	return out
}

// DMs returns the DMs a user received, in order.
func (f *FakePlatform) DMs(userID string) []Call {
	var out []Call
	for _, c := range f.Sent(OpDM) {
		if c.UserID == userID {
			out = append(out, c)
		}
	}
	return out
}

// Message returns what a message shows now, after every update.
func (f *FakePlatform) Message(ref bot.MessageRef) (bot.View, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.messages[ref.ID]
	return v, ok
}

// Reset forgets the calls so far (the messages stay).
func (f *FakePlatform) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}
