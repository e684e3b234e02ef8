package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/accessbot/accessbot/audit"
)

// BriefDataLen is how many characters of an event's data ScanAuditBrief returns: the prefix
// that migration 0018's index covers.
const BriefDataLen = 200

// briefWhere is the window part of the digest's queries: f's time and sequence bounds, all
// columns of the index audit_events_digest.
func briefWhere(f audit.Filter) ([]string, []any) {
	// The unary plus keeps the planners off the primary key: the sequence bounds are checked on
	// the index's rows, which the time range selects.
	var where []string
	var args []any
	if f.AfterSeq != 0 {
		where = append(where, "+seq > ?")
		args = append(args, f.AfterSeq)
	}
	if f.MaxSeq != 0 {
		where = append(where, "+seq <= ?")
		args = append(args, f.MaxSeq)
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	return where, args
}

// AuditTypeCounts counts the audit events f selects by type. Only f's times and sequence
// numbers apply. It reads the index audit_events_digest, not the events.
func (db *DB) AuditTypeCounts(ctx context.Context, f audit.Filter) (map[string]int64, error) {
	where, args := briefWhere(f)
	// Nor on the index by time: it would read every row for its type and sort by type. Walking
	// the digest's index whole, in type order, reads no row and sorts nothing.
	for i, w := range where {
		if strings.HasPrefix(w, "at ") {
			where[i] = "+" + w
		}
	}
	rows, err := db.read.QueryContext(ctx, db.read.Rebind(`SELECT type, COUNT(*) FROM audit_events`+
		whereClause(where)+` GROUP BY type`), args...)
	if err != nil {
		return nil, fmt.Errorf("count audit events by type: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var typ string
		var n int64
		if err := rows.Scan(&typ, &n); err != nil {
			return nil, fmt.Errorf("count audit events by type: %w", err)
		}
		out[typ] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count audit events by type: %w", err)
	}
	return out, nil
}

// AuditTypeCount counts the audit events of type typ that f's times and sequence numbers
// select: a range of the index audit_events_digest.
func (db *DB) AuditTypeCount(ctx context.Context, f audit.Filter, typ string) (int64, error) {
	where, args := briefWhere(f)
	where = append([]string{"type = ?"}, where...)
	args = append([]any{typ}, args...)
	var n int64
	if err := db.read.GetContext(ctx, &n, db.read.Rebind(`SELECT COUNT(*) FROM audit_events`+whereClause(where)), args...); err != nil {
		return 0, fmt.Errorf("count %s audit events: %w", typ, err)
	}
	return n, nil
}

// briefColumns are the columns ScanAuditBrief may read, all in the index audit_events_digest;
// data is read as its first BriefDataLen characters.
var briefColumns = map[string]string{
	"request_id": "request_id", "grant_id": "grant_id", "resource": "resource", "subject": "subject",
	"data": "substr(data, 1, " + fmt.Sprint(BriefDataLen) + ")",
}

// ScanAuditBrief calls fn for every event of type typ that f's times and sequence numbers
// select, in no particular order, with its sequence number, time (unix microseconds) and the
// columns cols names, in that order: some of request_id, grant_id, resource, subject and data,
// which is only the first BriefDataLen characters of the event's data (JSON, maybe cut short).
// It reads the index audit_events_digest alone, which is what makes a digest over a million
// events quick; a caller that needs a key past the prefix reads the event with AuditEvents.
// vals is reused between calls. A dataHas other than "" keeps only the events whose data prefix
// holds it, or is cut short (the rest of the data may hold it).
func (db *DB) ScanAuditBrief(ctx context.Context, f audit.Filter, typ string, cols []string, dataHas string,
	fn func(seq, at int64, vals []string) error) error {
	exprs := []string{"seq", "at"}
	for _, c := range cols {
		expr, ok := briefColumns[c]
		if !ok {
			return fmt.Errorf("read %s audit events: no column %q in the digest's index", typ, c)
		}
		exprs = append(exprs, expr)
	}
	where, args := briefWhere(f)
	where = append([]string{"type = ?"}, where...)
	args = append([]any{typ}, args...)
	if dataHas != "" {
		prefix := briefColumns["data"]
		find := "instr(" + prefix + ", ?)"
		if db.driver == Postgres {
			find = "strpos(" + prefix + ", ?)"
		}
		where = append(where, "("+find+" > 0 OR length("+prefix+") >= "+fmt.Sprint(BriefDataLen)+")")
		args = append(args, dataHas)
	}
	from := ` FROM audit_events` + whereClause(where)
	if done, err := db.scanBriefJoined(ctx, typ, exprs, from, args, fn); done || err != nil {
		return err
	}
	rows, err := db.read.QueryContext(ctx, db.read.Rebind(`SELECT `+strings.Join(exprs, ", ")+from), args...)
	if err != nil {
		return fmt.Errorf("read %s audit events: %w", typ, err)
	}
	defer rows.Close()
	var seq, at int64
	vals := make([]string, len(cols))
	dest := []any{&seq, &at}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read %s audit events: %w", typ, err)
		}
		if err := fn(seq, at, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s audit events: %w", typ, err)
	}
	return nil
}

// Separators of scanBriefJoined's text: between the values of a row, and between rows. JSON
// data never holds them raw (json.Marshal escapes control characters).
const (
	briefFieldSep = "\x1f"
	briefRowSep   = "\x1e"
)

// scanBriefJoined is ScanAuditBrief's query with every row joined into one text by the database
// (group_concat, string_agg): the pure-Go SQLite driver's cost is per row and column fetched, and
// a million rows cost several times their text in one piece. It calls fn only once the whole
// text has parsed; done is false when it did not (an ID holding a separator, a text too long
// for the database) and the caller reads the rows one by one. err is only fn's.
func (db *DB) scanBriefJoined(ctx context.Context, typ string, exprs []string, from string, args []any,
	fn func(seq, at int64, vals []string) error) (done bool, err error) {
	row := "CAST(seq AS TEXT) || ? || CAST(at AS TEXT)"
	var sepArgs []any
	sepArgs = append(sepArgs, briefFieldSep)
	for _, e := range exprs[2:] {
		row += " || ? || " + e
		sepArgs = append(sepArgs, briefFieldSep)
	}
	agg := "group_concat(" + row + ", ?)"
	if db.driver == Postgres {
		agg = "string_agg(" + row + ", ?)"
	}
	sepArgs = append(sepArgs, briefRowSep)
	var text sql.NullString
	if qerr := db.read.QueryRowContext(ctx, db.read.Rebind(`SELECT `+agg+from), append(sepArgs, args...)...).Scan(&text); qerr != nil {
		return false, nil
	}
	if !text.Valid {
		return true, nil // no rows
	}
	n := len(exprs)
	// Check the whole text first, so that a fallback never repeats a row fn has had.
	rest := text.String
	for rest != "" {
		rec, after, _ := strings.Cut(rest, briefRowSep)
		if strings.Count(rec, briefFieldSep) != n-1 {
			return false, nil
		}
		rest = after
	}
	vals := make([]string, n)
	for rest = text.String; rest != ""; {
		var rec string
		rec, rest, _ = strings.Cut(rest, briefRowSep)
		for i := range n - 1 {
			vals[i], rec, _ = strings.Cut(rec, briefFieldSep)
		}
		vals[n-1] = rec
		seq, err1 := strconv.ParseInt(vals[0], 10, 64)
		at, err2 := strconv.ParseInt(vals[1], 10, 64)
		if err1 != nil || err2 != nil {
			// Sequence numbers and times are integers; text that says otherwise is not ours.
			return true, fmt.Errorf("read %s audit events: a joined row without its sequence number and time", typ)
		}
		if err := fn(seq, at, vals[2:]); err != nil {
			return true, err
		}
	}
	return true, nil
}

// auditEventsBatch is how many sequence numbers one query of AuditEvents asks for.
const auditEventsBatch = 500

// AuditEvents calls fn for each event whose sequence number is in seqs (in sequence order within
// a batch of them): the whole events, for the few a digest reads in full.
func (db *DB) AuditEvents(ctx context.Context, seqs []int64, fn func(audit.Event) error) error {
	for len(seqs) > 0 {
		n := min(len(seqs), auditEventsBatch)
		batch := seqs[:n]
		seqs = seqs[n:]
		args := make([]any, len(batch))
		marks := make([]byte, 0, 2*len(batch))
		for i, s := range batch {
			args[i] = s
			if i > 0 {
				marks = append(marks, ',')
			}
			marks = append(marks, '?')
		}
		q := db.read.Rebind(`SELECT seq, at, type, actor, resource, subject, request_id, grant_id, data,
		prev_hash, hash FROM audit_events WHERE seq IN (` + string(marks) + `) ORDER BY seq`)
		if err := db.scanEvents(ctx, q, args, fn); err != nil {
			return err
		}
	}
	return nil
}
