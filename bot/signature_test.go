package bot_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

func TestCheckTimestampAcceptsOnlyAFreshPositiveUnixTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name    string
		ts      string
		window  time.Duration
		wantErr error
	}{
		{"a timestamp of now passes", unix(0), 0, nil},
		{"the edge of the default window passes", unix(-bot.DefaultSignatureWindow), 0, nil},
		{"a second past the default window is stale", unix(-bot.DefaultSignatureWindow - time.Second), 0, bot.ErrStale},
		{"a timestamp ahead by more than the window is stale", unix(bot.DefaultSignatureWindow + time.Second), 0, bot.ErrStale},
		{"a window of its own is used", unix(-2 * time.Minute), time.Minute, bot.ErrStale},
		{"an empty timestamp is malformed", "", 0, bot.ErrMalformed},
		{"a non-number is malformed", "12a", 0, bot.ErrMalformed},
		{"zero is malformed", "0", 0, bot.ErrMalformed},
		{"a negative time is malformed", "-5", 0, bot.ErrMalformed},
		{"a number past int64 is malformed", "99999999999999999999", 0, bot.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, err := bot.CheckTimestamp(tt.ts, now, tt.window)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("CheckTimestamp(%q) = %v, want %v", tt.ts, err, tt.wantErr)
			}
			if err == nil && strconv.FormatInt(at.Unix(), 10) != tt.ts {
				t.Errorf("CheckTimestamp(%q) = %v, want that time", tt.ts, at)
			}
		})
	}
}

func TestAStaleTimestampSaysHowFarOffItIs(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	_, err := bot.CheckTimestamp("1799999000", now, 0)
	if err == nil || err.Error() != "timestamp outside the allowed window: 16m40s off" {
		t.Errorf("error = %v", err)
	}
}

func TestNowIsTheClocksOrTheWallClocks(t *testing.T) {
	fixed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := bot.Now(clock.NewFake(fixed)); !got.Equal(fixed) {
		t.Errorf("Now(fake) = %v, want %v", got, fixed)
	}
	if got := bot.Now(nil); time.Since(got) > time.Minute || time.Since(got) < 0 {
		t.Errorf("Now(nil) = %v, not the wall clock", got)
	}
}

type downStore struct{}

func (downStore) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("database is down")
}

func TestAcceptOnceAcceptsEachKeyOnceUntilItCouldNoLongerPass(t *testing.T) {
	ctx := context.Background()
	at := time.Unix(1_800_000_000, 0)
	var a bot.AcceptOnce
	if err := a.Check(ctx, nil, 0, "k", at, at, time.Minute); err != nil {
		t.Fatalf("first Check = %v, want nil", err)
	}
	if err := a.Check(ctx, nil, 0, "k", at.Add(time.Minute), at, time.Minute); !errors.Is(err, bot.ErrReplayed) {
		t.Errorf("Check within the window = %v, want ErrReplayed", err)
	}
	if err := a.Check(ctx, nil, 0, "other", at, at, time.Minute); err != nil {
		t.Errorf("Check of another key = %v, want nil", err)
	}
	// Past the window the entry is forgotten: CheckTimestamp refuses the request anyway.
	if err := a.Check(ctx, nil, 0, "k", at.Add(time.Minute+time.Second), at, time.Minute); err != nil {
		t.Errorf("Check past the window = %v, want nil (the entry expired)", err)
	}
}

func TestAcceptOnceUsesTheStoreItWasGivenFirst(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	var a bot.AcceptOnce
	if err := a.Check(ctx, downStore{}, 0, "k", now, now, 0); !errors.Is(err, bot.ErrReplayUnchecked) {
		t.Fatalf("Check with a store that is down = %v, want ErrReplayUnchecked", err)
	}
	// The store is chosen at the first Check; a later nil does not swap in a cache.
	if err := a.Check(ctx, nil, 0, "k2", now, now, 0); !errors.Is(err, bot.ErrReplayUnchecked) {
		t.Errorf("later Check = %v, want the first store's ErrReplayUnchecked", err)
	}
}
