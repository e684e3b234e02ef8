package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"
)

// RunGateway receives interactions over Discord's gateway (a websocket accessbot opens, for
// servers Discord cannot reach) with a discordgo session, and answers each through the same
// code as the HTTP endpoint, by POST /interactions/{id}/{token}/callback. The session's REST
// calls go to the client's API URL. It returns nil when ctx ends, or an error when Discord
// refuses the bot token; it retries when Discord cannot be reached.
func (s *Server) RunGateway(ctx context.Context) error {
	if s.client.botToken == "" {
		return errors.New("discord gateway: a bot token is required")
	}
	if err := s.client.Check(ctx); err != nil {
		if ae, ok := errors.AsType[*APIError](err); ok && ae.Status == http.StatusUnauthorized {
			return errors.New("discord gateway: Discord refused the bot token (401)")
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
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	<-ctx.Done()
	if err := dg.Close(); err != nil {
		s.log.Debug().Err(err).Msg("discord gateway: close")
	}
	return nil
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
