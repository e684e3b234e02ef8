package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// readFixture reads testdata/events.jsonl: a chain written by the producers (grants, bot,
// storage, internal/app) before the payloads were typed, one to three events of every event
// type and every shape of data they wrote.
func readFixture(t *testing.T) *memSource {
	t.Helper()
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &memSource{head: audit.EmptyHead()}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		s.events = append(s.events, e)
		s.head = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// roundTrip decodes e as its type's payload and puts it back into a copy of e.
func roundTrip(t *testing.T, e audit.Event) audit.Event {
	t.Helper()
	var (
		p   audit.Payload
		err error
	)
	switch e.Type {
	case audit.RequestCreated:
		p, err = audit.Decode[audit.RequestCreatedData](e)
	case audit.RequestApproved:
		p, err = audit.Decode[audit.RequestApprovedData](e)
	case audit.RequestDenied:
		p, err = audit.Decode[audit.RequestDeniedData](e)
	case audit.RequestCancelled:
		p, err = audit.Decode[audit.RequestCancelledData](e)
	case audit.RequestExpired:
		p, err = audit.Decode[audit.RequestExpiredData](e)
	case audit.RequestRefused:
		p, err = audit.Decode[audit.RequestRefusedData](e)
	case audit.ReviewApproved:
		p, err = audit.Decode[audit.ReviewApprovedData](e)
	case audit.ReviewDenied:
		p, err = audit.Decode[audit.ReviewDeniedData](e)
	case audit.ReviewRefused:
		p, err = audit.Decode[audit.ReviewRefusedData](e)
	case audit.StepUpRefused:
		p, err = audit.Decode[audit.StepUpRefusedData](e)
	case audit.GrantActivating:
		p, err = audit.Decode[audit.GrantActivatingData](e)
	case audit.GrantActive:
		p, err = audit.Decode[audit.GrantActiveData](e)
	case audit.GrantFailed:
		p, err = audit.Decode[audit.GrantFailedData](e)
	case audit.GrantRevoking:
		p, err = audit.Decode[audit.GrantRevokingData](e)
	case audit.GrantRevoked:
		p, err = audit.Decode[audit.GrantRevokedData](e)
	case audit.GrantRevokeFailed:
		p, err = audit.Decode[audit.GrantRevokeFailedData](e)
	case audit.GrantRetry:
		p, err = audit.Decode[audit.GrantRetryData](e)
	case audit.GrantExtended:
		p, err = audit.Decode[audit.GrantExtendedData](e)
	case audit.GrantWarned:
		p, err = audit.Decode[audit.GrantWarnedData](e)
	case audit.BreakGlassUsed:
		p, err = audit.Decode[audit.BreakGlassUsedData](e)
	case audit.BreakGlassReviewed:
		p, err = audit.Decode[audit.BreakGlassReviewedData](e)
	case audit.AlertRaised:
		p, err = audit.Decode[audit.AlertRaisedData](e)
	case audit.ConfigLoaded:
		p, err = audit.Decode[audit.ConfigLoadedData](e)
	case audit.AuthFailed:
		p, err = audit.Decode[audit.AuthFailedData](e)
	case audit.SSHKeyAdded:
		p, err = audit.Decode[audit.SSHKeyAddedData](e)
	case audit.SSHKeyRemoved:
		p, err = audit.Decode[audit.SSHKeyRemovedData](e)
	case audit.ScanCompleted:
		p, err = audit.Decode[audit.ScanCompletedData](e)
	case audit.IdentityLinkRequested:
		p, err = audit.Decode[audit.IdentityLinkRequestedData](e)
	case audit.IdentityLinked:
		p, err = audit.Decode[audit.IdentityLinkedData](e)
	case audit.IdentityUnlinked:
		p, err = audit.Decode[audit.IdentityUnlinkedData](e)
	case audit.DigestPosted:
		p, err = audit.Decode[audit.DigestPostedData](e)
	case audit.IdentityRefused:
		p, err = audit.Decode[audit.IdentityRefusedData](e)
	case audit.ConfigChanged:
		p, err = audit.Decode[audit.ConfigChangedData](e)
	default:
		t.Fatalf("event %d: no payload for type %s", e.Seq, e.Type)
	}
	if err != nil {
		t.Fatalf("decode event %d: %v", e.Seq, err)
	}
	out := e.With(p)
	if out.Type != e.Type {
		t.Errorf("event %d: %T belongs to %s, not %s", e.Seq, p, out.Type, e.Type)
	}
	return out
}

// TestPayloadsKeepTheHashedBytes holds the typed payloads to the data the producers wrote
// before them: the fixture still verifies, and every event decoded into its payload and
// encoded back has the same Data, hence the same canonical bytes and hash.
func TestPayloadsKeepTheHashedBytes(t *testing.T) {
	src := readFixture(t)
	rep, err := audit.Verify(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() || rep.Events != int64(len(src.events)) {
		t.Fatalf("the fixture does not verify: %+v", rep)
	}
	types := map[string]bool{}
	for _, e := range src.events {
		types[e.Type] = true
		out := roundTrip(t, e)
		if !maps.Equal(out.Data, e.Data) {
			t.Errorf("event %d (%s): data\n got %v\nwant %v", e.Seq, e.Type, out.Data, e.Data)
			continue
		}
		if h := audit.ComputeHash(e.PrevHash, out); h != e.Hash {
			t.Errorf("event %d (%s): hash %s, stored %s", e.Seq, e.Type, h, e.Hash)
		}
	}
	// Every event type has events in the fixture.
	for _, typ := range []string{
		audit.RequestCreated, audit.RequestApproved, audit.RequestDenied, audit.RequestCancelled,
		audit.RequestExpired, audit.RequestRefused, audit.ReviewApproved, audit.ReviewDenied,
		audit.ReviewRefused, audit.GrantActivating, audit.GrantActive, audit.GrantFailed,
		audit.GrantRevoking, audit.GrantRevoked, audit.GrantRevokeFailed, audit.GrantRetry,
		audit.GrantExtended, audit.GrantWarned, audit.BreakGlassUsed, audit.BreakGlassReviewed,
		audit.AlertRaised, audit.ConfigLoaded, audit.AuthFailed, audit.SSHKeyAdded,
		audit.SSHKeyRemoved, audit.ScanCompleted, audit.IdentityLinkRequested, audit.IdentityLinked,
		audit.IdentityUnlinked, audit.DigestPosted, audit.StepUpRefused,
	} {
		if !types[typ] {
			t.Errorf("the fixture has no %s event", typ)
		}
	}
}

func TestDecodeRefusesAnotherType(t *testing.T) {
	e := audit.Event{Seq: 7, Type: audit.GrantActive, Data: map[string]string{"attempts": "2"}}
	if p, err := audit.Decode[audit.GrantFailedData](e); err == nil || p != (audit.GrantFailedData{}) {
		t.Errorf("Decode as grant.failed = %+v, %v; want an error and nothing", p, err)
	}
}

func TestDecodeIsLenient(t *testing.T) {
	e := audit.Event{Seq: 7, Type: audit.GrantActive, Data: map[string]string{"attempts": "two", "expires_at": "2026-01-05T09:00:00Z"}}
	p, err := audit.Decode[audit.GrantActiveData](e)
	if err == nil {
		t.Error("a bad number decoded without an error")
	}
	if want := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC); !p.ExpiresAt.Equal(want) || p.Attempts != 0 {
		t.Errorf("Decode = %+v; want the expiry read and attempts 0", p)
	}
	if p, err := audit.Decode[audit.GrantActiveData](audit.Event{Type: audit.GrantActive}); err != nil || p != (audit.GrantActiveData{}) {
		t.Errorf("Decode of no data = %+v, %v; want zero and no error", p, err)
	}
}

func TestTally(t *testing.T) {
	for _, s := range []string{"0/1", "2/3", "3/3", "10/12"} {
		tl, err := audit.ParseTally(s)
		if err != nil || tl.String() != s {
			t.Errorf("ParseTally(%q) = %v, %v", s, tl, err)
		}
	}
	if tl, _ := audit.ParseTally("2/3"); !tl.Partial() || (audit.Tally{Got: 3, Need: 3}).Partial() {
		t.Error("Partial is wrong")
	}
	for _, s := range []string{"", "auto", "2", "2/", "/3", "a/b"} {
		if _, err := audit.ParseTally(s); err == nil {
			t.Errorf("ParseTally(%q) read it", s)
		}
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		text string
	}{
		{0, "0"}, {30 * time.Second, "30s"}, {90 * time.Minute, "1h30m"}, {time.Hour, "1h"},
		{2 * time.Minute, "2m"}, {24 * time.Hour, "1d"}, {48 * time.Hour, "2d"}, {25 * time.Hour, "1d1h"},
		{-time.Hour, "-1h"}, {-24 * time.Hour, "-1d"}, {1500 * time.Millisecond, "1.5s"}, {time.Hour + time.Second, "1h1s"},
	} {
		if got := audit.FormatDuration(tc.d); got != tc.text {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.text)
		}
		if got, err := audit.ParseDuration(tc.text); err != nil || got != tc.d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.text, got, err, tc.d)
		}
	}
	// Logs written before durations had one format spell some of them otherwise.
	for text, want := range map[string]time.Duration{"0s": 0, "25h": 25 * time.Hour, "1h0m1s": time.Hour + time.Second} {
		if got, err := audit.ParseDuration(text); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
}
