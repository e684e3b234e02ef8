package storage

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/stepup"
)

func sampleAttempt(link string) stepup.Attempt {
	return stepup.Attempt{
		LinkHash: link, RequestID: "r-1", Decision: grants.Approve,
		Actor:     grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Name: "Bob", Platform: "slack", PlatformID: "UBOB"},
		CreatedAt: base, LinkExpiresAt: base.Add(5 * time.Minute),
	}
}

func TestAStepUpIsStartedOnceAndFinishedOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		want := sampleAttempt("link-1")
		if err := db.CreateStepUp(ctx, want); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartStepUp(ctx, "link-unknown", "state-x", "n", "v", base); !errors.Is(err, stepup.ErrNotFound) {
			t.Errorf("start of an unknown link: %v, want ErrNotFound", err)
		}
		got, err := db.StartStepUp(ctx, "link-1", "state-1", "nonce-1", "verifier-1", base.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got.Actor != want.Actor || got.RequestID != "r-1" || got.Decision != grants.Approve || got.Nonce != "nonce-1" ||
			got.Verifier != "verifier-1" || !got.LinkExpiresAt.Equal(want.LinkExpiresAt) || !got.StartedAt.Equal(base.Add(time.Second)) {
			t.Errorf("started attempt %+v", got)
		}
		if again, err := db.StartStepUp(ctx, "link-1", "state-2", "nonce-2", "verifier-2", base.Add(2*time.Second)); !errors.Is(err, stepup.ErrUsed) || again.Actor != want.Actor {
			t.Errorf("second start: %+v, %v; want ErrUsed with the attempt", again, err)
		}
		if _, err := db.FinishStepUp(ctx, "state-2", base); !errors.Is(err, stepup.ErrNotFound) {
			t.Errorf("finish with the refused second start's state: %v, want ErrNotFound", err)
		}
		fin, err := db.FinishStepUp(ctx, "state-1", base.Add(3*time.Second))
		if err != nil || fin.Nonce != "nonce-1" || fin.Verifier != "verifier-1" || fin.Actor != want.Actor {
			t.Fatalf("finish: %+v, %v", fin, err)
		}
		if _, err := db.FinishStepUp(ctx, "state-1", base.Add(4*time.Second)); !errors.Is(err, stepup.ErrUsed) {
			t.Errorf("second finish: %v, want ErrUsed", err)
		}
	})
}

func TestConcurrentCallbacksOfOneStateFinishItOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		if err := db.CreateStepUp(ctx, sampleAttempt("link-1")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartStepUp(ctx, "link-1", "state-1", "n", "v", base); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = db.FinishStepUp(ctx, "state-1", base.Add(time.Second)) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, stepup.ErrUsed):
				t.Errorf("a concurrent finish failed with %v", err)
			}
		}
		if won != 1 {
			t.Errorf("%d callbacks finished the state, want 1", won)
		}
	})
}

func TestOldStepUpsAreRemovedWhenANewOneIsStored(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		if err := db.CreateStepUp(ctx, sampleAttempt("link-old")); err != nil {
			t.Fatal(err)
		}
		fresh := sampleAttempt("link-new")
		fresh.CreatedAt, fresh.LinkExpiresAt = base.Add(25*time.Hour), base.Add(25*time.Hour+5*time.Minute)
		if err := db.CreateStepUp(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartStepUp(ctx, "link-old", "s", "n", "v", fresh.CreatedAt); !errors.Is(err, stepup.ErrNotFound) {
			t.Errorf("a day-old attempt is still there: %v", err)
		}
		if _, err := db.StartStepUp(ctx, "link-new", "s", "n", "v", fresh.CreatedAt); err != nil {
			t.Errorf("the new attempt: %v", err)
		}
	})
}
