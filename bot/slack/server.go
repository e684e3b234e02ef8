package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

// The HTTP endpoints, as the app manifest names them.
const (
	PathCommands     = "/slack/commands"
	PathInteractions = "/slack/interactions"
)

const (
	// DefaultBudget is how long a request waits for the handler before Slack is answered with
	// an acknowledgement instead. Slack gives up after 3 seconds; the rest is for the network.
	DefaultBudget = 2500 * time.Millisecond
	// DefaultLateTimeout bounds the work that goes on after the acknowledgement.
	DefaultLateTimeout = 30 * time.Second
	// maxBody bounds what is read of a request before its signature is checked. Slack's
	// largest payloads (a click on a long message, with the message) are far smaller.
	maxBody = 1 << 20
)

// AuditLog records an audit event in its own transaction; *storage.DB is one.
type AuditLog = bot.AuditLog

// ServerOptions configure a Server.
type ServerOptions struct {
	// SigningSecret verifies HTTP requests. Without it Mount serves nothing (Socket Mode only).
	SigningSecret string
	// AppToken (xapp-...) opens Socket Mode connections; needed only by RunSocketMode.
	AppToken string
	// Handler receives commands and clicks. Required.
	Handler bot.Handler
	// Audit records refused requests (auth.failed). Nil: they are only logged.
	Audit AuditLog
	// Clock tells the time for signature windows and the answer budget (wall clock when nil).
	Clock clock.Clock
	Log   zerolog.Logger
	// Budget is how long to wait for the handler before acknowledging (DefaultBudget when 0).
	Budget time.Duration
	// LateTimeout bounds work after an acknowledgement (DefaultLateTimeout when 0).
	LateTimeout time.Duration
	// Window is the signature timestamp window (DefaultWindow when 0).
	Window time.Duration
	// ReplayEntries bounds the replay cache of this process (DefaultReplayEntries when 0).
	ReplayEntries int
	// ReplayStore remembers the accepted signatures instead of a cache of this process:
	// replicas share one (storage's, on PostgreSQL) so that a captured request is accepted
	// once by the whole deployment. Nil: the cache of this process.
	ReplayStore bot.ReplayStore
}

// Server receives Slack's slash commands and interactions, over HTTP (Mount) or Socket Mode
// (RunSocketMode), and answers them through the same code.
type Server struct {
	client       *Client
	handler      bot.Handler
	verifier     *Verifier
	authFailures *bot.AuthFailures
	refusals     *bot.Refusals
	log          zerolog.Logger
	appToken     string
	// answerer answers within the budget and runs the rest after the acknowledgement; Wait
	// waits for it.
	answerer bot.Answerer[outcome]
}

// NewServer returns a Server that answers through c.
func NewServer(c *Client, o ServerOptions) (*Server, error) {
	if c == nil {
		return nil, errors.New("slack: a client is required")
	}
	if o.Handler == nil {
		return nil, errors.New("slack: a handler is required")
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
	log := o.Log.With().Str("platform", PlatformName).Logger()
	return &Server{
		client:       c,
		handler:      o.Handler,
		authFailures: bot.NewAuthFailures(PlatformName, o.Audit, o.Clock, log),
		refusals:     bot.NewRefusals(PlatformName, o.Audit, o.Clock, log),
		verifier: &Verifier{
			Secret: []byte(o.SigningSecret), Window: o.Window, Clock: o.Clock, MaxEntries: o.ReplayEntries, Replay: o.ReplayStore,
		},
		log:      log,
		appToken: o.AppToken,
		answerer: bot.Answerer[outcome]{
			Budget: o.Budget, LateTimeout: o.LateTimeout, Clock: o.Clock, Log: log,
			What: "a Slack request",
			Failed: func() outcome {
				return outcome{payload: newMessage(bot.ProblemView(bot.InternalErrorText), true)}
			},
		},
	}, nil
}

// Mount serves POST /slack/commands and POST /slack/interactions on mux. Without a signing
// secret it serves nothing: every request would be refused.
func (s *Server) Mount(mux *http.ServeMux) {
	if len(s.verifier.Secret) == 0 {
		s.log.Info().Msg("no Slack signing secret: the Slack HTTP endpoints are not served")
		return
	}
	mux.HandleFunc("POST "+PathCommands, s.ServeCommand)
	mux.HandleFunc("POST "+PathInteractions, s.ServeInteraction)
}

// Wait blocks until the work still running after its acknowledgement is done.
func (s *Server) Wait() { s.answerer.Wait() }

// ServeCommand answers a slash command (form-encoded: command, text, user_id, trigger_id,
// response_url, channel_id...).
func (s *Server) ServeCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readVerified(w, r)
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	cmd, err := slackapi.SlashCommandParse(r)
	if err != nil || cmd.UserID == "" {
		http.Error(w, "not a slash command", http.StatusBadRequest)
		return
	}
	writeJSON(w, s.answer(r.Context(), func(ctx context.Context) outcome { return s.command(ctx, cmd) }, workingOnIt()))
}

// ServeInteraction answers an interaction (form-encoded payload= JSON: block_actions,
// view_submission).
func (s *Server) ServeInteraction(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readVerified(w, r)
	if !ok {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ic, err := slackapi.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "not an interaction payload", http.StatusBadRequest)
		return
	}
	writeJSON(w, s.answer(r.Context(), func(ctx context.Context) outcome { return s.interaction(ctx, ic) }, nil))
}

// readVerified reads the body and checks its signature. A request that fails gets 401 and
// nothing else: no parsing, no handler.
func (s *Server) readVerified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return bot.ReadVerified(w, r, maxBody, s.verifier, s.authFailures)
}

// outcome is what handling a command or interaction produced: the payload to answer Slack with
// when it is ready in time, and what to do instead when Slack was already acknowledged.
type outcome struct {
	payload any
	late    func(ctx context.Context)
}

// answer runs work and returns the payload to answer with: work's own when it finishes within
// the budget, else ack, and work's late step runs when it finishes. Work runs on a context
// detached from the request (whose context ends with the answer), bounded by the late timeout.
func (s *Server) answer(ctx context.Context, work func(context.Context) outcome, ack any) any {
	o, inTime := s.answerer.Answer(ctx, work, func(ctx context.Context, o outcome) {
		if o.late != nil {
			o.late(ctx)
		}
	})
	if !inTime {
		return ack
	}
	return o.payload
}

// message is a message in an answer or to a response_url.
type message struct {
	ResponseType    string           `json:"response_type,omitempty"`
	ReplaceOriginal *bool            `json:"replace_original,omitempty"`
	Text            string           `json:"text"`
	Blocks          []slackapi.Block `json:"blocks,omitempty"`
}

func newMessage(v bot.View, private bool) *message {
	rt := "in_channel"
	if private {
		rt = "ephemeral"
	}
	return &message{ResponseType: rt, Text: Text(v), Blocks: Blocks(v)}
}

func workingOnIt() *message {
	return &message{ResponseType: "ephemeral", Text: ":hourglass_flowing_sand: Working on it…"}
}

var (
	profileProblem = "I could not look up your Slack profile, so I do not know who you are. Try again in a minute."
	formProblem    = "I could not open the form (Slack allows three seconds for that). Try the command again."
)

func writeJSON(w http.ResponseWriter, payload any) {
	if payload == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := json.Marshal(payload)
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

// command handles a slash command: who is asking, the handler, and the reply.
func (s *Server) command(ctx context.Context, cmd slackapi.SlashCommand) outcome {
	log := s.log.With().Str("slack_user", cmd.UserID).Str("channel", cmd.ChannelID).Logger()
	ctx = log.WithContext(ctx)
	var reply bot.Reply
	actor, err := s.client.Actor(ctx, cmd.UserID)
	if err != nil {
		v := s.actorProblem(ctx, log, err, "a command")
		reply = bot.Reply{Private: true, View: &v}
	} else {
		reply = s.handler.Command(ctx, actor, cmd.Text)
	}
	if reply.Form != nil {
		if err := s.client.openModal(ctx, cmd.TriggerID, *reply.Form); err != nil {
			log.Warn().Err(err).Msg("open a form for a command")
			v := bot.ProblemView(formProblem)
			reply = bot.Reply{Private: true, View: &v}
		}
	}
	if reply.View == nil {
		return outcome{}
	}
	msg := newMessage(*reply.View, reply.Private)
	return outcome{payload: msg, late: func(ctx context.Context) {
		if err := s.postResponseURL(ctx, cmd.ResponseURL, msg); err != nil {
			log.Error().Err(err).Msg("deliver a late command reply")
		}
	}}
}

// interaction handles a click or a form submission.
func (s *Server) interaction(ctx context.Context, ic slackapi.InteractionCallback) outcome {
	log := s.log.With().Str("slack_user", ic.User.ID).Str("interaction", string(ic.Type)).Logger()
	ctx = log.WithContext(ctx)
	switch ic.Type {
	case slackapi.InteractionTypeBlockActions:
		s.blockAction(ctx, log, ic)
		return outcome{}
	case slackapi.InteractionTypeViewSubmission:
		return s.viewSubmission(ctx, log, ic)
	default:
		log.Debug().Msg("ignored a Slack interaction of this type")
		return outcome{}
	}
}

// blockAction handles a button click. Slack reads nothing from the answer to a click, so every
// reply goes out here, through the response_url, chat.postEphemeral or a DM.
func (s *Server) blockAction(ctx context.Context, log zerolog.Logger, ic slackapi.InteractionCallback) {
	if len(ic.ActionCallback.BlockActions) == 0 {
		return
	}
	ba := ic.ActionCallback.BlockActions[0]
	value := ba.Value
	if ba.Type == slackapi.ActionType(slackapi.OptTypeStatic) {
		value = ba.SelectedOption.Value
	}
	to := target{responseURL: ic.ResponseURL, channel: ic.Channel.ID, user: ic.User.ID}
	actor, err := s.client.Actor(ctx, ic.User.ID)
	if err != nil {
		s.respond(ctx, log, to, s.actorProblem(ctx, log, err, "a click"), true)
		return
	}
	reply := s.handler.Act(ctx, actor, bot.Action{ID: ba.ActionID, Value: value})
	if reply.Form != nil {
		if err := s.client.openModal(ctx, ic.TriggerID, *reply.Form); err != nil {
			log.Warn().Err(err).Msg("open a form for a click")
			v := bot.ProblemView(formProblem)
			reply = bot.Reply{Private: true, View: &v}
		}
	}
	if reply.View != nil {
		s.respond(ctx, log, to, *reply.View, reply.Private)
	}
}

// viewSubmission handles a submitted form. The answer can keep the form open with errors next
// to the inputs, or replace it with the reply; when the answer is late, the reply goes by DM.
func (s *Server) viewSubmission(ctx context.Context, log zerolog.Logger, ic slackapi.InteractionCallback) outcome {
	userID := ic.User.ID
	dm := func(v bot.View) func(context.Context) {
		return func(ctx context.Context) {
			if _, err := s.client.DM(ctx, userID, v); err != nil {
				log.Error().Err(err).Msg("deliver a late form reply")
			}
		}
	}
	actor, err := s.client.Actor(ctx, userID)
	if err != nil {
		v := s.actorProblem(ctx, log, err, "a form")
		return outcome{payload: slackapi.NewUpdateViewSubmissionResponse(resultModal(v)), late: dm(v)}
	}
	reply := s.handler.Act(ctx, actor, bot.Action{
		ID:     bot.ActionSubmit,
		Form:   ic.View.CallbackID,
		Value:  ic.View.PrivateMetadata,
		Inputs: formInputs(ic.View.State),
	})
	switch {
	case len(reply.Errors) > 0:
		return outcome{payload: slackapi.NewErrorsViewSubmissionResponse(reply.Errors), late: dm(bot.FormErrorsView(reply.Errors, formFix))}
	case reply.Form != nil:
		m := Modal(*reply.Form)
		v := bot.ProblemView(formProblem)
		return outcome{payload: slackapi.NewUpdateViewSubmissionResponse(&m), late: dm(v)}
	case reply.View != nil:
		return outcome{payload: slackapi.NewUpdateViewSubmissionResponse(resultModal(*reply.View)), late: dm(*reply.View)}
	}
	return outcome{}
}

// formInputs reads a submission's values by input ID (the input block's block_id).
func formInputs(state *slackapi.ViewState) map[string]string {
	inputs := map[string]string{}
	if state == nil {
		return inputs
	}
	for blockID, actions := range state.Values {
		for _, a := range actions {
			switch {
			case a.SelectedOption.Value != "":
				inputs[blockID] = a.SelectedOption.Value
			default:
				inputs[blockID] = a.Value
			}
		}
	}
	return inputs
}

// target is where a reply to a click can go.
type target struct {
	responseURL, channel, user string
}

// respond shows v to the person who clicked: through the response_url when there is one, else
// chat.postEphemeral (or chat.postMessage when public) in the channel, else by DM.
func (s *Server) respond(ctx context.Context, log zerolog.Logger, to target, v bot.View, private bool) {
	if to.responseURL != "" {
		msg := newMessage(v, private)
		replace := false
		msg.ReplaceOriginal = &replace
		err := s.postResponseURL(ctx, to.responseURL, msg)
		if err == nil {
			return
		}
		log.Warn().Err(err).Msg("reply through the response_url")
	}
	if to.channel != "" {
		var err error
		if private {
			err = s.client.postEphemeral(ctx, to.channel, to.user, v)
		} else {
			_, err = s.client.Post(ctx, to.channel, v)
		}
		if err == nil {
			return
		}
		log.Warn().Err(err).Msg("reply in the channel")
	}
	if _, err := s.client.DM(ctx, to.user, v); err != nil {
		log.Error().Err(err).Msg("reply by DM")
	}
}

// postResponseURL posts msg to a response_url. Only Slack's own hosts (or the configured API's)
// are posted to, and the URL, a credential of sorts, is never logged whole.
func (s *Server) postResponseURL(ctx context.Context, rawURL string, msg *message) error {
	u, err := url.Parse(rawURL)
	if err != nil || rawURL == "" || !s.allowedResponseURL(u) {
		host := ""
		if u != nil {
			host = u.Host
		}
		return fmt.Errorf("response_url on host %q is not a Slack URL", host)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode response_url message: %w", err)
	}
	ctx, cancel := s.client.deadline(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post to response_url on %s: %w", u.Host, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.client.http.Do(req)
	if err != nil {
		return fmt.Errorf("post to response_url on %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to response_url on %s: %s: %s", u.Host, resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

func (s *Server) allowedResponseURL(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" {
		for _, domain := range []string{"slack.com", "slack-gov.com"} {
			if host == domain || strings.HasSuffix(host, "."+domain) {
				return true
			}
		}
	}
	api, err := url.Parse(s.client.apiURL)
	return err == nil && u.Scheme == api.Scheme && strings.EqualFold(u.Host, api.Host)
}

// formFix is how a person sends a form again, under the errors found in it.
const formFix = "Please fix this and try again."
