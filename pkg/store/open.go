package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Open opens the store a DSN names and brings its schema up to date:
//
//   - sqlite:///var/lib/bailiff/bailiff.db opens (or creates) an SQLite file
//     at an absolute path;
//   - sqlite://bailiff.db, with two slashes, is a path relative to the
//     working directory (sqlite://data/bailiff.db is data/bailiff.db, not a
//     host named data);
//   - postgres://… and postgresql://… connect to PostgreSQL, with the URL
//     handed to pgx as it is (sslmode, connect_timeout and friends apply;
//     pool_max_conns sets the size of the connection pool).
func Open(ctx context.Context, dsn string) (Store, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("store DSN has no scheme: use sqlite:///path/to/bailiff.db or postgres://user@host/db")
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		if rest == "" {
			return nil, fmt.Errorf("store DSN sqlite:// names no file: use sqlite:///path/to/bailiff.db")
		}
		return OpenSQLite(ctx, filepath.FromSlash(rest))
	case "postgres", "postgresql":
		return OpenPostgres(ctx, dsn)
	default:
		// Only the scheme: the rest may carry a password.
		return nil, fmt.Errorf("unknown store DSN scheme %q: use sqlite:///path/to/bailiff.db or postgres://user@host/db", scheme)
	}
}
