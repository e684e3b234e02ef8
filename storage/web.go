package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// The web_messages table (migration 0012) keeps the local web chat's history. storage knows
// the web chat by this table alone: its messages come and go as bot.HistoryMessage.

// maxWebIDLen bounds a channel or message ID: the web chat's are short ("dm:alice",
// "a1b2c3-42"), and anything longer did not come from it.
const maxWebIDLen = 200

// SaveWebMessage stores m, or its newer version over the one stored (a version not above the
// stored one changes nothing), and, when keep is above 0, deletes the channel's messages older
// than its newest keep.
func (db *DB) SaveWebMessage(ctx context.Context, m bot.HistoryMessage, keep int) error {
	if m.Channel == "" || m.ID == "" || len(m.Channel) > maxWebIDLen || len(m.ID) > maxWebIDLen {
		return fmt.Errorf("save web chat message %.40q in %.40q: %w: channel and ID are required, each at most %d bytes",
			m.ID, m.Channel, grants.ErrInvalid, maxWebIDLen)
	}
	view, err := json.Marshal(m.View)
	if err != nil {
		return fmt.Errorf("save web chat message %s: encode view: %w", m.ID, err)
	}
	return db.Update(ctx, func(gt grants.Tx) error {
		t := gt.(*tx)
		if _, err := t.exec(ctx, `INSERT INTO web_messages (channel, message_id, pos, version, view_json,
			posted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (channel, message_id) DO UPDATE SET version = excluded.version,
			view_json = excluded.view_json, updated_at = excluded.updated_at
			WHERE web_messages.version < excluded.version`,
			m.Channel, m.ID, m.Pos, m.Version, string(view), micros(m.PostedAt), micros(m.UpdatedAt)); err != nil {
			return fmt.Errorf("save web chat message %s in %s: %w", m.ID, m.Channel, err)
		}
		if keep <= 0 {
			return nil
		}
		// The newest keep stay: everything at or before the position of the (keep+1)th newest
		// goes. No such message, no deletion.
		if _, err := t.exec(ctx, `DELETE FROM web_messages WHERE channel = ? AND pos <=
			(SELECT pos FROM web_messages WHERE channel = ? ORDER BY pos DESC LIMIT 1 OFFSET ?)`,
			m.Channel, m.Channel, keep); err != nil {
			return fmt.Errorf("prune web chat messages of %s: %w", m.Channel, err)
		}
		return nil
	})
}

type webMessageRow struct {
	Channel   string `db:"channel"`
	ID        string `db:"message_id"`
	Pos       int64  `db:"pos"`
	Version   int64  `db:"version"`
	ViewJSON  string `db:"view_json"`
	PostedAt  int64  `db:"posted_at"`
	UpdatedAt int64  `db:"updated_at"`
}

// WebMessages returns the web chat's stored messages in the order they were posted (by Pos),
// at most perChannel of each channel's newest when perChannel is above 0.
func (db *DB) WebMessages(ctx context.Context, perChannel int) ([]bot.HistoryMessage, error) {
	var rows []webMessageRow
	if err := db.read.SelectContext(ctx, &rows, `SELECT channel, message_id, pos, version, view_json,
		posted_at, updated_at FROM web_messages ORDER BY pos, channel, message_id`); err != nil {
		return nil, fmt.Errorf("read web chat messages: %w", err)
	}
	// The table is pruned as it grows; a smaller bound than it was pruned to drops the oldest.
	skip := map[string]int{}
	if perChannel > 0 {
		for _, r := range rows {
			skip[r.Channel]++
		}
		for ch, n := range skip {
			skip[ch] = max(0, n-perChannel)
		}
	}
	out := make([]bot.HistoryMessage, 0, len(rows))
	for _, r := range rows {
		if skip[r.Channel] > 0 {
			skip[r.Channel]--
			continue
		}
		m := bot.HistoryMessage{Channel: r.Channel, ID: r.ID, Pos: r.Pos, Version: r.Version,
			PostedAt: fromMicros(r.PostedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
		if err := json.Unmarshal([]byte(r.ViewJSON), &m.View); err != nil {
			return nil, fmt.Errorf("web chat message %s in %s: decode view: %w", r.ID, r.Channel, err)
		}
		out = append(out, m)
	}
	return out, nil
}
