package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// PathMessages is the messaging endpoint's path, registered as the bot's endpoint in Azure.
const PathMessages = "/teams/messages"

const (
	// DefaultBudget is how long an invoke waits for the handler before Teams is answered that
	// the work goes on: Teams gives up on an invoke after about five seconds.
	DefaultBudget = 4 * time.Second
	// DefaultLateTimeout bounds the work that goes on after that answer.
	DefaultLateTimeout = 30 * time.Second
	// maxBody bounds what is read of a request before its token is checked.
	maxBody = 1 << 20
)

// Approvals renders a request's approval message as it stands now, for a person who may see
// it; *bot.Bot is one.
type Approvals interface {
	CurrentApproval(ctx context.Context, a grants.Actor, requestID string) (bot.View, error)
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// AppID is the bot's Microsoft App ID: the audience of the tokens. Required.
	AppID string
	// OpenIDMetadataURL is the Bot Framework's OpenID metadata (DefaultOpenIDMetadataURL when
	// empty).
	OpenIDMetadataURL string
	// Issuer is the tokens' issuer (DefaultIssuer when empty).
	Issuer string
	// Tenants are the tenants whose activities are accepted. Required.
	Tenants []string
	// KeysHTTP fetches the metadata and keys (a client with a timeout when nil).
	KeysHTTP *http.Client
	// Handler receives commands and clicks. Required.
	Handler bot.Handler
	// Approvals draws approval cards as they stand, for the answer to a click and the refresh
	// of a card. Nil: a click is answered with its reply alone.
	Approvals Approvals
	// Audit records refused requests (auth.failed) and refused users (identity.refused).
	Audit bot.AuditLog
	Clock clock.Clock
	Log   zerolog.Logger
	// Budget and LateTimeout: DefaultBudget and DefaultLateTimeout when 0.
	Budget      time.Duration
	LateTimeout time.Duration
}

// Server receives the Bot Framework's activities on PathMessages.
type Server struct {
	client       *Client
	handler      bot.Handler
	approvals    Approvals
	verifier     *Verifier
	keys         *KeySet
	authFailures *bot.AuthFailures
	refusals     *bot.Refusals
	log          zerolog.Logger
	answerer     bot.Answerer[InvokeResponse]
}

// NewServer returns a Server that answers through c.
func NewServer(c *Client, o ServerOptions) (*Server, error) {
	switch {
	case c == nil:
		return nil, errors.New("teams: a client is required")
	case o.Handler == nil:
		return nil, errors.New("teams: a handler is required")
	case o.AppID == "":
		return nil, errors.New("teams: the app ID is required")
	case len(o.Tenants) == 0:
		return nil, errors.New("teams: at least one tenant is required")
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
	keys := &KeySet{MetadataURL: o.OpenIDMetadataURL, HTTP: o.KeysHTTP, Clock: o.Clock}
	return &Server{
		client: c, handler: o.Handler, approvals: o.Approvals, keys: keys,
		verifier:     &Verifier{AppID: o.AppID, Issuer: o.Issuer, Keys: keys, Tenants: o.Tenants, Clock: o.Clock},
		authFailures: bot.NewAuthFailures(PlatformName, o.Audit, o.Clock, log),
		refusals:     bot.NewRefusals(PlatformName, o.Audit, o.Clock, log),
		log:          log,
		answerer: bot.Answerer[InvokeResponse]{Budget: o.Budget, LateTimeout: o.LateTimeout, Clock: o.Clock, Log: log,
			What: "a Teams activity", Failed: func() InvokeResponse { return messageResponse(bot.InternalErrorText) }},
	}, nil
}

// Mount serves POST /teams/messages on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathMessages, s.ServeActivity)
}

// Keys are the server's signing keys (for tests and the benchmark).
func (s *Server) Keys() *KeySet { return s.keys }

// Wait blocks until the work still running after its answer is done.
func (s *Server) Wait() { s.answerer.Wait() }

// ServeActivity answers one activity. The token is checked before anything else: a request
// that fails gets 401 and an auth.failed audit event.
func (s *Server) ServeActivity(w http.ResponseWriter, r *http.Request) {
	body, ok := bot.ReadVerified(w, r, maxBody, s.verifier, s.authFailures)
	if !ok {
		return
	}
	var act Activity
	if err := json.Unmarshal(body, &act); err != nil || act.Type == "" {
		http.Error(w, "not an activity", http.StatusBadRequest)
		return
	}
	switch {
	case act.Type == ActivityMessage:
		s.answerer.Answer(r.Context(), func(ctx context.Context) InvokeResponse {
			s.message(ctx, &act)
			return InvokeResponse{}
		}, nil)
		w.WriteHeader(http.StatusOK)
	case act.Type == ActivityInvoke && act.Name == InvokeCardAction:
		resp, inTime := s.answerer.Answer(r.Context(), func(ctx context.Context) InvokeResponse { return s.cardAction(ctx, &act) }, nil)
		if !inTime {
			resp = messageResponse("Working on it: the card shows the result when it is done.")
		}
		writeJSON(w, resp)
	default:
		// conversationUpdate (the bot added to a team), typing, reactions: nothing to do.
		w.WriteHeader(http.StatusOK)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// messageResponse answers an invoke with a message instead of a card.
func messageResponse(text string) InvokeResponse {
	return InvokeResponse{StatusCode: http.StatusOK, Type: ContentTypeMessage, Value: text}
}

// keepCard answers a refresh with no card: Teams goes on showing the card as it was posted.
func keepCard() InvokeResponse {
	return InvokeResponse{StatusCode: http.StatusOK, Type: ContentTypeMessage, Value: ""}
}

// cardResponse answers an invoke with the card that replaces the one clicked.
func cardResponse(c Card) InvokeResponse {
	return InvokeResponse{StatusCode: http.StatusOK, Type: ContentTypeCard, Value: c}
}

const (
	identityProblem = "I could not work out who you are on Teams. Try again in a minute."
	unknownAction   = "accessbot does not know this button; run the command again."
	noPersonalChat  = "I answer this in your personal chat with accessbot, which I could not open: add the accessbot app for yourself (Apps > accessbot > Add), then try again."
)

// actor works out who sent an activity; on failure it returns what to tell them.
func (s *Server) actor(ctx context.Context, act *Activity) (grants.Actor, *bot.View) {
	a, err := s.client.Actor(ctx, act)
	if err == nil {
		return a, nil
	}
	log := zerolog.Ctx(ctx)
	if re, ok := errors.AsType[*RefusedError](err); ok {
		log.Warn().Str("refused", re.Refused).Msg("refused a Teams user the identity policy does not accept")
		s.refusals.Record(ctx, re.UserID, re.Refused, re.Event())
		v := bot.ProblemView(re.Sentence())
		return grants.Actor{}, &v
	}
	log.Error().Err(err).Msg("resolve the Teams user of an activity")
	v := bot.ProblemView(identityProblem)
	return grants.Actor{}, &v
}

// withLog puts the activity's fields on the context's logger.
func (s *Server) withLog(ctx context.Context, act *Activity) context.Context {
	l := s.log.With().Str("activity", act.Type)
	if act.From != nil {
		l = l.Str("teams_user", act.From.ID)
	}
	if act.Conversation != nil {
		l = l.Str("conversation", act.Conversation.ID)
	}
	log := l.Logger()
	return log.WithContext(ctx)
}

// message handles a message to the bot: a command, or an Action.Submit of a card (which
// Teams sends as a message with the card's data as its value). The answer goes through the
// connector.
func (s *Server) message(ctx context.Context, act *Activity) {
	ctx = s.withLog(ctx, act)
	a, problem := s.actor(ctx, act)
	if problem != nil {
		s.reply(ctx, act, grants.Actor{}, bot.Reply{Private: true, View: problem})
		return
	}
	if len(act.Value) > 0 && string(act.Value) != "null" {
		var data map[string]any
		if err := json.Unmarshal(act.Value, &data); err != nil {
			s.reply(ctx, act, a, bot.Reply{Private: true, View: ptr(bot.ProblemView(unknownAction))})
			return
		}
		r, _ := s.act(ctx, a, stringOf(data["action"]), data)
		if len(r.Errors) > 0 {
			r = bot.Reply{Private: true, View: ptr(bot.FormErrorsView(r.Errors, formFix))}
		}
		s.reply(ctx, act, a, r)
		return
	}
	s.reply(ctx, act, a, s.handler.Command(ctx, a, CommandText(act.Text)))
}

// reply sends the handler's reply to the conversation of the activity; a private reply in a
// channel or group chat goes to the person's personal chat instead, since Teams has no message
// only one member of a conversation sees.
func (s *Server) reply(ctx context.Context, act *Activity, a grants.Actor, r bot.Reply) {
	var card Card
	title := ""
	switch {
	case r.Form != nil:
		card, title = FormCard(*r.Form, nil), r.Form.Title
	default:
		v := bot.View{Title: "Done", Tone: bot.ToneNeutral}
		if r.View != nil {
			v = *r.View
		}
		if v.Secret != nil {
			// A secret is only ever sent by the outbox's DM, never as a reply; refuse rather
			// than post one into a conversation.
			v = bot.ProblemView("accessbot sends credentials only in your personal chat.")
		}
		card, title = Render(v), v.Title
	}
	conv := act.Conversation.ID
	private := r.Private || r.Form != nil
	var err error
	if private && act.Conversation.ConversationType != ConversationPersonal && act.From != nil {
		conv, err = s.client.personalConversation(ctx, act.From.ID)
		if err != nil {
			// Most often the person has not added the app for themselves: say so where they
			// are, without what the reply said.
			zerolog.Ctx(ctx).Warn().Err(err).Msg("open the personal chat for a private reply")
			card, title = Render(bot.ProblemView(noPersonalChat)), "Sorry"
			conv = act.Conversation.ID
		}
	}
	if _, err = s.client.send(ctx, conv, cardMessage(card, title)); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("send a reply on Teams")
	}
}

// cardAction answers an adaptiveCard/action invoke: the card that replaces the one clicked, for
// the person who clicked.
func (s *Server) cardAction(ctx context.Context, act *Activity) InvokeResponse {
	ctx = s.withLog(ctx, act)
	var ca CardAction
	if err := json.Unmarshal(act.Value, &ca); err != nil || ca.Action.Type != "Action.Execute" {
		return messageResponse(unknownAction)
	}
	a, problem := s.actor(ctx, act)
	if problem != nil {
		return cardResponse(Render(*problem))
	}
	data := ca.Action.Data
	if data == nil {
		data = map[string]any{}
	}
	verb := ca.Action.Verb
	if verb == VerbRefresh {
		requestID := stringOf(data["value"])
		if s.approvals == nil {
			return keepCard()
		}
		if _, err := s.approvals.CurrentApproval(ctx, a, requestID); err != nil {
			// Not theirs to see, or gone: Teams keeps showing the card as it was posted.
			return keepCard()
		}
		return cardResponse(s.approvalCard(ctx, a, requestID, nil))
	}
	r, requestID := s.act(ctx, a, verb, data)
	switch {
	case r.Form != nil:
		return cardResponse(FormCard(*r.Form, nil))
	case len(r.Errors) > 0:
		return cardResponse(Render(bot.FormErrorsView(r.Errors, formFix)))
	case requestID != "" && s.approvals != nil:
		return cardResponse(s.approvalCard(ctx, a, requestID, r.View))
	}
	v := bot.View{Title: "Done", Tone: bot.ToneNeutral}
	if r.View != nil {
		v = *r.View
	}
	return cardResponse(Render(v))
}

// act hands a click or a form's submission to the handler. requestID is the request an
// approval card's click decided (Approve, or the Deny form), whose card is answered.
func (s *Server) act(ctx context.Context, a grants.Actor, verb string, data map[string]any) (r bot.Reply, requestID string) {
	value := stringOf(data["value"])
	switch verb {
	case bot.ActionSubmit:
		form := stringOf(data["form"])
		inputs := map[string]string{}
		for k, v := range data {
			if k != "action" && k != "value" && k != "form" {
				inputs[k] = strings.TrimSpace(stringOf(v))
			}
		}
		r = s.handler.Act(ctx, a, bot.Action{ID: bot.ActionSubmit, Form: form, Value: value, Inputs: inputs})
		if form == bot.FormDeny {
			requestID = value
		}
		return r, requestID
	case bot.ActionApprove, bot.ActionDeny, bot.ActionRevoke, bot.ActionExtend, bot.ActionReview:
		r = s.handler.Act(ctx, a, bot.Action{ID: verb, Value: value})
		if verb == bot.ActionApprove {
			requestID = value
		}
		return r, requestID
	}
	return bot.Reply{Private: true, View: ptr(bot.ProblemView(unknownAction))}, ""
}

// approvalCard draws a request's approval card as it stands, for a: without Approve and Deny
// when they may not decide it, with the reply to what they did (notice) on top.
func (s *Server) approvalCard(ctx context.Context, a grants.Actor, requestID string, notice *bot.View) Card {
	if s.approvals == nil || requestID == "" {
		if notice != nil {
			return Render(*notice)
		}
		return Render(bot.ProblemView(unknownAction))
	}
	v, err := s.approvals.CurrentApproval(ctx, a, requestID)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("request", requestID).Msg("draw an approval card")
		if notice != nil {
			return Render(*notice)
		}
		return Render(bot.ProblemView("accessbot cannot show this request now; try again."))
	}
	pending := ApprovalRequest(v) != ""
	if pending {
		if may := s.client.mayReview; may == nil {
			// Nobody says who may decide: keep the buttons; a click is authorized anyway.
		} else if ok, err := may(ctx, a, requestID); err != nil || !ok {
			v.Buttons = withoutDecisions(v.Buttons)
		}
	}
	card := Render(v)
	if pending {
		card = WithRefresh(card, requestID, s.client.refreshUsers())
	}
	if notice != nil {
		text := notice.Title
		if notice.Text != "" {
			text += ": " + notice.Text
		}
		note := Element{Type: "TextBlock", Text: escape(text), Color: toneColor[notice.Tone], Size: "Small", Wrap: true}
		card.Body = append([]Element{note}, card.Body...)
	}
	return card
}

// withoutDecisions drops Approve and Deny.
func withoutDecisions(bs []bot.Button) []bot.Button {
	var out []bot.Button
	for _, b := range bs {
		if b.ActionID != bot.ActionApprove && b.ActionID != bot.ActionDeny {
			out = append(out, b)
		}
	}
	return out
}

func stringOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

var (
	mentionTag = regexp.MustCompile(`(?is)<at[^>]*>.*?</at>`)
	anyTag     = regexp.MustCompile(`(?s)<[^>]*>`)
)

// CommandText reads the `/access` command in a message's text: the bot's @mention taken out
// (Teams writes it as <at>name</at>), HTML tags and entities undone, and a leading "/access" or
// "access" dropped. An empty message is "help".
func CommandText(text string) string {
	text = mentionTag.ReplaceAllString(text, " ")
	text = anyTag.ReplaceAllString(text, " ")
	text = strings.Join(strings.Fields(html.UnescapeString(text)), " ")
	for _, prefix := range []string{"/access", "access"} {
		if rest, ok := strings.CutPrefix(text, prefix); ok && (rest == "" || rest[0] == ' ') {
			text = strings.TrimSpace(rest)
			break
		}
	}
	if text == "" {
		return bot.VerbHelp
	}
	return text
}

// formFix is how a person sends a form again, under the errors found in it.
const formFix = "Fix this and send it again (run the command again)."
