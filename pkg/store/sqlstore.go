package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// sqlStore implements Store once for both databases. What SQLite and
// PostgreSQL do differently (connections, transactions, bulk inserts, row
// locks, time columns) comes from a database and a dialect, so both stores
// run the same statements and the same decisions.
type sqlStore struct {
	db database
	d  dialect
}

var _ Store = (*sqlStore)(nil)

// database runs statements: reads on any connection, writes in a
// transaction that commits when fn returns nil and rolls back otherwise.
type database interface {
	read(ctx context.Context, fn func(q querier) error) error
	write(ctx context.Context, fn func(q querier) error) error
	ping(ctx context.Context) error
	close() error
}

// querier is a connection or a transaction. Statements use ? placeholders;
// the PostgreSQL querier numbers them.
type querier interface {
	exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	query(ctx context.Context, sql string, args ...any) (rows, error)
	// insertMany inserts rows of values into columns of table.
	insertMany(ctx context.Context, table string, columns []string, values [][]any) error
}

// rows is what both database/sql and pgx return from a query.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// dialect is how the SQL of the two databases differs.
type dialect struct {
	// forUpdate ends a SELECT whose rows stay locked until commit. SQLite
	// needs none: its write transactions (BEGIN IMMEDIATE) exclude each other.
	forUpdate string
	// inList returns the condition "column is one of values" and its argument.
	inList func(column string, values []string) (cond string, arg any)
	// timeArg turns a time into a statement argument; timeDest and
	// nullTimeDest wrap a destination for Scan.
	timeArg      func(time.Time) any
	timeDest     func(*time.Time) any
	nullTimeDest func(**time.Time) any
}

func (d dialect) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.timeArg(*t)
}

// errNoRows is queryOne's answer when the query returns nothing; methods
// turn it into ErrNotFound or a default.
var errNoRows = errors.New("no rows")

// queryOne scans the first row of a query into dest.
func queryOne(ctx context.Context, q querier, dest []any, sql string, args ...any) error {
	rs, err := q.query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return err
		}
		return errNoRows
	}
	if err := rs.Scan(dest...); err != nil {
		return err
	}
	rs.Close()
	return rs.Err()
}

// Page sizes of Events and Findings.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// pageLimit is the page size a query's Limit asks for.
func pageLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("limit %d is negative", limit)
	case limit == 0:
		return defaultLimit, nil
	case limit > maxLimit:
		return maxLimit, nil
	}
	return limit, nil
}

// normTime is how every time enters the store: in UTC, truncated to the
// microseconds both databases keep, so a time read back equals the time
// written and an event hashes the same before and after storage.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// A cursor is the key of the last row of a page, as base64url JSON. Pages
// continue strictly after that key, so rows appended meanwhile neither
// repeat nor shift a page.
func encodeCursor(key any) string {
	b, err := json.Marshal(key)
	if err != nil {
		panic(fmt.Sprintf("encode cursor: %v", err)) // keys are plain structs
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, key any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, key)
	}
	if err != nil {
		return fmt.Errorf("invalid cursor %q: pass Next of a previous page", s)
	}
	return nil
}

// where collects the conditions and arguments of a query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	s := " WHERE " + w.conds[0]
	for _, c := range w.conds[1:] {
		s += " AND " + c
	}
	return s
}

// nullBytes is b as an argument: NULL when empty, so that nil and empty
// read back alike in both databases.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Ping checks that the database answers.
func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.ping(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// Close releases the database.
func (s *sqlStore) Close() error {
	return s.db.close()
}
