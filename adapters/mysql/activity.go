package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/accessbot/accessbot/adapters"
)

// maxSampledSessions bounds one sample (see postgres.maxSampledSessions).
const maxSampledSessions = 1000

// Sessions returns the connections open now of the grants' users, from
// information_schema.PROCESSLIST (the bot's PROCESS privilege shows other users' threads),
// in one query. A connection's ID names it for as long as the server runs. The processlist
// has no application name and no connection time, so Application and Started stay empty.
func (m *MySQL) Sessions(ctx context.Context, grants []adapters.RevokeRequest) ([]adapters.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	byUser := map[string]string{}
	var users []any
	for _, g := range grants {
		user, ok := m.userOf(g)
		if !ok {
			continue
		}
		if _, dup := byUser[user]; !dup {
			users = append(users, user)
		}
		byUser[user] = g.GrantID
	}
	if len(users) == 0 {
		return nil, nil
	}
	q := `SELECT ID, USER, COALESCE(HOST, '') FROM information_schema.PROCESSLIST
		WHERE USER IN (?` + strings.Repeat(", ?", len(users)-1) + `) AND ID <> CONNECTION_ID()
		ORDER BY ID LIMIT ` + strconv.Itoa(maxSampledSessions)
	rows, err := m.db.QueryContext(ctx, q, users...)
	if err != nil {
		return nil, classify(fmt.Errorf("list sessions: %w", err))
	}
	defer rows.Close()
	var out []adapters.Session
	for rows.Next() {
		var (
			id   int64
			s    adapters.Session
			host string
		)
		if err := rows.Scan(&id, &s.Account, &host); err != nil {
			return nil, classify(fmt.Errorf("list sessions: %w", err))
		}
		s.GrantID, s.Key, s.Client = byUser[s.Account], "id:"+strconv.FormatInt(id, 10), host
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("list sessions: %w", err))
	}
	return out, nil
}

// userOf is the user a grant made: the lease's, checked, or the one its fields name.
func (m *MySQL) userOf(g adapters.RevokeRequest) (string, bool) {
	if u, ok := g.Data[dataUser]; ok {
		return u, ValidName(u) == nil && strings.HasPrefix(u, m.cfg.UserPrefix)
	}
	u, err := UserName(m.cfg.UserPrefix, g.Subject.Account, g.GrantID)
	return u, err == nil
}

var _ adapters.ActivitySampler = (*MySQL)(nil)

// SamplesActivity implements adapters.ActivityConfig.
func (*Config) SamplesActivity() bool { return true }

var _ adapters.ActivityConfig = (*Config)(nil)
