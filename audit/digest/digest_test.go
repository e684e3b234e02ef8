package digest_test

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/digest/digesttest"
	"github.com/accessbot/accessbot/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// seeded returns a SQLite store holding the fixed data set.
func seeded(t testing.TB) *storage.DB {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DSN: filepath.Join(t.TempDir(), "digest.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := digesttest.Seed(ctx, db.AppendAudit); err != nil {
		t.Fatal(err)
	}
	return db
}

func build(t testing.TB, db *storage.DB) digest.Digest {
	t.Helper()
	d, err := digest.Build(context.Background(), db, digesttest.Since, digesttest.Until,
		digest.Options{Location: digesttest.Location})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./audit/digest -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update and review the diff):\n%s", name, got)
	}
}

func TestGoldenDigestOverTheFixedDataSet(t *testing.T) {
	d := build(t, seeded(t))
	var text, md bytes.Buffer
	if err := digest.WriteText(&text, d); err != nil {
		t.Fatal(err)
	}
	if err := digest.WriteMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	golden(t, "digest.txt", text.Bytes())
	golden(t, "digest.md", md.Bytes())
}

// The numbers behind the golden file, worked out by hand from the data set.
func TestTheDigestCountsWhatTheDataSetHolds(t *testing.T) {
	db := seeded(t)
	d := build(t, db)
	head, err := db.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Head != head {
		t.Errorf("head %+v, want %+v", d.Head, head)
	}
	if got := d.Title(); got != "Access digest: 16–23 Nov 2026" {
		t.Errorf("title %q", got)
	}
	r := d.Requests
	if r.Access != 10 || r.Extend != 1 || r.BreakGlass != 2 || r.Approved != 7 || r.AutoApproved != 2 ||
		r.Denied != 1 || r.Expired != 1 || r.Cancelled != 1 || r.Refused != 1 {
		t.Errorf("requests %+v", r)
	}
	// Decided in the window, made in it: r-1 4m, r-2 0, r-3 20m, r-4 45m, r-5 12m, r-6 30m,
	// r-7 0, r-10 45m, r-11 25m. r-0 was made before the window.
	x := d.Decisions
	if x.Count != 9 || x.Median != 20*time.Minute || x.P95 != 45*time.Minute ||
		x.ByPeople != 7 || x.PeopleMedian != 25*time.Minute || x.PeopleP95 != 45*time.Minute || x.Undecided != 2 {
		t.Errorf("decisions %+v", x)
	}
	bg := d.BreakGlass
	if bg.Count != 2 || bg.Unreviewed != 1 || bg.Uses[0].ReviewedBy != digesttest.Erin || bg.Uses[1].ReviewedBy != "" {
		t.Errorf("break-glass %+v", bg)
	}
	g := d.Grants
	if g.Activated != 10 || g.Extended != 1 || g.AfterHoursCount != 4 {
		t.Errorf("grants: %d activated, %d extended, %d after hours", g.Activated, g.Extended, g.AfterHoursCount)
	}
	var after []string
	for _, x := range g.AfterHours {
		after = append(after, x.GrantID)
	}
	if want := []string{"g-bg1", "g-bg2", "g-10", "g-11"}; !slices.Equal(after, want) {
		t.Errorf("after hours %v, want %v", after, want)
	}
	if want := []digest.Count{{"prod-db", 6}, {"staging-db", 3}, {"ldap-admins", 1}}; !slices.Equal(g.ByResource, want) {
		t.Errorf("by resource %v", g.ByResource)
	}
	// g-5: 8h, extended by 2h, force-revoked the next morning.
	if len(g.Longest) != 5 || g.Longest[0].GrantID != "g-5" || !g.Longest[0].Revoked || g.Longest[0].Length().Round(time.Second) != 22*time.Hour+53*time.Minute {
		t.Errorf("longest %+v", g.Longest)
	}
	// g-11 is still active at the window's end: it counts to its expiry.
	if g.Longest[1].GrantID != "g-11" || g.Longest[1].Revoked || g.Longest[1].Length().Round(time.Second) != 3*time.Hour {
		t.Errorf("second longest %+v", g.Longest[1])
	}
	if c := d.RevocationCount; c.Failed != 1 || c.Late != 1 || c.Forced != 1 {
		t.Errorf("revocations %+v", c)
	}
	if d.RefusedCount != 3 || d.RefusedSelf != 2 {
		t.Errorf("refused %d, self %d", d.RefusedCount, d.RefusedSelf)
	}
	if s := d.Scan; s.Runs != 8 || s.WithFindings != 2 || s.Incomplete != 1 || s.LastFindings != 0 ||
		len(s.Findings) != 1 || s.Findings[0].Times != 2 {
		t.Errorf("scan %+v", s)
	}
	if len(g.Days) != 8 || g.PerDay["prod-db"][0] != 3 {
		t.Errorf("days %v, prod-db per day %v", g.Days, g.PerDay["prod-db"])
	}
	if !d.Attention() {
		t.Error("an unreviewed break-glass use and a failed revocation need no attention?")
	}
}

func TestTheWindowIsHalfOpenAndReadsNothingPastTheHead(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	// A window ending exactly at r-1's request leaves it out; one starting there has it.
	r1 := time.Date(2026, 11, 16, 9, 30, 0, 0, digesttest.Location)
	before, err := digest.Build(ctx, db, digesttest.Since, r1, digest.Options{Location: digesttest.Location})
	if err != nil {
		t.Fatal(err)
	}
	if before.Requests.Total() != 0 || before.Requests.Approved != 1 {
		t.Errorf("before r-1: %+v", before.Requests)
	}
	if _, err := digest.Build(ctx, db, r1, r1, digest.Options{}); err == nil {
		t.Error("an empty window was accepted")
	}
	// Events appended after the head was read are not read: the head is of the digest.
	src := &growing{DB: db}
	d, err := digest.Build(ctx, src, digesttest.Since, digesttest.Until, digest.Options{Location: digesttest.Location})
	if err != nil {
		t.Fatal(err)
	}
	if d.Head != src.head {
		t.Errorf("digest head %+v, read %+v", d.Head, src.head)
	}
	if d.Requests.Access != 10 {
		t.Errorf("an event appended during the build was read: %+v", d.Requests)
	}
}

// growing appends a request in the window right after its head is read.
type growing struct {
	*storage.DB
	head audit.Head
}

func (g *growing) AuditHead(ctx context.Context) (audit.Head, error) {
	h, err := g.DB.AuditHead(ctx)
	g.head = h
	if err == nil {
		_, err = g.DB.AppendAudit(ctx, audit.Event{At: digesttest.Since.Add(time.Hour), Type: audit.RequestCreated,
			Actor: "late@example.com", RequestID: "r-late", Data: map[string]string{"kind": "access"}})
	}
	return h, err
}

func TestWorkingHours(t *testing.T) {
	berlin := digesttest.Location
	w := digest.DefaultWorkingHours()
	cases := []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 16, 9, 0, 0, 0, berlin), true},
		{time.Date(2026, 11, 16, 8, 59, 59, 0, berlin), false},
		{time.Date(2026, 11, 16, 17, 59, 0, 0, berlin), true},
		{time.Date(2026, 11, 16, 18, 0, 0, 0, berlin), false},
		{time.Date(2026, 11, 21, 12, 0, 0, 0, berlin), false}, // Saturday
	}
	for _, c := range cases {
		if got := w.Contains(c.at); got != c.want {
			t.Errorf("%s: %v, want %v", c.at, got, c.want)
		}
	}
	if s := w.String(); s != "Mon–Fri 09:00–18:00" {
		t.Errorf("String %q", s)
	}
	night := digest.WorkingHours{Days: []time.Weekday{time.Friday, time.Sunday}, Start: 22 * time.Hour, End: 6 * time.Hour}
	if !night.Contains(time.Date(2026, 11, 21, 3, 0, 0, 0, berlin)) { // Saturday 03:00, Friday's shift
		t.Error("a night shift does not reach past midnight")
	}
	if night.Contains(time.Date(2026, 11, 20, 3, 0, 0, 0, berlin)) { // Friday 03:00, Thursday's shift
		t.Error("a night shift of a day off counted")
	}
	if s := night.String(); s != "Fri, Sun 22:00–06:00" {
		t.Errorf("String %q", s)
	}
}

func TestTitlesOverMonthsYearsAndDaylightSaving(t *testing.T) {
	berlin := digesttest.Location
	cases := []struct {
		since, until time.Time
		want         string
		days         int
	}{
		{time.Date(2026, 11, 28, 9, 0, 0, 0, berlin), time.Date(2026, 12, 5, 9, 0, 0, 0, berlin), "Access digest: 28 Nov – 5 Dec 2026", 8},
		{time.Date(2025, 12, 29, 0, 0, 0, 0, berlin), time.Date(2026, 1, 5, 0, 0, 0, 0, berlin), "Access digest: 29 Dec 2025 – 4 Jan 2026", 7},
		// The week DST ends: 25 October has 25 hours, still one day.
		{time.Date(2026, 10, 19, 9, 0, 0, 0, berlin), time.Date(2026, 10, 26, 9, 0, 0, 0, berlin), "Access digest: 19–26 Oct 2026", 8},
		{time.Date(2026, 11, 23, 0, 0, 0, 0, berlin), time.Date(2026, 11, 24, 0, 0, 0, 0, berlin), "Access digest: 23 Nov 2026", 1},
	}
	for _, c := range cases {
		d, err := digest.Build(context.Background(), emptyLog{}, c.since, c.until, digest.Options{Location: berlin})
		if err != nil {
			t.Fatal(err)
		}
		if d.Title() != c.want || len(d.Grants.Days) != c.days {
			t.Errorf("%s: %q with %d days, want %q with %d", c.since, d.Title(), len(d.Grants.Days), c.want, c.days)
		}
	}
}

type emptyLog struct{}

func (emptyLog) ScanAudit(context.Context, audit.Filter, func(audit.Event) error) error { return nil }
func (emptyLog) AuditHead(context.Context) (audit.Head, error)                          { return audit.EmptyHead(), nil }

func TestAnEmptyWindowSaysSo(t *testing.T) {
	d, err := digest.Build(context.Background(), emptyLog{}, digesttest.Since, digesttest.Until, digest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := digest.WriteText(&out, d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No requests.", "No break-glass use.", "No scan ran.", "seq 0, hash " + audit.ZeroHash} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("empty digest lacks %q:\n%s", want, out.String())
		}
	}
	if png, err := digest.Chart(d); err != nil || png != nil {
		t.Errorf("chart of nothing: %d bytes, %v", len(png), err)
	}
	if d.Attention() {
		t.Error("an empty week needs attention")
	}
}

func TestTheChartIsAPNGOfEveryDay(t *testing.T) {
	d := build(t, seeded(t))
	b, err := digest.Chart(d)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 960 || r.Dy() != 480 {
		t.Errorf("chart is %v, want 960×480", r)
	}
	again, err := digest.Chart(d)
	if err != nil || !bytes.Equal(b, again) {
		t.Error("the same digest drew a different chart")
	}
	if os.Getenv("DIGEST_CHART") != "" {
		_ = os.WriteFile(os.Getenv("DIGEST_CHART"), b, 0o644) // for a look by eye
	}
	if d.ChartFile() != "access-digest-2026-11-16.png" {
		t.Errorf("file name %q", d.ChartFile())
	}
}

func TestPostedDataRoundTrips(t *testing.T) {
	d := build(t, seeded(t))
	e := audit.Event{Seq: 99, Type: digest.EventPosted, At: digesttest.Until, Data: d.PostedData()}
	p, err := digest.DecodePosted(e)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Since.Equal(d.Since) || !p.Until.Equal(d.Until) || p.Head != d.Head {
		t.Errorf("decoded %+v from %+v", p, d.PostedData())
	}
	if d.Window() != "2026-11-16T08:00:00Z/2026-11-23T08:00:00Z" {
		t.Errorf("window %q", d.Window())
	}
	if _, err := digest.DecodePosted(audit.Event{Type: digest.EventPosted, Data: map[string]string{"since": "x"}}); err == nil {
		t.Error("a malformed event decoded")
	}
}

// The digest finds the window's events by sequence number, allowing for events stored up to
// OutOfOrder after later ones (a scan records when it began listing).
func TestEventsStoredLateWithinOutOfOrderAreRead(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DSN: filepath.Join(t.TempDir(), "late.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := digesttest.Since
	scan := func(at time.Time) audit.Event {
		return audit.Event{At: at, Type: audit.ScanCompleted, Actor: "accessbot", Data: map[string]string{"findings": "0"}}
	}
	for _, e := range []audit.Event{
		scan(t0.Add(-48 * time.Hour)), scan(t0), scan(t0.Add(5 * time.Hour)),
		scan(t0.Add(10 * time.Minute)), // stored 4h50m late
		scan(t0.Add(6 * time.Hour)), scan(t0.Add(72 * time.Hour)),
	} {
		if _, err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		since, until time.Time
		want         int
	}{
		{t0, t0.Add(time.Hour), 2},
		{t0.Add(time.Minute), t0.Add(7 * time.Hour), 3},
		{t0.Add(-72 * time.Hour), t0.Add(96 * time.Hour), 6},
		{t0.Add(100 * time.Hour), t0.Add(200 * time.Hour), 0},
		{t0.Add(-100 * time.Hour), t0.Add(-90 * time.Hour), 0},
	} {
		d, err := digest.Build(ctx, db, c.since, c.until, digest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Scan.Runs != c.want || d.Events != int64(c.want) {
			t.Errorf("%s – %s: %d scans, want %d", c.since, c.until, d.Scan.Runs, c.want)
		}
	}
}
