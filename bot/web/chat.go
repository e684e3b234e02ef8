// Package web is accessbot's local web chat: a chat workspace that accessbot serves itself under
// /chat/, for trying accessbot out without Slack or Discord and for end-to-end tests in a real
// browser. It has the approver channel, the security channel and each person's DMs with
// accessbot, a switcher to act as any configured person, and a message box that takes the same
// `/access` commands; messages carry the same buttons and forms as on Slack, rendered from the
// same bot Views, and change live (Server-Sent Events).
//
// Chat is the bot.Platform the outbox delivers through, and the http.Handler of the page and its
// JSON API. With a Store, what accessbot says in a channel is stored before it is shown, and
// Restore shows it again after a restart; what a person types and the replies only they see
// live in memory alone, as a Slack slash command and its private answer do. There is no login per person: whoever gets in picks
// who they are. Getting in takes the run's token (a secret given once in the URL to open, which
// becomes a cookie), so that a TCP forwarder or a proxy in front of the port passes nobody who
// was not given the URL. The handler also accepts only loopback Host names unless told otherwise
// (no DNS rebinding), refuses cross-origin state changes, and reads small JSON bodies only.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// PlatformName is the platform's name in MessageRefs, Actors and audit events.
const PlatformName = "web"

// The web chat's channels: the approver channel and the security channel. A person's DM with
// accessbot is DMChannel(person).
const (
	ChannelApprovals = "approvals"
	ChannelSecurity  = "security"
	dmPrefix         = "dm:"
)

// DMChannel is the ID of a person's DM channel with accessbot.
func DMChannel(personID string) string { return dmPrefix + personID }

// DefaultMaxMessages is how many messages a channel keeps, in memory and in the Store; older
// ones are forgotten.
const DefaultMaxMessages = 500

// Person is someone the web chat lets you act as.
type Person struct {
	// ID is the person's user ID in the web chat (the Actor's PlatformID).
	ID string `json:"id"`
	// Name is how they are shown.
	Name string `json:"name"`
	// Email is their accessbot identity.
	Email string `json:"email"`
	// Role is a label for the switcher ("requester", "approver").
	Role string `json:"role,omitempty"`
}

// Actor is who the person is to the grants service: their email as ID, on platform "web".
func (p Person) Actor() grants.Actor {
	a := grants.Actor{Platform: PlatformName, PlatformID: p.ID, Name: p.Name, ID: PlatformName + ":" + p.ID}
	if email := strings.ToLower(strings.TrimSpace(p.Email)); email != "" {
		a.ID, a.Email = email, email
	}
	if a.Name == "" {
		a.Name = p.ID
	}
	return a
}

// Options configure a Chat.
type Options struct {
	// People are who the switcher offers; at least one, with distinct IDs.
	People []Person
	// Handler receives commands and clicks. Required.
	Handler bot.Handler
	// Clock stamps messages (the wall clock when nil).
	Clock clock.Clock
	Log   zerolog.Logger
	// AllowRemote accepts requests with the token from anywhere. Otherwise only requests from
	// this machine, for a loopback host name (localhost, 127.0.0.1, [::1]) and not through a
	// proxy that says so, are served: a web page whose name resolves to 127.0.0.1 cannot read
	// or drive the chat (DNS rebinding). A forwarder or proxy that looks local passes these
	// checks; the token is what stops it.
	AllowRemote bool
	// MaxMessages bounds each channel (DefaultMaxMessages when 0).
	MaxMessages int
	// Token is the secret every request must carry (see URL). Empty means a fresh random one
	// (NewToken), which is what a person running accessbot wants; a fixed one is for scripts.
	Token string
	// Store keeps the history across restarts; nil keeps it in memory only.
	Store Store
}

// Store keeps the web chat's history: what accessbot posted in each channel, newest last.
// storage implements it.
type Store interface {
	// SaveWebMessage stores m, or a newer version of it (a lower Version than stored changes
	// nothing), and keeps only the channel's newest keep messages.
	SaveWebMessage(ctx context.Context, m bot.HistoryMessage, keep int) error
	// WebMessages returns the stored messages by Pos, at most perChannel of each channel.
	WebMessages(ctx context.Context, perChannel int) ([]bot.HistoryMessage, error)
}

// storeTimeout bounds one write or the load of the history.
const storeTimeout = 10 * time.Second

// Message is one message in a channel.
type Message struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	// Seq grows with every change in the chat; a page keeps the version with the highest.
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	// Edited is set when the message was updated after it was posted.
	Edited bool `json:"edited,omitempty"`
	// From is the person who wrote it; empty for accessbot.
	From string `json:"from,omitempty"`
	// Text is what a person typed (a command).
	Text string `json:"text,omitempty"`
	// View is what accessbot says.
	View *bot.View `json:"view,omitempty"`
	// To, when set, is the only person who sees the message (a private reply).
	To string `json:"to,omitempty"`

	// pos is the message's place in its channel (its Seq when first posted); editedAt when it
	// last changed. Both are for the Store.
	pos      uint64
	editedAt time.Time
}

// kept reports whether the Store keeps the message: what accessbot says for the channel to
// see. A person's command and a private reply are theirs alone, and may hold what should not
// be written down (the code of `/access link <code>`). A message carrying a secret is shown
// and never written down: accessbot keeps no copy of a credential.
func (m *Message) kept() bool {
	return m.View != nil && m.View.Secret == nil && m.From == "" && m.To == ""
}

// ChannelInfo describes a channel for the page.
type ChannelInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Topic string `json:"topic"`
	DM    bool   `json:"dm,omitempty"`
}

// Chat is the web chat: a bot.Platform and the http.Handler of /chat/.
type Chat struct {
	handler     bot.Handler
	clock       clock.Clock
	log         zerolog.Logger
	people      []Person
	byID        map[string]Person
	maxMessages int
	epoch       string
	http        http.Handler
	allowRemote bool
	key         key
	store       Store

	// write serializes changes, held across the Store's write so that memory and the Store
	// see changes in one order and a change the Store refused is not shown; mu guards the
	// state below and is never held across I/O.
	write    sync.Mutex
	restored bool

	mu       sync.Mutex
	seq      uint64
	n        uint64
	channels map[string][]*Message // in order
	byMsg    map[string]*Message
	subs     map[*subscriber]struct{}
	closed   bool
	done     chan struct{}
}

var _ bot.Platform = (*Chat)(nil)

// New builds a Chat. It does no I/O.
func New(o Options) (*Chat, error) {
	if o.Handler == nil {
		return nil, errors.New("web chat: a handler is required")
	}
	if len(o.People) == 0 {
		return nil, errors.New("web chat: nobody to act as")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	epoch, err := newEpoch()
	if err != nil {
		return nil, fmt.Errorf("web chat: %w", err)
	}
	if o.Token == "" {
		t, err := NewToken()
		if err != nil {
			return nil, fmt.Errorf("web chat: %w", err)
		}
		o.Token = t
	}
	c := &Chat{
		handler:     o.Handler,
		clock:       o.Clock,
		log:         o.Log.With().Str("platform", PlatformName).Logger(),
		byID:        map[string]Person{},
		maxMessages: o.MaxMessages,
		// Message IDs carry the process's epoch, so a reference stored before a restart never
		// names a new message.
		epoch:    epoch,
		channels: map[string][]*Message{},
		byMsg:    map[string]*Message{},
		subs:     map[*subscriber]struct{}{},
		done:     make(chan struct{}),
	}
	for _, p := range o.People {
		if p.ID == "" || strings.ContainsAny(p.ID, " \t\r\n:/") {
			return nil, fmt.Errorf("web chat: %q is not a user ID", p.ID)
		}
		if _, dup := c.byID[p.ID]; dup {
			return nil, fmt.Errorf("web chat: person %q is listed twice", p.ID)
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		c.people = append(c.people, p)
		c.byID[p.ID] = p
	}
	c.allowRemote = o.AllowRemote
	c.store = o.Store
	c.key = newKey(o.Token)
	c.http = c.routes()
	return c, nil
}

// Name is "web".
func (c *Chat) Name() string { return PlatformName }

// People returns who the switcher offers.
func (c *Chat) People() []Person { return append([]Person(nil), c.people...) }

// Person returns the person with the user ID.
func (c *Chat) Person(id string) (Person, bool) {
	p, ok := c.byID[id]
	return p, ok
}

// knownChannel reports whether a channel exists: the two shared ones and each person's DM.
func (c *Chat) knownChannel(ch string) bool {
	if ch == ChannelApprovals || ch == ChannelSecurity {
		return true
	}
	id, ok := strings.CutPrefix(ch, dmPrefix)
	if !ok {
		return false
	}
	_, ok = c.byID[id]
	return ok
}

// Post posts v to a channel ("approvals", "security", or "dm:<person>"). With a Store the
// message is stored first: an error leaves nothing shown, and the outbox tries again.
func (c *Chat) Post(ctx context.Context, channel string, v bot.View) (bot.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return bot.MessageRef{}, err
	}
	if !c.knownChannel(channel) {
		return bot.MessageRef{}, fmt.Errorf("web chat: post to %q: no such channel: %w", channel, bot.ErrPermanent)
	}
	m, err := c.add(ctx, &Message{Channel: channel, View: &v})
	if err != nil {
		return bot.MessageRef{}, err
	}
	if v.Ended != "" {
		// The message is shown: a failure here leaves buttons a click finds refused, and
		// posting again would show the message twice.
		if err := c.retireGrantButtons(ctx, v.Ended); err != nil {
			c.log.Warn().Err(err).Str("grant_id", v.Ended).Msg("web chat: could not take an ended grant's buttons off its messages")
		}
	}
	return bot.MessageRef{Platform: PlatformName, Channel: channel, ID: m.ID}, nil
}

// isGrantButton reports whether b acts on the grant as its holder or an approver would while
// it is active: Extend, I'm done (and Revoke now on a break-glass card).
func isGrantButton(b bot.Button, grantID string) bool {
	return b.Value == grantID && (b.ActionID == bot.ActionExtend || b.ActionID == bot.ActionRevoke)
}

// retireGrantButtons takes an ended grant's buttons off every message that still shows them
// (the "access is active" DM, the expiry warning, a status reply): the message stays, its
// buttons go, and open pages get the new version.
func (c *Chat) retireGrantButtons(ctx context.Context, grantID string) error {
	c.write.Lock()
	defer c.write.Unlock()
	c.mu.Lock()
	var changed []*Message // copies, with the buttons gone
	var originals []*Message
	for _, list := range c.channels {
		for _, m := range list {
			if m.View == nil || !slices.ContainsFunc(m.View.Buttons, func(b bot.Button) bool { return isGrantButton(b, grantID) }) {
				continue
			}
			v := *m.View
			v.Buttons = slices.DeleteFunc(slices.Clone(v.Buttons), func(b bot.Button) bool { return isGrantButton(b, grantID) })
			c.seq++
			cp := *m
			cp.View, cp.Seq, cp.editedAt = &v, c.seq, c.clock.Now().UTC()
			changed, originals = append(changed, &cp), append(originals, m)
		}
	}
	c.mu.Unlock()
	for i, cp := range changed {
		if err := c.save(ctx, cp); err != nil {
			return err
		}
		c.mu.Lock()
		*originals[i] = *cp
		c.publishLocked(cp)
		c.mu.Unlock()
	}
	return nil
}

// Update replaces a message posted before, where it is. A message the chat does not hold (it
// was posted before a restart without a Store, or pruned since) is shown again, at the end of
// its channel.
func (c *Chat) Update(ctx context.Context, ref bot.MessageRef, v bot.View) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.knownChannel(ref.Channel) {
		return fmt.Errorf("web chat: update %.40q in %q: no such channel: %w", ref.ID, ref.Channel, bot.ErrPermanent)
	}
	if ref.ID == "" || len(ref.ID) > maxMessageID {
		return fmt.Errorf("web chat: update %.40q in %q: not a message ID of the web chat: %w", ref.ID, ref.Channel, bot.ErrPermanent)
	}
	c.write.Lock()
	defer c.write.Unlock()
	if err := c.restoreLocked(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	m, ok := c.byMsg[ref.ID]
	if !ok {
		c.mu.Unlock()
		_, err := c.addWriting(ctx, &Message{ID: ref.ID, Channel: ref.Channel, View: &v, Edited: true})
		return err
	}
	if m.Channel != ref.Channel {
		c.mu.Unlock()
		return fmt.Errorf("web chat: update %q: it is not in %q: %w", ref.ID, ref.Channel, bot.ErrPermanent)
	}
	c.seq++
	cp := *m
	cp.View, cp.Edited, cp.Seq, cp.editedAt = &v, true, c.seq, c.clock.Now().UTC()
	c.mu.Unlock()
	if err := c.save(ctx, &cp); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	*m = cp
	c.publishLocked(&cp)
	return nil
}

// DM sends v to a person's DM channel.
func (c *Chat) DM(ctx context.Context, userID string, v bot.View) (bot.MessageRef, error) {
	if _, ok := c.byID[userID]; !ok {
		return bot.MessageRef{}, fmt.Errorf("web chat: DM to %q: no such person: %w", userID, bot.ErrPermanent)
	}
	return c.Post(ctx, DMChannel(userID), v)
}

// maxMessageID bounds a message ID given back to Update: the chat's own are short.
const maxMessageID = 64

// add posts a new message: stored first when it is kept, then shown to the subscribers who
// may see it.
func (c *Chat) add(ctx context.Context, m *Message) (Message, error) {
	c.write.Lock()
	defer c.write.Unlock()
	if err := c.restoreLocked(ctx); err != nil {
		return Message{}, err
	}
	return c.addWriting(ctx, m)
}

// addWriting is add with c.write held.
func (c *Chat) addWriting(ctx context.Context, m *Message) (Message, error) {
	c.mu.Lock()
	c.seq++
	m.Seq, m.pos = c.seq, c.seq
	if m.ID == "" {
		c.n++
		m.ID = fmt.Sprintf("%s-%d", c.epoch, c.n)
	}
	m.At = c.clock.Now().UTC()
	if m.Edited {
		m.editedAt = m.At
	}
	c.mu.Unlock()
	if err := c.save(ctx, m); err != nil {
		return Message{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insertLocked(m), nil
}

// save writes a kept message to the Store, if there is one.
func (c *Chat) save(ctx context.Context, m *Message) error {
	if c.store == nil || !m.kept() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	hm := bot.HistoryMessage{Channel: m.Channel, ID: m.ID, Pos: int64(m.pos), Version: int64(m.Seq),
		View: *m.View, PostedAt: m.At, UpdatedAt: m.editedAt}
	if err := c.store.SaveWebMessage(ctx, hm, c.maxMessages); err != nil {
		return fmt.Errorf("web chat: store message %s in %s: %w", m.ID, m.Channel, err)
	}
	return nil
}

// insertLocked puts a message at the end of its channel, forgets the channel's oldest past
// the bound, and tells the subscribers.
func (c *Chat) insertLocked(m *Message) Message {
	list := append(c.channels[m.Channel], m)
	if over := len(list) - c.maxMessages; over > 0 {
		for _, old := range list[:over] {
			delete(c.byMsg, old.ID)
		}
		list = append([]*Message(nil), list[over:]...)
	}
	c.channels[m.Channel] = list
	c.byMsg[m.ID] = m
	cp := *m
	c.publishLocked(&cp)
	return cp
}

// Restore loads the history from the Store (when there is one), once: call it before
// serving. A change before it restores first.
func (c *Chat) Restore(ctx context.Context) error {
	c.write.Lock()
	defer c.write.Unlock()
	return c.restoreLocked(ctx)
}

// restoreLocked is Restore with c.write held. Messages of a channel that is gone (a person no
// longer configured) stay stored but are not shown.
func (c *Chat) restoreLocked(ctx context.Context) error {
	if c.restored || c.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	stored, err := c.store.WebMessages(ctx, c.maxMessages)
	if err != nil {
		return fmt.Errorf("web chat: load history: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// New IDs must not name a stored message: a fresh epoch if this one was used before.
	for tries := 0; slices.ContainsFunc(stored, func(h bot.HistoryMessage) bool { return strings.HasPrefix(h.ID, c.epoch+"-") }); tries++ {
		if tries == 10 {
			return errors.New("web chat: load history: no unused message epoch")
		}
		epoch, err := newEpoch()
		if err != nil {
			return fmt.Errorf("web chat: %w", err)
		}
		c.epoch = epoch
	}
	for _, h := range stored {
		if !c.knownChannel(h.Channel) || h.Pos <= 0 || h.Version < h.Pos {
			continue
		}
		if _, dup := c.byMsg[h.ID]; dup {
			continue
		}
		v := h.View
		m := &Message{ID: h.ID, Channel: h.Channel, Seq: uint64(h.Version), At: h.PostedAt.UTC(),
			Edited: !h.UpdatedAt.IsZero(), View: &v, pos: uint64(h.Pos), editedAt: h.UpdatedAt}
		c.channels[m.Channel] = append(c.channels[m.Channel], m)
		c.byMsg[m.ID] = m
		c.seq = max(c.seq, m.Seq)
	}
	c.restored = true
	c.log.Debug().Int("messages", len(c.byMsg)).Msg("web chat history loaded")
	return nil
}

// newEpoch returns a random prefix for the message IDs of one process.
func newEpoch() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// visible reports whether a person sees a message: shared channels and their own DMs, less the
// private replies to others.
func visible(m *Message, as string) bool {
	if m.To != "" && m.To != as {
		return false
	}
	if id, dm := strings.CutPrefix(m.Channel, dmPrefix); dm {
		return id == as
	}
	return true
}

// channelsFor lists the channels a person sees.
func (c *Chat) channelsFor(p Person) []ChannelInfo {
	return []ChannelInfo{
		{ID: DMChannel(p.ID), Name: "accessbot", Topic: "Your direct messages with accessbot: replies, grants, revocations.", DM: true},
		{ID: ChannelApprovals, Name: "approvals", Topic: "Approval requests: approvers approve or deny here."},
		{ID: ChannelSecurity, Name: "security", Topic: "Alerts: break-glass use, revocations that keep failing."},
	}
}

// State is what a person sees: the people, their channels and messages.
type State struct {
	Me       Person        `json:"me"`
	People   []Person      `json:"people"`
	Channels []ChannelInfo `json:"channels"`
	Messages []Message     `json:"messages"`
	Seq      uint64        `json:"seq"`
}

func (c *Chat) stateLocked(p Person) State {
	s := State{Me: p, People: c.people, Channels: c.channelsFor(p), Messages: []Message{}, Seq: c.seq}
	for _, ch := range s.Channels {
		for _, m := range c.channels[ch.ID] {
			if visible(m, p.ID) {
				s.Messages = append(s.Messages, *m)
			}
		}
	}
	return s
}

// StateFor returns what a person sees now.
func (c *Chat) StateFor(personID string) (State, bool) {
	p, ok := c.byID[personID]
	if !ok {
		return State{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateLocked(p), true
}

// subscriber is one open event stream.
type subscriber struct {
	as string
	ch chan *Message
}

// subscriberBuffer is how many changes a stream may fall behind before it is closed; the page
// reconnects and starts again from the state.
const subscriberBuffer = 256

// subscribe opens a stream for a person, with the state it starts from.
func (c *Chat) subscribe(p Person) (*subscriber, State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, State{}, false
	}
	s := &subscriber{as: p.ID, ch: make(chan *Message, subscriberBuffer)}
	c.subs[s] = struct{}{}
	return s, c.stateLocked(p), true
}

func (c *Chat) unsubscribe(s *subscriber) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.subs[s]; ok {
		delete(c.subs, s)
		close(s.ch)
	}
}

// publishLocked sends a change to every stream that may see it. A stream too far behind is
// closed rather than waited for.
func (c *Chat) publishLocked(m *Message) {
	for s := range c.subs {
		if !visible(m, s.as) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			delete(c.subs, s)
			close(s.ch)
			c.log.Debug().Str("as", s.as).Msg("closed a web chat event stream that fell behind")
		}
	}
}

// Close ends every event stream, so that the HTTP server can shut down; later streams are
// refused. Posting still works.
func (c *Chat) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	for s := range c.subs {
		delete(c.subs, s)
		close(s.ch)
	}
}
