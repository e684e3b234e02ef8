package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"
)

// GatewayLockName is the lock whose holder opens the gateway session (storage.LockKey gives
// its PostgreSQL advisory lock key).
const GatewayLockName = "discord:gateway"

// DefaultGatewayLockInterval is how often a replica without the gateway session tries to take
// it, and how often the holder checks that it still holds the lock: another replica has the
// session about two intervals and a check timeout after the holder dies (see runHeld).
const DefaultGatewayLockInterval = time.Second

// GatewayLock is a lock that every replica on the database sees, held for as long as a replica
// keeps the gateway session (storage.DB's HoldLock: a PostgreSQL session advisory lock on a
// connection of its own, which the server lets go when the holder dies).
type GatewayLock interface {
	// HoldLock takes the named lock if no other holder has it, without waiting; ok is false
	// when one does. check answers nil while the lock is still held and an error once it may
	// not be (its connection broke); release lets go of it.
	HoldLock(ctx context.Context, name string) (check func(context.Context) error, release func(), ok bool, err error)
}

// RunGateway receives interactions over Discord's gateway (a websocket accessbot opens, for
// servers Discord cannot reach) with a discordgo session, and answers each through the same
// code as the HTTP endpoint, by POST /interactions/{id}/{token}/callback. The session's REST
// calls go to the client's API URL. It returns nil when ctx ends, or an error when Discord
// refuses the bot token; it retries when Discord cannot be reached.
//
// Discord sends every interaction to every session of the bot, so with a GatewayLock only the
// replica that holds the lock opens one (see runHeld); without one, the session opens at once.
func (s *Server) RunGateway(ctx context.Context) error {
	if s.client.botToken == "" {
		return errors.New("discord gateway: a bot token is required")
	}
	if s.gatewayLock == nil {
		s.holder.Store(true)
		defer s.holder.Store(false)
		return s.runSession(ctx, ctx)
	}
	return s.runHeld(ctx)
}

// HoldsGateway reports whether this process has the gateway session (or, with a GatewayLock,
// the lock that lets it open one); it is the gauge accessbot_discord_gateway_holder.
func (s *Server) HoldsGateway() bool { return s.holder.Load() }

// runHeld keeps trying to take the gateway lock, every lock interval, and runs the session
// while it holds it. The holder checks the lock at the same interval, each check bounded by
// checkTimeout: when a check fails (its database connection broke, and with it the lock,
// which another replica may take now), it closes its session at once and goes back to trying.
// A replica that takes the lock waits one interval and one check timeout before it opens its
// session, the longest a previous holder that is still alive takes to notice that it lost the
// lock, so that two sessions do not overlap (unless the old holder stalls, a whole process
// frozen, for longer than that). A replica that dies loses its connection, the
// server lets go of the lock, and another replica opens the session within about two
// intervals and a check timeout (3 s by default).
func (s *Server) runHeld(ctx context.Context) error {
	log := s.log.With().Str("replica", s.replica).Logger()
	standingBy, lastErr := false, ""
	for {
		check, release, ok, err := s.gatewayLock.HoldLock(ctx, GatewayLockName)
		switch {
		case ctx.Err() != nil:
			if ok {
				release()
			}
			return nil
		case err != nil:
			// A database that cannot answer is logged once, not once a second.
			if err.Error() != lastErr {
				log.Warn().Err(err).Msg("discord gateway: could not ask for the gateway lock; trying again")
				lastErr = err.Error()
			}
		case !ok:
			lastErr = ""
			if !standingBy {
				log.Info().Msg("discord gateway: another replica holds the gateway session; this one stands by to take over")
				standingBy = true
			}
		default:
			lastErr, standingBy = "", false
			s.holder.Store(true)
			log.Info().Dur("opens_in", s.lockInterval+s.checkTimeout()).
				Msg("discord gateway: this replica holds the gateway lock and opens the session once a previous holder has had time to close its own")
			lost, err := s.holdSession(ctx, check)
			release()
			s.holder.Store(false)
			if err != nil {
				return err
			}
			if lost == nil {
				log.Info().Msg("discord gateway: closed the session and let go of the gateway lock")
				return nil
			}
			log.Warn().Err(lost).Msg("discord gateway: lost the gateway lock; closed the session and stands by to take it again")
		}
		t := s.clock.NewTimer(s.lockInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// holdSession runs the gateway session until ctx ends (lost and err nil), the session fails
// (err), or a check of the lock fails (lost, after the session is closed).
//
// The session opens only after one interval and one check timeout (see runHeld); the lock is
// checked meanwhile too.
func (s *Server) holdSession(ctx context.Context, check func(context.Context) error) (lost, err error) {
	session, closeSession := context.WithCancel(ctx)
	defer closeSession()
	var done chan error // nil, which never receives, until the session starts
	opensAt := s.clock.Now().Add(s.lockInterval + s.checkTimeout())
	for {
		if done == nil && !s.clock.Now().Before(opensAt) {
			done = make(chan error, 1)
			go func() { done <- s.runSession(ctx, session) }()
		}
		wait := s.lockInterval
		if done == nil {
			wait = min(wait, opensAt.Sub(s.clock.Now()))
		}
		t := s.clock.NewTimer(wait)
		select {
		case err := <-done:
			t.Stop()
			return nil, err
		case <-ctx.Done():
			t.Stop()
			return nil, s.sessionEnd(done)
		case <-t.C():
		}
		cctx, cancel := context.WithTimeout(ctx, s.checkTimeout())
		lost := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return nil, s.sessionEnd(done)
		}
		if lost != nil {
			closeSession()
			return lost, s.sessionEnd(done)
		}
	}
}

// sessionEnd waits for a session that was started (done is not nil) to end, and returns its
// error.
func (s *Server) sessionEnd(done chan error) error {
	if done == nil {
		return nil
	}
	return <-done
}

// checkTimeout bounds one check of the gateway lock: a check that hangs is a lost connection.
// It is at least a second, for a busy database.
func (s *Server) checkTimeout() time.Duration { return max(s.lockInterval, time.Second) }

// runSession opens a gateway session and keeps it until session ends. Interactions are
// handled under ctx, which may outlive the session (a lost lock closes the session, not the
// answers under way).
func (s *Server) runSession(ctx, session context.Context) error {
	if err := s.client.Check(session); err != nil {
		if ae, ok := errors.AsType[*APIError](err); ok && ae.Status == http.StatusUnauthorized {
			return errors.New("discord gateway: Discord refused the bot token (401)")
		}
		if session.Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Msg("discord gateway: could not check the bot token; connecting anyway")
	}
	dg, err := discordgo.New("Bot " + s.client.botToken)
	if err != nil {
		return fmt.Errorf("discord gateway: %w", err)
	}
	routeLogs(s.log)
	// Interactions need no intent; Guilds is the least a session asks for.
	dg.Identify.Intents = discordgo.IntentsGuilds
	dg.StateEnabled = false
	dg.Client = &http.Client{Timeout: s.client.http.Timeout, Transport: rebase{
		base: s.client.http.Transport, from: discordgo.EndpointAPI, to: s.client.apiURL + "/"}}
	dg.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		if ic == nil || ic.Interaction == nil {
			return
		}
		s.gatewayInteraction(ctx, ic.Interaction)
	})
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		s.log.Info().Msg("discord gateway: connected")
	})
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		err := dg.Open()
		if err == nil {
			break
		}
		s.log.Warn().Err(err).Dur("retry_in", wait).Msg("discord gateway: could not connect")
		t := s.clock.NewTimer(wait)
		select {
		case <-session.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
	<-session.Done()
	if err := dg.Close(); err != nil {
		s.log.Debug().Err(err).Msg("discord gateway: close")
	}
	return nil
}

// defaultReplica names this process: its host name and process ID.
func defaultReplica() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// gatewayInteraction answers one interaction that came over the gateway, on its own goroutine
// so a slow one does not hold up the others.
func (s *Server) gatewayInteraction(ctx context.Context, ic *discordgo.Interaction) {
	s.answerer.Go(func() {
		resp := s.Handle(ctx, ic)
		if ic.Type == discordgo.InteractionPing {
			return
		}
		if err := s.client.respond(context.WithoutCancel(ctx), ic.ID, ic.Token, resp); err != nil {
			s.log.Error().Err(err).Msg("discord gateway: answer an interaction")
		}
	})
}

// rebase sends the requests discordgo makes to Discord's API to another base URL (a proxy, a
// test's fake), like the client's own calls.
type rebase struct {
	base     http.RoundTripper
	from, to string
}

func (r rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	if rest, ok := strings.CutPrefix(u, r.from); ok && r.from != r.to {
		req = req.Clone(req.Context())
		nu, err := req.URL.Parse(r.to + rest)
		if err != nil {
			return nil, err
		}
		req.URL, req.Host = nu, nu.Host
	}
	base := r.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

var logsOnce sync.Once

// routeLogs sends discordgo's log lines (its own package-wide logger) to ours.
func routeLogs(log zerolog.Logger) {
	logsOnce.Do(func() {
		l := log.With().Str("component", "discordgo").Logger()
		discordgo.Logger = func(level, _ int, format string, a ...any) {
			ev := l.Debug()
			switch level {
			case discordgo.LogError:
				ev = l.Warn()
			case discordgo.LogWarning:
				ev = l.Info()
			}
			ev.Msg(fmt.Sprintf(format, a...))
		}
	})
}
