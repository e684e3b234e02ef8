package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/tickets"
	"github.com/accessbot/accessbot/tickets/jira"
	"github.com/accessbot/accessbot/tickets/servicenow"
)

// ticketLookup builds the configured ticket systems and the Lookup of the resources' ticket
// policies (nothing when no resource has one), and the forwarder that comments on tickets from
// its own cursor of the audit log. It runs before the Service, which takes the Lookup, and
// adds the forwarder to the Service's notifier so that comments follow the events at once.
func (w *wiring) ticketLookup() error {
	policies := w.Config.TicketPolicies()
	if len(policies) == 0 {
		return nil
	}
	var systems []tickets.System
	for _, sc := range w.Config.Tickets.Systems {
		s, err := newTicketSystem(sc)
		if err != nil {
			return fmt.Errorf("ticket system %s: %w", sc.Name, err)
		}
		systems = append(systems, s)
	}
	l, err := tickets.NewLookup(systems, policies)
	if err != nil {
		return fmt.Errorf("ticket policies: %w", err)
	}
	w.ticketLookups = l
	w.lookups = append(w.lookups, l)
	log := w.Log.With().Str("component", "ticket-comments").Logger()
	commenter := tickets.NewCommenter(l, lateGrants{w.App}, w.Config.Location(), log)
	if err := startCursorAtHead(w.ctx, w.DB, sink.CursorName(tickets.CommentsName)); err != nil {
		return fmt.Errorf("ticket comments: %w", err)
	}
	// Batch 1: the cursor moves after each comment, so a crash repeats one comment at most.
	f, err := sink.New(sink.Options{Name: tickets.CommentsName, Sink: commenter, Store: w.DB, Clock: w.clock, Log: log, Batch: 1, Locker: w.DB})
	if err != nil {
		return fmt.Errorf("ticket comments: %w", err)
	}
	w.runners = append(w.runners, f.Run)
	w.notifier = append(w.notifier, f)
	return nil
}

// ticketRoutes adds the end-with-ticket check and the systems' webhooks, once the Service and
// the HTTP mux exist.
func (w *wiring) ticketRoutes() error {
	l := w.ticketLookups
	if l == nil {
		return nil
	}
	log := w.Log.With().Str("component", "ticket-closer").Logger()
	closer := tickets.NewCloser(l, w.Service, w.clock, w.Config.Tickets.CheckInterval, log)
	if closer.Needed() {
		w.runners = append(w.runners, closer.Run)
	}
	for _, sc := range w.Config.Tickets.Systems {
		if sc.WebhookSecret == "" {
			continue
		}
		sys, ok := l.System(sc.Name)
		if !ok {
			continue
		}
		refused := bot.NewAuthFailures("tickets:"+sc.Name, w.DB, w.clock, w.Log)
		w.mux.Handle("POST "+tickets.WebhookPath(sc.Name),
			tickets.NewWebhook(sys, []byte(sc.WebhookSecret.Reveal()), closer, refused, w.clock))
	}
	return nil
}

// newTicketSystem builds one system's client; it does not contact the system.
func newTicketSystem(sc config.TicketSystem) (tickets.System, error) {
	hc := &http.Client{Timeout: sc.Timeout}
	switch sc.Type {
	case tickets.KindJira:
		return jira.New(jira.Options{Name: sc.Name, BaseURL: sc.URL, Deployment: sc.Deployment, Email: sc.Email,
			Token: tickets.Token(sc.Token.Reveal()), HTTP: hc})
	case tickets.KindServiceNow:
		return servicenow.New(servicenow.Options{Name: sc.Name, BaseURL: sc.URL, Username: sc.Username,
			Password: tickets.Token(sc.Password.Reveal()), Token: tickets.Token(sc.Token.Reveal()), HTTP: hc})
	}
	return nil, fmt.Errorf("unknown type %q", sc.Type)
}

// lateGrants is the Service for the Commenter, which is built before it.
type lateGrants struct{ a *App }

func (g lateGrants) GetRequest(ctx context.Context, id string) (grants.Request, error) {
	return g.a.Service.GetRequest(ctx, id)
}

func (g lateGrants) GetGrant(ctx context.Context, id string) (grants.Grant, error) {
	return g.a.Service.GetGrant(ctx, id)
}

// cursorStore is what startCursorAtHead needs; *storage.DB is one.
type cursorStore interface {
	sink.Store
}

// startCursorAtHead puts a cursor never stored at the log's head: the ticket comments start
// with the grants of today, not with every grant the log ever recorded.
func startCursorAtHead(ctx context.Context, st cursorStore, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cur, err := st.Cursor(ctx, name)
	if err != nil || cur != 0 {
		return err
	}
	head, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	_, err = st.SetCursorIf(ctx, name, 0, head.Seq)
	return err
}
