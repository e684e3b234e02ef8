package grants_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/postgres"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/pgtest"
	"github.com/accessbot/accessbot/internal/testwait"
)

// scanHarness is a harness whose prod-db lists its access through a FakeLister.
func scanHarness(t *testing.T) (*gt.Harness, *gt.FakeLister) {
	t.Helper()
	l := gt.NewFakeLister()
	r := gt.DefaultResource()
	r.Adapter = l
	return gt.New(t, gt.Options{Resources: []*grants.Resource{r}}), l
}

func newScanner(t *testing.T, h *gt.Harness, o grants.ScanOptions) *grants.Scanner {
	t.Helper()
	sc, err := grants.NewScanner(h.Service, o)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func scan(t *testing.T, h *gt.Harness, sc *grants.Scanner) grants.ScanReport {
	t.Helper()
	rep, err := sc.Scan(h.Ctx, grants.Actor{})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return rep
}

// accounts lists the findings as "resource/account/reason".
func accounts(fs []grants.ScanFinding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Resource+"/"+f.Account+"/"+f.Reason)
	}
	return out
}

func wantFindings(t *testing.T, rep grants.ScanReport, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := accounts(rep.Findings()); !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

func scanEvents(h *gt.Harness) []audit.Event {
	return h.AuditEvents(audit.Filter{}, audit.ScanCompleted)
}

func TestScanFindsAHolderGrantedByHandButNotTheGrantedOne(t *testing.T) {
	h, l := scanHarness(t)
	g := h.ActiveGrant(time.Hour)
	l.AddHolder("mallory", "role analyst")
	sc := newScanner(t, h, grants.ScanOptions{})

	rep := scan(t, h, sc)
	wantFindings(t, rep, "prod-db/mallory/no_grant")
	f := rep.Findings()[0]
	if f.Detail != "role analyst" || f.Why != "no active grant" || f.GrantID != "" {
		t.Errorf("finding = %+v", f)
	}
	if len(rep.Resources) != 1 || rep.Resources[0].Holders != 2 || rep.Resources[0].Error != "" {
		t.Errorf("resources = %+v, want prod-db with 2 holders (alice's grant and mallory)", rep.Resources)
	}
	if !l.HasAccess(g.ID) {
		t.Fatal("alice's grant should hold access at the target")
	}

	// One event, in the chain, alert-worthy, with what was found.
	evs := scanEvents(h)
	if len(evs) != 1 {
		t.Fatalf("%d scan events, want 1", len(evs))
	}
	e := evs[0]
	if e.Seq != rep.AuditSeq || e.Actor != grants.System.ID || e.Data["findings"] != "1" || e.Data["errors"] != "0" ||
		e.Data["resources"] != "prod-db" || e.Data["alert"] != grants.ScanAlert {
		t.Errorf("scan event = %+v (report seq %d)", e, rep.AuditSeq)
	}
	if !strings.Contains(e.Data["message"], "Standing access found: 1 holder on prod-db no grant explains (prod-db: mallory)") {
		t.Errorf("message = %q", e.Data["message"])
	}
	dec, err := grants.DecodeScanEvent(e)
	if err != nil || dec.Findings != 1 || len(dec.List) != 1 || dec.List[0] != f || !slices.Equal(dec.Resources, []string{"prod-db"}) {
		t.Errorf("DecodeScanEvent = %+v, %v", dec, err)
	}
	if n := len(h.Events.Events(audit.ScanCompleted)); n != 1 {
		t.Errorf("the notifier heard of %d scan events, want 1", n)
	}
	h.VerifyAudit()
}

func TestACleanScanIsRecordedWithoutAnAlert(t *testing.T) {
	h, _ := scanHarness(t)
	h.ActiveGrant(time.Hour)
	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	wantFindings(t, rep)
	e := scanEvents(h)[0]
	if e.Data["findings"] != "0" || e.Data["alert"] != "" || e.Data["list"] != "" || e.Data["message"] != "" {
		t.Errorf("clean scan event data = %v", e.Data)
	}
}

func TestAfterRevokeTheAccessIsNoLongerHeldOrFound(t *testing.T) {
	h, l := scanHarness(t)
	g := h.ActiveGrant(time.Hour)
	sc := newScanner(t, h, grants.ScanOptions{})
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
		t.Fatalf("grant is %s, want revoked", st)
	}
	rep := scan(t, h, sc)
	wantFindings(t, rep)
	if rep.Resources[0].Holders != 0 || l.HasAccess(g.ID) {
		t.Errorf("after revoke the target lists %d holders, want 0", rep.Resources[0].Holders)
	}
}

func TestARevokeThatSilentlyFailedIsFound(t *testing.T) {
	for _, withIDs := range []bool{false, true} {
		t.Run("grant IDs "+strconv.FormatBool(withIDs), func(t *testing.T) {
			h, l := scanHarness(t)
			l.ReportGrantIDs(withIDs)
			g := h.ActiveGrant(time.Hour)
			l.RevokeSilentlyFails(true)
			if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
				t.Fatal(err)
			}
			h.RunDue()
			if st := h.StoredGrant(g.ID).State; st != grants.GrantRevoked {
				t.Fatalf("grant is %s, want revoked", st)
			}
			rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
			if !withIDs {
				// The target cannot say which grant: nothing active explains alice's role.
				wantFindings(t, rep, "prod-db/alice/no_grant")
				return
			}
			wantFindings(t, rep, "prod-db/alice/grant_ended")
			if f := rep.Findings()[0]; f.GrantID != g.ID || !strings.Contains(f.Why, "was revoked, yet the access is still there") {
				t.Errorf("finding = %+v", f)
			}
		})
	}
}

func TestAGrantWhoseRevocationKeepsFailingIsFound(t *testing.T) {
	h, l := scanHarness(t)
	g := h.ActiveGrant(time.Hour)
	l.FailRevoke(gt.Permanent)
	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	if st := h.StoredGrant(g.ID).State; st != grants.GrantRevokeFailed {
		t.Fatalf("grant is %s, want revoke_failed", st)
	}
	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	wantFindings(t, rep, "prod-db/alice/revoke_failed")
	if f := rep.Findings()[0]; f.GrantID != g.ID {
		t.Errorf("finding names grant %q, want %s", f.GrantID, g.ID)
	}
}

func TestAnExpiredGrantExplainsAccessOnlyForTheGracePeriod(t *testing.T) {
	h, _ := scanHarness(t)
	g := h.ActiveGrant(time.Hour)
	sc := newScanner(t, h, grants.ScanOptions{Grace: 5 * time.Minute})
	// The scheduler is not running: the grant stays active past its expiry.
	h.Advance(time.Hour + 4*time.Minute)
	wantFindings(t, scan(t, h, sc))
	h.Advance(2 * time.Minute)
	rep := scan(t, h, sc)
	wantFindings(t, rep, "prod-db/alice/overdue")
	if f := rep.Findings()[0]; f.GrantID != g.ID || !strings.Contains(f.Why, "is not revoked yet") {
		t.Errorf("finding = %+v", f)
	}
}

func TestGrantIDsTheTargetNamesMustBeThisResourcesGrantForThatAccount(t *testing.T) {
	h, l := scanHarness(t)
	l.ReportGrantIDs(true)
	g := h.ActiveGrant(time.Hour)
	l.AddHolderWithGrant("mallory", "role analyst", g.ID)
	l.AddHolderWithGrant("trudy", "role analyst", "g-forged")
	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	wantFindings(t, rep, "prod-db/mallory/other_account", "prod-db/trudy/unknown_grant")
}

// A target that names the grant behind all of accessbot's access (an adapters.Attributor): access
// it lists without a grant ID was made by someone else, so the holder's own active grant does not
// explain it; on a target that cannot tell, the grant does.
func TestOnAnAttributingTargetAccessWithoutAGrantIsAFindingEvenBesideAGrant(t *testing.T) {
	for _, attributes := range []bool{true, false} {
		h, l := scanHarness(t)
		l.ReportGrantIDs(true)
		l.AttributeGrants(attributes)
		h.ActiveGrant(time.Hour)
		l.AddHolder("alice", "role analyst (made by hand)")
		rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
		if attributes {
			wantFindings(t, rep, "prod-db/alice/no_grant")
		} else {
			wantFindings(t, rep)
		}
	}
}

func TestIgnoredHoldersAreNotFindings(t *testing.T) {
	h, l := scanHarness(t)
	l.AddHolder("svc_app", "role analyst")
	l.AddHolder("SVC_etl", "role analyst")
	l.AddHolder("dba", "role analyst")
	l.AddHolder("mallory", "role analyst")
	sc := newScanner(t, h, grants.ScanOptions{Ignore: map[string][]string{"prod-db": {"svc_*", "dba"}}})
	rep := scan(t, h, sc)
	wantFindings(t, rep, "prod-db/mallory/no_grant")
	if rs := rep.Resources[0]; rs.Holders != 4 || rs.Ignored != 3 {
		t.Errorf("holders %d ignored %d, want 4 and 3", rs.Holders, rs.Ignored)
	}
}

func TestNewScannerRefusesIgnoreListsItCannotApply(t *testing.T) {
	h, _ := scanHarness(t)
	for _, tt := range []struct {
		ignore map[string][]string
		want   string // what the error must say
	}{
		{map[string][]string{"prod-bd": {"svc"}}, `unknown resource "prod-bd"`},
		{map[string][]string{"prod-db": {"svc_["}}, `holder pattern "svc_[" is malformed`},
		{map[string][]string{"prod-db": {" "}}, "empty holder pattern"},
	} {
		if _, err := grants.NewScanner(h.Service, grants.ScanOptions{Ignore: tt.ignore}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewScanner with ignore %v: %v, want an error saying %q", tt.ignore, err, tt.want)
		}
	}
}

func TestAResourceThatCannotBeListedDoesNotStopTheScan(t *testing.T) {
	broken, cache := gt.NewFakeLister(), gt.NewFakeLister()
	plain := gt.NewFakeAdapter()
	r1 := gt.DefaultResource()
	r1.Adapter = broken
	r2 := gt.DefaultResource()
	r2.Name, r2.Adapter = "cache", cache
	r3 := gt.DefaultResource()
	r3.Name, r3.Adapter = "webhook-thing", plain
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r1, r2, r3}})
	broken.FailList(adapters.RetryableError(errors.New("connection refused")))
	cache.AddHolder("mallory", "acl user")

	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	wantFindings(t, rep, "cache/mallory/no_grant")
	if errs := rep.Errors(); len(errs) != 1 || !strings.Contains(errs["prod-db"], "connection refused") {
		t.Errorf("errors = %v, want prod-db's", errs)
	}
	if !slices.Equal(rep.Unlistable, []string{"webhook-thing"}) {
		t.Errorf("unlistable = %v", rep.Unlistable)
	}
	e := scanEvents(h)[0]
	if e.Data["errors"] != "1" || e.Data["resources"] != "cache,prod-db" || e.Data["unlistable"] != "webhook-thing" {
		t.Errorf("scan event data = %v", e.Data)
	}
	dec, err := grants.DecodeScanEvent(e)
	if err != nil || !strings.Contains(dec.Errors["prod-db"], "connection refused") {
		t.Errorf("decoded errors = %v, %v", dec.Errors, err)
	}
	h.VerifyAudit()
}

// A holder that disappears between the listing and its confirmation (a grant revoked during the
// scan, a hand-made role cleaned up) is not reported.
func TestAFindingIsConfirmedByASecondListing(t *testing.T) {
	h, l := scanHarness(t)
	l.AddHolder("mallory", "role analyst")
	l.AddHolder("trudy", "role analyst")
	l.BeforeList(func(n int) {
		if n == 2 {
			l.RemoveHolder("trudy")
		}
	})
	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	wantFindings(t, rep, "prod-db/mallory/no_grant")
	if l.Lists() != 2 {
		t.Errorf("%d listings, want 2 (one, then one to confirm)", l.Lists())
	}
	// Nothing found: one listing is enough.
	l.RemoveHolder("mallory")
	wantFindings(t, scan(t, h, newScanner(t, h, grants.ScanOptions{})))
	if l.Lists() != 3 {
		t.Errorf("%d listings, want 3", l.Lists())
	}
}

func TestTheEventListsAtMost50FindingsButCountsThemAll(t *testing.T) {
	h, l := scanHarness(t)
	for i := range 60 {
		l.AddHolder(fmt.Sprintf("user%02d", i), strings.Repeat("x", 300))
	}
	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	if len(rep.Findings()) != 60 {
		t.Fatalf("%d findings, want 60", len(rep.Findings()))
	}
	dec, err := grants.DecodeScanEvent(scanEvents(h)[0])
	if err != nil || dec.Findings != 60 || len(dec.List) != 50 || len(dec.List[0].Detail) > 210 {
		t.Errorf("decoded: findings %d, list %d, err %v", dec.Findings, len(dec.List), err)
	}
	if msg := scanEvents(h)[0].Data["message"]; len(msg) > 510 || !strings.HasPrefix(msg, "Standing access found: 60 holders on prod-db") {
		t.Errorf("message = %q", msg)
	}
}

func TestScanScheduleSpecs(t *testing.T) {
	for _, ok := range []string{"@every 1h", "@hourly", "@daily", "0 * * * *", "*/15 9-17 * * mon-fri", "@every 1m"} {
		if _, err := grants.ScanSchedule(ok); err != nil {
			t.Errorf("ScanSchedule(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"": "empty schedule", "hourly": "exactly 5 fields", "@every 30s": "at most once a minute",
		"0 0 * * * *": "exactly 5 fields", "61 * * * *": "above maximum", "CRON_TZ=UTC 0 * * * *": "time zone prefix is not supported",
		"@every": "unrecognized descriptor",
	} {
		if _, err := grants.ScanSchedule(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ScanSchedule(%q): %v, want an error saying %q", bad, err, want)
		}
	}
}

// waitTimer waits (in real time) until the runner has armed its timer on the fake clock, and
// returns when it fires.
func waitTimer(t *testing.T, h *gt.Harness) time.Time {
	t.Helper()
	gt.Eventually(t, 5*time.Second, "the scan runner arms its timer", func() bool { return h.Clock.Timers() == 1 })
	at, _ := h.Clock.NextTimer()
	return at
}

func TestTheScheduleFiresUnderTheInjectedClock(t *testing.T) {
	h, l := scanHarness(t)
	l.AddHolder("mallory", "role analyst")
	sc := newScanner(t, h, grants.ScanOptions{})
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	// On the hour in Kolkata (UTC+5:30) is half past in UTC.
	r, err := grants.NewScanRunner(sc, "0 * * * *", kolkata)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan grants.ScanReport, 4)
	r.OnScan(func(rep grants.ScanReport, err error) {
		if err != nil {
			t.Errorf("scheduled scan: %v", err)
		}
		done <- rep
	})
	ctx, cancel := context.WithCancel(h.Ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()

	if at := waitTimer(t, h); !at.Equal(gt.Start.Add(30 * time.Minute)) {
		t.Fatalf("first scan at %s, want %s", at, gt.Start.Add(30*time.Minute))
	}
	if n := len(scanEvents(h)); n != 0 {
		t.Fatalf("%d scans before the schedule fired", n)
	}
	h.Advance(30 * time.Minute)
	rep := testwait.Receive(t, done, "the first scheduled scan")
	wantFindings(t, rep, "prod-db/mallory/no_grant")
	if !rep.At.Equal(gt.Start.Add(30 * time.Minute)) {
		t.Errorf("scan at %s", rep.At)
	}
	if at := waitTimer(t, h); !at.Equal(gt.Start.Add(90 * time.Minute)) {
		t.Fatalf("second scan at %s, want an hour later", at)
	}
	h.Advance(time.Hour)
	testwait.Receive(t, done, "the second scheduled scan")
	if n := len(scanEvents(h)); n != 2 {
		t.Errorf("%d scan events after two firings, want 2", n)
	}
	cancel()
	if err := testwait.Receive(t, stopped, "the scan runner to stop"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestAnEveryScheduleCountsFromNow(t *testing.T) {
	h, _ := scanHarness(t)
	r, err := grants.NewScanRunner(newScanner(t, h, grants.ScanOptions{}), "@every 1h", nil)
	if err != nil {
		t.Fatal(err)
	}
	if next := r.Next(gt.Start); !next.Equal(gt.Start.Add(time.Hour)) {
		t.Errorf("Next = %s", next)
	}
	if _, err := grants.NewScanRunner(newScanner(t, h, grants.ScanOptions{}), "every hour", nil); err == nil || !strings.Contains(err.Error(), "exactly 5 fields") {
		t.Errorf("a bad schedule: %v, want an error saying it needs 5 fields", err)
	}
}

// Against a real PostgreSQL: a managed role GRANTed by hand is found; the grant accessbot made is
// not; once the hand-made membership is revoked the scan is clean.
func TestScanFindsARoleGrantedByHandInPostgreSQL(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	sfx := hex.EncodeToString(b[:])
	analyst, alice, mallory := "analyst_"+sfx, "alice_"+sfx, "mallory_"+sfx
	sql := func(q string) {
		t.Helper()
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Roles belong to the whole server, which other tests share: drop them at the end.
	t.Cleanup(func() {
		for _, r := range []string{mallory, alice, analyst} {
			_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+r)
		}
	})
	sql("CREATE ROLE " + analyst + " NOLOGIN")
	sql("CREATE ROLE " + alice + " LOGIN")
	sql("CREATE ROLE " + mallory + " LOGIN")
	sql(postgres.HoldersTableDDL("accessbot_holders")) // where membership mode counts grants

	typ, ok := adapters.Lookup("postgres")
	if !ok {
		t.Fatal("postgres adapter is not registered")
	}
	cfg := typ.NewConfig().(*postgres.Config)
	cfg.DSN, cfg.Mode, cfg.Roles = postgres.DSN(dsn), postgres.ModeMembership, []string{analyst}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := cfg.New(adapters.Env{Resource: "prod-db", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.(adapters.Closer).Close()
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "postgres", a
	r.Accounts = map[string]string{gt.Alice.ID: alice}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})
	sc := newScanner(t, h, grants.ScanOptions{})

	g := h.ActiveGrant(time.Hour)
	sql("GRANT " + analyst + " TO " + mallory)
	rep := scan(t, h, sc)
	wantFindings(t, rep, "prod-db/"+mallory+"/no_grant")
	if f := rep.Findings(); len(f) == 1 && f[0].Detail != "member of "+analyst {
		t.Errorf("detail = %q", f[0].Detail)
	}
	if rep.Resources[0].Holders != 2 {
		t.Errorf("%d holders, want alice (granted) and mallory (by hand)", rep.Resources[0].Holders)
	}

	if _, err := h.Service.Revoke(h.Ctx, gt.Alice, g.ID); err != nil {
		t.Fatal(err)
	}
	h.RunDue()
	rep = scan(t, h, sc)
	wantFindings(t, rep, "prod-db/"+mallory+"/no_grant")
	if rep.Resources[0].Holders != 1 {
		t.Errorf("%d holders after alice's revoke, want 1", rep.Resources[0].Holders)
	}

	sql("REVOKE " + analyst + " FROM " + mallory)
	wantFindings(t, scan(t, h, sc))
	if n := len(scanEvents(h)); n != 3 {
		t.Errorf("%d scan events, want 3", n)
	}
	h.VerifyAudit()
}

// Issue 21, against a real PostgreSQL in membership mode: a person who was a member of the role
// before asking is told they have the access already, nothing is granted or stored, the scan
// reports the membership as standing access, and the membership stays.
func TestAStandingMemberInPostgreSQLIsToldAndKeepsTheMembership(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	sfx := hex.EncodeToString(b[:])
	analyst, alice := "analyst_"+sfx, "alice_"+sfx
	sql := func(q string) {
		t.Helper()
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		for _, r := range []string{alice, analyst} {
			_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+r)
		}
	})
	sql("CREATE ROLE " + analyst + " NOLOGIN")
	sql("CREATE ROLE " + alice + " LOGIN")
	sql("GRANT " + analyst + " TO " + alice) // standing, by hand
	sql(postgres.HoldersTableDDL("accessbot_holders"))

	typ, _ := adapters.Lookup("postgres")
	cfg := typ.NewConfig().(*postgres.Config)
	cfg.DSN, cfg.Mode, cfg.Roles = postgres.DSN(dsn), postgres.ModeMembership, []string{analyst}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := cfg.New(adapters.Env{Resource: "prod-db", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.(adapters.Closer).Close()
	r := gt.DefaultResource()
	r.AdapterType, r.Adapter = "postgres", a
	r.Accounts = map[string]string{gt.Alice.ID: alice}
	h := gt.New(t, gt.Options{Resources: []*grants.Resource{r}})

	_, err = h.Service.Request(h.Ctx, gt.Alice, grants.RequestInput{Resource: "prod-db", Reason: "INC-9 reading"})
	ge := wantError(t, err, grants.ErrConflict, grants.ReasonAlreadyHeld)
	if !strings.Contains(ge.Message, "You already have this access") {
		t.Errorf("message %q", ge.Message)
	}
	rep := scan(t, h, newScanner(t, h, grants.ScanOptions{}))
	wantFindings(t, rep, "prod-db/"+alice+"/no_grant")

	member := func() bool {
		var ok bool
		if err := admin.QueryRow(ctx, `SELECT pg_has_role($1, $2, 'MEMBER')`, alice, analyst).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	h.RunDue()
	if !member() {
		t.Fatal("the standing membership is gone")
	}
}
