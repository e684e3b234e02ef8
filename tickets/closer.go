package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// ClosingGrants is what the Closer needs of the domain; *grants.Service is one.
type ClosingGrants interface {
	Grants
	ListGrants(ctx context.Context, f grants.GrantFilter) ([]grants.Grant, error)
	RevokeAsSystem(ctx context.Context, grantID, note string) (grants.Grant, error)
}

// Closer revokes the grants of end_with_ticket resources whose ticket has closed: every
// Interval (Run), and for one ticket when a webhook says it changed (CheckTicket). It reads
// each ticket through the system's API: a webhook is only a hint of which ticket to read. A
// ticket that cannot be read leaves its grants alone (they still end at their expiry), and is
// read again next time.
type Closer struct {
	lookup   *Lookup
	grants   ClosingGrants
	clock    clock.Clock
	interval time.Duration
	log      zerolog.Logger
}

// NewCloser returns the Closer of the Lookup's end_with_ticket policies.
func NewCloser(l *Lookup, g ClosingGrants, clk clock.Clock, interval time.Duration, log zerolog.Logger) *Closer {
	return &Closer{lookup: l, grants: g, clock: clk, interval: interval, log: log}
}

// Needed reports whether any resource ends its grants with their ticket.
func (c *Closer) Needed() bool {
	for _, p := range c.lookup.policies {
		if p.EndWithTicket {
			return true
		}
	}
	return false
}

// Run checks every Interval until ctx ends.
func (c *Closer) Run(ctx context.Context) error {
	for {
		t := c.clock.NewTimer(c.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		if _, err := c.CheckAll(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("ticket check of active grants incomplete; next check at the next interval")
		}
	}
}

// ticketRef is a ticket in one system.
type ticketRef struct{ system, key string }

// CheckAll reads the ticket of every active grant of an end_with_ticket resource, once per
// ticket, and revokes the grants whose ticket is closed. It returns how many it revoked; an
// error names what could not be checked, after everything else was.
func (c *Closer) CheckAll(ctx context.Context) (int, error) {
	byTicket, err := c.activeByTicket(ctx, ticketRef{})
	if err != nil {
		return 0, err
	}
	revoked := 0
	var errs []error
	for ref, ids := range byTicket {
		n, err := c.closeIfClosed(ctx, ref, ids)
		revoked += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return revoked, errors.Join(errs...)
}

// CheckTicket reads one ticket and revokes the active grants tied to it if it is closed.
func (c *Closer) CheckTicket(ctx context.Context, system, key string) (int, error) {
	ref := ticketRef{system, key}
	byTicket, err := c.activeByTicket(ctx, ref)
	if err != nil {
		return 0, err
	}
	return c.closeIfClosed(ctx, ref, byTicket[ref])
}

// activeByTicket lists the active (and activating) grants of end_with_ticket resources by their
// ticket; when only is set, those of that ticket alone.
func (c *Closer) activeByTicket(ctx context.Context, only ticketRef) (map[ticketRef][]string, error) {
	gs, err := c.grants.ListGrants(ctx, grants.GrantFilter{States: []grants.GrantState{grants.GrantActive, grants.GrantActivating}})
	if err != nil {
		return nil, fmt.Errorf("list active grants: %w", err)
	}
	out := map[ticketRef][]string{}
	for _, g := range gs {
		p, ok := c.lookup.policies[g.Resource]
		if !ok || !p.EndWithTicket {
			continue
		}
		req, err := c.grants.GetRequest(ctx, g.RequestID)
		if err != nil {
			return nil, fmt.Errorf("read request %s of grant %s: %w", g.RequestID, g.ID, err)
		}
		system, key, ok := TicketOf(req)
		if !ok {
			continue
		}
		ref := ticketRef{system, key}
		if only != (ticketRef{}) && ref != only {
			continue
		}
		out[ref] = append(out[ref], g.ID)
	}
	return out, nil
}

// closeIfClosed reads a ticket and, when it is closed, revokes the grants.
func (c *Closer) closeIfClosed(ctx context.Context, ref ticketRef, grantIDs []string) (int, error) {
	if len(grantIDs) == 0 {
		return 0, nil
	}
	sys, ok := c.lookup.System(ref.system)
	if !ok {
		return 0, nil
	}
	t, err := sys.Get(ctx, ref.key)
	if err != nil {
		// A ticket deleted since is not "closed": its grants end at their expiry.
		return 0, fmt.Errorf("read ticket %s in %s: %w", ref.key, ref.system, err)
	}
	if !t.Closed {
		return 0, nil
	}
	n := 0
	var errs []error
	for _, id := range grantIDs {
		_, err := c.grants.RevokeAsSystem(ctx, id, fmt.Sprintf("ticket %s closed (%s)", ref.key, t.Status))
		switch {
		case err == nil:
			n++
			c.log.Info().Str("grant_id", id).Str("ticket", ref.key).Msg("revoked: its ticket closed")
		case errors.Is(err, grants.ErrConflict):
			// Revoked meanwhile: nothing to do.
		default:
			errs = append(errs, fmt.Errorf("revoke grant %s (ticket %s closed): %w", id, ref.key, err))
		}
	}
	return n, errors.Join(errs...)
}
