package bot

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ghdevice"
	"github.com/accessbot/accessbot/internal/ident"
)

// `/access github-login` links the person's GitHub login as GitHub verifies it, never as typed:
// accessbot starts GitHub's OAuth device flow, shows the person (privately) a code to enter at
// GitHub, and polls GitHub in the background until they approve there; the token GitHub then
// gives says whose account approved (GET /user) and is dropped. The login is stored with its
// audit event in one transaction, and every outcome (linked, refused, declined, expired) is an
// audit event that the dispatcher tells the person by DM (GitHubNoticeView).
//
// The flow in progress lives in memory only: after a crash or restart it is gone, and the
// person asks again (the code they were shown leads nowhere).

// GitHubLoginRemove is `/access github-login remove`.
const GitHubLoginRemove = "remove"

// GitHubVerifier runs GitHub's device flow (ghdevice.Client).
type GitHubVerifier interface {
	Start(ctx context.Context) (ghdevice.Code, error)
	Await(ctx context.Context, code ghdevice.Code) (ghdevice.User, error)
}

// GitHubLoginOptions enable `/access github-login`.
type GitHubLoginOptions struct {
	Verifier GitHubVerifier
	Links    GitHubLinkStore
	// Deadline bounds one flow, whatever GitHub's code says; default 15 minutes (GitHub's own
	// code lifetime).
	Deadline time.Duration
}

// DefaultGitHubLoginDeadline is GitHubLoginOptions.Deadline's default.
const DefaultGitHubLoginDeadline = 15 * time.Minute

// githubLogins runs the flows: at most one per person at a time.
type githubLogins struct {
	o     GitHubLoginOptions
	clock interface{ Now() time.Time }
	log   zerolog.Logger
	// base is cancelled when the Bot's Run ends: the flows stop with the process.
	base   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pending map[string]bool
	stopped bool
	// wg counts the flows reserved and not yet ended: Add happens under mu, before stop can
	// wait, so a command racing the shutdown never adds to a WaitGroup being waited on.
	wg sync.WaitGroup
}

func newGitHubLogins(o *GitHubLoginOptions, clk interface{ Now() time.Time }, log zerolog.Logger) *githubLogins {
	if o == nil || o.Verifier == nil || o.Links == nil {
		return nil
	}
	g := &githubLogins{o: *o, clock: clk, log: log, pending: map[string]bool{}}
	if g.o.Deadline <= 0 {
		g.o.Deadline = DefaultGitHubLoginDeadline
	}
	g.base, g.cancel = context.WithCancel(context.Background())
	return g
}

// reserve marks a flow of person as under way; false when one is already, or the Bot is
// stopping. Each reservation ends with release.
func (g *githubLogins) reserve(person string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending[person] || g.stopped {
		return false
	}
	g.pending[person] = true
	g.wg.Add(1)
	return true
}

func (g *githubLogins) release(person string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pending, person)
	g.wg.Done()
}

// stop ends the flows under way and waits for them.
func (g *githubLogins) stop() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// WaitGitHubLogins waits until no `/access github-login` flow is under way (tests; and Run's
// end, after cancelling them).
func (b *Bot) WaitGitHubLogins() {
	if b.gh != nil {
		b.gh.wg.Wait()
	}
}

// githubLoginName is what a GitHub login looks like: letters, digits and single hyphens, at
// most 39 characters.
var githubLoginName = ident.New(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`, `^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`, 1, 39)

// parseGitHubLoginCommand reads `/access github-login [<login> | remove]`.
func parseGitHubLoginCommand(rest string) (Command, error) {
	w, more := nextWord(rest)
	w = strings.TrimPrefix(unquote(w), "@")
	if strings.TrimSpace(more) != "" {
		return Command{}, parseErrorf(VerbGitHubLogin, "`/access github-login` takes at most your GitHub login, e.g. `%s`, or `remove`", examples[VerbGitHubLogin])
	}
	switch {
	case w == "":
		return Command{Name: VerbGitHubLogin}, nil
	case strings.EqualFold(w, GitHubLoginRemove):
		return Command{Name: VerbGitHubLogin, Sub: GitHubLoginRemove}, nil
	case !githubLoginName.MatchString(w):
		return Command{}, parseErrorf(VerbGitHubLogin, "%s is not a GitHub login (letters, digits and single hyphens, at most 39 characters)", code(truncate(w, 40)))
	}
	return Command{Name: VerbGitHubLogin, Key: w}, nil
}

// githubLogin answers `/access github-login`: always privately, and only about the actor.
func (b *Bot) githubLogin(ctx context.Context, a grants.Actor, cmd Command) Reply {
	op := VerbGitHubLogin + " " + cmd.Sub
	if b.gh == nil {
		return private(GitHubLoginOffView())
	}
	person := grants.CanonicalPerson(a.ID)
	if person == "" {
		return b.fail(a, op, errors.New("the actor has no ID"))
	}
	if cmd.Sub == GitHubLoginRemove {
		l, err := b.gh.o.Links.UnlinkGitHub(ctx, person, b.clock.Now())
		if errors.Is(err, ErrNoGitHubLink) {
			return private(GitHubNotLinkedView())
		}
		if err != nil {
			return b.fail(a, op, err)
		}
		return private(GitHubUnlinkedView(l))
	}
	if !b.gh.reserve(person) {
		return private(GitHubLoginUnderWayView())
	}
	started := false
	defer func() {
		if !started {
			b.gh.release(person)
		}
	}()
	current, err := b.gh.o.Links.GitHubLink(ctx, person)
	if err != nil && !errors.Is(err, ErrNoGitHubLink) {
		return b.fail(a, op, err)
	}
	c, err := b.gh.o.Verifier.Start(ctx)
	if err != nil {
		b.log.Error().Err(err).Str("actor", a.ID).Msg("could not start GitHub's device flow")
		return private(GitHubLoginFailedView())
	}
	started = true
	go b.gh.run(person, cmd.Key, c)
	return private(GitHubLoginCodeView(c, cmd.Key, current, b.clock.Now()))
}

// run waits for the person at GitHub and records the outcome, whatever it is, as an audit event
// the person hears of by DM.
func (g *githubLogins) run(person, claimed string, c ghdevice.Code) {
	defer g.release(person)
	ctx, cancel := context.WithTimeout(g.base, g.o.Deadline)
	defer cancel()
	log := g.log.With().Str("actor", person).Logger()
	u, err := g.o.Verifier.Await(ctx, c)
	// The outcome is recorded even when the flow was cut short by the deadline.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	now := g.clock.Now()
	refuse := func(p audit.GitHubLinkRefusedData) {
		p.Claimed = claimed
		if err := g.o.Links.RefuseGitHub(rctx, person, now, p); err != nil {
			log.Error().Err(err).Str("refused", p.Refused).Msg("could not record a GitHub verification that stored nothing")
		}
	}
	switch {
	case errors.Is(err, ghdevice.ErrDenied):
		refuse(audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedDenied})
		return
	case errors.Is(err, ghdevice.ErrExpired), errors.Is(err, context.DeadlineExceeded):
		refuse(audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedExpired})
		return
	case errors.Is(err, context.Canceled):
		// The process is stopping: the person asks again.
		return
	case err != nil:
		log.Error().Err(err).Msg("GitHub's device flow failed")
		refuse(audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedFailed})
		return
	case claimed != "" && !strings.EqualFold(claimed, u.Login):
		refuse(audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedMismatch, Login: u.Login, ID: u.ID})
		return
	}
	_, err = g.o.Links.LinkGitHub(rctx, GitHubLink{Person: person, Login: u.Login, ID: u.ID, VerifiedAt: now, Via: audit.GitHubVia})
	switch {
	case errors.Is(err, ErrGitHubLoginTaken):
		log.Warn().Str("login", u.Login).Msg("a GitHub account linked to another person was proved again; refused and alerted")
	case err != nil:
		log.Error().Err(err).Str("login", u.Login).Msg("could not store a verified GitHub login")
		refuse(audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedFailed, Login: u.Login, ID: u.ID})
	default:
		log.Info().Str("login", u.Login).Msg("GitHub login verified and linked")
	}
}
