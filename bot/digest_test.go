package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/digest"
	"github.com/accessbot/accessbot/audit/digest/digesttest"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/testwait"
	"github.com/accessbot/accessbot/storage"
)

var berlin = digesttest.Location

// fixtureDigest builds the digest of the fixed data set from a SQLite store.
func fixtureDigest(t *testing.T) digest.Digest {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DSN: filepath.Join(t.TempDir(), "digest.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := digesttest.Seed(ctx, db.AppendAudit); err != nil {
		t.Fatal(err)
	}
	d, err := digest.Build(ctx, db, digesttest.Since, digesttest.Until, digest.Options{Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTheDigestViewMatchesItsGoldenFile(t *testing.T) {
	v := bot.DigestView(fixtureDigest(t))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "digest", "view.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bot -run TestTheDigestView -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s changed; if that is intended, rerun with -update\n got: %s", path, buf.Bytes())
	}
	if v.Tone != bot.ToneWarning || !strings.Contains(v.Text, "1 break-glass use not reviewed") {
		t.Errorf("tone %s, text %q: the unreviewed break-glass use and the failed revocation need attention", v.Tone, v.Text)
	}
	head := v.Fields[len(v.Fields)-1]
	if head.Label != "Audit chain head" || !strings.Contains(head.Value, "seq 98") || len(head.Value) < 64 {
		t.Errorf("head field %+v", head)
	}
}

// The digest fits Slack's and Discord's limits as it is: nothing is cut by the renderers.
func TestTheDigestFitsSlackAndDiscord(t *testing.T) {
	d := fixtureDigest(t)
	// A busier week: many items in every list.
	for i := 0; i < 40; i++ {
		d.BreakGlass.Uses = append(d.BreakGlass.Uses, digest.BreakGlassUse{At: d.Since, Person: "someone.with.a.long.name@example.com",
			Resource: "a-resource-with-a-long-name", Reason: strings.Repeat("why ", 80), GrantID: "g-x"})
		d.Grants.ByPerson = append(d.Grants.ByPerson, digest.Count{Name: "person-" + strings.Repeat("x", 20), N: 1})
	}
	d.BreakGlass.Count += 40
	v := bot.DigestView(d)
	if len(v.Fields) > 25 {
		t.Errorf("%d fields: Discord takes 25", len(v.Fields))
	}
	total := utf8.RuneCountInString(v.Title) + utf8.RuneCountInString(v.Text) + utf8.RuneCountInString(v.Footer)
	for _, f := range v.Fields {
		if n := utf8.RuneCountInString(f.Value); n > 1024 {
			t.Errorf("field %q is %d characters: Discord takes 1024", f.Label, n)
		}
		total += utf8.RuneCountInString(f.Label) + utf8.RuneCountInString(f.Value)
	}
	if total > 6000 {
		t.Logf("the busy digest is %d characters; Discord's renderer trims embeds to 6000", total)
	}
	if !strings.Contains(v.Footer, "accessbot digest preview --since 2026-11-16T08:00:00Z --until 2026-11-23T08:00:00Z") {
		t.Errorf("a cut digest does not say how to see it all: %q", v.Footer)
	}
	blocks, err := json.Marshal(slack.Blocks(v))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(blocks), "Audit chain head") {
		t.Error("the Block Kit message lost the head")
	}
	if m := discord.Render(v); len(m.Embeds) != 1 || m.Embeds[0].Title == "" {
		t.Errorf("discord message %+v", m)
	}
}

// uploader is a platform that takes files, recording what it was asked to upload.
type uploader struct {
	*bottest.FakePlatform
	mu      sync.Mutex
	uploads []upload
	fail    []error
	// posted says how many posts the platform had when each upload came.
	posted []int
}

type upload struct {
	channel, filename, title string
	data                     []byte
}

func (u *uploader) Upload(ctx context.Context, channel, filename string, data []byte, title string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.fail) > 0 {
		err := u.fail[0]
		u.fail = u.fail[1:]
		return err
	}
	u.uploads = append(u.uploads, upload{channel, filename, title, data})
	u.posted = append(u.posted, len(u.Calls(bottest.OpPost)))
	return nil
}

func (u *uploader) got() []upload {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upload(nil), u.uploads...)
}

const filesChannel = "C-files"

// digestHarness is a bot with the harness's platform (no files) and an uploader, a runner
// posting Monday 09:00 Berlin time, and a week of activity before 26 October 2026, the Monday
// after summer time ends.
func digestHarness(t *testing.T) (*bottest.Harness, *uploader, *bot.DigestRunner) {
	t.Helper()
	h := bottest.New(t, bottest.Options{})
	up := &uploader{FakePlatform: bottest.NewFakePlatform("files")}
	if err := h.Bot.AddPlatform(up); err != nil {
		t.Fatal(err)
	}
	// Thursday 22 October, 14:00 in Berlin: a request, approved, active; then one at night.
	h.Clock.Set(time.Date(2026, 10, 22, 14, 0, 0, 0, berlin))
	h.Command(grantstest.Alice, "request prod-db 1h INC-42 fixing the index")
	h.Advance(3 * time.Minute)
	h.Click(grantstest.Bob, bot.ActionApprove, "r-1")
	h.RunDue()
	h.Clock.Set(time.Date(2026, 10, 24, 23, 30, 0, 0, berlin))
	h.Command(grantstest.Alice, "request prod-db 30m INC-43 night work")
	h.Click(grantstest.Alice, bot.ActionApprove, "r-2") // refused: her own
	h.Click(grantstest.Carol, bot.ActionApprove, "r-2")
	h.RunDue()
	h.Deliver()
	r, err := bot.NewDigestRunner(h.Bot, bot.DigestOptions{
		Store: h.DB, Schedule: "0 9 * * 1", Location: berlin, Period: 7 * 24 * time.Hour, Chart: true,
		Channels: map[string][]string{"slack": {bottest.SecurityChannel}, "files": {filesChannel}, "nowhere": {"C-x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, up, r
}

// waitTimer waits (in real time) until a goroutine has armed a timer on the fake clock.
func waitTimer(t *testing.T, h *bottest.Harness, after time.Time) time.Time {
	t.Helper()
	var at time.Time
	bottest.Eventually(t, 5*time.Second, "the digest runner to arm its timer", func() bool {
		var ok bool
		at, ok = h.Clock.NextTimer()
		return ok && at.After(after)
	})
	return at
}

func digestPosts(h *bottest.Harness) []bottest.Call {
	var out []bottest.Call
	for _, c := range h.Platform.Calls(bottest.OpPost) {
		if strings.HasPrefix(c.View.Title, "Access digest") && c.Err == nil {
			out = append(out, c)
		}
	}
	return out
}

func TestTheDigestFiresOnMondayMorningInBerlinAcrossTheEndOfSummerTime(t *testing.T) {
	h, up, r := digestHarness(t)
	// The schedule keeps to the wall clock on both sides of a change.
	for _, c := range []struct{ after, want time.Time }{
		{time.Date(2026, 10, 21, 12, 0, 0, 0, berlin), time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC)},  // CET
		{time.Date(2026, 3, 25, 12, 0, 0, 0, berlin), time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)},    // CEST
		{time.Date(2026, 10, 26, 9, 0, 0, 0, berlin), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},    // strictly after
		{time.Date(2026, 10, 26, 8, 59, 59, 0, berlin), time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC)}, // just before
	} {
		if got := r.Next(c.after); !got.Equal(c.want) {
			t.Errorf("Next(%s) = %s, want %s", c.after, got.UTC(), c.want)
		}
	}

	results := make(chan bot.DigestResult, 4)
	r.OnPost(func(res bot.DigestResult, err error) {
		if err != nil {
			t.Errorf("firing: %v", err)
		}
		results <- res
	})
	ctx, cancel := context.WithCancel(h.Ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()

	monday := time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)
	if at := waitTimer(t, h, h.Clock.Now()); !at.Equal(monday) {
		t.Fatalf("first digest at %s, want %s", at, monday)
	}
	if n := len(h.AuditEvents(digest.EventPosted)); n != 0 {
		t.Fatalf("%d digests before the schedule fired", n)
	}
	h.Clock.Set(monday)
	res := testwait.Receive(t, results, "the first digest")
	if !res.Queued || res.Deliveries != 2 {
		t.Fatalf("first firing: queued %v, %d messages", res.Queued, res.Deliveries)
	}
	d := res.Digest
	// Monday 09:00 to Monday 09:00 on the wall clock: 169 hours, as the week had 25-hour Sunday.
	if since := time.Date(2026, 10, 19, 9, 0, 0, 0, berlin); !d.Since.Equal(since) || !d.Until.Equal(monday) || d.Until.Sub(d.Since) != 169*time.Hour {
		t.Errorf("window %s – %s", d.Since, d.Until)
	}
	if d.Title() != "Access digest: 19–26 Oct 2026" || d.Requests.Access != 2 || d.Grants.Activated != 2 ||
		d.Grants.AfterHoursCount != 1 || d.RefusedCount != 1 || d.Decisions.Count != 2 {
		t.Errorf("digest %q: requests %+v, grants %+v, refused %d, decisions %+v", d.Title(), d.Requests, d.Grants, d.RefusedCount, d.Decisions)
	}
	// The head it shows is the log's at the firing, recorded in digest.posted.
	posted := h.AuditEvents(digest.EventPosted)
	if len(posted) != 1 || posted[0].At.Compare(monday) != 0 || posted[0].Data["head_hash"] != d.Head.Hash ||
		posted[0].Seq != d.Head.Seq+1 || posted[0].Data["since"] != "2026-10-19T07:00:00Z" {
		t.Fatalf("digest.posted %+v, digest head %+v", posted, d.Head)
	}

	// The outbox delivers it to the security channel; the uploader gets text and chart.
	h.Deliver()
	posts := digestPosts(h)
	if len(posts) != 1 || posts[0].Channel != bottest.SecurityChannel {
		t.Fatalf("digest posts %+v", posts)
	}
	if !strings.Contains(posts[0].View.Fields[len(posts[0].View.Fields)-1].Value, d.Head.Hash) {
		t.Error("the posted digest lacks the head's hash")
	}
	r.Wait()
	ups := up.got()
	if len(ups) != 1 || ups[0].channel != filesChannel || ups[0].filename != "access-digest-2026-10-19.png" || up.posted[0] != 1 {
		t.Fatalf("uploads %+v after %v posts", ups, up.posted)
	}
	if _, err := png.Decode(bytes.NewReader(ups[0].data)); err != nil {
		t.Errorf("the chart is not a PNG: %v", err)
	}

	// Next Monday, one week on the wall clock (168 hours).
	next := time.Date(2026, 11, 2, 9, 0, 0, 0, berlin)
	if at := waitTimer(t, h, monday); !at.Equal(next) {
		t.Fatalf("second digest at %s, want %s", at, next)
	}
	h.Clock.Set(next)
	res = testwait.Receive(t, results, "the second digest")
	if !res.Queued || res.Digest.Until.Sub(res.Digest.Since) != 168*time.Hour || res.Digest.Grants.Activated != 0 {
		t.Errorf("second firing %+v", res)
	}
	cancel()
	if err := testwait.Receive(t, stopped, "the digest runner to stop"); err != nil {
		t.Errorf("Run: %v", err)
	}
	r.Wait()
	if n := len(up.got()); n != 1 {
		t.Errorf("%d uploads: a week without grants has no chart", n)
	}
}

func TestTwoFiringsForOneWindowPostOnce(t *testing.T) {
	h, _, r := digestHarness(t)
	monday := time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)
	h.Clock.Set(monday)
	first, err := r.Post(h.Ctx, monday)
	if err != nil || !first.Queued {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// The same runner again, and another replica's runner.
	other, err := bot.NewDigestRunner(h.Bot, bot.DigestOptions{Store: h.DB, Schedule: "0 9 * * 1", Location: berlin,
		Channels: map[string][]string{"slack": {bottest.SecurityChannel}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []*bot.DigestRunner{r, other} {
		res, err := run.Post(h.Ctx, monday)
		if err != nil || res.Queued || res.Event.Seq != first.Event.Seq {
			t.Errorf("again: %+v, %v", res, err)
		}
	}
	h.Deliver()
	h.Deliver()
	if n := len(digestPosts(h)); n != 1 {
		t.Errorf("%d digest posts, want 1", n)
	}
	if n := len(h.AuditEvents(digest.EventPosted)); n != 1 {
		t.Errorf("%d digest.posted events, want 1", n)
	}
	r.Wait()
}

// A digest.posted event whose messages were never queued (a crash between the two) is reused,
// not written again, by the next try for that window.
func TestARecordedDigestThatWasNotQueuedIsQueuedOnceWithItsEvent(t *testing.T) {
	h, _, r := digestHarness(t)
	monday := time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)
	h.Clock.Set(monday)
	d, err := digest.Build(h.Ctx, h.DB, time.Date(2026, 10, 19, 9, 0, 0, 0, berlin), monday, digest.Options{Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	crashed, err := h.DB.AppendAudit(h.Ctx, audit.Event{At: monday, Type: digest.EventPosted, Actor: "accessbot", Data: d.PostedData()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Post(h.Ctx, monday)
	if err != nil || !res.Queued || res.Event.Seq != crashed.Seq || res.Digest.Head != d.Head {
		t.Fatalf("after the crash: %+v, %v", res, err)
	}
	if n := len(h.AuditEvents(digest.EventPosted)); n != 1 {
		t.Errorf("%d digest.posted events, want 1", n)
	}
	r.Wait()
}

func TestAChatOutageDelaysTheDigestWithoutLosingIt(t *testing.T) {
	h, up, r := digestHarness(t)
	monday := time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)
	h.Clock.Set(monday)
	h.Platform.SetDown(bottest.ErrDown)
	up.fail = []error{bottest.ErrDown}
	if _, err := r.Post(h.Ctx, monday); err != nil {
		t.Fatal(err)
	}
	h.Send()
	if n := len(digestPosts(h)); n != 0 {
		t.Fatalf("%d posts while down", n)
	}
	h.Platform.SetDown(nil)
	// The chart's upload waits a minute on the clock before its second try.
	waitTimer(t, h, monday)
	h.Advance(time.Minute)
	r.Wait()
	if n := len(up.got()); n != 1 {
		t.Errorf("%d uploads after a retry", n)
	}
	h.Advance(time.Hour)
	h.Send()
	if n := len(digestPosts(h)); n != 1 {
		t.Errorf("%d digest posts after the outage, want 1", n)
	}
}

func TestAMissedDigestIsPostedAtStart(t *testing.T) {
	h, _, r := digestHarness(t)
	first := time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)
	h.Clock.Set(first)
	if _, err := r.Post(h.Ctx, first); err != nil {
		t.Fatal(err)
	}
	// accessbot is down over the next Monday and comes back on Tuesday.
	h.Clock.Set(time.Date(2026, 11, 3, 10, 0, 0, 0, berlin))
	results := make(chan bot.DigestResult, 2)
	r.OnPost(func(res bot.DigestResult, err error) {
		if err != nil {
			t.Errorf("firing: %v", err)
		}
		results <- res
	})
	ctx, cancel := context.WithCancel(h.Ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	res := testwait.Receive(t, results, "the digest missed while down")
	if want := time.Date(2026, 11, 2, 9, 0, 0, 0, berlin); !res.Queued || !res.Digest.Until.Equal(want) {
		t.Errorf("at start: %+v", res)
	}
	if at := waitTimer(t, h, h.Clock.Now()); !at.Equal(time.Date(2026, 11, 9, 9, 0, 0, 0, berlin)) {
		t.Errorf("next at %s", at)
	}
	cancel()
	testwait.Receive(t, done, "the digest runner to stop")
	if n := len(h.AuditEvents(digest.EventPosted)); n != 2 {
		t.Errorf("%d digest.posted events, want 2", n)
	}
}

func TestABadDigestScheduleIsRefused(t *testing.T) {
	h := bottest.New(t, bottest.Options{})
	for spec, want := range map[string]string{
		"weekly": "exactly 5 fields", "CRON_TZ=UTC 0 9 * * 1": "time zone prefix is not supported", "": "empty spec",
	} {
		if _, err := bot.NewDigestRunner(h.Bot, bot.DigestOptions{Store: h.DB, Schedule: spec}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("schedule %q: %v, want an error saying %q", spec, err, want)
		}
	}
}
