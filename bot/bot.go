package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/duration"
)

// Channels say where one platform's messages go.
type Channels struct {
	// Approvals is the approver channel of resources without one of their own.
	Approvals string
	// Resources maps a resource name to its approver channel.
	Resources map[string]string
	// Security receives alerts and break-glass announcements.
	Security string
}

// ApproverChannel returns the channel where a resource's approval messages go ("" for none).
func (c Channels) ApproverChannel(resource string) string {
	if ch := c.Resources[resource]; ch != "" {
		return ch
	}
	return c.Approvals
}

// Options configure a Bot.
type Options struct {
	Service *grants.Service
	Store   Store
	// Clock defaults to the wall clock.
	Clock clock.Clock
	Log   zerolog.Logger
	// Channels says, by platform name, where messages go.
	Channels map[string]Channels
	// Platforms deliver messages; more may be added with AddPlatform before Run.
	Platforms []Platform
	Delivery  DeliveryOptions
	// StepUp issues the links of step-up approval; nil when no resource uses it.
	StepUp StepUpLinker
	// Linking says that `/access link` is answered (a handler in front of the Bot ties Discord
	// accounts to people), so that help lists it.
	Linking bool
	// GitHubLogin enables `/access github-login` (githublogin.go); nil leaves it off.
	GitHubLogin *GitHubLoginOptions
}

// replyTimeout bounds the work of one command or click: chat platforms want an answer within
// three seconds.
const replyTimeout = 2500 * time.Millisecond

// Bot is the chat core: it answers commands and clicks (Handler) with one call on the grants
// Service, hears about changes (grants.Notifier), delivers secrets by DM (grants.SecretSink),
// and runs one Dispatcher and one Outbox per platform (Run).
type Bot struct {
	svc *grants.Service
	// store is all of bot's storage: the Bot hands each of its workers (Dispatcher, Outbox,
	// DigestRunner) the part it uses, and queues through it the notice of a secret it could not
	// deliver.
	store Store
	// people and keys are the parts the Bot's answers use: where people are reached, and their
	// SSH keys (sshkeys.go).
	people   PersonDirectory
	keys     SSHKeyStore
	clock    clock.Clock
	log      zerolog.Logger
	baseLog  zerolog.Logger // for the workers, which name their own component
	channels map[string]Channels
	delivery DeliveryOptions
	read     reader
	stepUp   StepUpLinker
	linking  bool
	// gh runs `/access github-login`; nil when it is off.
	gh *githubLogins

	mu          sync.Mutex
	platforms   map[string]Platform
	dispatchers map[string]*Dispatcher
	outboxes    map[string]*Outbox

	seenMu sync.Mutex
	seen   map[string]seenPerson
}

// seenPerson is what was last stored of a person, so that a command does not write it again.
type seenPerson struct {
	p  Person
	at time.Time
}

var (
	_ Handler           = (*Bot)(nil)
	_ grants.Notifier   = (*Bot)(nil)
	_ grants.SecretSink = (*Bot)(nil)
)

// New builds a Bot. It does no I/O.
func New(o Options) (*Bot, error) {
	if o.Service == nil || o.Store == nil {
		return nil, errors.New("bot needs a grants service and a store")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	b := &Bot{
		svc:         o.Service,
		store:       o.Store,
		people:      o.Store,
		keys:        o.Store,
		clock:       o.Clock,
		log:         o.Log.With().Str("component", "bot").Logger(),
		baseLog:     o.Log,
		channels:    o.Channels,
		delivery:    o.Delivery.withDefaults(),
		read:        reader{svc: o.Service, store: o.Store},
		stepUp:      o.StepUp,
		linking:     o.Linking,
		platforms:   map[string]Platform{},
		dispatchers: map[string]*Dispatcher{},
		outboxes:    map[string]*Outbox{},
		seen:        map[string]seenPerson{},
	}
	b.gh = newGitHubLogins(o.GitHubLogin, b.clock, b.log)
	for _, p := range o.Platforms {
		if err := b.AddPlatform(p); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// AddPlatform adds a platform to deliver through, with its Dispatcher and Outbox. A platform
// that needs the Bot as its Handler is built after it and added here, before Run.
func (b *Bot) AddPlatform(p Platform) error {
	name := p.Name()
	if name == "" {
		return errors.New("add platform: empty name")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.platforms[name]; dup {
		return fmt.Errorf("add platform %s: already added", name)
	}
	ch := b.channels[name]
	out := NewOutbox(OutboxOptions{
		Store: b.store, Service: b.svc, Platform: p, Channels: ch, Clock: b.clock, Log: b.baseLog, Options: b.delivery,
	})
	d := NewDispatcher(DispatcherOptions{
		Store: b.store, Service: b.svc, Platform: name, Channels: ch, Clock: b.clock, Log: b.baseLog,
		Options: b.delivery, OnEnqueue: out.Wake,
	})
	b.platforms[name] = p
	b.outboxes[name] = out
	b.dispatchers[name] = d
	return nil
}

// Workers returns the Dispatcher and Outbox of a platform (nil when it was not added).
func (b *Bot) Workers(platform string) (*Dispatcher, *Outbox) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dispatchers[platform], b.outboxes[platform]
}

func (b *Bot) platform(name string) Platform {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.platforms[name]
}

// Notify wakes every Dispatcher: new events are in the audit log. It never blocks.
func (b *Bot) Notify(_ context.Context, _ []audit.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.dispatchers {
		d.Wake()
	}
}

// Run runs every platform's Dispatcher and Outbox until ctx is done.
func (b *Bot) Run(ctx context.Context) error {
	// The GitHub logins under way end with the process (the person asks again).
	defer b.gh.stop()
	b.mu.Lock()
	var runs []func(context.Context) error
	for name := range b.platforms {
		runs = append(runs, b.dispatchers[name].Run, b.outboxes[name].Run)
	}
	b.mu.Unlock()
	if len(runs) == 0 {
		<-ctx.Done() // nothing to deliver through, but Run still lasts as long as the app
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(runs))
	for _, run := range runs {
		go func() { errc <- run(ctx) }()
	}
	var first error
	for range runs {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// Remember records where the actor can be reached, as every command and click does: for
// handlers in front of the Bot that answer some commands themselves (`/access link`).
func (b *Bot) Remember(ctx context.Context, a grants.Actor) { b.remember(ctx, a) }

// remember records where the actor can be reached, unless nothing changed lately.
func (b *Bot) remember(ctx context.Context, a grants.Actor) {
	if a.ID == "" || a.Platform == "" || a.PlatformID == "" {
		return
	}
	now := b.clock.Now()
	p := Person{ID: a.ID, Name: a.Name, Platform: a.Platform, PlatformID: a.PlatformID, SeenAt: now}
	b.seenMu.Lock()
	last, ok := b.seen[a.ID]
	b.seenMu.Unlock()
	// SeenAt decides which platform DMs go to: it is refreshed when the person switches
	// platforms, and hourly otherwise.
	if ok && last.p.Platform == p.Platform && last.p.PlatformID == p.PlatformID && last.p.Name == p.Name &&
		now.Sub(last.at) < time.Hour && now.After(last.at) {
		return
	}
	if err := b.people.RememberPerson(ctx, p); err != nil {
		b.log.Warn().Err(err).Str("actor", a.ID).Str("platform", a.Platform).Msg("could not remember where to reach a person")
		return
	}
	b.seenMu.Lock()
	b.seen[a.ID] = seenPerson{p: p, at: now}
	b.seenMu.Unlock()
}

func (b *Bot) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	// A platform that set a deadline knows its own budget: Slack's and Discord's servers
	// acknowledge within three seconds themselves and let the work finish later, so cutting it
	// short here would turn a busy database into lost approvals.
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, replyTimeout)
}

// private wraps a view in a reply only its recipient sees.
func private(v View) Reply { return Reply{Private: true, View: &v} }

// fail turns an error into a private reply; errors that are not the domain's refusals are
// logged (the person sees a generic sentence).
func (b *Bot) fail(a grants.Actor, what string, err error) Reply {
	var ge *grants.Error
	var pe *ParseError
	if !errors.As(err, &ge) && !errors.As(err, &pe) {
		b.log.Error().Err(err).Str("actor", a.ID).Str("platform", a.Platform).Str("op", what).Msg("chat command failed")
	}
	return private(ErrorView(err))
}

// Command handles the text after `/access`.
func (b *Bot) Command(ctx context.Context, a grants.Actor, text string) Reply {
	ctx, cancel := b.withDeadline(ctx)
	defer cancel()
	b.remember(ctx, a)
	cmd, err := Parse(text)
	if err != nil {
		return b.fail(a, "parse", err)
	}
	now := b.clock.Now()
	switch cmd.Name {
	case VerbRequest:
		if cmd.Form {
			return b.requestForm(ctx, a)
		}
		out, err := b.svc.Request(ctx, a, grants.RequestInput{Resource: cmd.Resource, Duration: cmd.Duration, Reason: cmd.Reason})
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		res, _ := b.svc.Resource(out.Request.Resource)
		return private(RequestedView(out, res, now))
	case VerbBreakGlass:
		out, err := b.svc.BreakGlass(ctx, a, grants.RequestInput{Resource: cmd.Resource, Duration: cmd.Duration, Reason: cmd.Reason})
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		return private(BreakGlassGrantedView(out, now))
	case VerbList:
		gs, err := b.svc.ListGrants(ctx, grants.GrantFilter{Subject: a.ID, States: []grants.GrantState{
			grants.GrantActivating, grants.GrantActive, grants.GrantRevoking, grants.GrantRevokeFailed}})
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		rs, err := b.svc.ListRequests(ctx, grants.RequestFilter{Requester: a.ID, States: []grants.RequestState{grants.RequestPending}})
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		return private(ListView(gs, rs, now))
	case VerbResources:
		mine, err := b.svc.Requestable(ctx, a)
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		requestable := map[string]bool{}
		for _, r := range mine {
			requestable[r.Name] = true
		}
		return private(ResourcesView(b.svc.Resources(), requestable))
	case VerbStatus:
		s, err := b.statusOf(ctx, a, cmd.ID)
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		return private(StatusView(s, now))
	case VerbRevoke:
		return b.revoke(ctx, a, cmd.ID)
	case VerbExtend:
		gid, err := b.grantID(ctx, cmd.ID)
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		return b.extend(ctx, a, gid, cmd.Duration, cmd.Reason, false)
	case VerbCancel:
		r, err := b.svc.Cancel(ctx, a, cmd.ID)
		if err != nil {
			return b.fail(a, cmd.Name, err)
		}
		return private(CancelledView(r))
	case VerbSSHKey:
		return b.sshKey(ctx, a, cmd)
	case VerbGitHubLogin:
		return b.githubLogin(ctx, a, cmd)
	}
	return private(HelpView(cmd, b.linking))
}

func (b *Bot) requestForm(ctx context.Context, a grants.Actor) Reply {
	rs, err := b.svc.Requestable(ctx, a)
	if err != nil {
		return b.fail(a, "request form", err)
	}
	if len(rs) == 0 {
		return private(View{Title: "Nothing to request", Tone: ToneNeutral,
			Text: "You may not request any resource. " + code("/access resources") + " shows who may request each."})
	}
	f := RequestForm(rs)
	return Reply{Private: true, Form: &f}
}

// grantID accepts a grant ID, or the ID of the request that made the grant.
func (b *Bot) grantID(ctx context.Context, id string) (string, error) {
	if !strings.HasPrefix(id, "r-") {
		return id, nil
	}
	r, err := b.svc.GetRequest(ctx, id)
	if err != nil {
		return "", err
	}
	if r.Kind == grants.KindExtend || r.GrantID == "" {
		return "", &grants.Error{Code: grants.ErrNotFound, Reason: grants.ReasonUnknownGrant,
			Message: fmt.Sprintf("Request %s has not made a grant (it is %s); use the grant's ID (g-…).", r.ID, r.State),
			Details: map[string]string{"id": id}}
	}
	return r.GrantID, nil
}

// statusOf reads the request behind a request or grant ID, for a person who may see it: its
// requester, an approver of its resource, or an admin. To anyone else it is not there: the
// answer is the one for an unknown ID, so that nobody learns who asked for what, why, or
// whether an ID exists.
func (b *Bot) statusOf(ctx context.Context, a grants.Actor, id string) (Snapshot, error) {
	requestID := id
	if !strings.HasPrefix(id, "r-") {
		g, err := b.svc.GetGrant(ctx, id)
		switch {
		case err == nil && !b.maySee(ctx, a, g.Subject, g.Resource):
			return Snapshot{}, grants.NotFound("grant", id)
		case err == nil && g.RequestID != "":
			requestID = g.RequestID
		case err == nil:
			return Snapshot{}, &grants.Error{Code: grants.ErrNotFound, Reason: grants.ReasonUnknownRequest,
				Message: fmt.Sprintf("Grant %s was not made by a request; %s lists it.", g.ID, code("accessbot grants list"))}
		case strings.HasPrefix(id, "g-"):
			return Snapshot{}, err
		}
	}
	r, err := b.svc.GetRequest(ctx, requestID)
	if err != nil {
		return Snapshot{}, err
	}
	if !b.maySee(ctx, a, r.Requester, r.Resource) {
		if requestID != id {
			return Snapshot{}, grants.NotFound("grant", id)
		}
		return Snapshot{}, grants.NotFound("request", id)
	}
	return b.read.snapshot(ctx, requestID)
}

// maySee reports whether the actor may see a request (or grant) of requester for resource: they
// are the requester, may approve requests for the resource now, or are an admin.
func (b *Bot) maySee(ctx context.Context, a grants.Actor, requester, resource string) bool {
	if a.ID == "" {
		return false
	}
	if a.ID == requester || grants.MatchesPerson(a, requester) || b.svc.IsAdmin(ctx, a) {
		return true
	}
	ok, err := b.svc.MayApprove(ctx, a, resource)
	var ge *grants.Error
	if err != nil && !errors.As(err, &ge) {
		// A directory outage hides the request (fail closed); a resource no longer configured
		// has no approvers, which is not worth a log line.
		b.log.Warn().Err(err).Str("actor", a.ID).Str("resource", resource).Msg("approver check for status failed")
	}
	return ok && err == nil
}

func (b *Bot) revoke(ctx context.Context, a grants.Actor, id string) Reply {
	gid, err := b.grantID(ctx, id)
	if err != nil {
		return b.fail(a, VerbRevoke, err)
	}
	g, err := b.svc.Revoke(ctx, a, gid)
	if err != nil {
		return b.fail(a, VerbRevoke, err)
	}
	return private(RevokingView(g, g.Subject == a.ID))
}

func (b *Bot) extend(ctx context.Context, a grants.Actor, grantID string, by time.Duration, reason string, form bool) Reply {
	out, err := b.svc.Extend(ctx, a, grantID, by, reason)
	if err != nil {
		if form {
			return b.formError(a, FormExtend, err)
		}
		return b.fail(a, VerbExtend, err)
	}
	res, _ := b.svc.Resource(out.Request.Resource)
	return private(ExtendRequestedView(out, res, b.clock.Now()))
}

// Act handles a button click or a form submission.
func (b *Bot) Act(ctx context.Context, a grants.Actor, act Action) Reply {
	ctx, cancel := b.withDeadline(ctx)
	defer cancel()
	b.remember(ctx, a)
	switch act.ID {
	case ActionApprove:
		if b.stepUp != nil {
			if r, ok := b.stepUpApprove(ctx, a, act.Value); ok {
				return r
			}
		}
		out, err := b.svc.Approve(ctx, a, act.Value)
		if err != nil {
			return b.fail(a, act.ID, err)
		}
		reviews, err := b.svc.Reviews(ctx, out.Request.ID)
		if err != nil {
			b.log.Warn().Err(err).Str("request_id", out.Request.ID).Msg("read reviews for the reply")
		}
		return private(ApprovedView(out, reviews))
	case ActionDeny:
		return b.denyClick(ctx, a, act.Value)
	case ActionRevoke:
		return b.revoke(ctx, a, act.Value)
	case ActionExtend:
		return b.extendClick(ctx, a, act.Value)
	case ActionReview:
		g, err := b.svc.ReviewBreakGlass(ctx, a, act.Value, "")
		if err != nil {
			return b.fail(a, act.ID, err)
		}
		return private(BreakGlassReviewedView(g))
	case ActionSubmit:
		return b.submit(ctx, a, act)
	}
	return private(View{Title: "Unknown action", Tone: ToneDanger,
		Text: "This button is not one accessbot knows (" + truncate(act.ID, 30) + "). " + code("/access help") + " lists what you can do."})
}

// denyClick opens the deny form for someone who may deny the request. Anyone else gets the
// Service's refusal, which CheckReview records in the audit log without touching the request.
func (b *Bot) denyClick(ctx context.Context, a grants.Actor, requestID string) Reply {
	r, err := b.svc.GetRequest(ctx, requestID)
	if err != nil {
		return b.fail(a, ActionDeny, err)
	}
	if err := b.svc.CheckReview(ctx, a, requestID, grants.Deny); err != nil {
		return b.fail(a, ActionDeny, err)
	}
	if r.State != grants.RequestPending {
		return private(ErrorView(&grants.Error{Code: grants.ErrConflict, Reason: grants.ReasonAlreadyDecided,
			Message: fmt.Sprintf("Request %s is already %s.", r.ID, r.State)}))
	}
	f := DenyForm(r)
	return Reply{Private: true, Form: &f}
}

// extendClick opens the extend form for the holder of an active grant.
func (b *Bot) extendClick(ctx context.Context, a grants.Actor, grantID string) Reply {
	g, err := b.svc.GetGrant(ctx, grantID)
	if err != nil {
		return b.fail(a, ActionExtend, err)
	}
	if a.ID != g.Subject {
		return private(ErrorView(&grants.Error{Code: grants.ErrForbidden, Reason: grants.ReasonNotOwner,
			Message: "Only the person who holds a grant can extend it."}))
	}
	if g.State != grants.GrantActive || !g.ExpiresAt.After(b.clock.Now()) {
		return private(ErrorView(&grants.Error{Code: grants.ErrConflict, Reason: grants.ReasonNotActive,
			Message: fmt.Sprintf("Grant %s is %s and can no longer be extended.", g.ID, g.State)}))
	}
	res, _ := b.svc.Resource(g.Resource)
	f := ExtendForm(g, res)
	return Reply{Private: true, Form: &f}
}

func (b *Bot) submit(ctx context.Context, a grants.Actor, act Action) Reply {
	in := func(id string) string { return strings.TrimSpace(act.Inputs[id]) }
	now := b.clock.Now()
	switch act.Form {
	case FormRequest:
		resource := strings.ToLower(in(InputResource))
		if resource == "" {
			return Reply{Errors: map[string]string{InputResource: "Choose a resource."}}
		}
		d, errs := formDuration(in(InputDuration), false)
		if errs != nil {
			return Reply{Errors: errs}
		}
		out, err := b.svc.Request(ctx, a, grants.RequestInput{Resource: resource, Duration: d, Reason: cleanReason(in(InputReason))})
		if err != nil {
			return b.formError(a, act.Form, err)
		}
		res, _ := b.svc.Resource(out.Request.Resource)
		return private(RequestedView(out, res, now))
	case FormDeny:
		r, err := b.svc.Deny(ctx, a, act.Value, cleanReason(in(InputReason)))
		if err != nil {
			return b.formError(a, act.Form, err)
		}
		return private(DeniedView(r))
	case FormExtend:
		d, errs := formDuration(in(InputDuration), true)
		if errs != nil {
			return Reply{Errors: errs}
		}
		return b.extend(ctx, a, act.Value, d, cleanReason(in(InputReason)), true)
	}
	return private(View{Title: "Unknown form", Tone: ToneDanger, Text: "accessbot does not know this form; open it again."})
}

// formDuration reads a form's duration; empty means the policy's default unless required.
func formDuration(s string, required bool) (time.Duration, map[string]string) {
	if s == "" {
		if required {
			return 0, map[string]string{InputDuration: "Say how long, e.g. 30m, 1h or 1d."}
		}
		return 0, nil
	}
	d, err := duration.Parse(strings.ToLower(s))
	if err != nil {
		return 0, map[string]string{InputDuration: fmt.Sprintf("%q is not a duration: use 30m, 1h, 8h or 1d.", truncate(s, 40))}
	}
	if d <= 0 {
		return 0, map[string]string{InputDuration: "The duration must be more than zero."}
	}
	return d, nil
}

// formError shows a refusal on the input it is about, or as a message when it is about none.
func (b *Bot) formError(a grants.Actor, form string, err error) Reply {
	var ge *grants.Error
	if errors.As(err, &ge) {
		if id := inputFor(form, ge.Reason); id != "" {
			return Reply{Errors: map[string]string{id: ge.Message}}
		}
	}
	return b.fail(a, "submit "+form, err)
}

func inputFor(form, reason string) string {
	switch reason {
	case grants.ReasonUnknownResource, grants.ReasonNotAllowed, grants.ReasonBreakGlassDisabled:
		if form == FormRequest {
			return InputResource
		}
	case grants.ReasonDurationTooLong, grants.ReasonDurationInvalid:
		if form != FormDeny {
			return InputDuration
		}
	case grants.ReasonReasonRequired, grants.ReasonReasonMismatch:
		return InputReason
	}
	return ""
}

// secretTries bounds the attempts to DM a secret: it cannot wait in the outbox, which never
// holds secrets.
const secretTries = 3

// secretNoticeDelay is how long the notice that a secret was not delivered waits for the DM of
// the grant it is about to be queued before it.
const secretNoticeDelay = 3 * time.Second

// DeliverSecret sends an adapter's secret to the grant's holder by DM, at once, on the platform
// they last used. It is never stored. When it cannot be delivered, the holder is told (by a
// stored DM without the secret) to revoke and request again.
func (b *Bot) DeliverSecret(ctx context.Context, g grants.Grant, s *adapters.Secret) error {
	if s == nil {
		return nil
	}
	people, err := b.people.People(ctx, g.Subject)
	if err != nil {
		return fmt.Errorf("deliver secret for grant %s: %w", g.ID, err)
	}
	var p Platform
	var userID string
	for _, person := range people {
		if pl := b.platform(person.Platform); pl != nil {
			p, userID = pl, person.PlatformID
			break
		}
	}
	if p == nil {
		b.log.Error().Str("grant_id", g.ID).Str("subject", g.Subject).Str("kind", s.Kind).
			Msg("cannot deliver a secret: the holder is not known on any chat platform")
		return fmt.Errorf("deliver secret for grant %s: %s is not known on any chat platform", g.ID, g.Subject)
	}
	err = b.sendSecret(ctx, p, userID, SecretView(g, s, b.clock.Now()))
	if err == nil {
		return nil
	}
	// A platform error could quote what was sent: never let the value reach a log.
	msg := strings.ReplaceAll(err.Error(), s.Value, "[redacted]")
	b.log.Error().Str("grant_id", g.ID).Str("platform", p.Name()).Str("kind", s.Kind).Str("error", msg).
		Msg("could not deliver a secret by DM; telling the holder to revoke and request again")
	v := SecretFailedView(g)
	now := b.clock.Now()
	notice := Delivery{
		Platform: p.Name(), Key: "secret-failed:" + g.ID, Kind: DeliverNotice, Person: g.Subject,
		Queue: "dm:" + g.Subject, Index: 1 << 20, RequestID: g.RequestID, GrantID: g.ID, View: &v,
		CreatedAt: now,
		// The notice follows the DM that says the access is active: it goes in the person's DM
		// queue after the events so far, and waits a moment for the dispatcher to queue that DM.
		NextAttemptAt: now.Add(secretNoticeDelay),
	}
	if head, err := b.store.AuditHead(ctx); err == nil {
		notice.Seq = head.Seq
	}
	if qerr := b.store.Enqueue(context.WithoutCancel(ctx), []Delivery{notice}, nil); qerr != nil {
		b.log.Error().Err(qerr).Str("grant_id", g.ID).Msg("could not queue the notice that a secret was not delivered")
	} else if _, out := b.Workers(p.Name()); out != nil {
		out.Wake()
	}
	return fmt.Errorf("deliver secret for grant %s by DM on %s: %s", g.ID, p.Name(), msg)
}

func (b *Bot) sendSecret(ctx context.Context, p Platform, userID string, v View) error {
	var err error
	for try := 1; try <= secretTries; try++ {
		cctx, cancel := context.WithTimeout(ctx, b.delivery.SendTimeout)
		_, err = p.DM(cctx, userID, v)
		cancel()
		if err == nil || errors.Is(err, ErrPermanent) || try == secretTries {
			return err
		}
		wait := b.delivery.Retry.Backoff(try)
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			wait = ra.After
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}

// Relay lets a grants.Service be built before the Bot that hears from it: pass the Relay as the
// Service's Notifier and Secrets, build the Bot with the Service, then Attach it. Until then,
// notifications are dropped (the dispatchers' poll finds the events) and secrets fail.
type Relay struct {
	mu sync.RWMutex
	b  *Bot
}

var (
	_ grants.Notifier   = (*Relay)(nil)
	_ grants.SecretSink = (*Relay)(nil)
)

// Attach routes notifications and secrets to b.
func (r *Relay) Attach(b *Bot) {
	r.mu.Lock()
	r.b = b
	r.mu.Unlock()
}

func (r *Relay) bot() *Bot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.b
}

// Notify implements grants.Notifier.
func (r *Relay) Notify(ctx context.Context, events []audit.Event) {
	if b := r.bot(); b != nil {
		b.Notify(ctx, events)
	}
}

// DeliverSecret implements grants.SecretSink.
func (r *Relay) DeliverSecret(ctx context.Context, g grants.Grant, s *adapters.Secret) error {
	b := r.bot()
	if b == nil {
		return fmt.Errorf("deliver secret for grant %s: chat is not running yet", g.ID)
	}
	return b.DeliverSecret(ctx, g, s)
}
