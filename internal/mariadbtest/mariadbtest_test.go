package mariadbtest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accessbot/accessbot/internal/mariadbtest"
)

func TestMain(m *testing.M) { mariadbtest.Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSharedServerAcceptsRootOverTCP(t *testing.T) {
	srv := mariadbtest.Shared(t)
	var version string
	if err := open(t, srv.DSN).QueryRowContext(ctx(t), "SELECT VERSION()").Scan(&version); err != nil {
		t.Fatalf("query as root over TCP: %v", err)
	}
	if version == "" {
		t.Fatal("empty version")
	}
	if again := mariadbtest.Shared(t); again != srv {
		t.Fatal("Shared started a second server")
	}
}

func TestNewDatabaseIsEmptyAndDroppedAtTheEnd(t *testing.T) {
	srv := mariadbtest.Shared(t)
	var name string
	t.Run("inner", func(t *testing.T) {
		dsn := srv.NewDatabase(t)
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		name = cfg.DBName
		db := open(t, dsn)
		if _, err := db.ExecContext(ctx(t), "CREATE TABLE t (id INT)"); err != nil {
			t.Fatalf("create table in the new database: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("new database has %d tables after creating one, want 1", n)
		}
	})
	var n int
	if err := open(t, srv.DSN).QueryRowContext(ctx(t), "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestAUserWithAPasswordCanLogInOverTCP(t *testing.T) {
	srv := mariadbtest.Shared(t)
	root := open(t, srv.DSN)
	if _, err := root.ExecContext(ctx(t), "CREATE USER 'harness_u'@'%' IDENTIFIED BY 'pw-123'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Exec("DROP USER IF EXISTS 'harness_u'@'%'") })
	if err := open(t, srv.DSNFor("harness_u", "pw-123", "")).PingContext(ctx(t)); err != nil {
		t.Fatalf("login with the right password: %v", err)
	}
	if err := open(t, srv.DSNFor("harness_u", "wrong", "")).PingContext(ctx(t)); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
}

func TestRestartKeepsDataAndPort(t *testing.T) {
	srv := mariadbtest.Start(t)
	db := open(t, srv.NewDatabase(t))
	if _, err := db.ExecContext(ctx(t), "CREATE TABLE kept (id INT)"); err != nil {
		t.Fatal(err)
	}
	port := srv.Port
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if srv.Port != port {
		t.Fatalf("port changed from %d to %d", port, srv.Port)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := db.ExecContext(ctx(t), "SELECT * FROM kept")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("table gone or server unreachable after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
