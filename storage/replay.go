package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// ReplayPruneEvery is how often a ReplayStore deletes the expired keys, on the Seen after the
// last prune is that old: the table holds about one freshness window of requests.
const ReplayPruneEvery = time.Minute

// ReplayStore is the replay cache that replicas on one database share (migration 0008): a
// signed request is accepted by the first replica that records its key, and refused as a
// replay by every other, so a captured request is accepted once by the whole deployment. It
// works on SQLite too, where one process can as well keep the keys in memory (bot.ReplayCache).
type ReplayStore struct {
	db *DB

	mu sync.Mutex
	// lastPrune is when this store last deleted expired keys (by the callers' clock).
	lastPrune time.Time
}

var _ bot.ReplayStore = (*ReplayStore)(nil)

// ReplayStore returns the database's replay store.
func (db *DB) ReplayStore() *ReplayStore { return &ReplayStore{db: db} }

// Seen records key until expires and reports whether it was recorded before. The insert is
// one statement that does nothing on a conflict, so of two replicas recording the same key at
// once exactly one inserts the row and is told the request is new. Only the SHA-256 of the
// key is stored. Once every ReplayPruneEvery, the keys expired before now are deleted.
func (s *ReplayStore) Seen(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("record replay key: %w: empty key", grants.ErrInvalid)
	}
	sum := sha256.Sum256([]byte(key))
	hash := hex.EncodeToString(sum[:])
	var inserted int64
	err := s.db.Update(ctx, func(gt grants.Tx) error {
		res, err := gt.(*tx).exec(ctx, `INSERT INTO replay_keys (key_hash, expires_at) VALUES (?, ?)
			ON CONFLICT (key_hash) DO NOTHING`, hash, micros(expires))
		if err != nil {
			return err
		}
		inserted, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record replay key: %w", err)
	}
	if s.pruneDue(now) {
		if n, err := s.prune(ctx, now); err != nil {
			// The key is recorded; the expired ones go at the next prune.
			zerolog.Ctx(ctx).Warn().Err(err).Msg("could not delete expired replay keys")
		} else if n > 0 {
			zerolog.Ctx(ctx).Debug().Int("deleted", n).Msg("deleted expired replay keys")
		}
	}
	return inserted == 0, nil
}

// pruneDue reports whether it is time to prune, and if so takes the turn.
func (s *ReplayStore) pruneDue(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastPrune.IsZero() && now.Sub(s.lastPrune) < ReplayPruneEvery {
		return false
	}
	s.lastPrune = now
	return true
}

// prune deletes the keys that expired before now and returns how many.
func (s *ReplayStore) prune(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.db.Update(ctx, func(gt grants.Tx) error {
		res, err := gt.(*tx).exec(ctx, `DELETE FROM replay_keys WHERE expires_at < ?`, micros(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired replay keys: %w", err)
	}
	return int(n), nil
}

// ReplayKeys returns how many replay keys are stored, expired or not: for tests and operators.
func (db *DB) ReplayKeys(ctx context.Context) (int, error) {
	var n int
	if err := db.read.GetContext(ctx, &n, `SELECT COUNT(*) FROM replay_keys`); err != nil {
		return 0, fmt.Errorf("count replay keys: %w", err)
	}
	return n, nil
}
