package servertest

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Databases makes a database per test on a SQL server.
type Databases struct {
	// Label starts failure messages: "pgtest".
	Label string
	// Driver and AdminDSN open a connection that may create and drop databases.
	Driver, AdminDSN string
	// Create and Drop are the statements, with %s where the name goes; the name holds only
	// [a-z0-9_] and starts with a letter, so it needs no quoting.
	Create, Drop string
	// Running reports whether the server still runs; a stopped server's databases are gone
	// with it.
	Running func() bool

	count atomic.Int64
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// New creates an empty database named after t and returns its name. It is dropped when t
// ends.
func (d *Databases) New(t testing.TB) string {
	t.Helper()
	name := nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	// The counter makes the name unique; the prefix keeps it a valid identifier.
	name = fmt.Sprintf("t%d_%s", d.count.Add(1), name)
	if err := d.exec(d.Create, name); err != nil {
		t.Fatalf("%s: create database %s: %v", d.Label, name, err)
	}
	t.Cleanup(func() {
		if !d.Running() {
			return
		}
		if err := d.exec(d.Drop, name); err != nil {
			t.Logf("%s: drop database %s: %v", d.Label, name, err)
		}
	})
	return name
}

func (d *Databases) exec(stmt, name string) error {
	admin, err := sql.Open(d.Driver, d.AdminDSN)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, fmt.Sprintf(stmt, name))
	return err
}
