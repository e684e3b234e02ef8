package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

func TestPeopleAreRememberedPerPlatformNewestFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		for _, p := range []bot.Person{
			{ID: "alice@example.com", Name: "Alice", Platform: "slack", PlatformID: "U1", SeenAt: base},
			{ID: "alice@example.com", Name: "alice", Platform: "discord", PlatformID: "81", SeenAt: base.Add(time.Minute)},
			{ID: "alice@example.com", Name: "Alice L.", Platform: "slack", PlatformID: "U1b", SeenAt: base.Add(2 * time.Minute)},
		} {
			if err := db.RememberPerson(ctx, p); err != nil {
				t.Fatalf("RememberPerson(%+v): %v", p, err)
			}
		}
		id, err := db.PlatformUser(ctx, "alice@example.com", "slack")
		if err != nil || id != "U1b" {
			t.Errorf("PlatformUser(alice, slack) = %q, %v; want the latest, U1b", id, err)
		}
		ps, err := db.People(ctx, "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Platform+"/"+p.PlatformID+"/"+p.Name)
		}
		if want := []string{"slack/U1b/Alice L.", "discord/81/alice"}; !slices.Equal(got, want) {
			t.Errorf("People = %v, want %v (most recently seen first)", got, want)
		}
		if _, err := db.PlatformUser(ctx, "bob@example.com", "slack"); !errors.Is(err, bot.ErrUnknownPerson) {
			t.Errorf("PlatformUser(bob) error %v, want ErrUnknownPerson", err)
		}
		if err := db.RememberPerson(ctx, bot.Person{ID: "x", Platform: "slack"}); !errors.Is(err, grants.ErrInvalid) {
			t.Errorf("RememberPerson without a platform ID: %v, want ErrInvalid", err)
		}
	})
}

func delivery(key, queue string, seq int64) bot.Delivery {
	return bot.Delivery{Platform: "slack", Key: key, Kind: bot.DeliverApproval, Queue: queue, Message: queue,
		Channel: "C1", Seq: seq, RequestID: "r-1", CreatedAt: base}
}

func TestCursorStartsAtTheEndOfTheLogAndMovesOnlyFromWhereItIs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		appendEvents(t, db, 3)
		seq, err := db.InitCursor(ctx, "chat:slack")
		if err != nil || seq != 3 {
			t.Fatalf("InitCursor = %d, %v; want 3 (the head)", seq, err)
		}
		appendEvents(t, db, 2)
		if seq, _ := db.InitCursor(ctx, "chat:slack"); seq != 3 {
			t.Fatalf("InitCursor again = %d, want 3: an existing cursor stays", seq)
		}
		ds := []bot.Delivery{delivery("4:approval", "request:r-1", 4), delivery("5:approval", "request:r-1", 5)}
		if err := db.Enqueue(ctx, ds, &bot.CursorMove{Name: "chat:slack", From: 3, To: 5}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		// A second dispatcher that read the same events is too late: nothing of its is stored.
		late := []bot.Delivery{delivery("4:other", "", 4)}
		if err := db.Enqueue(ctx, late, &bot.CursorMove{Name: "chat:slack", From: 3, To: 5}); !errors.Is(err, bot.ErrCursorMoved) {
			t.Fatalf("Enqueue from a stale cursor: %v, want ErrCursorMoved", err)
		}
		// Replayed keys are stored once.
		if err := db.Enqueue(ctx, ds, nil); err != nil {
			t.Fatalf("Enqueue again: %v", err)
		}
		if seq, _ := db.Cursor(ctx, "chat:slack"); seq != 5 {
			t.Errorf("cursor at %d, want 5", seq)
		}
		all, err := db.Deliveries(ctx, "slack")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, d := range all {
			keys = append(keys, d.Key)
		}
		if want := []string{"4:approval", "5:approval"}; !slices.Equal(keys, want) {
			t.Errorf("outbox keys %v, want %v", keys, want)
		}
		// A cursor that never existed moves from 0.
		if err := db.Enqueue(ctx, nil, &bot.CursorMove{Name: "chat:web", From: 0, To: 2}); err != nil {
			t.Fatalf("move a new cursor: %v", err)
		}
		if seq, _ := db.Cursor(ctx, "chat:web"); seq != 2 {
			t.Errorf("new cursor at %d, want 2", seq)
		}
	})
}

func TestAQueuedDeliveryWaitsForTheOneBeforeItAndIsCoveredWhenSent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		v := bot.View{Title: "notice", Tone: bot.ToneNeutral}
		dm := bot.Delivery{Platform: "slack", Key: "3:dm", Kind: bot.DeliverNotice, Person: "alice", View: &v, Seq: 3}
		err := db.Enqueue(ctx, []bot.Delivery{
			delivery("1:approval", "request:r-1", 1),
			delivery("2:approval", "request:r-1", 2),
			dm,
			delivery("4:approval", "request:r-1", 4),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := base
		claimed, err := db.ClaimDeliveries(ctx, "slack", now, now.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(claimed); !slices.Equal(got, []string{"1:approval", "3:dm"}) {
			t.Fatalf("claimed %v, want the head of the queue and the DM", got)
		}
		if claimed[1].View == nil || claimed[1].View.Title != "notice" {
			t.Errorf("the notice's view did not survive the store: %+v", claimed[1].View)
		}
		if claimed[0].CoverSeq != 4 {
			t.Errorf("CoverSeq = %d, want 4 (the last pending of the queue)", claimed[0].CoverSeq)
		}
		if claimed[0].Covers != 2 || claimed[1].Covers != 0 {
			t.Errorf("Covers = %d and %d, want 2 (the queue's other pending changes) and 0 (alone in its queue)",
				claimed[0].Covers, claimed[1].Covers)
		}
		// Nothing more while they are claimed.
		if again, _ := db.ClaimDeliveries(ctx, "slack", now, now.Add(time.Minute), 10); len(again) != 0 {
			t.Fatalf("claimed %v again while claimed", keysOf(again))
		}
		ref := &bot.MessageRef{Platform: "slack", Channel: "C1", ID: "m1"}
		if err := db.MarkSent(ctx, claimed[0], ref, true, now); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		got, ok, err := db.MessageRef(ctx, "slack", "request:r-1")
		if err != nil || !ok || got != *ref {
			t.Errorf("MessageRef = %+v, %v, %v; want %+v", got, ok, err, *ref)
		}
		states := map[string]bot.DeliveryState{}
		all, _ := db.Deliveries(ctx, "slack")
		for _, d := range all {
			states[d.Key] = d.State
		}
		want := map[string]bot.DeliveryState{"1:approval": "sent", "2:approval": "sent", "4:approval": "sent", "3:dm": "pending"}
		for k, s := range want {
			if states[k] != s {
				t.Errorf("%s is %s, want %s (a message rendered after the claim covers every change up to CoverSeq)", k, states[k], s)
			}
		}
	})
}

func TestFailedDeliveriesComeBackWhenDueAndAGivenUpOneUnblocksItsQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		if err := db.Enqueue(ctx, []bot.Delivery{delivery("1:approval", "q", 1), delivery("2:approval", "q", 2)}, nil); err != nil {
			t.Fatal(err)
		}
		now := base
		c, _ := db.ClaimDeliveries(ctx, "slack", now, now.Add(time.Minute), 10)
		if len(c) != 1 {
			t.Fatalf("claimed %v", keysOf(c))
		}
		if err := db.RetryDelivery(ctx, c[0], now.Add(10*time.Second), "timeout", true); err != nil {
			t.Fatal(err)
		}
		at, ok, err := db.NextDelivery(ctx, "slack")
		if err != nil || !ok || !at.Equal(now.Add(10*time.Second)) {
			t.Errorf("NextDelivery = %v, %v, %v; want the retry time of the head (the second waits behind it)", at, ok, err)
		}
		if c2, _ := db.ClaimDeliveries(ctx, "slack", now.Add(5*time.Second), now.Add(time.Minute), 10); len(c2) != 0 {
			t.Fatalf("claimed %v before the retry time", keysOf(c2))
		}
		c, _ = db.ClaimDeliveries(ctx, "slack", now.Add(10*time.Second), now.Add(time.Minute), 10)
		if len(c) != 1 || c[0].Attempts != 1 || c[0].LastError != "timeout" {
			t.Fatalf("claimed %+v, want 1:approval with 1 attempt and its error", c)
		}
		// A sender whose claim lapsed cannot finish what another sender took.
		stale := c[0]
		c, _ = db.ClaimDeliveries(ctx, "slack", now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
		if len(c) != 1 {
			t.Fatalf("the lapsed claim was not taken again: %v", keysOf(c))
		}
		if err := db.MarkSent(ctx, stale, nil, false, now); !errors.Is(err, grants.ErrConflict) {
			t.Errorf("MarkSent with a lapsed claim: %v, want ErrConflict", err)
		}
		if err := db.GiveUpDelivery(ctx, c[0], "channel_not_found", now); err != nil {
			t.Fatal(err)
		}
		c, _ = db.ClaimDeliveries(ctx, "slack", now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
		if got := keysOf(c); !slices.Equal(got, []string{"2:approval"}) {
			t.Errorf("after giving up the head, claimed %v; want the next of its queue", got)
		}
		if err := db.MarkSent(ctx, c[0], nil, false, now); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.NextDelivery(ctx, "slack"); ok {
			t.Error("NextDelivery reports something due in an empty outbox")
		}
		n, err := db.PruneDeliveries(ctx, now.Add(time.Second))
		if err != nil || n != 2 {
			t.Errorf("PruneDeliveries = %d, %v; want both finished deliveries gone", n, err)
		}
	})
}

func TestTwoSendersNeverClaimTheSameDelivery(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		var ds []bot.Delivery
		for i := 1; i <= 60; i++ {
			ds = append(ds, bot.Delivery{Platform: "slack", Key: fmt.Sprintf("%d:alert", i), Kind: bot.DeliverAlert, Channel: "C", Seq: int64(i)})
		}
		if err := db.Enqueue(ctx, ds, nil); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Go(func() {
				for {
					c, err := db.ClaimDeliveries(ctx, "slack", base, base.Add(time.Hour), 5)
					if err != nil {
						t.Error(err)
						return
					}
					if len(c) == 0 {
						return
					}
					mu.Lock()
					for _, d := range c {
						seen[d.Key]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 60 {
			t.Errorf("claimed %d deliveries, want 60", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%s claimed %d times", k, n)
			}
		}
	})
}

func keysOf(ds []bot.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key)
	}
	return out
}

func TestOutboxPendingCountsWaitingDeliveriesAndTheOldestPerPlatform(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		if got, err := db.OutboxPending(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty outbox: %v, %v", got, err)
		}
		d := func(platform, key string, created time.Time) bot.Delivery {
			return bot.Delivery{Platform: platform, Key: key, Kind: bot.DeliverDM, Person: "alice", CreatedAt: created}
		}
		if err := db.Enqueue(ctx, []bot.Delivery{d("slack", "a", base.Add(time.Minute)), d("slack", "b", base),
			d("discord", "c", base.Add(time.Hour)), d("discord", "d", base.Add(-time.Hour))}, nil); err != nil {
			t.Fatal(err)
		}
		claimed, err := db.ClaimDeliveries(ctx, "discord", base, base.Add(time.Minute), 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v, %v", claimed, err)
		}
		for _, c := range claimed {
			if c.Key == "d" {
				if err := db.GiveUpDelivery(ctx, c, "gone", base); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := db.OutboxPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []bot.OutboxPending{{Platform: "discord", Count: 1, Oldest: base.Add(time.Hour)}, {Platform: "slack", Count: 2, Oldest: base}}
		if len(got) != 2 || got[0].Platform != "discord" || got[0].Count != 1 || !got[0].Oldest.Equal(want[0].Oldest) ||
			got[1].Platform != "slack" || got[1].Count != 2 || !got[1].Oldest.Equal(want[1].Oldest) {
			t.Errorf("OutboxPending = %+v, want %+v (a claimed delivery still waits; a given-up one does not)", got, want)
		}
	})
}
