package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Schema changes are SQL files in migrations/<dialect>/, named
// NNNN_what.sql and numbered from 0001 without gaps. A release adds files
// and never edits one that has shipped; both dialects get the same numbers.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one versioned schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads a dialect's migrations in version order.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", dialect, err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s is not named NNNN_name.sql", dir, e.Name())
		}
		if version != len(ms)+1 {
			return nil, fmt.Errorf("migration %s/%s: expected version %d", dir, e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	return ms, nil
}

// migrate applies the migrations a database lacks, each in its own
// transaction together with its schema_migrations row. write runs one
// transaction. Processes opening one database together do not collide:
// SQLite's write transactions exclude each other, and on PostgreSQL the
// caller holds an advisory lock.
func migrate(ctx context.Context, d dialect, write func(context.Context, func(querier) error) error, createTable string, ms []migration) error {
	if err := write(ctx, func(q querier) error {
		_, err := q.exec(ctx, createTable)
		return err
	}); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var applied map[int]bool
	if err := write(ctx, func(q querier) error {
		var err error
		applied, err = appliedVersions(ctx, q)
		return err
	}); err != nil {
		return err
	}
	for v := range applied {
		if v > len(ms) {
			return fmt.Errorf("the database has schema version %d, newer than this Bailiff knows (%d): upgrade Bailiff", v, len(ms))
		}
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := write(ctx, func(q querier) error {
			// Another process may have applied it since: check again
			// inside the transaction that would apply it.
			var n int
			if err := queryOne(ctx, q, []any{&n}, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.version); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := q.exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := q.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, d.timeArg(normTime(time.Now())))
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

// appliedVersions reads schema_migrations.
func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rs, err := q.query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rs.Close()
	applied := map[int]bool{}
	for rs.Next() {
		var v int
		if err := rs.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	return applied, rs.Err()
}
