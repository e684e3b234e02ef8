package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// The discord_links table (migration 0005) ties Discord accounts to people: Discord gives bots
// no email. Every change records its audit event in the same transaction.

// discordPlatform is the chat_people platform of Discord accounts (bot/discord's PlatformName,
// which storage may not import). A confirmed link makes the account where the person is reached
// on Discord, and removing it stops DMs there, in the same transaction: a DM never goes to an
// account whose link is gone.
const discordPlatform = "discord"

var _ bot.LinkStore = (*DB)(nil)

const linkCols = `user_id, person_id, name, code_hash, requested_at, confirmed_at, confirmed_by, via`

type linkRow struct {
	UserID      string `db:"user_id"`
	Person      string `db:"person_id"`
	Name        string `db:"name"`
	CodeHash    string `db:"code_hash"`
	RequestedAt int64  `db:"requested_at"`
	ConfirmedAt int64  `db:"confirmed_at"`
	ConfirmedBy string `db:"confirmed_by"`
	Via         string `db:"via"`
}

func (r linkRow) link() bot.Link {
	return bot.Link{UserID: r.UserID, Person: r.Person, Name: r.Name, CodeHash: r.CodeHash,
		RequestedAt: fromMicros(r.RequestedAt), ConfirmedAt: fromMicros(r.ConfirmedAt),
		ConfirmedBy: r.ConfirmedBy, Via: r.Via}
}

// RequestDiscordLink stores l as the user's pending link, replacing a pending one, and records
// e; bot.ErrAlreadyLinked when the user has a confirmed link.
func (db *DB) RequestDiscordLink(ctx context.Context, l bot.Link, e audit.Event) error {
	if l.UserID == "" || l.Person == "" || l.CodeHash == "" || l.RequestedAt.IsZero() {
		return fmt.Errorf("request Discord link: %w: user, person, code and time are required", grants.ErrInvalid)
	}
	return db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		// Appending first locks the audit head until commit (PostgreSQL): the checks below see
		// every other link change committed.
		if _, err := t.Append(ctx, e); err != nil {
			return err
		}
		var confirmed int64
		err := t.get(ctx, &confirmed, `SELECT confirmed_at FROM discord_links WHERE user_id = ?`, l.UserID)
		switch {
		case err == nil && confirmed != 0:
			return fmt.Errorf("request Discord link of %s: %w", l.UserID, bot.ErrAlreadyLinked)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read Discord link of %s: %w", l.UserID, err)
		}
		if _, err := t.exec(ctx, `DELETE FROM discord_links WHERE user_id = ? AND confirmed_at = 0`, l.UserID); err != nil {
			return fmt.Errorf("replace Discord link of %s: %w", l.UserID, err)
		}
		if _, err := t.exec(ctx, `INSERT INTO discord_links (`+linkCols+`) VALUES (?, ?, ?, ?, ?, 0, '', '')`,
			l.UserID, l.Person, l.Name, l.CodeHash, micros(l.RequestedAt)); err != nil {
			return fmt.Errorf("store Discord link of %s: %w", l.UserID, err)
		}
		return nil
	})
}

// ConfirmDiscordLink confirms the user's pending link with codeHash, records e with the link's
// person as Subject, and makes the account where the person is reached on Discord.
func (db *DB) ConfirmDiscordLink(ctx context.Context, userID, codeHash, by, via string, at time.Time, e audit.Event) (bot.Link, error) {
	// Only the person, with the code, confirms a link (nobody confirms someone else's alone):
	// the code's hash is required.
	if userID == "" || codeHash == "" || by == "" || via == "" || at.IsZero() {
		return bot.Link{}, fmt.Errorf("confirm Discord link: %w: user, code, confirmer, via and time are required", grants.ErrInvalid)
	}
	var out bot.Link
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		var row linkRow
		err := t.get(ctx, &row, `SELECT `+linkCols+` FROM discord_links WHERE user_id = ?`, userID)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (row.ConfirmedAt != 0 || row.CodeHash != codeHash) {
			return fmt.Errorf("confirm Discord link of %s: %w", userID, bot.ErrNoPendingLink)
		}
		if err != nil {
			return fmt.Errorf("read Discord link of %s: %w", userID, err)
		}
		e.Subject = row.Person
		if _, err := t.Append(ctx, e); err != nil {
			return err
		}
		var other int
		if err := t.get(ctx, &other, `SELECT COUNT(*) FROM discord_links WHERE person_id = ? AND confirmed_at <> 0`, row.Person); err != nil {
			return fmt.Errorf("read Discord links of %s: %w", row.Person, err)
		}
		if other > 0 {
			return fmt.Errorf("confirm Discord link of %s to %s: %w", userID, row.Person, bot.ErrAlreadyLinked)
		}
		res, err := t.exec(ctx, `UPDATE discord_links SET confirmed_at = ?, confirmed_by = ?, via = ?, code_hash = ''
			WHERE user_id = ? AND confirmed_at = 0 AND code_hash = ?`, micros(at), by, via, userID, row.CodeHash)
		if err != nil {
			return fmt.Errorf("confirm Discord link of %s: %w", userID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("confirm Discord link of %s: %w", userID, bot.ErrNoPendingLink)
		}
		// The account is now where the person is reached on Discord: they used it when they
		// asked, so that is when they were last seen there.
		if _, err := t.exec(ctx, `INSERT INTO chat_people (person_id, platform, platform_id, name, seen_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (person_id, platform) DO UPDATE SET
			platform_id = excluded.platform_id, name = excluded.name, seen_at = excluded.seen_at`,
			row.Person, discordPlatform, userID, row.Name, row.RequestedAt); err != nil {
			return fmt.Errorf("remember the Discord account of %s: %w", row.Person, err)
		}
		row.ConfirmedAt, row.ConfirmedBy, row.Via, row.CodeHash = micros(at), by, via, ""
		out = row.link()
		return nil
	})
	return out, err
}

// DiscordLink returns the user's link, pending or confirmed.
func (db *DB) DiscordLink(ctx context.Context, userID string) (bot.Link, bool, error) {
	var row linkRow
	err := db.read.GetContext(ctx, &row, db.read.Rebind(`SELECT `+linkCols+` FROM discord_links WHERE user_id = ?`), userID)
	if errors.Is(err, sql.ErrNoRows) {
		return bot.Link{}, false, nil
	}
	if err != nil {
		return bot.Link{}, false, fmt.Errorf("read Discord link of %s: %w", userID, err)
	}
	return row.link(), true, nil
}

// DiscordLinkOf returns the person's confirmed link.
func (db *DB) DiscordLinkOf(ctx context.Context, person string) (bot.Link, bool, error) {
	var row linkRow
	err := db.read.GetContext(ctx, &row, db.read.Rebind(`SELECT `+linkCols+` FROM discord_links
		WHERE person_id = ? AND confirmed_at <> 0`), person)
	if errors.Is(err, sql.ErrNoRows) {
		return bot.Link{}, false, nil
	}
	if err != nil {
		return bot.Link{}, false, fmt.Errorf("read Discord link of %s: %w", person, err)
	}
	return row.link(), true, nil
}

// PendingDiscordLinks lists pending links, oldest first: the person's only, unless person is
// empty.
func (db *DB) PendingDiscordLinks(ctx context.Context, person string) ([]bot.Link, error) {
	q := `SELECT ` + linkCols + ` FROM discord_links WHERE confirmed_at = 0`
	var args []any
	if person != "" {
		q += ` AND person_id = ?`
		args = append(args, person)
	}
	q += ` ORDER BY requested_at, user_id LIMIT 500`
	var rows []linkRow
	if err := db.read.SelectContext(ctx, &rows, db.read.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("read pending Discord links: %w", err)
	}
	out := make([]bot.Link, len(rows))
	for i, r := range rows {
		out[i] = r.link()
	}
	return out, nil
}

// RemoveDiscordLink deletes the user's link and records e with the link's person as Subject;
// grants.ErrNotFound when there is none.
func (db *DB) RemoveDiscordLink(ctx context.Context, userID string, e audit.Event) (bot.Link, error) {
	var out bot.Link
	err := db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		var row linkRow
		err := t.get(ctx, &row, `SELECT `+linkCols+` FROM discord_links WHERE user_id = ?`, userID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("remove Discord link of %s: %w", userID, grants.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read Discord link of %s: %w", userID, err)
		}
		e.Subject = row.Person
		p, err := audit.Decode[audit.IdentityUnlinkedData](e)
		if err != nil {
			return fmt.Errorf("remove Discord link of %s: %w", userID, err)
		}
		p.Person = row.Person
		e = e.With(p)
		if _, err := t.Append(ctx, e); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM discord_links WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("remove Discord link of %s: %w", userID, err)
		}
		// DMs to the person no longer go to the account (a grant's secret, above all).
		if _, err := t.exec(ctx, `DELETE FROM chat_people WHERE person_id = ? AND platform = ? AND platform_id = ?`,
			row.Person, discordPlatform, userID); err != nil {
			return fmt.Errorf("forget the Discord account of %s: %w", row.Person, err)
		}
		out = row.link()
		return nil
	})
	return out, err
}
