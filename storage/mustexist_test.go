package storage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A command that only reads the database opens it with MustExist: a SQLite file that is not
// there is an error wrapping fs.ErrNotExist and naming the file, and no file is created; the
// same file, once created, opens.
func TestMustExistNeverCreatesASQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "accessbot.db")
	_, err := Open(ctx, Options{Driver: SQLite, DSN: path + "?_busy_timeout=100", MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(MustExist) of a missing file: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the file was created: %v", err)
	}
	db, err := Open(ctx, Options{Driver: SQLite, DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, Options{Driver: SQLite, DSN: path, MustExist: true})
	if err != nil {
		t.Fatalf("Open(MustExist) of an existing file: %v", err)
	}
	db.Close()
	// An in-memory database has no file to find.
	if db, err := Open(ctx, Options{Driver: SQLite, DSN: ":memory:", MustExist: true}); err != nil {
		t.Errorf("Open(:memory:, MustExist): %v", err)
	} else {
		db.Close()
	}
}
