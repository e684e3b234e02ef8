package slack

import (
	"context"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode connects to Slack over Socket Mode (apps.connections.open with the app token,
// then a websocket) and serves slash commands and interactions through the same code as the
// HTTP endpoints, acknowledging each envelope with the payload the HTTP answer would carry. It
// reconnects when Slack asks to, and returns nil when ctx ends, or an error when it cannot
// connect for good (a bad token).
func (s *Server) RunSocketMode(ctx context.Context) error {
	if s.appToken == "" {
		return errors.New("slack socket mode: an app-level token (xapp-...) is required")
	}
	api := slackapi.New(s.client.botToken,
		slackapi.OptionAppLevelToken(s.appToken),
		slackapi.OptionAPIURL(s.client.apiURL),
		slackapi.OptionHTTPClient(s.client.http))
	sm := socketmode.New(api)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case <-ctx.Done():
			<-errc
			return nil
		case evt := <-sm.Events:
			s.socketEvent(ctx, sm, evt)
		}
	}
}

// socketEvent handles one Socket Mode event; requests are answered on their own goroutine so a
// slow one does not hold up the others.
func (s *Server) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.log.Debug().Msg("slack socket mode: connecting")
	case socketmode.EventTypeConnected:
		s.log.Info().Msg("slack socket mode: connected")
	case socketmode.EventTypeConnectionError:
		if e, ok := evt.Data.(*slackapi.ConnectionErrorEvent); ok {
			s.log.Warn().Err(e.ErrorObj).Msg("slack socket mode: connection failed, retrying")
		}
	case socketmode.EventTypeInvalidAuth:
		s.log.Error().Msg("slack socket mode: the app token was refused")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackapi.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		s.ackLater(ctx, sm, evt.Request.EnvelopeID, func() any {
			return s.answer(ctx, func(ctx context.Context) outcome { return s.command(ctx, cmd) }, workingOnIt())
		})
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slackapi.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		s.ackLater(ctx, sm, evt.Request.EnvelopeID, func() any {
			return s.answer(ctx, func(ctx context.Context) outcome { return s.interaction(ctx, ic) }, nil)
		})
	case socketmode.EventTypeEventsAPI:
		// accessbot subscribes to no events; an envelope is still acknowledged so Slack does
		// not send it again.
		if evt.Request != nil {
			s.ack(ctx, sm, evt.Request.EnvelopeID, nil)
		}
	}
}

func (s *Server) ackLater(ctx context.Context, sm *socketmode.Client, envelopeID string, answer func() any) {
	s.answerer.Go(func() { s.ack(ctx, sm, envelopeID, answer()) })
}

func (s *Server) ack(ctx context.Context, sm *socketmode.Client, envelopeID string, payload any) {
	if err := sm.AckCtx(ctx, envelopeID, payload); err != nil && ctx.Err() == nil {
		s.log.Error().Err(err).Msg("slack socket mode: acknowledge an envelope")
	}
}
