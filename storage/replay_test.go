package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestTheReplayStoreAcceptsEachKeyOnceAcrossReplicas(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		dsn := b.dsn(t)
		// Two replicas: two pools on one database.
		one := openDSN(t, b.driver, dsn)
		if _, err := one.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		two := openDSN(t, b.driver, dsn)
		stores := []*ReplayStore{one.ReplayStore(), two.ReplayStore()}
		now := base
		expires := now.Add(5 * time.Minute)

		if replayed, err := stores[0].Seen(ctx, "slack:v0=aa", now, expires); err != nil || replayed {
			t.Fatalf("first Seen on replica one = %v, %v; want a new key", replayed, err)
		}
		if replayed, err := stores[1].Seen(ctx, "slack:v0=aa", now, expires); err != nil || !replayed {
			t.Fatalf("the same key on replica two = %v, %v; want a replay", replayed, err)
		}
		if replayed, err := stores[1].Seen(ctx, "discord:aa", now, expires); err != nil || replayed {
			t.Fatalf("another key on replica two = %v, %v; want a new key", replayed, err)
		}

		// Concurrent deliveries of one key to both replicas: exactly one is accepted.
		var wg sync.WaitGroup
		var mu sync.Mutex
		accepted := map[string]int{}
		for i := range 32 {
			wg.Go(func() {
				key := fmt.Sprintf("slack:v0=%d", i%4)
				replayed, err := stores[i%2].Seen(ctx, key, now, expires)
				if err != nil {
					t.Errorf("Seen(%s): %v", key, err)
					return
				}
				if !replayed {
					mu.Lock()
					accepted[key]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(accepted) != 4 {
			t.Errorf("%d keys accepted, want 4", len(accepted))
		}
		for key, n := range accepted {
			if n != 1 {
				t.Errorf("%s accepted %d times, want once", key, n)
			}
		}

		// Only the key's hash is stored.
		var hashes []string
		if err := one.read.SelectContext(ctx, &hashes, `SELECT key_hash FROM replay_keys`); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("slack:v0=aa"))
		found := false
		for _, h := range hashes {
			if h == "slack:v0=aa" {
				t.Errorf("the key is stored as it is")
			}
			found = found || h == hex.EncodeToString(sum[:])
		}
		if !found {
			t.Errorf("stored hashes %v lack the SHA-256 of the key", hashes)
		}
	})
}

func TestTheReplayStorePrunesExpiredKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		db := newDB(t, b)
		s := db.ReplayStore()
		now := base
		for i := range 3 {
			if _, err := s.Seen(ctx, fmt.Sprintf("k%d", i), now, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		// Within ReplayPruneEvery of the last prune nothing is deleted, expired or not.
		later := now.Add(ReplayPruneEvery / 2)
		if _, err := s.Seen(ctx, "k3", later, later.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.ReplayKeys(ctx); n != 4 {
			t.Fatalf("%d keys before the prune, want 4", n)
		}
		// The next Seen after ReplayPruneEvery deletes what expired.
		later = now.Add(2 * time.Minute)
		if _, err := s.Seen(ctx, "k4", later, later.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.ReplayKeys(ctx); n != 2 {
			t.Errorf("%d keys after the prune, want 2 (k3, k4)", n)
		}
	})
}

func TestTheReplayStoreFailsWhenTheDatabaseIsGone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := testCtx(t)
		db := newDB(t, b)
		s := db.ReplayStore()
		db.Close()
		if _, err := s.Seen(ctx, "slack:v0=aa", base, base.Add(time.Minute)); err == nil {
			t.Error("Seen on a closed database succeeded; want an error, so that the request is refused")
		}
	})
}
