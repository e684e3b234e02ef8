package grants

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/clock"
)

// What was done with the access: while a grant is active, the activity sampler lists the
// sessions of its account at the target (adapters.ActivitySampler) every Interval and writes
// one activity.session_seen audit event per session, when the session ends or its grant does.
// Its memory between samples is in the store (ActivityTx), so a restart or a second replica
// neither loses a session nor writes its event twice: a session is closed, and its event
// appended, by a compare-and-swap in one transaction.

// DefaultSampleInterval is activity.sample_interval's default.
const DefaultSampleInterval = 30 * time.Second

// SeenSession is a session the sampler has recorded.
type SeenSession struct {
	GrantID     string
	Key         string
	Resource    string
	Account     string
	Client      string
	Application string
	// Started is when the session began, when the target said; zero otherwise.
	Started time.Time
	// FirstSeen and LastSeen are the first and last samples that found it.
	FirstSeen, LastSeen time.Time
}

// ActivityTx keeps the activity sampler's memory. The transactions of storage implement it.
type ActivityTx interface {
	// OpenSessions returns up to limit sessions not closed yet, of any grant.
	OpenSessions(ctx context.Context, limit int) ([]SeenSession, error)
	// SeeSession records that s was seen at s.LastSeen: a new session is stored with FirstSeen
	// = LastSeen, an open one has its LastSeen moved forward, a closed one is left alone.
	SeeSession(ctx context.Context, s SeenSession) error
	// CloseSession closes an open session at closedAt and returns it as stored; ok is false
	// when it is unknown or already closed (by another replica).
	CloseSession(ctx context.Context, grantID, key string, closedAt time.Time) (s SeenSession, ok bool, err error)
	// PruneSessions deletes the sessions closed before.
	PruneSessions(ctx context.Context, before time.Time) error
}

// ActivityOptions tune the Activity sampler; zero values take the defaults.
type ActivityOptions struct {
	// Interval is the time between samples; default DefaultSampleInterval.
	Interval time.Duration
	// MaxGrants bounds the active grants one sample looks at; default 5000.
	MaxGrants int
	Clock     clock.Clock
	Log       zerolog.Logger
}

// Activity samples the sessions of active grants. Run it in one goroutine; replicas may each
// run one.
type Activity struct {
	svc *Service
	o   ActivityOptions
}

// NewActivity builds the sampler of s's resources.
func NewActivity(s *Service, o ActivityOptions) *Activity {
	if o.Interval <= 0 {
		o.Interval = DefaultSampleInterval
	}
	if o.MaxGrants <= 0 {
		o.MaxGrants = 5000
	}
	if o.Clock == nil {
		o.Clock = s.clock
	}
	return &Activity{svc: s, o: o}
}

// Samples reports whether any resource's adapter can list sessions: without one the sampler
// has nothing to do.
func (a *Activity) Samples() bool {
	for _, r := range a.svc.ordered {
		if _, ok := r.Adapter.(adapters.ActivitySampler); ok {
			return true
		}
	}
	return false
}

// CanTell reports whether resource's adapter samples sessions, so that a grant of it with no
// activity.session_seen was not used (as far as its target can tell).
func (s *Service) CanTell(resource string) bool {
	r, ok := s.resources[resource]
	if !ok {
		return false
	}
	_, ok = r.Adapter.(adapters.ActivitySampler)
	return ok
}

// Run samples every Interval until ctx ends. A failed sample is logged and the next one tried.
func (a *Activity) Run(ctx context.Context) error {
	t := a.o.Clock.NewTimer(a.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if _, err := a.Sample(ctx); err != nil && ctx.Err() == nil {
			a.o.Log.Warn().Err(err).Msg("activity sample failed; trying again at the next interval")
		}
		t.Reset(a.o.Interval)
	}
}

// SampleResult counts what one sample did.
type SampleResult struct {
	// Sessions is how many sessions the targets listed.
	Sessions int
	// Events is how many activity.session_seen events were written.
	Events int
}

// pruneClosedAfter is how long a closed session's row is kept: long past any sample that
// could still see it.
const pruneClosedAfter = 24 * time.Hour

var errNoActivityStore = errors.New("the store keeps no activity sessions")

// Sample lists the sessions of every active grant of a resource whose adapter can, records the
// new ones, and closes (with their event) those gone and those of grants no longer active. It
// costs one adapter call per such resource and two transactions.
func (a *Activity) Sample(ctx context.Context) (SampleResult, error) {
	var (
		res    SampleResult
		active []Grant
		open   []SeenSession
	)
	err := a.svc.store.View(ctx, func(tx ReadTx) error {
		at, ok := tx.(ActivityTx)
		if !ok {
			return errNoActivityStore
		}
		var err error
		if active, err = tx.Grants(ctx, GrantFilter{States: []GrantState{GrantActive}, Limit: a.o.MaxGrants}); err != nil {
			return fmt.Errorf("list active grants: %w", err)
		}
		if open, err = at.OpenSessions(ctx, a.o.MaxGrants*10); err != nil {
			return fmt.Errorf("list open sessions: %w", err)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("activity sample: %w", err)
	}
	byGrant := map[string]Grant{}
	byResource := map[string][]adapters.RevokeRequest{}
	var resources []string
	for _, g := range active {
		r, ok := a.svc.resources[g.Resource]
		if !ok {
			continue
		}
		if _, ok := r.Adapter.(adapters.ActivitySampler); !ok {
			continue
		}
		byGrant[g.ID] = g
		if _, seen := byResource[g.Resource]; !seen {
			resources = append(resources, g.Resource)
		}
		byResource[g.Resource] = append(byResource[g.Resource], adapters.RevokeRequest{
			GrantID: g.ID, Resource: g.Resource, Data: g.LeaseData,
			Subject: adapters.Subject{ID: g.Subject, Email: g.Email, Account: g.Account},
		})
	}
	sampled := map[string]bool{} // resources whose target answered
	seen := map[[2]string]SeenSession{}
	for _, name := range resources {
		sessions, err := a.sessions(ctx, name, byResource[name])
		if err != nil {
			a.o.Log.Warn().Err(err).Str("resource", name).Msg("could not list sessions; its open sessions stay open until it answers")
			continue
		}
		sampled[name] = true
		res.Sessions += len(sessions)
		for _, s := range sessions {
			if _, ok := byGrant[s.GrantID]; !ok || s.Key == "" {
				continue
			}
			seen[[2]string{s.GrantID, s.Key}] = SeenSession{
				GrantID: s.GrantID, Key: s.Key, Resource: name, Account: s.Account, Client: s.Client,
				Application: s.Application, Started: s.Started,
			}
		}
	}
	now := a.svc.now()
	err = a.svc.update(ctx, now, func(t *txn) error {
		at, ok := t.Tx.(ActivityTx)
		if !ok {
			return errNoActivityStore
		}
		res.Events = 0
		keys := make([][2]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareKeys)
		for _, k := range keys {
			s := seen[k]
			s.FirstSeen, s.LastSeen = now, now
			if err := at.SeeSession(ctx, s); err != nil {
				return fmt.Errorf("record session %s of grant %s: %w", s.Key, s.GrantID, err)
			}
		}
		for _, o := range open {
			g, isActive := byGrant[o.GrantID]
			if !isActive {
				var err error
				if g, err = t.Grant(ctx, o.GrantID); err != nil && !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("read grant %s: %w", o.GrantID, err)
				}
				if err == nil && g.State == GrantActive {
					// Active but beyond this sample's MaxGrants, or of a resource that no
					// longer samples: not known to be over.
					continue
				}
			}
			ended := ""
			switch {
			case !isActive:
				ended = audit.SessionGrantEnded
			case sampled[o.Resource] && !hasKey(seen, o):
				ended = audit.SessionClosed
			default:
				continue
			}
			closed, ok, err := at.CloseSession(ctx, o.GrantID, o.Key, now)
			if err != nil {
				return fmt.Errorf("close session %s of grant %s: %w", o.Key, o.GrantID, err)
			}
			if !ok {
				continue // closed by another replica, with its event
			}
			e := audit.Event{
				Actor: System.ID, Resource: closed.Resource, Subject: g.Subject,
				RequestID: g.RequestID, GrantID: closed.GrantID,
			}.With(audit.ActivitySessionSeenData{
				Session: closed.Key, Account: closed.Account, Client: closed.Client,
				Application: closed.Application, Started: closed.Started,
				FirstSeen: closed.FirstSeen, LastSeen: closed.LastSeen, Ended: ended,
			})
			if err := t.event(ctx, e); err != nil {
				return err
			}
			res.Events++
		}
		return at.PruneSessions(ctx, now.Add(-pruneClosedAfter))
	})
	if err != nil {
		return res, fmt.Errorf("activity sample: %w", err)
	}
	return res, nil
}

// sessions asks one resource's adapter, within the service's call timeout; a panicking
// adapter is an error.
func (a *Activity) sessions(ctx context.Context, resource string, grants []adapters.RevokeRequest) (out []adapters.Session, err error) {
	sampler := a.svc.resources[resource].Adapter.(adapters.ActivitySampler)
	ctx, cancel := context.WithTimeout(ctx, a.svc.callTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("adapter of %s panicked listing sessions: %v", resource, p)
		}
	}()
	return sampler.Sessions(ctx, grants)
}

func hasKey(seen map[[2]string]SeenSession, s SeenSession) bool {
	_, ok := seen[[2]string{s.GrantID, s.Key}]
	return ok
}

func compareKeys(x, y [2]string) int {
	if c := cmp.Compare(x[0], y[0]); c != 0 {
		return c
	}
	return cmp.Compare(x[1], y[1])
}

// SampledResources names, in order, the resources whose adapter samples sessions: the only
// ones whose grants can be called never used.
func (s *Service) SampledResources() []string {
	var out []string
	for _, r := range s.ordered {
		if _, ok := r.Adapter.(adapters.ActivitySampler); ok {
			out = append(out, r.Name)
		}
	}
	return out
}
