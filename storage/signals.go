package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/grants"
)

// day is one day in unix microseconds, the bucket of the per-day request counts.
const day = int64(24 * time.Hour / time.Microsecond)

// SignalFacts reads what a request's misuse signals are computed from. Each query is one range
// read of an index (0015_signals.sql, requests_requester from 0001), so its cost follows the
// person's or the resource's own rows in the window, not the size of the log:
//
//   - the person's latest grant of the resource: grants_subject_resource, one seek from the end;
//   - the person's requests in 24 hours, and per day over 30 days (at most 30 groups):
//     requests_requester;
//   - the durations of the resource's latest approved requests, at most grants.DurationSample:
//     requests_resource_durations, read newest first, which covers the query;
//   - a denial of the same request in 24 hours: requests_requester_resource.
func (t *tx) SignalFacts(ctx context.Context, q grants.SignalQuery) (grants.SignalFacts, error) {
	now := micros(q.Now)
	var f grants.SignalFacts

	var last sql.NullInt64
	if err := t.get(ctx, &last, `SELECT MAX(created_at) FROM grants WHERE subject = ? AND resource = ?`,
		q.Person, q.Resource); err != nil {
		return f, fmt.Errorf("read the latest grant of %s to %s: %w", q.Person, q.Resource, err)
	}
	if last.Valid {
		f.LastGrant = fromMicros(last.Int64)
	}

	if err := t.get(ctx, &f.Requests24h, `SELECT COUNT(*) FROM requests WHERE requester = ? AND created_at > ? AND created_at <= ?`,
		q.Person, now-int64(grants.VolumeWindow/time.Microsecond), now); err != nil {
		return f, fmt.Errorf("count the requests of %s in 24 hours: %w", q.Person, err)
	}

	since := now - grants.VolumeDays*day
	rows, err := t.queryx(ctx, `SELECT (created_at - ?) / ? AS d, COUNT(*) AS n FROM requests
		WHERE requester = ? AND created_at > ? AND created_at <= ? GROUP BY 1`,
		since, day, q.Person, since, now)
	if err != nil {
		return f, fmt.Errorf("count the requests of %s per day: %w", q.Person, err)
	}
	f.Daily = make([]int, grants.VolumeDays)
	for rows.Next() {
		var d int64
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			rows.Close()
			return f, fmt.Errorf("count the requests of %s per day: %w", q.Person, err)
		}
		if d >= 0 && d < int64(len(f.Daily)) {
			f.Daily[d] += n
		} else if d == int64(len(f.Daily)) {
			f.Daily[d-1] += n // a request at exactly now
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("count the requests of %s per day: %w", q.Person, err)
	}

	rows, err = t.queryx(ctx, `SELECT duration_us FROM requests
		WHERE resource = ? AND state = ? AND created_at <= ? AND kind IN (?, ?)
		ORDER BY created_at DESC LIMIT ?`,
		q.Resource, string(grants.RequestApproved), now, string(grants.KindAccess), string(grants.KindBreakGlass),
		grants.DurationSample)
	if err != nil {
		return f, fmt.Errorf("read the recent durations of %s: %w", q.Resource, err)
	}
	for rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			rows.Close()
			return f, fmt.Errorf("read the recent durations of %s: %w", q.Resource, err)
		}
		f.Durations = append(f.Durations, time.Duration(us)*time.Microsecond)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("read the recent durations of %s: %w", q.Resource, err)
	}

	var one int
	err = t.get(ctx, &one, `SELECT 1 FROM requests WHERE requester = ? AND resource = ? AND state = ?
		AND decided_at > ? AND decided_at <= ? LIMIT 1`,
		q.Person, q.Resource, string(grants.RequestDenied), now-int64(grants.DenialWindow/time.Microsecond), now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return f, fmt.Errorf("look for a recent denial of %s's request for %s: %w", q.Person, q.Resource, err)
	default:
		f.DeniedRecently = true
	}
	return f, nil
}

// splitSignals reads requests.signals: names, comma-separated, ” for none.
func splitSignals(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// writeChecks is requests.checks: the checks as a JSON array, ” for none.
func writeChecks(cs []grants.Check) string {
	if len(cs) == 0 {
		return ""
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err) // strings and maps of strings: cannot fail
	}
	return string(b)
}

// readChecks reads requests.checks. A value that does not parse (written by hand) shows as one
// unknown check rather than failing every read of the request.
func readChecks(id, s string) []grants.Check {
	if s == "" {
		return nil
	}
	var cs []grants.Check
	if err := json.Unmarshal([]byte(s), &cs); err != nil {
		return []grants.Check{{Kind: "stored", Status: grants.CheckUnknown,
			Problem: fmt.Sprintf("The checks stored with request %s do not parse: %v.", id, err)}}
	}
	return cs
}
