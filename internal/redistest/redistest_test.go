package redistest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/accessbot/accessbot/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSharedServerAnswersTheAdminAndRefusesTheDefaultUser(t *testing.T) {
	srv := redistest.Shared(t)
	if err := srv.Admin(t).Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("admin ping: %v", err)
	}
	anon := redis.NewClient(srv.Options("", ""))
	defer anon.Close()
	if err := anon.Ping(ctx(t)).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("ping without a login = %v, want NOAUTH: the default user must be off", err)
	}
	if redistest.Shared(t) != srv {
		t.Error("Shared started a second server")
	}
}

func TestServerKeepsNothingOnDisk(t *testing.T) {
	admin := redistest.Shared(t).Admin(t)
	for key, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		got, err := admin.ConfigGet(ctx(t), key).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", key, err)
		}
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
}

func TestAddUserMakesAUserThatCanLogInUntilTheTestEnds(t *testing.T) {
	srv := redistest.Shared(t)
	t.Run("inner", func(t *testing.T) {
		srv.AddUser(t, "reader", "pw-reader-1", "~app:*", "+get")
		c := redis.NewClient(srv.Options("reader", "pw-reader-1"))
		defer c.Close()
		if err := c.Get(ctx(t), "app:x").Err(); err != redis.Nil {
			t.Fatalf("GET app:x as reader = %v, want redis.Nil", err)
		}
		if err := c.Set(ctx(t), "app:x", "1", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("SET as reader = %v, want NOPERM", err)
		}
	})
	users, err := srv.Admin(t).ACLUsers(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u == "reader" {
			t.Fatal("user reader survived the end of its test")
		}
	}
}

func TestTLSServerAcceptsOnlyTLSClientsThatTrustItsCA(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{TLS: true})
	if srv.TLS == nil {
		t.Fatal("TLS server has no TLS files")
	}
	if err := srv.Admin(t).Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("TLS ping: %v", err)
	}
	opts := srv.AdminOptions()
	opts.TLSConfig = nil
	plain := redis.NewClient(opts)
	defer plain.Close()
	if err := plain.Ping(ctx(t)).Err(); err == nil {
		t.Fatal("a plain-TCP client got an answer from a TLS-only server")
	}
}

func TestRestartKeepsThePortAndDropsRuntimeUsers(t *testing.T) {
	srv := redistest.Start(t)
	srv.AddUser(t, "temp", "pw-temp-1", "+ping")
	port := srv.Port
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if srv.Port != port {
		t.Errorf("port changed from %d to %d", port, srv.Port)
	}
	users, err := srv.Admin(t).ACLUsers(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u == "temp" {
			t.Error("a user made at run time survived a restart")
		}
	}
}
