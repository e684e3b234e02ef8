// Package storage is the only package of accessbot that speaks SQL. It keeps requests, reviews,
// grants, the audit log and consumer cursors in SQLite (the default: one process) or PostgreSQL
// (several replicas), with the same code and the same embedded, versioned migrations for both.
//
// It implements grants.Store and the audit.Source that audit.Verify and audit.Export read.
//
// SQLite runs in WAL mode with one writer connection whose transactions begin IMMEDIATE, beside a
// pool of readers: writers queue in the process instead of failing with SQLITE_BUSY when a read
// transaction would upgrade to a write. PostgreSQL runs write transactions at READ COMMITTED:
// rows change by compare-and-swap on their version column, and the single audit_head row, locked
// FOR UPDATE by every append, serializes the audit chain. Transactions the server aborts for a
// serialization failure or deadlock are run again.
//
// Times are stored as BIGINT unix microseconds (0 for the zero time) and come back in UTC.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/backoff"
)

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options say which database to open.
type Options struct {
	// Driver is "sqlite" (the default when empty) or "postgres".
	Driver string
	// DSN is a file name for SQLite (optionally with modernc.org/sqlite query parameters, which
	// override the defaults: _busy_timeout=5000, _journal_mode=WAL, _synchronous=NORMAL,
	// _foreign_keys=1) or a PostgreSQL URL or keyword/value string. SQLite's ":memory:" runs
	// everything on one connection: fine for a quick trial, but a write from inside a ScanAudit
	// callback would wait for itself.
	DSN string
	// MaxOpenConns bounds the connections of the read pool (SQLite) or the pool (PostgreSQL).
	// 0 means 4 for SQLite and 10 for PostgreSQL.
	MaxOpenConns int
	// MustExist makes a SQLite file that does not exist an error wrapping fs.ErrNotExist,
	// instead of a new, empty database: a command that reads the audit log must not report on
	// an empty one it just made. (PostgreSQL never creates a database.)
	MustExist bool
}

// DB is an open database.
type DB struct {
	driver string
	// write runs write transactions. On SQLite it holds one connection; on PostgreSQL it is the
	// same pool as read.
	write *sqlx.DB
	read  *sqlx.DB
	// Prepared statements of each pool (SQLite only; nil on PostgreSQL).
	writeStmts, readStmts *stmtCache
	// writeTurn queues Update's transactions in arrival order on SQLite's one write connection
	// (nil on PostgreSQL). database/sql hands a freed connection to a random waiter, so under
	// load an unlucky request would wait many rounds; a channel's waiters are served in order.
	writeTurn chan struct{}
	// held names the locks TryLock gave out in this process (SQLite only: on PostgreSQL the
	// server keeps advisory locks).
	lockMu sync.Mutex
	held   map[string]bool
}

var (
	_ grants.Store = (*DB)(nil)
	_ audit.Source = (*DB)(nil)
)

// Open connects to the database and prepares the connections (pragmas on SQLite). It does not
// migrate: call Migrate.
func Open(ctx context.Context, o Options) (*DB, error) {
	switch o.Driver {
	case "", SQLite:
		return openSQLite(ctx, o)
	case Postgres:
		return openPostgres(ctx, o)
	default:
		return nil, fmt.Errorf("unknown storage driver %q (use sqlite or postgres)", o.Driver)
	}
}

func openSQLite(ctx context.Context, o Options) (*DB, error) {
	path, query, _ := strings.Cut(o.DSN, "?")
	if path == "" {
		return nil, errors.New("sqlite: empty database file name")
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: parse options in DSN: %w", err)
	}
	setDefault := func(key, value string) {
		if _, ok := params[key]; !ok {
			params.Set(key, value)
		}
	}
	setDefault("_busy_timeout", "5000")
	setDefault("_journal_mode", "WAL")
	// NORMAL is durable in WAL mode except for the last transactions before a power loss, and
	// spares an fsync per commit: the scheduler commits one transaction per revocation.
	setDefault("_synchronous", "NORMAL")
	setDefault("_foreign_keys", "1")
	writeParams := cloneValues(params)
	// A transaction that starts as a reader and later writes can fail with SQLITE_BUSY without
	// waiting; taking the write lock at BEGIN makes writers wait their turn instead.
	writeParams.Set("_txlock", "immediate")

	memory := path == ":memory:" || strings.Contains(query, "mode=memory")
	if o.MustExist && !memory && !strings.HasPrefix(path, "file:") {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: database %s does not exist: %w", path, fs.ErrNotExist)
		}
	}
	w, err := sqlx.Open("sqlite", path+"?"+writeParams.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The first connection switches the file to WAL; readers open after it.
	if err := pingWithin(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := &DB{driver: SQLite, write: w, read: w, writeStmts: newStmtCache(w), writeTurn: make(chan struct{}, 1)}
	db.readStmts = db.writeStmts
	if memory {
		// Every connection to ":memory:" is a database of its own: one connection serves all.
		return db, nil
	}
	r, err := sqlx.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 4
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := pingWithin(ctx, r); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.read = r
	db.readStmts = newStmtCache(r)
	return db, nil
}

func openPostgres(ctx context.Context, o Options) (*DB, error) {
	if o.DSN == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	p, err := sqlx.Open("pgx", o.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 10
	}
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(n)
	p.SetConnMaxIdleTime(5 * time.Minute)
	if err := pingWithin(ctx, p); err != nil {
		p.Close()
		// The DSN may hold a password: the error names neither.
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &DB{driver: Postgres, write: p, read: p}, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// pingWithin pings with a deadline of its own when ctx has none: opening must not hang.
func pingWithin(ctx context.Context, db *sqlx.DB) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	return db.PingContext(ctx)
}

// Driver returns "sqlite" or "postgres".
func (db *DB) Driver() string { return db.driver }

// Close closes every connection.
func (db *DB) Close() error {
	db.writeStmts.close()
	if db.readStmts != db.writeStmts {
		db.readStmts.close()
	}
	err := db.write.Close()
	if db.read != db.write {
		if rerr := db.read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", db.driver, err)
	}
	return nil
}

// maxAttempts bounds how often Update runs fn when PostgreSQL aborts it for a serialization
// failure or deadlock.
const maxAttempts = 5

// Update runs fn in one write transaction and commits what it did, or rolls everything back
// when fn returns an error (which Update returns as it is). On PostgreSQL fn runs again when the
// server aborts the transaction for a serialization failure or a deadlock. fn must not call
// Update itself: on SQLite the inner call would wait for the only writer, its caller.
func (db *DB) Update(ctx context.Context, fn func(grants.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.updateOnce(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		t := time.NewTimer(collisionBackoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// collisionBackoff is the wait after the attempt-th serialization failure: 5ms·attempt² plus
// up to 5ms at random, so the transactions that collided do not collide again.
func collisionBackoff(attempt int) time.Duration {
	p := backoff.Policy{Base: 5 * time.Millisecond, Growth: backoff.Quadratic, Jitter: backoff.Plus(5 * time.Millisecond)}
	return p.Delay(attempt, nil)
}

func (db *DB) updateOnce(ctx context.Context, fn func(grants.Tx) error) (err error) {
	opts := &sql.TxOptions{}
	if db.driver == Postgres {
		opts.Isolation = sql.LevelReadCommitted
	}
	if db.writeTurn != nil {
		select {
		case db.writeTurn <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("begin write transaction: %w", ctx.Err())
		}
		defer func() { <-db.writeTurn }()
	}
	db.writeStmts.prepareWanted(ctx)
	sqlTx, err := db.write.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin write transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// A panic in fn must not leave the only SQLite writer inside a transaction.
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(&tx{db: db, tx: sqlTx, stmts: db.writeStmts, read: map[string]grantSnapshot{}}); err != nil {
		done = true
		_ = sqlTx.Rollback()
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction that sees one snapshot of the database.
func (db *DB) View(ctx context.Context, fn func(grants.ReadTx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.driver == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	db.readStmts.prepareWanted(ctx)
	sqlTx, err := db.read.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&tx{db: db, tx: sqlTx, stmts: db.readStmts})
}

// retryable reports whether PostgreSQL aborted a transaction that may succeed when run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// micros stores a time; the zero time is 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros reads a stored time, in UTC; 0 is the zero time.
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
