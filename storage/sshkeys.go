package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// The ssh_keys table (migration 0003) holds the SSH public keys people register in chat. The
// DB is the adapters.PublicKeySource the sshcert adapter signs from.

var _ adapters.PublicKeySource = (*DB)(nil)

const sshKeyCols = `person_id, fingerprint, key_type, public_key, comment, added_at`

type sshKeyRow struct {
	Person      string `db:"person_id"`
	Fingerprint string `db:"fingerprint"`
	Type        string `db:"key_type"`
	Key         string `db:"public_key"`
	Comment     string `db:"comment"`
	AddedAt     int64  `db:"added_at"`
}

func (r sshKeyRow) key() bot.SSHKey {
	return bot.SSHKey{Person: r.Person, Type: r.Type, Key: r.Key, Comment: r.Comment,
		Fingerprint: r.Fingerprint, AddedAt: fromMicros(r.AddedAt)}
}

// AddPublicKey registers k and records audit.SSHKeyAdded (with the fingerprint only) in one
// transaction. It returns bot.ErrKeyExists when the person has a key with that fingerprint and
// bot.ErrTooManyKeys when they already have bot.MaxSSHKeys; grants.ErrInvalid when a field is
// missing or Key does not parse to Fingerprint.
func (db *DB) AddPublicKey(ctx context.Context, k bot.SSHKey) error {
	if k.Person == "" || k.Key == "" || k.Fingerprint == "" || k.Type == "" || k.AddedAt.IsZero() {
		return fmt.Errorf("add SSH key: %w: person, key, type, fingerprint and time are required", grants.ErrInvalid)
	}
	// The key is checked by bot.ParseSSHKey before it gets here; this only keeps a row's
	// fingerprint true to its key, which removal and the audit log rely on.
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key))
	if err != nil || ssh.FingerprintSHA256(pk) != k.Fingerprint || pk.Type() != k.Type {
		return fmt.Errorf("add SSH key %s of %s: %w: the key does not match its fingerprint and type", k.Fingerprint, k.Person, grants.ErrInvalid)
	}
	k.Key = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	return db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		res, err := t.exec(ctx, `INSERT INTO ssh_keys (`+sshKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (person_id, fingerprint) DO NOTHING`,
			k.Person, k.Fingerprint, k.Type, k.Key, k.Comment, micros(k.AddedAt))
		if err != nil {
			return fmt.Errorf("add SSH key %s of %s: %w", k.Fingerprint, k.Person, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("add SSH key %s of %s: %w", k.Fingerprint, k.Person, err)
		} else if n == 0 {
			return fmt.Errorf("add SSH key %s of %s: %w", k.Fingerprint, k.Person, bot.ErrKeyExists)
		}
		// Appending locks the audit head until commit (PostgreSQL), so the count below runs
		// after any other add has committed or rolled back: two adds at once cannot both pass.
		if _, err := t.Append(ctx, audit.Event{At: k.AddedAt, Actor: k.Person, Subject: k.Person}.
			With(audit.SSHKeyAddedData{Fingerprint: k.Fingerprint})); err != nil {
			return err
		}
		var n int
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM ssh_keys WHERE person_id = ?`, k.Person); err != nil {
			return fmt.Errorf("count SSH keys of %s: %w", k.Person, err)
		}
		if n > bot.MaxSSHKeys {
			return fmt.Errorf("add SSH key %s of %s: %w (%d at most)", k.Fingerprint, k.Person, bot.ErrTooManyKeys, bot.MaxSSHKeys)
		}
		return nil
	})
}

// SSHKeys lists a person's keys, newest first.
func (db *DB) SSHKeys(ctx context.Context, personID string) ([]bot.SSHKey, error) {
	var rows []sshKeyRow
	if err := db.read.SelectContext(ctx, &rows, db.read.Rebind(`SELECT `+sshKeyCols+` FROM ssh_keys
		WHERE person_id = ? ORDER BY added_at DESC, fingerprint`), personID); err != nil {
		return nil, fmt.Errorf("read SSH keys of %s: %w", personID, err)
	}
	out := make([]bot.SSHKey, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

// PublicKeys returns a person's keys in authorized_keys form, the newest (preferred) first. It
// makes the DB an adapters.PublicKeySource; its errors are all retryable.
func (db *DB) PublicKeys(ctx context.Context, subjectID string) ([]string, error) {
	keys, err := db.SSHKeys(ctx, subjectID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Key
	}
	return out, nil
}

// RemovePublicKey deletes the person's key with that fingerprint and records
// audit.SSHKeyRemoved in one transaction, and returns the key removed; bot.ErrUnknownKey when
// the person has no such key.
func (db *DB) RemovePublicKey(ctx context.Context, personID, fingerprint string, at time.Time) (bot.SSHKey, error) {
	if personID == "" || fingerprint == "" || at.IsZero() {
		return bot.SSHKey{}, fmt.Errorf("remove SSH key: %w: person, fingerprint and time are required", grants.ErrInvalid)
	}
	var removed bot.SSHKey
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		var row sshKeyRow
		err := t.get(ctx, &row, `SELECT `+sshKeyCols+` FROM ssh_keys WHERE person_id = ? AND fingerprint = ?`,
			personID, fingerprint)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("remove SSH key %s of %s: %w", fingerprint, personID, bot.ErrUnknownKey)
		}
		if err != nil {
			return fmt.Errorf("remove SSH key %s of %s: %w", fingerprint, personID, err)
		}
		res, err := t.exec(ctx, `DELETE FROM ssh_keys WHERE person_id = ? AND fingerprint = ?`, personID, fingerprint)
		if err != nil {
			return fmt.Errorf("remove SSH key %s of %s: %w", fingerprint, personID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("remove SSH key %s of %s: %w", fingerprint, personID, err)
		} else if n == 0 {
			// Removed by a concurrent call between the read and the delete.
			return fmt.Errorf("remove SSH key %s of %s: %w", fingerprint, personID, bot.ErrUnknownKey)
		}
		if _, err := t.Append(ctx, audit.Event{At: at, Actor: personID, Subject: personID}.
			With(audit.SSHKeyRemovedData{Fingerprint: fingerprint})); err != nil {
			return err
		}
		removed = row.key()
		return nil
	})
	if err != nil {
		return bot.SSHKey{}, err
	}
	return removed, nil
}
