package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// PathInteractions is the Interactions Endpoint URL's path.
const PathInteractions = "/discord/interactions"

// CommandName is the slash command: /access.
const CommandName = "access"

const (
	// DefaultBudget is how long an interaction waits for the handler before Discord is answered
	// with a deferred response instead. Discord gives up after 3 seconds.
	DefaultBudget = 2500 * time.Millisecond
	// DefaultLateTimeout bounds the work that goes on after a deferred response (Discord lets
	// the original response be edited for 15 minutes).
	DefaultLateTimeout = 30 * time.Second
	// maxBody bounds what is read of a request before its signature is checked.
	maxBody = 1 << 20
)

// AuditLog records an audit event in its own transaction; *storage.DB is one.
type AuditLog = bot.AuditLog

// ServerOptions configure a Server.
type ServerOptions struct {
	// PublicKey (hex) verifies HTTP interactions. Without it Mount serves nothing (gateway only).
	PublicKey string
	// Handler receives commands and clicks. Required.
	Handler bot.Handler
	// Links answers `/access link`, also for people who are not linked yet. Nil: link
	// commands of linked people go to Handler, and unlinked people can only be told to ask an
	// admin.
	Links *Links
	// Requestable lists the resources a person may request, for the completion of resource
	// names (grants.Service.Requestable). Nil: no completion.
	Requestable func(ctx context.Context, a grants.Actor) ([]*grants.Resource, error)
	// Audit records refused requests (auth.failed). Nil: they are only logged.
	Audit AuditLog
	// Clock tells the time for signature windows and the answer budget (wall clock when nil).
	Clock clock.Clock
	Log   zerolog.Logger
	// Budget is how long to wait for the handler before deferring (DefaultBudget when 0).
	Budget time.Duration
	// LateTimeout bounds work after a deferred response (DefaultLateTimeout when 0).
	LateTimeout time.Duration
	// Window is the signature timestamp window (DefaultWindow when 0).
	Window time.Duration
	// ReplayEntries bounds the replay cache of this process (DefaultReplayEntries when 0).
	ReplayEntries int
	// ReplayStore remembers the accepted signatures instead of a cache of this process:
	// replicas share one (storage's, on PostgreSQL) so that a captured request is accepted
	// once by the whole deployment. Nil: the cache of this process.
	ReplayStore bot.ReplayStore
	// GatewayLock keeps the gateway session to one replica at a time (storage.DB, a PostgreSQL
	// advisory lock): Discord sends every interaction to every session, so each replica with
	// its own would answer each twice. Nil: RunGateway opens the session at once (one process).
	GatewayLock GatewayLock
	// GatewayLockInterval is how often a replica without the session tries to take the lock,
	// and how often the holder checks that it still holds it (DefaultGatewayLockInterval when
	// 0).
	GatewayLockInterval time.Duration
	// Replica names this process in the gateway's log lines (host name and process ID when
	// empty).
	Replica string
}

// Server receives Discord interactions, over HTTP (Mount) or the gateway (RunGateway), and
// answers them through the same code.
type Server struct {
	client       *Client
	handler      bot.Handler
	links        *Links
	requestable  func(context.Context, grants.Actor) ([]*grants.Resource, error)
	verifier     *Verifier
	authFailures *bot.AuthFailures
	log          zerolog.Logger
	clock        clock.Clock
	// gatewayLock, lockInterval and replica are ServerOptions' GatewayLock,
	// GatewayLockInterval and Replica; holder is true while this process holds the gateway
	// session's lock.
	gatewayLock  GatewayLock
	lockInterval time.Duration
	replica      string
	holder       atomic.Bool
	// answerer answers within the budget and runs the rest after a deferred response; Wait
	// waits for it.
	answerer bot.Answerer[outcome]
}

// NewServer returns a Server that answers through c. A public key that is set must parse.
func NewServer(c *Client, o ServerOptions) (*Server, error) {
	if c == nil {
		return nil, errors.New("discord: a client is required")
	}
	if o.Handler == nil {
		return nil, errors.New("discord: a handler is required")
	}
	var key []byte
	if o.PublicKey != "" {
		k, err := ParsePublicKey(o.PublicKey)
		if err != nil {
			return nil, err
		}
		key = k
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.LateTimeout <= 0 {
		o.LateTimeout = DefaultLateTimeout
	}
	if o.GatewayLockInterval <= 0 {
		o.GatewayLockInterval = DefaultGatewayLockInterval
	}
	if o.Replica == "" {
		o.Replica = defaultReplica()
	}
	log := o.Log.With().Str("platform", PlatformName).Logger()
	return &Server{
		clock:        o.Clock,
		gatewayLock:  o.GatewayLock,
		lockInterval: o.GatewayLockInterval,
		replica:      o.Replica,
		client:       c,
		handler:      o.Handler,
		authFailures: bot.NewAuthFailures(PlatformName, o.Audit, o.Clock, log),
		links:        o.Links,
		requestable:  o.Requestable,
		verifier:     &Verifier{Key: key, Window: o.Window, Clock: o.Clock, MaxEntries: o.ReplayEntries, Replay: o.ReplayStore},
		log:          log,
		answerer: bot.Answerer[outcome]{
			Budget: o.Budget, LateTimeout: o.LateTimeout, Clock: o.Clock, Log: log,
			What: "a Discord interaction",
			Failed: func() outcome {
				return outcome{resp: message(bot.ProblemView(bot.InternalErrorText), true)}
			},
		},
	}, nil
}

// Mount serves POST /discord/interactions on mux. Without a public key it serves nothing:
// every request would be refused.
func (s *Server) Mount(mux *http.ServeMux) {
	if len(s.verifier.Key) == 0 {
		s.log.Info().Msg("no Discord public key: the Discord interactions endpoint is not served")
		return
	}
	mux.HandleFunc("POST "+PathInteractions, s.ServeInteraction)
}

// Wait blocks until the work still running after a deferred response is done.
func (s *Server) Wait() { s.answerer.Wait() }

// ServeInteraction answers one interaction. The signature is checked before anything else: a
// request that fails gets 401 and an auth.failed audit event, and nothing is parsed.
func (s *Server) ServeInteraction(w http.ResponseWriter, r *http.Request) {
	body, ok := bot.ReadVerified(w, r, maxBody, s.verifier, s.authFailures)
	if !ok {
		return
	}
	var ic discordgo.Interaction
	if err := json.Unmarshal(body, &ic); err != nil || ic.Type == 0 {
		http.Error(w, "not an interaction", http.StatusBadRequest)
		return
	}
	writeJSON(w, s.Handle(r.Context(), &ic))
}

// Handle answers an interaction: PING with PONG, autocompletion with choices, and commands,
// clicks and form submissions with the handler's reply when it comes within the budget, else
// with a deferred response whose message is filled in when the reply is ready.
func (s *Server) Handle(ctx context.Context, ic *discordgo.Interaction) Response {
	switch ic.Type {
	case discordgo.InteractionPing:
		return Response{Type: discordgo.InteractionResponsePong}
	case discordgo.InteractionApplicationCommandAutocomplete:
		return s.answer(ctx, ic, func(ctx context.Context) outcome { return outcome{resp: s.autocomplete(ctx, ic)} },
			Response{Type: discordgo.InteractionApplicationCommandAutocompleteResult, Data: ChoicesData{Choices: noChoices()}})
	case discordgo.InteractionApplicationCommand, discordgo.InteractionMessageComponent, discordgo.InteractionModalSubmit:
		return s.answer(ctx, ic, func(ctx context.Context) outcome { return s.interaction(ctx, ic) }, deferred())
	}
	s.log.Debug().Uint8("type", uint8(ic.Type)).Msg("ignored a Discord interaction of this type")
	return message(bot.ProblemView("accessbot does not know this kind of interaction."), true)
}

func writeJSON(w http.ResponseWriter, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// outcome is what handling an interaction produced: the response when it is ready in time, and
// the message that replaces a deferred response otherwise.
type outcome struct {
	resp Response
	late *Message
}

// answer runs work and returns its response when it finishes within the budget, else ack; the
// late message then replaces the deferred response when work finishes. Work runs on a context
// detached from the request, bounded by the late timeout.
func (s *Server) answer(ctx context.Context, ic *discordgo.Interaction, work func(context.Context) outcome, ack Response) Response {
	token := ic.Token
	o, inTime := s.answerer.Answer(ctx, work, func(ctx context.Context, o outcome) {
		if ack.Type != discordgo.InteractionResponseDeferredChannelMessageWithSource || token == "" {
			return
		}
		m := o.late
		if m == nil {
			if msg, ok := o.resp.Data.(Message); ok && o.resp.Type == discordgo.InteractionResponseChannelMessageWithSource {
				m = &msg
			} else {
				fallback := Render(bot.ProblemView(formProblem))
				m = &fallback
			}
		}
		if err := s.client.editOriginal(ctx, token, *m); err != nil {
			s.log.Error().Err(err).Msg("deliver a late Discord reply")
		}
	})
	if !inTime {
		return ack
	}
	return o.resp
}

// deferredData is the data of a deferred response: only its flags count.
type deferredData struct {
	Flags discordgo.MessageFlags `json:"flags"`
}

// deferred is the response when the reply is not ready in time: "accessbot is thinking…",
// seen only by the person, until the reply replaces it.
func deferred() Response {
	return Response{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource, Data: deferredData{Flags: FlagEphemeral}}
}

// message is an interaction response carrying v.
func message(v bot.View, private bool) Response {
	m := Render(v)
	if private {
		m.Flags = FlagEphemeral
	}
	return Response{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: m}
}

func noChoices() []*discordgo.ApplicationCommandOptionChoice {
	return []*discordgo.ApplicationCommandOptionChoice{}
}

const (
	identityProblem = "I could not work out who you are on Discord. Try again in a minute."
	formProblem     = "I could not open the form in time (Discord allows three seconds for that). Try again."
	modalProblem    = "I cannot open another form from a form. Run the command again."
)

// who returns the Discord user behind an interaction: the member in a guild, the user in a DM.
func who(ic *discordgo.Interaction) Person {
	var u *discordgo.User
	nick := ""
	if ic.Member != nil && ic.Member.User != nil {
		u, nick = ic.Member.User, ic.Member.Nick
	} else {
		u = ic.User
	}
	if u == nil {
		return Person{}
	}
	p := Person{ID: u.ID}
	for _, name := range []string{nick, u.GlobalName, u.Username} {
		if name = strings.TrimSpace(name); name != "" {
			p.Name = name
			break
		}
	}
	return p
}

// actor works out who acts. Unlinked people get an actor with an empty ID and ok false.
func (s *Server) actor(ctx context.Context, ic *discordgo.Interaction) (grants.Actor, bool, error) {
	p := who(ic)
	if p.ID == "" {
		return grants.Actor{}, false, errors.New("no user in the interaction")
	}
	if ic.Member != nil && ic.GuildID != "" && ic.GuildID == s.client.guildID {
		s.client.roles.seed(p.ID, ic.Member.Roles)
	}
	a, err := s.client.Actor(ctx, p)
	if errors.Is(err, ErrNotLinked) {
		return grants.Actor{Platform: PlatformName, PlatformID: p.ID, Name: p.Name}, false, nil
	}
	if err != nil {
		return grants.Actor{}, false, err
	}
	return a, true, nil
}

// interaction handles a command, a click or a form submission.
func (s *Server) interaction(ctx context.Context, ic *discordgo.Interaction) outcome {
	p := who(ic)
	log := s.log.With().Str("discord_user", p.ID).Str("channel", ic.ChannelID).Str("interaction", ic.Type.String()).Logger()
	ctx = log.WithContext(ctx)
	a, linked, err := s.actor(ctx, ic)
	if err != nil {
		log.Error().Err(err).Msg("resolve the Discord user of an interaction")
		return reply(ic, bot.Reply{Private: true, View: ptr(bot.ProblemView(identityProblem))})
	}
	switch ic.Type {
	case discordgo.InteractionApplicationCommand:
		data := ic.ApplicationCommandData()
		cmd := readCommand(data)
		if IsLinkCommand(cmd.text) && s.links != nil {
			r, _ := s.links.Command(ctx, a, cmd.text)
			return reply(ic, r)
		}
		if !linked {
			return reply(ic, bot.Reply{Private: true, View: ptr(NotLinkedView(a.PlatformID))})
		}
		if cmd.form {
			r := s.handler.Command(ctx, a, bot.VerbRequest)
			if r.Form != nil {
				prefill(r.Form, cmd.opts)
			}
			return reply(ic, r)
		}
		return reply(ic, s.handler.Command(ctx, a, cmd.text))
	case discordgo.InteractionMessageComponent:
		if !linked {
			return reply(ic, bot.Reply{Private: true, View: ptr(NotLinkedView(a.PlatformID))})
		}
		data := ic.MessageComponentData()
		action, value := ParseCustomID(data.CustomID)
		if len(data.Values) > 0 {
			value = data.Values[0]
		}
		return reply(ic, s.handler.Act(ctx, a, bot.Action{ID: action, Value: value}))
	case discordgo.InteractionModalSubmit:
		if !linked {
			return reply(ic, bot.Reply{Private: true, View: ptr(NotLinkedView(a.PlatformID))})
		}
		data := ic.ModalSubmitData()
		form, value, ok := ParseModalCustomID(data.CustomID)
		if !ok {
			return reply(ic, bot.Reply{Private: true, View: ptr(bot.ProblemView("accessbot does not know this form; open it again."))})
		}
		r := s.handler.Act(ctx, a, bot.Action{ID: bot.ActionSubmit, Form: form, Value: value, Inputs: modalInputs(data)})
		switch {
		case len(r.Errors) > 0:
			return reply(ic, bot.Reply{Private: true, View: ptr(bot.FormErrorsView(r.Errors, formFix))})
		case r.Form != nil:
			return reply(ic, bot.Reply{Private: true, View: ptr(bot.ProblemView(modalProblem))})
		}
		return reply(ic, r)
	}
	return reply(ic, bot.Reply{Private: true, View: ptr(bot.ProblemView("accessbot does not know this kind of interaction."))})
}

func ptr[T any](v T) *T { return &v }

// reply turns the handler's reply into the interaction's response: a modal for a form, else a
// message (ephemeral when private). When the response is deferred, the message replaces it; a
// form cannot be opened that late, which the person is told.
func reply(ic *discordgo.Interaction, r bot.Reply) outcome {
	if r.Form != nil {
		if ic.Type == discordgo.InteractionModalSubmit {
			m := Render(bot.ProblemView(modalProblem))
			m.Flags = FlagEphemeral
			return outcome{resp: Response{Type: discordgo.InteractionResponseChannelMessageWithSource, Data: m}}
		}
		late := Render(bot.ProblemView(formProblem))
		return outcome{resp: Response{Type: discordgo.InteractionResponseModal, Data: Modal(*r.Form)}, late: &late}
	}
	v := bot.View{Title: "Done", Tone: bot.ToneNeutral}
	if r.View != nil {
		v = *r.View
	}
	resp := message(v, r.Private || r.View == nil)
	late := resp.Data.(Message)
	return outcome{resp: resp, late: &late}
}

// command is a slash command read back into `/access` text.
type command struct {
	// text is what a person would type after /access.
	text string
	// form is true for /access request without all of its options: open the form.
	form bool
	// opts are the options given, by name.
	opts map[string]string
}

// readCommand rebuilds the text of `/access <subcommand> <options...>` from a slash command's
// data, in the order the grammar reads them.
func readCommand(data discordgo.ApplicationCommandInteractionData) command {
	if len(data.Options) == 0 {
		return command{text: bot.VerbHelp}
	}
	sub := data.Options[0]
	words := []string{sub.Name}
	opts := sub.Options
	if sub.Type == discordgo.ApplicationCommandOptionSubCommandGroup && len(sub.Options) > 0 {
		words = append(words, sub.Options[0].Name)
		opts = sub.Options[0].Options
	}
	values := map[string]string{}
	for _, o := range opts {
		if o == nil {
			continue
		}
		values[o.Name] = strings.TrimSpace(fmt.Sprint(o.Value))
	}
	c := command{opts: values}
	order := optionOrder[strings.Join(words, " ")]
	if sub.Name == bot.VerbRequest {
		for _, name := range order {
			if values[name] == "" {
				c.form = true
			}
		}
	}
	for _, name := range order {
		if v := values[name]; v != "" {
			if name != optReason && name != optKey && name != optEmail {
				v = strings.Join(strings.Fields(v), "") // one word: a name, an ID, a duration
			}
			words = append(words, v)
		}
	}
	c.text = strings.Join(words, " ")
	return c
}

// prefill puts the options a person gave into the form that asks for the rest.
func prefill(f *bot.Form, opts map[string]string) {
	for i, in := range f.Inputs {
		if v := opts[in.ID]; v != "" {
			f.Inputs[i].Initial = v
		}
	}
}

// modalInputs reads a submitted modal's text inputs by custom_id.
func modalInputs(data discordgo.ModalSubmitInteractionData) map[string]string {
	inputs := map[string]string{}
	var walk func(cs []discordgo.MessageComponent)
	walk = func(cs []discordgo.MessageComponent) {
		for _, c := range cs {
			switch c := c.(type) {
			case *discordgo.ActionsRow:
				walk(c.Components)
			case discordgo.ActionsRow:
				walk(c.Components)
			case *discordgo.TextInput:
				inputs[c.CustomID] = c.Value
			case discordgo.TextInput:
				inputs[c.CustomID] = c.Value
			}
		}
	}
	walk(data.Components)
	return inputs
}

// autocomplete answers the completion of a resource name with the resources the person may
// request (for breakglass, those that allow it), best matches first.
func (s *Server) autocomplete(ctx context.Context, ic *discordgo.Interaction) Response {
	resp := Response{Type: discordgo.InteractionApplicationCommandAutocompleteResult, Data: ChoicesData{Choices: noChoices()}}
	if s.requestable == nil {
		return resp
	}
	data := ic.ApplicationCommandData()
	if len(data.Options) == 0 {
		return resp
	}
	sub := data.Options[0]
	var focused *discordgo.ApplicationCommandInteractionDataOption
	for _, o := range sub.Options {
		if o != nil && o.Focused {
			focused = o
		}
	}
	if focused == nil || focused.Name != optResource {
		return resp
	}
	a, linked, err := s.actor(ctx, ic)
	if err != nil || !linked {
		return resp
	}
	rs, err := s.requestable(ctx, a)
	if err != nil {
		s.log.Warn().Err(err).Msg("list resources for completion")
		return resp
	}
	typed := strings.ToLower(strings.TrimSpace(fmt.Sprint(focused.Value)))
	type scored struct {
		r     *grants.Resource
		score int
	}
	var list []scored
	for _, r := range rs {
		if sub.Name == bot.VerbBreakGlass && !r.Policy.BreakGlass {
			continue
		}
		name := strings.ToLower(r.Name)
		switch {
		case typed == "" || strings.HasPrefix(name, typed):
			list = append(list, scored{r, 0})
		case strings.Contains(name, typed) || strings.Contains(strings.ToLower(r.Description), typed):
			list = append(list, scored{r, 1})
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].score != list[j].score {
			return list[i].score < list[j].score
		}
		return list[i].r.Name < list[j].r.Name
	})
	choices := noChoices()
	for _, x := range list {
		if len(choices) == maxChoices {
			break
		}
		label := x.r.Name
		if x.r.Description != "" {
			label += " · " + x.r.Description
		}
		choices = append(choices, &discordgo.ApplicationCommandOptionChoice{Name: truncate(label, maxChoiceName), Value: x.r.Name})
	}
	resp.Data = ChoicesData{Choices: choices}
	return resp
}

// formFix is how a person sends a form again, under the errors found in it.
const formFix = "Fix this and send it again (click the button again, or run the command again)."
