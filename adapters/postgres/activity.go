package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/adapters"
)

// maxSampledSessions bounds one sample: a grant's account with thousands of sessions (a pool
// gone wrong) still costs one bounded query and a bounded answer.
const maxSampledSessions = 1000

// Sessions returns the client sessions open now of the grants' accounts, from
// pg_stat_activity: the ephemeral role of each grant, or the person's own login role in
// membership mode. One query for all the grants. Without pg_read_all_stats (or membership in
// the role) the server hides a session's start and client address from the bot; the session is
// then keyed by its pid alone and has no client.
func (p *Postgres) Sessions(ctx context.Context, grants []adapters.RevokeRequest) ([]adapters.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	byAccount := map[string]string{}
	var names []string
	for _, g := range grants {
		name, err := p.sampledAccount(g)
		if err != nil || name == "" {
			// A grant whose account cannot be named has no sessions to look for; Grant
			// refused the same name.
			continue
		}
		if _, dup := byAccount[name]; !dup {
			names = append(names, name)
		}
		byAccount[name] = g.GrantID
	}
	if len(names) == 0 {
		return nil, nil
	}
	rows, err := p.pool.Query(ctx, `SELECT usename, pid, backend_start,
			coalesce(host(client_addr) || ':' || client_port, ''), coalesce(application_name, '')
		FROM pg_stat_activity
		WHERE usename = ANY($1) AND backend_type = 'client backend'
		ORDER BY backend_start NULLS LAST, pid
		LIMIT $2`, names, maxSampledSessions)
	if err != nil {
		return nil, classify(fmt.Errorf("list sessions: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (adapters.Session, error) {
		var (
			s       adapters.Session
			pid     int32
			started *time.Time
		)
		if err := r.Scan(&s.Account, &pid, &started, &s.Client, &s.Application); err != nil {
			return s, err
		}
		s.GrantID = byAccount[s.Account]
		s.Key = "pid:" + strconv.Itoa(int(pid))
		if started != nil {
			s.Started = started.UTC()
			// A pid is reused once its backend ends; with the start it names one session.
			s.Key += "@" + strconv.FormatInt(started.UnixMicro(), 10)
		}
		return s, nil
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list sessions: %w", err))
	}
	return out, nil
}

// sampledAccount is the login role whose sessions are the grant's.
func (p *Postgres) sampledAccount(g adapters.RevokeRequest) (string, error) {
	if p.cfg.Mode == ModeEphemeral {
		name, ok, err := p.ephemeralName(g)
		if err != nil || !ok {
			return "", err
		}
		return name, nil
	}
	if err := ValidIdent(g.Subject.Account); err != nil {
		return "", err
	}
	return g.Subject.Account, nil
}

var _ adapters.ActivitySampler = (*Postgres)(nil)

// SamplesActivity implements adapters.ActivityConfig: both modes list sessions.
func (*Config) SamplesActivity() bool { return true }

var _ adapters.ActivityConfig = (*Config)(nil)
