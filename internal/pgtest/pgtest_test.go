package pgtest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/accessbot/accessbot/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func query(t *testing.T, dsn, q string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s string
	if err := db.QueryRowContext(ctx, q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func TestSharedServerGivesEachTestItsOwnDatabase(t *testing.T) {
	srv := pgtest.Shared(t)
	a := srv.NewDatabase(t)
	b := srv.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share a DSN: %s", a)
	}
	nameA := query(t, a, "SELECT current_database()")
	nameB := query(t, b, "SELECT current_database()")
	if nameA == nameB {
		t.Fatalf("both DSNs reach database %s", nameA)
	}
	if got := query(t, srv.DSN, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %s, want off (a throwaway server needs no durability)", got)
	}
	if pgtest.Shared(t) != srv {
		t.Error("Shared started a second server")
	}
}

func TestServerSurvivesRestartWithItsData(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('before restart')"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := query(t, dsn, "SELECT v FROM kept"); got != "before restart" {
		t.Fatalf("after restart: %q", got)
	}
	srv.Stop()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("the server still answers after Stop")
	}
}
