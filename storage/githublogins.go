package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// The github_logins table (migration 0019) holds the GitHub logins people proved are theirs
// with `/access github-login`. The DB is the grants.VerifiedAccounts that resources with
// `account_from: github-login` take their accounts from.

var (
	_ bot.GitHubLinkStore     = (*DB)(nil)
	_ grants.VerifiedAccounts = (*DB)(nil)
)

const githubLoginCols = `person_id, login, github_id, verified_at, verified_via`

type githubLoginRow struct {
	Person     string `db:"person_id"`
	Login      string `db:"login"`
	ID         int64  `db:"github_id"`
	VerifiedAt int64  `db:"verified_at"`
	Via        string `db:"verified_via"`
}

func (r githubLoginRow) link() bot.GitHubLink {
	return bot.GitHubLink{Person: r.Person, Login: r.Login, ID: r.ID, VerifiedAt: fromMicros(r.VerifiedAt), Via: r.Via}
}

// LinkGitHub stores l as the person's verified GitHub login; see bot.GitHubLinkStore.
func (db *DB) LinkGitHub(ctx context.Context, l bot.GitHubLink) (bot.GitHubLink, error) {
	l.Person = grants.CanonicalPerson(l.Person)
	if l.Person == "" || l.Login == "" || l.ID <= 0 || l.VerifiedAt.IsZero() || l.Via == "" {
		return bot.GitHubLink{}, fmt.Errorf("link GitHub login: %w: person, login, ID, time and how are required", grants.ErrInvalid)
	}
	var prev bot.GitHubLink
	taken := false
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		prev, taken = bot.GitHubLink{}, false
		var owner githubLoginRow
		err := t.get(ctx, &owner, `SELECT `+githubLoginCols+` FROM github_logins
			WHERE (login_key = ? OR github_id = ?) AND person_id <> ?`, strings.ToLower(l.Login), l.ID, l.Person)
		switch {
		case err == nil:
			taken = true
			return refuseTakenGitHub(ctx, t, l, owner)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("link GitHub login %s to %s: %w", l.Login, l.Person, err)
		}
		var row githubLoginRow
		err = t.get(ctx, &row, `SELECT `+githubLoginCols+` FROM github_logins WHERE person_id = ?`, l.Person)
		switch {
		case err == nil:
			prev = row.link()
			_, err = t.exec(ctx, `UPDATE github_logins SET login = ?, login_key = ?, github_id = ?, verified_at = ?, verified_via = ?
				WHERE person_id = ?`, l.Login, strings.ToLower(l.Login), l.ID, micros(l.VerifiedAt), l.Via, l.Person)
		case errors.Is(err, sql.ErrNoRows):
			_, err = t.exec(ctx, `INSERT INTO github_logins (person_id, login, login_key, github_id, verified_at, verified_via)
				VALUES (?, ?, ?, ?, ?, ?)`, l.Person, l.Login, strings.ToLower(l.Login), l.ID, micros(l.VerifiedAt), l.Via)
		}
		if err != nil {
			return fmt.Errorf("link GitHub login %s to %s: %w", l.Login, l.Person, err)
		}
		_, err = t.Append(ctx, audit.Event{At: l.VerifiedAt, Actor: l.Person, Subject: l.Person}.With(audit.GitHubLinkedData{
			Login: l.Login, ID: l.ID, Via: l.Via, PreviousLogin: prev.Login, PreviousID: prev.ID,
		}))
		return err
	})
	if err != nil {
		return bot.GitHubLink{}, err
	}
	if taken {
		return bot.GitHubLink{}, fmt.Errorf("link GitHub login %s to %s: %w", l.Login, l.Person, bot.ErrGitHubLoginTaken)
	}
	return prev, nil
}

// refuseTakenGitHub records, in the transaction that stored nothing, that l's GitHub account is
// owner's: refused for the person, and an alert for the security channel, which alone is told
// who the owner is.
func refuseTakenGitHub(ctx context.Context, t *tx, l bot.GitHubLink, owner githubLoginRow) error {
	if _, err := t.Append(ctx, audit.Event{At: l.VerifiedAt, Actor: l.Person, Subject: l.Person}.With(audit.GitHubLinkRefusedData{
		Refused: audit.GitHubRefusedTaken, Login: l.Login, ID: l.ID,
	})); err != nil {
		return err
	}
	msg := fmt.Sprintf("%s proved GitHub account %s (ID %d) is theirs, but it is linked to %s (as %s since %s); refused.",
		l.Person, l.Login, l.ID, owner.Person, owner.Login, fromMicros(owner.VerifiedAt).UTC().Format(time.RFC3339))
	_, err := t.Append(ctx, audit.Event{At: l.VerifiedAt, Actor: l.Person, Subject: l.Person}.With(audit.AlertRaisedData{
		Alert: audit.AlertGitHubLoginTaken, Message: msg,
	}))
	return err
}

// GitHubLink returns the person's verified GitHub login; bot.ErrNoGitHubLink when none.
func (db *DB) GitHubLink(ctx context.Context, person string) (bot.GitHubLink, error) {
	person = grants.CanonicalPerson(person)
	var row githubLoginRow
	err := db.read.GetContext(ctx, &row, db.read.Rebind(`SELECT `+githubLoginCols+` FROM github_logins WHERE person_id = ?`), person)
	if errors.Is(err, sql.ErrNoRows) {
		return bot.GitHubLink{}, fmt.Errorf("read the GitHub login of %s: %w", person, bot.ErrNoGitHubLink)
	}
	if err != nil {
		return bot.GitHubLink{}, fmt.Errorf("read the GitHub login of %s: %w", person, err)
	}
	return row.link(), nil
}

// VerifiedAccount returns the person's verified GitHub login for bot.GitHubLoginSource; it
// makes the DB a grants.VerifiedAccounts. Another source is an error: the config allows none.
func (db *DB) VerifiedAccount(ctx context.Context, source, person string) (string, bool, error) {
	if source != bot.GitHubLoginSource {
		return "", false, fmt.Errorf("read verified account of %s: unknown source %q", person, source)
	}
	l, err := db.GitHubLink(ctx, person)
	if errors.Is(err, bot.ErrNoGitHubLink) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return l.Login, true, nil
}

// UnlinkGitHub removes the person's verified GitHub login with audit.GitHubUnlinked in one
// transaction and returns it; bot.ErrNoGitHubLink when they have none.
func (db *DB) UnlinkGitHub(ctx context.Context, person string, at time.Time) (bot.GitHubLink, error) {
	person = grants.CanonicalPerson(person)
	if person == "" || at.IsZero() {
		return bot.GitHubLink{}, fmt.Errorf("unlink GitHub login: %w: person and time are required", grants.ErrInvalid)
	}
	var removed bot.GitHubLink
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		var row githubLoginRow
		err := t.get(ctx, &row, `SELECT `+githubLoginCols+` FROM github_logins WHERE person_id = ?`, person)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("unlink the GitHub login of %s: %w", person, bot.ErrNoGitHubLink)
		}
		if err != nil {
			return fmt.Errorf("unlink the GitHub login of %s: %w", person, err)
		}
		res, err := t.exec(ctx, `DELETE FROM github_logins WHERE person_id = ?`, person)
		if err != nil {
			return fmt.Errorf("unlink the GitHub login of %s: %w", person, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("unlink the GitHub login of %s: %w", person, err)
		} else if n == 0 {
			// Removed by a concurrent call between the read and the delete.
			return fmt.Errorf("unlink the GitHub login of %s: %w", person, bot.ErrNoGitHubLink)
		}
		if _, err := t.Append(ctx, audit.Event{At: at, Actor: person, Subject: person}.With(audit.GitHubUnlinkedData{
			Login: row.Login, ID: row.ID,
		})); err != nil {
			return err
		}
		removed = row.link()
		return nil
	})
	if err != nil {
		return bot.GitHubLink{}, err
	}
	return removed, nil
}

// RefuseGitHub records a verification that stored nothing (audit.GitHubLinkRefused).
func (db *DB) RefuseGitHub(ctx context.Context, person string, at time.Time, p audit.GitHubLinkRefusedData) error {
	person = grants.CanonicalPerson(person)
	if person == "" || at.IsZero() || p.Refused == "" {
		return fmt.Errorf("record a refused GitHub login: %w: person, time and why are required", grants.ErrInvalid)
	}
	return db.Update(ctx, func(gt grants.Tx) error {
		_, err := gt.(*tx).Append(ctx, audit.Event{At: at, Actor: person, Subject: person}.With(p))
		return err
	})
}
