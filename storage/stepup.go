package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/stepup"
)

// The stepup_attempts table (migration 0009) keeps step-up logins between the chat click and
// the identity provider's callback. Starting a link and finishing a state are each a
// compare-and-swap on a zero time, so two replicas (or a replayed callback) cannot both win.

var _ stepup.Store = (*DB)(nil)

const stepUpCols = `link_hash, request_id, decision, actor_id, actor_email, actor_name, actor_platform,
	actor_platform_id, created_at, link_expires_at, state_hash, nonce, verifier, started_at, finished_at`

type stepUpRow struct {
	LinkHash        string `db:"link_hash"`
	RequestID       string `db:"request_id"`
	Decision        string `db:"decision"`
	ActorID         string `db:"actor_id"`
	ActorEmail      string `db:"actor_email"`
	ActorName       string `db:"actor_name"`
	ActorPlatform   string `db:"actor_platform"`
	ActorPlatformID string `db:"actor_platform_id"`
	CreatedAt       int64  `db:"created_at"`
	LinkExpiresAt   int64  `db:"link_expires_at"`
	StateHash       string `db:"state_hash"`
	Nonce           string `db:"nonce"`
	Verifier        string `db:"verifier"`
	StartedAt       int64  `db:"started_at"`
	FinishedAt      int64  `db:"finished_at"`
}

func (r stepUpRow) attempt() stepup.Attempt {
	return stepup.Attempt{
		LinkHash: r.LinkHash, RequestID: r.RequestID, Decision: grants.Decision(r.Decision),
		Actor: grants.Actor{ID: r.ActorID, Email: r.ActorEmail, Name: r.ActorName,
			Platform: r.ActorPlatform, PlatformID: r.ActorPlatformID},
		CreatedAt: fromMicros(r.CreatedAt), LinkExpiresAt: fromMicros(r.LinkExpiresAt),
		StateHash: r.StateHash, Nonce: r.Nonce, Verifier: r.Verifier,
		StartedAt: fromMicros(r.StartedAt), FinishedAt: fromMicros(r.FinishedAt),
	}
}

// stepUpKeep is how long attempts are kept: past their link's life and the login's max age
// they serve nothing (the audit log has what happened), so each new one removes older ones.
const stepUpKeep = 24 * time.Hour

// CreateStepUp stores a new, unstarted attempt, and removes attempts older than stepUpKeep.
func (db *DB) CreateStepUp(ctx context.Context, a stepup.Attempt) error {
	if a.LinkHash == "" || a.RequestID == "" || a.Actor.ID == "" || a.CreatedAt.IsZero() || a.LinkExpiresAt.IsZero() {
		return fmt.Errorf("store step-up: %w: link, request, actor and times are required", grants.ErrInvalid)
	}
	return db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		_, err := t.exec(ctx, `INSERT INTO stepup_attempts (`+stepUpCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', 0, 0)`,
			a.LinkHash, a.RequestID, string(a.Decision), a.Actor.ID, a.Actor.Email, a.Actor.Name,
			a.Actor.Platform, a.Actor.PlatformID, micros(a.CreatedAt), micros(a.LinkExpiresAt))
		if err != nil {
			return fmt.Errorf("store step-up for request %s: %w", a.RequestID, err)
		}
		if _, err := t.exec(ctx, `DELETE FROM stepup_attempts WHERE created_at < ?`, micros(a.CreatedAt.Add(-stepUpKeep))); err != nil {
			return fmt.Errorf("remove old step-ups: %w", err)
		}
		return nil
	})
}

// StartStepUp marks the link's attempt started with the login's state hash, nonce and
// verifier, once.
func (db *DB) StartStepUp(ctx context.Context, linkHash, stateHash, nonce, verifier string, at time.Time) (stepup.Attempt, error) {
	if linkHash == "" || stateHash == "" || nonce == "" || verifier == "" || at.IsZero() {
		return stepup.Attempt{}, fmt.Errorf("start step-up: %w: link, state, nonce, verifier and time are required", grants.ErrInvalid)
	}
	var out stepup.Attempt
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		var row stepUpRow
		err := t.get(ctx, &row, `SELECT `+stepUpCols+` FROM stepup_attempts WHERE link_hash = ?`, linkHash)
		if errors.Is(err, sql.ErrNoRows) {
			return stepup.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read step-up: %w", err)
		}
		out = row.attempt()
		if row.StartedAt != 0 {
			return stepup.ErrUsed
		}
		res, err := t.exec(ctx, `UPDATE stepup_attempts SET state_hash = ?, nonce = ?, verifier = ?, started_at = ?
			WHERE link_hash = ? AND started_at = 0`, stateHash, nonce, verifier, micros(at), linkHash)
		if err != nil {
			return fmt.Errorf("start step-up: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return stepup.ErrUsed
		}
		row.StateHash, row.Nonce, row.Verifier, row.StartedAt = stateHash, nonce, verifier, micros(at)
		out = row.attempt()
		return nil
	})
	return out, err
}

// FinishStepUp marks the attempt of the state finished, once.
func (db *DB) FinishStepUp(ctx context.Context, stateHash string, at time.Time) (stepup.Attempt, error) {
	if stateHash == "" || at.IsZero() {
		return stepup.Attempt{}, fmt.Errorf("finish step-up: %w: state and time are required", grants.ErrInvalid)
	}
	var out stepup.Attempt
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		var row stepUpRow
		err := t.get(ctx, &row, `SELECT `+stepUpCols+` FROM stepup_attempts WHERE state_hash = ?`, stateHash)
		if errors.Is(err, sql.ErrNoRows) {
			return stepup.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read step-up: %w", err)
		}
		out = row.attempt()
		if row.FinishedAt != 0 {
			return stepup.ErrUsed
		}
		res, err := t.exec(ctx, `UPDATE stepup_attempts SET finished_at = ? WHERE state_hash = ? AND finished_at = 0`,
			micros(at), stateHash)
		if err != nil {
			return fmt.Errorf("finish step-up: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return stepup.ErrUsed
		}
		row.FinishedAt = micros(at)
		out = row.attempt()
		return nil
	})
	return out, err
}
