package audit

import (
	"context"
	"time"
)

// Why an activity.session_seen was written (ActivitySessionSeenData.Ended).
const (
	// SessionClosed: a sample no longer found the session.
	SessionClosed = "closed"
	// SessionGrantEnded: the grant ended (revoked or expired) while the session was open, or
	// before a sample could see it close.
	SessionGrantEnded = "grant_ended"
)

// ActivitySessionSeenData is the payload of activity.session_seen: one session of a grant's
// account, as the activity sampler saw it. The event's GrantID, Resource and Subject name the
// grant; the times are the sampler's clock, to its sampling interval.
type ActivitySessionSeenData struct {
	// Session is the target's key of the session (a pid and start, a connection ID).
	Session string
	// Account is the account the session logged in as (an ephemeral role, a user).
	Account string
	// Client is the client's address, when the target says.
	Client string
	// Application is the client's application name, when the target has one.
	Application string
	// Started is when the session began, when the target says.
	Started time.Time
	// FirstSeen and LastSeen are the first and last samples that found the session.
	FirstSeen, LastSeen time.Time
	// Ended is SessionClosed or SessionGrantEnded.
	Ended string
}

// EventType implements Payload.
func (ActivitySessionSeenData) EventType() string { return ActivitySessionSeen }

func (p ActivitySessionSeenData) encode(w *dataWriter) {
	w.str(KeySession, p.Session)
	w.str(KeyAccount, p.Account)
	w.opt(KeyClient, p.Client)
	w.opt(KeyApplication, p.Application)
	if !p.Started.IsZero() {
		w.time(KeyStarted, p.Started.UTC(), time.RFC3339Nano)
	}
	w.time(KeyFirstSeen, p.FirstSeen.UTC(), time.RFC3339Nano)
	w.time(KeyLastSeen, p.LastSeen.UTC(), time.RFC3339Nano)
	w.str(KeyEnded, p.Ended)
}

func (p *ActivitySessionSeenData) decode(r *dataReader) {
	p.Session, p.Account = r.str(KeySession), r.str(KeyAccount)
	p.Client, p.Application = r.str(KeyClient), r.str(KeyApplication)
	p.Started, p.FirstSeen, p.LastSeen = r.time(KeyStarted), r.time(KeyFirstSeen), r.time(KeyLastSeen)
	p.Ended = r.str(KeyEnded)
}

// UnusedQuery selects the grants that were never used: those whose grant.revoked is in
// [Since, Until), of one of Resources (the resources whose adapter samples sessions, so that no
// activity.session_seen means no session), that were active and have no activity.session_seen.
type UnusedQuery struct {
	Since, Until time.Time
	Resources    []string
	// Limit bounds the grants returned; the count stays exact.
	Limit int
}

// UnusedGrant is a grant that was never used.
type UnusedGrant struct {
	GrantID  string
	Resource string
	Subject  string
	// Start is the grant's first grant.active; End its grant.revoked.
	Start, End time.Time
}

// UnusedSource answers UnusedQuery by aggregating in the database (storage.DB implements it),
// never by reading every event of the window.
type UnusedSource interface {
	UnusedGrants(ctx context.Context, q UnusedQuery) (grants []UnusedGrant, total int, err error)
}

// GrantStorySource reads the events about subject of one grant and of the requests that made
// and extended it.
type GrantStorySource interface {
	GrantEvents(ctx context.Context, subject, grantID string, requestIDs []string) ([]Event, error)
}
