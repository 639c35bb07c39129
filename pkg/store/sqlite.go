package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// sqliteParams are the connection settings of every SQLite connection: wait
// up to 10 s for another process's write lock instead of failing with
// SQLITE_BUSY, and enforce foreign keys.
const sqliteParams = "_busy_timeout=10000&_foreign_keys=on"

// OpenSQLite opens the SQLite store in the file at path, creating it if
// needed (not its directory), and brings its schema up to date.
//
// The file is in WAL mode, so reads do not wait for writes. All writes of a
// process go through one connection whose transactions take the write lock
// when they begin (BEGIN IMMEDIATE): writers of this process queue for that
// connection, and writers of other processes wait on the lock for up to 10 s.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	s, err := openSQLite(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	return s, nil
}

func openSQLite(ctx context.Context, path string) (*sqlStore, error) {
	switch {
	case path == "":
		return nil, errors.New("no file named")
	case strings.Contains(path, "?"), strings.HasPrefix(path, "file:"), strings.HasPrefix(path, ":memory:"):
		return nil, errors.New("name a plain file: URI names, parameters and in-memory databases are not supported")
	}
	// SQLite would only say "unable to open database file".
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("the file's directory: %w", err)
	}
	w, err := sql.Open("sqlite", path+"?"+sqliteParams+"&_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, err
	}
	db := &sqliteDB{w: w}
	ms, err := loadMigrations("sqlite")
	if err == nil {
		err = migrate(ctx, sqliteDialect, db.write, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`, ms)
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", path+"?"+sqliteParams+"&_query_only=on")
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	return &sqlStore{db: db, d: sqliteDialect}, nil
}

// sqliteDialect stores times as INTEGER microseconds since the Unix epoch and
// passes lists as JSON, which json_each unpacks.
var sqliteDialect = dialect{
	inList: func(column string, values []string) (string, any) {
		b, _ := json.Marshal(values) // strings always encode
		return column + " IN (SELECT value FROM json_each(?))", string(b)
	},
	timeArg:      func(t time.Time) any { return t.UnixMicro() },
	timeDest:     func(t *time.Time) any { return microTime{t} },
	nullTimeDest: func(t **time.Time) any { return nullMicroTime{t} },
}

// microTime scans INTEGER microseconds into a time.
type microTime struct{ t *time.Time }

func (m microTime) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column holds %T, not INTEGER microseconds", src)
	}
	*m.t = time.UnixMicro(v).UTC()
	return nil
}

// nullMicroTime scans INTEGER microseconds or NULL into a *time.Time.
type nullMicroTime struct{ t **time.Time }

func (m nullMicroTime) Scan(src any) error {
	if src == nil {
		*m.t = nil
		return nil
	}
	var t time.Time
	if err := (microTime{&t}).Scan(src); err != nil {
		return err
	}
	*m.t = &t
	return nil
}

// sqliteDB is an SQLite file opened twice: one writer connection and a pool
// of read-only connections beside it.
type sqliteDB struct {
	w *sql.DB
	r *sql.DB
}

func (db *sqliteDB) read(ctx context.Context, fn func(querier) error) error {
	return fn(sqlQuerier{db.r})
}

func (db *sqliteDB) write(ctx context.Context, fn func(querier) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqlQuerier{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (db *sqliteDB) ping(ctx context.Context) error {
	return db.r.PingContext(ctx)
}

func (db *sqliteDB) close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// sqlQuerier is a database/sql database or transaction as a querier.
type sqlQuerier struct {
	db interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	}
}

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

// insertMany runs one prepared INSERT per row; inside a transaction SQLite
// makes that about as fast as anything else.
func (q sqlQuerier) insertMany(ctx context.Context, table string, columns []string, values [][]any) error {
	ph := strings.Repeat(", ?", len(columns))[2:]
	stmt, err := q.db.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(columns, ", ")+") VALUES ("+ph+")")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, v := range values {
		if _, err := stmt.ExecContext(ctx, v...); err != nil {
			return err
		}
	}
	return nil
}

// sqlRows is *sql.Rows as rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
