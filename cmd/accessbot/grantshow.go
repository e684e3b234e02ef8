package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/storage"
)

// grantShowOptions are the flags of `accessbot grants show`.
type grantShowOptions struct {
	path *string
	json bool
}

func grantsShowCommand(e *env) *cobra.Command {
	o := &grantShowOptions{}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print one grant's whole story, with what was done with it",
		Long: `Show prints one grant's story from the database and its audit log: the request and its
reviews, the grant, extensions, the revocation, and the sessions the activity sampler saw at the
target (activity.session_seen: first and last seen, client, application). It says when no
session was seen. It reads the database and never creates one; --json prints one JSON object
(never the lease data).`,
		Example: `  accessbot grants show g-01j9z3abcd
  accessbot grants show g-01j9z3abcd --json | jq '.sessions'`,
		Args: exactArgs(1, "the grant's ID"),
		RunE: func(_ *cobra.Command, args []string) error { return cmdGrantsShow(e, o, args[0]) },
	}
	o.path = e.configFlag(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	return cmd
}

// grantIDPattern is what a grant ID may look like; anything else is refused before the
// database is opened.
var grantIDPattern = ident.New(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$`, `^[A-Za-z0-9][A-Za-z0-9_.:-]*$`, 1, 100)

// grantStory is one grant with everything that happened to it.
type grantStory struct {
	Grant    grants.Grant
	Request  *grants.Request
	Reviews  []grants.Review
	Events   []audit.Event
	Sessions []sessionSeen
}

// sessionSeen is one activity.session_seen, with when it was recorded.
type sessionSeen struct {
	audit.ActivitySessionSeenData
	Seq int64
}

func cmdGrantsShow(e *env, o *grantShowOptions, id string) error {
	if !grantIDPattern.MatchString(id) {
		return usageErr("%q is not a grant ID (like g-01j9z3abcd)", id)
	}
	cfg, err := loadConfigFor(*o.path, logSections...)
	if err != nil {
		return err
	}
	log, err := e.logger(cfg)
	if err != nil {
		return err
	}
	db, err := openExistingStore(e, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := readStory(e, db, id)
	if err != nil {
		return err
	}
	if o.json {
		return writeStoryJSON(e.stdout, st)
	}
	return writeStory(e.stdout, st)
}

// readStory reads the grant, its request and reviews in one read transaction, then its events
// and those of every request that names it (the one that made it, extensions).
func readStory(e *env, db *storage.DB, id string) (grantStory, error) {
	var st grantStory
	err := db.View(e.ctx, func(tx grants.ReadTx) error {
		g, err := tx.Grant(e.ctx, id)
		if err != nil {
			return err
		}
		st.Grant = g
		if g.RequestID == "" {
			return nil
		}
		r, err := tx.Request(e.ctx, g.RequestID)
		if errors.Is(err, grants.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		st.Request = &r
		st.Reviews, err = tx.Reviews(e.ctx, g.RequestID)
		return err
	})
	if errors.Is(err, grants.ErrNotFound) {
		return st, &exitError{code: 1, msg: fmt.Sprintf("no grant %s in the database (accessbot grants list shows the grants)", id)}
	}
	if err != nil {
		return st, fmt.Errorf("read grant %s: %w", id, err)
	}
	// The grant's own events name the extension requests; a second read adds their events
	// that carry only the request's ID (reviews).
	events, err := db.GrantEvents(e.ctx, st.Grant.Subject, id, nonEmpty(st.Grant.RequestID))
	if err != nil {
		return st, err
	}
	requests := nonEmpty(st.Grant.RequestID)
	for _, ev := range events {
		if ev.RequestID != "" && !slices.Contains(requests, ev.RequestID) {
			requests = append(requests, ev.RequestID)
		}
	}
	if len(requests) > 1 {
		if events, err = db.GrantEvents(e.ctx, st.Grant.Subject, id, requests); err != nil {
			return st, err
		}
	}
	st.Events = events
	for _, ev := range events {
		if ev.Type != audit.ActivitySessionSeen {
			continue
		}
		p, err := audit.Decode[audit.ActivitySessionSeenData](ev)
		if err != nil {
			return st, fmt.Errorf("read grant %s: %w", id, err)
		}
		st.Sessions = append(st.Sessions, sessionSeen{ActivitySessionSeenData: p, Seq: ev.Seq})
	}
	return st, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// stamp is how the story writes a time: UTC to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func writeStory(w io.Writer, st grantStory) error {
	g := st.Grant
	var b strings.Builder
	fmt.Fprintf(&b, "Grant %s: %s for %s (account %s), %s\n", g.ID, g.Resource, safe(g.Subject), safe(g.Account), g.State)
	fmt.Fprintf(&b, "  window   %s to %s\n", stamp(g.StartsAt), stamp(g.ExpiresAt))
	fmt.Fprintf(&b, "  reason   %s\n", strconv.Quote(g.Reason))
	if g.BreakGlass {
		reviewed := "NOT REVIEWED"
		if g.ReviewedBy != "" {
			reviewed = "reviewed by " + safe(g.ReviewedBy) + " at " + stamp(g.ReviewedAt)
		}
		fmt.Fprintf(&b, "  break-glass, %s\n", reviewed)
	}
	if !g.RevokedAt.IsZero() {
		fmt.Fprintf(&b, "  revoked  %s by %s\n", stamp(g.RevokedAt), safe(g.RevokedBy))
	}
	if r := st.Request; r != nil {
		fmt.Fprintf(&b, "\nRequest %s (%s) by %s at %s: %s, %s\n", r.ID, r.Kind, safe(r.Requester), stamp(r.CreatedAt), r.State, durationOrDash(r.Duration))
		for _, rv := range st.Reviews {
			line := fmt.Sprintf("  %s %s at %s", safe(rv.Reviewer), rv.Decision, stamp(rv.At))
			if rv.Reason != "" {
				line += ": " + strconv.Quote(rv.Reason)
			}
			fmt.Fprintln(&b, line)
		}
	}
	b.WriteString("\nEvents\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, ev := range st.Events {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", ev.Seq, stamp(ev.At), safe(ev.Type), safe(ev.Actor), dataText(ev.Data))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nSessions seen at the target: %d\n", len(st.Sessions))
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range st.Sessions {
		fmt.Fprintf(tw, "  %s\tto %s\t%s\tclient %s\tapplication %s\t(%s)\n", stamp(s.FirstSeen), stamp(s.LastSeen), orDash(s.Account),
			orDash(s.Client), orDash(s.Application), safe(s.Ended))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Sessions) == 0 {
		b.WriteString("  none: the target's adapter saw no session of the grant's account (only postgres and mysql resources are sampled)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// orDash writes a value from the log, "-" when empty; see safe.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return safe(s)
}

// safe writes text people or targets chose (a reason, an application_name, which any client
// sets) so that it cannot move the terminal's cursor or forge a line: quoted, with escapes,
// when it holds anything but printable characters.
func safe(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func durationOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return audit.FormatDuration(d)
}

// dataText is an event's details as key=value, in key order; values with spaces are quoted.
// Event data never holds a secret.
func dataText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if v == "" || strings.ContainsAny(v, " \"=") || safe(v) != v {
			v = strconv.Quote(v)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// storyJSON is what --json prints.
type storyJSON struct {
	Grant    map[string]any   `json:"grant"`
	Request  map[string]any   `json:"request,omitempty"`
	Reviews  []map[string]any `json:"reviews"`
	Events   []audit.Event    `json:"events"`
	Sessions []map[string]any `json:"sessions"`
}

func writeStoryJSON(w io.Writer, st grantStory) error {
	out := storyJSON{Grant: grantView(st.Grant), Reviews: []map[string]any{}, Events: st.Events, Sessions: []map[string]any{}}
	if out.Events == nil {
		out.Events = []audit.Event{}
	}
	if r := st.Request; r != nil {
		out.Request = map[string]any{
			"id": r.ID, "kind": r.Kind, "requester": r.Requester, "state": r.State, "reason": r.Reason,
			"duration": audit.FormatDuration(r.Duration), "created_at": r.CreatedAt.UTC(),
			"approvals_needed": r.ApprovalsNeeded, "decided_by": r.DecidedBy,
		}
	}
	for _, rv := range st.Reviews {
		out.Reviews = append(out.Reviews, map[string]any{"reviewer": rv.Reviewer, "decision": rv.Decision, "reason": rv.Reason, "at": rv.At.UTC()})
	}
	for _, s := range st.Sessions {
		v := map[string]any{
			"seq": s.Seq, "session": s.Session, "account": s.Account, "client": s.Client, "application": s.Application,
			"first_seen": s.FirstSeen.UTC(), "last_seen": s.LastSeen.UTC(), "ended": s.Ended,
		}
		if !s.Started.IsZero() {
			v["started"] = s.Started.UTC()
		}
		out.Sessions = append(out.Sessions, v)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
