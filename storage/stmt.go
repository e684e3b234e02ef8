package storage

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// maxCached bounds the prepared statements one pool keeps.
const maxCached = 256

// stmtCache keeps SQLite statements prepared. Compiling SQL is a quarter of a short write
// transaction's time in SQLite; pgx keeps its own cache of prepared statements, so PostgreSQL
// needs none.
//
// A query seen inside a transaction is only noted: preparing it on the pool then would wait for
// a connection, and the write pool's only connection is the transaction's own. It is prepared
// before the next transaction begins, and from then on each transaction uses the statement
// already prepared on its connection.
type stmtCache struct {
	pool   *sqlx.DB
	mu     sync.Mutex
	stmts  map[string]*sqlx.Stmt
	wanted map[string]struct{}
}

func newStmtCache(pool *sqlx.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sqlx.Stmt{}, wanted: map[string]struct{}{}}
}

// lookup returns the prepared statement for q, or nil after noting that q is wanted.
func (c *stmtCache) lookup(q string) *sqlx.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[q]; ok {
		return s
	}
	if len(c.stmts)+len(c.wanted) < maxCached {
		c.wanted[q] = struct{}{}
	}
	return nil
}

// prepareWanted prepares the queries noted since the last call. The caller holds no connection
// of the pool.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	wanted := c.wanted
	c.wanted = map[string]struct{}{}
	c.mu.Unlock()
	for q := range wanted {
		s, err := c.pool.PreparexContext(ctx, q)
		if err != nil {
			// Not fatal: the query runs unprepared, and is noted again when next used (a
			// table may not exist before Migrate).
			continue
		}
		c.mu.Lock()
		if _, dup := c.stmts[q]; dup {
			s.Close()
		} else {
			c.stmts[q] = s
		}
		c.mu.Unlock()
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = map[string]*sqlx.Stmt{}
}
