package digest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/digest/digesttest"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// scanOnly hides the aggregated reads of storage.DB, so that digest.Build counts the window
// event by event: the reference the aggregated digest is held to. The sections read by type
// (policy changes, signals), the same for both, it passes through.
type scanOnly struct{ db *storage.DB }

func (s scanOnly) ScanAuditOfType(ctx context.Context, typ string, f audit.Filter, fn func(audit.Event) error) error {
	return s.db.ScanAuditOfType(ctx, typ, f, fn)
}

func (s scanOnly) UnusedGrants(ctx context.Context, q audit.UnusedQuery) ([]audit.UnusedGrant, int, error) {
	return s.db.UnusedGrants(ctx, q)
}

func (s scanOnly) SignalEvents(ctx context.Context, since, until time.Time, fn func(audit.Event) error) error {
	return s.db.SignalEvents(ctx, since, until, fn)
}

func (s scanOnly) RequestVolumes(ctx context.Context, since, until time.Time) (byPerson, byResource map[string]int, err error) {
	return s.db.RequestVolumes(ctx, since, until)
}

func (s scanOnly) ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	return s.db.ScanAudit(ctx, f, fn)
}

func (s scanOnly) AuditHead(ctx context.Context) (audit.Head, error) { return s.db.AuditHead(ctx) }

// randomLog makes n events of every type the digest reads, at random times around [since,
// until), with request and grant IDs from small pools so that events meet (a decision of a
// request made before the window, a revocation of a grant made in it), and data that tries the
// aggregated reading: values with quotes and backslashes, keys past the indexed prefix, flags
// set and not, forced and late revocations.
func randomLog(rng *rand.Rand, n int, since, until time.Time) []audit.Event {
	types := []string{audit.RequestCreated, audit.ReviewApproved, audit.ReviewDenied, audit.RequestApproved,
		audit.RequestDenied, audit.RequestExpired, audit.RequestCancelled, audit.RequestRefused,
		audit.BreakGlassUsed, audit.BreakGlassReviewed, audit.GrantActivating, audit.GrantActive,
		audit.GrantExtended, audit.GrantFailed, audit.GrantRevoked, audit.GrantRevokeFailed,
		audit.ReviewRefused, audit.ScanCompleted, audit.GrantWarned, "digest.posted"}
	// One name holds the separators the database joins rows with: the digest must fall back
	// to reading rows one by one, and say the same.
	people := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dana@example.com", "odd\x1fone\x1e@example.com"}
	resources := []string{"prod-db", "staging-db", "bastion"}
	span := until.Sub(since)
	t := since.Add(-span / 4)
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	long := strings.Repeat("x", 150+rng.IntN(200))
	tricky := []string{"plain", `say "hi"`, `back\slash`, "ünïcödé " + long, long}
	var out []audit.Event
	for range n {
		t = t.Add(time.Duration(rng.Int64N(int64(span) * 3 / 2 / int64(n))))
		at := t
		if rng.IntN(20) == 0 { // stored late, as a scan is
			at = at.Add(-time.Duration(rng.IntN(3)) * time.Hour)
		}
		typ := pick(types)
		e := audit.Event{At: at, Type: typ, Actor: pick(people), Resource: pick(resources), Subject: pick(people),
			RequestID: fmt.Sprintf("r-%d", rng.IntN(n/4+1)), GrantID: fmt.Sprintf("g-%d", rng.IntN(n/4+1))}
		d := map[string]string{}
		if rng.IntN(4) == 0 {
			d["a_padding"] = pick(tricky) // sorts first: pushes every key towards the prefix's end
		}
		if rng.IntN(3) == 0 {
			d["reason"] = pick(tricky)
		}
		exp := at.Add(time.Duration(rng.IntN(10)) * time.Hour).UTC().Format(time.RFC3339)
		switch typ {
		case audit.RequestCreated:
			d["kind"] = pick([]string{"access", "extend", "breakglass", `odd"kind`})
			d["duration"] = "1h"
		case audit.RequestApproved:
			d["approvals"] = pick([]string{"auto", "1/1", "2/2"})
		case audit.GrantActivating:
			if rng.IntN(3) == 0 {
				d["breakglass"] = pick([]string{"true", "false"})
			}
		case audit.GrantActive, audit.GrantExtended:
			if rng.IntN(8) > 0 {
				d["expires_at"] = exp
			}
		case audit.GrantRevoked:
			d["attempts"] = fmt.Sprint(rng.IntN(5))
			if rng.IntN(5) == 0 {
				d["forced"] = "true"
				d["note"] = pick(tricky)
				d["last_error"] = pick(tricky)
			} else {
				d["lateness_ms"] = fmt.Sprint(rng.IntN(3000))
			}
		case audit.BreakGlassUsed:
			d["duration"], d["grant_id"] = "30m", e.GrantID
		case audit.BreakGlassReviewed:
			d["note"] = pick(tricky)
		case audit.GrantRevokeFailed:
			d["error"], d["attempts"] = pick(tricky), "3"
		case audit.ReviewRefused:
			d["decision"], d["refused"] = "approve", pick([]string{"self_approval", "not_approver"})
		case audit.ScanCompleted:
			d["findings"], d["errors"] = fmt.Sprint(rng.IntN(2)), fmt.Sprint(rng.IntN(2))
		}
		if len(d) > 0 {
			e.Data = d
		}
		out = append(out, e)
	}
	return out
}

func TestTheAggregatedDigestEqualsTheEventByEventOne(t *testing.T) {
	// The digest tells a data prefix cut short by its length; it keeps its own copy of it.
	if storage.BriefDataLen != 200 {
		t.Fatalf("storage.BriefDataLen is %d: change digest's briefDataLen with it", storage.BriefDataLen)
	}
	backends := []struct {
		name string
		dsn  func(t *testing.T) (driver, dsn string)
	}{
		{"SQLite", func(t *testing.T) (string, string) {
			return storage.SQLite, filepath.Join(t.TempDir(), "digest.db")
		}},
		{"PostgreSQL", func(t *testing.T) (string, string) {
			return storage.Postgres, pgtest.Shared(t).NewDatabase(t)
		}},
	}
	since := time.Date(2026, 11, 16, 9, 0, 0, 0, digesttest.Location)

	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := b.dsn(t)
			db, err := storage.Open(ctx, storage.Options{Driver: driver, DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// The golden data set first, then random logs after it, each digest compared.
			if _, err := digesttest.Seed(ctx, db.AppendAudit); err != nil {
				t.Fatal(err)
			}
			windows := [][2]time.Time{{digesttest.Since, digesttest.Until}}
			for seed := range 4 {
				rng := rand.New(rand.NewPCG(uint64(seed), 15))
				s := since.AddDate(0, 0, 14*(seed+1))
				u := s.AddDate(0, 0, 7)
				for _, e := range randomLog(rng, 600, s, u) {
					if _, err := db.AppendAudit(ctx, e); err != nil {
						t.Fatal(err)
					}
				}
				windows = append(windows, [2]time.Time{s, u}, [2]time.Time{s.Add(-48 * time.Hour), u.Add(-72 * time.Hour)})
			}
			windows = append(windows, [2]time.Time{since.AddDate(-1, 0, 0), since.AddDate(1, 0, 0)})
			for _, w := range windows {
				for _, o := range []digest.Options{{Location: digesttest.Location}, {Limit: 3, Longest: 2}} {
					got, err := digest.Build(ctx, db, w[0], w[1], o)
					if err != nil {
						t.Fatal(err)
					}
					want, err := digest.Build(ctx, scanOnly{db}, w[0], w[1], o)
					if err != nil {
						t.Fatal(err)
					}
					if want.Events == 0 {
						t.Fatalf("window %v has no events: the test tests nothing", w)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("window %v, options %+v: the aggregated digest differs from the event-by-event one\n got: %+v\nwant: %+v",
							w, o, got, want)
					}
				}
			}
		})
	}
}
