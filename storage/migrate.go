package storage

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned file, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		ms = append(ms, migration{version: v, name: m[2], sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("two migrations have version %d", ms[i].version)
		}
	}
	return ms, nil
}

// statements splits a migration into statements: each ends with a ';' at the end of a line.
// Both drivers get one statement per Exec, whatever their support for several.
func statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(sql) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// migrationLockID is the PostgreSQL advisory lock that serializes Migrate across processes.
const migrationLockID = 0x61636362 // "accb"

// Migrate applies the embedded migrations the database has not seen, in one transaction, and
// returns the versions it applied. Running it again applies nothing. On PostgreSQL an advisory
// lock makes replicas that start together migrate one after the other; on SQLite the
// transaction's write lock does the same.
func (db *DB) Migrate(ctx context.Context) ([]int, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	t, err := db.write.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	defer t.Rollback()
	if db.driver == Postgres {
		// Held until commit, so the next migrator sees what this one applied.
		if _, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return nil, fmt.Errorf("migrate: take lock: %w", err)
		}
	}
	if _, err := t.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var have []int
	if err := t.SelectContext(ctx, &have, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		return nil, fmt.Errorf("migrate: read applied versions: %w", err)
	}
	if len(have) > 0 && len(ms) > 0 && have[len(have)-1] > ms[len(ms)-1].version {
		return nil, fmt.Errorf("migrate: the database is at version %d, newer than this accessbot knows (%d): upgrade accessbot",
			have[len(have)-1], ms[len(ms)-1].version)
	}
	var applied []int
	for _, m := range ms {
		if slices.Contains(have, m.version) {
			continue
		}
		for i, stmt := range statements(m.sql) {
			if _, err := t.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("migrate: %04d_%s statement %d: %w", m.version, m.name, i+1, err)
			}
		}
		if _, err := t.ExecContext(ctx, t.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return nil, fmt.Errorf("migrate: record version %d: %w", m.version, err)
		}
		applied = append(applied, m.version)
	}
	if err := t.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return applied, nil
}

// SchemaVersion returns the highest migration applied, 0 for a new database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	if err := db.read.GetContext(ctx, &v, `SELECT MAX(version) FROM schema_migrations`); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}
