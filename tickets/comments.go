package tickets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// CommentsName names the Commenter's cursor of the audit log: an audit sink (sink.Forwarder)
// under this name runs it, so its cursor is "sink:ticket-comments".
const CommentsName = "ticket-comments"

// Grants is what the Commenter and the Closer read of the domain; *grants.Service is one.
type Grants interface {
	GetRequest(ctx context.Context, id string) (grants.Request, error)
	GetGrant(ctx context.Context, id string) (grants.Grant, error)
}

// Commenter comments on a grant's ticket when the grant is made active, extended and revoked.
// It is an audit sink (it implements sink.Sink): a sink.Forwarder with Batch 1 runs it from its
// own stored cursor of the audit log, retrying with backoff while the ticket system is down, so
// no comment is lost to an outage or a restart. With Batch 1 the cursor moves after each event:
// a crash between a comment and the cursor's move posts that one comment again when accessbot
// starts, and nothing else is ever posted twice.
//
// A comment the system refuses for good (the ticket was deleted: 404; a 400) is logged and
// skipped, so one such ticket does not hold up the others; 401, 403, 429 and 5xx are retried.
type Commenter struct {
	lookup *Lookup
	grants Grants
	loc    *time.Location
	log    zerolog.Logger
}

// NewCommenter returns the Commenter of the Lookup's systems; times are written in loc.
func NewCommenter(l *Lookup, g Grants, loc *time.Location, log zerolog.Logger) *Commenter {
	if loc == nil {
		loc = time.UTC
	}
	return &Commenter{lookup: l, grants: g, loc: loc, log: log}
}

// String implements sink.Sink.
func (c *Commenter) String() string { return CommentsName }

// Close implements sink.Sink.
func (c *Commenter) Close() error { return nil }

// Send implements sink.Sink: it comments for each event that calls for one, in order, and stops
// at the first failure worth retrying.
func (c *Commenter) Send(ctx context.Context, events []audit.Event) error {
	for _, e := range events {
		if err := c.comment(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// comment posts the comment of one event, if it calls for one.
func (c *Commenter) comment(ctx context.Context, e audit.Event) error {
	switch e.Type {
	case audit.GrantActive, audit.GrantExtended, audit.GrantRevoked:
	default:
		return nil
	}
	if e.RequestID == "" {
		return nil
	}
	req, err := c.grants.GetRequest(ctx, e.RequestID)
	if errors.Is(err, grants.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read request %s: %w", e.RequestID, err)
	}
	sysName, key, ok := TicketOf(req)
	if !ok {
		return nil
	}
	sys, ok := c.lookup.System(sysName)
	if !ok {
		c.log.Warn().Str("system", sysName).Str("grant_id", e.GrantID).Msg("the ticket system of a grant is no longer configured; no comment")
		return nil
	}
	text, err := c.text(ctx, e)
	if err != nil || text == "" {
		return err
	}
	err = sys.Comment(ctx, key, text)
	if err != nil && (IsPermanent(err) || errors.Is(err, ErrNotFound)) {
		c.log.Warn().Err(err).Str("ticket", key).Str("grant_id", e.GrantID).Msg("the ticket system refused a comment for good; skipped")
		return nil
	}
	if err != nil {
		return fmt.Errorf("comment on %s for grant %s: %w", key, e.GrantID, err)
	}
	return nil
}

// text is the comment of an event: who, what, until when, the grant ID.
func (c *Commenter) text(ctx context.Context, e audit.Event) (string, error) {
	switch e.Type {
	case audit.GrantActive:
		d, err := audit.Decode[audit.GrantActiveData](e)
		if err != nil {
			return "", fmt.Errorf("read event %d: %w", e.Seq, err)
		}
		return fmt.Sprintf("accessbot: %s was granted access to %s until %s (grant %s).",
			e.Subject, e.Resource, c.when(d.ExpiresAt), e.GrantID), nil
	case audit.GrantExtended:
		d, err := audit.Decode[audit.GrantExtendedData](e)
		if err != nil {
			return "", fmt.Errorf("read event %d: %w", e.Seq, err)
		}
		if d.TargetNotExtended {
			return "", nil
		}
		return fmt.Sprintf("accessbot: the access of %s to %s was extended by %s, until %s (grant %s).",
			e.Subject, e.Resource, d.By, c.when(d.ExpiresAt), e.GrantID), nil
	case audit.GrantRevoked:
		d, err := audit.Decode[audit.GrantRevokedData](e)
		if err != nil {
			return "", fmt.Errorf("read event %d: %w", e.Seq, err)
		}
		by := ""
		g, err := c.grants.GetGrant(ctx, e.GrantID)
		if err != nil && !errors.Is(err, grants.ErrNotFound) {
			return "", fmt.Errorf("read grant %s: %w", e.GrantID, err)
		}
		if g.RevokedBy != "" && g.RevokedBy != grants.System.ID {
			by = " by " + g.RevokedBy
		}
		if d.Forced {
			by += " (forced: " + d.Note + ")"
		}
		return fmt.Sprintf("accessbot: the access of %s to %s was revoked%s at %s (grant %s).",
			e.Subject, e.Resource, by, c.when(e.At), e.GrantID), nil
	}
	return "", nil
}

func (c *Commenter) when(t time.Time) string { return t.In(c.loc).Format("2006-01-02 15:04 MST") }

// TicketOf returns the ticket a request was checked against: its system's name and key.
func TicketOf(r grants.Request) (system, key string, ok bool) {
	for _, ch := range r.Checks {
		if ch.Kind == CheckKind && ch.Subject != "" && ch.Attrs[AttrSystem] != "" {
			return ch.Attrs[AttrSystem], strings.TrimSpace(ch.Subject), true
		}
	}
	return "", "", false
}
