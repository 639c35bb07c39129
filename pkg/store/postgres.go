package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLock is the advisory lock key ("bailiff" in ASCII) that
// serialises migrations of replicas starting together.
const migrationLock int64 = 0x0062_6169_6c69_6666

// OpenPostgres connects to the PostgreSQL database at url, brings its schema
// up to date and returns a store on a pool of connections. Several processes
// may share the database: appends of a cluster's events queue on a row lock
// of its chain head, and migrations on an advisory lock.
//
// The URL is pgxpool's (https://pkg.go.dev/github.com/jackc/pgx/v5/pgxpool#ParseConfig),
// so pool_max_conns sets the most connections the store opens (default: the
// larger of 4 and GOMAXPROCS). Opening fails when the server does not answer;
// connect_timeout or ctx bound the wait.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	s, err := openPostgres(ctx, url)
	if err != nil {
		// The URL is left out: it may carry a password.
		return nil, fmt.Errorf("open PostgreSQL store: %w", err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, rawURL string) (*sqlStore, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, errors.New("the URL does not parse: check its form and escaping") // pgx's error may repeat the URL
	}
	if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = int32(max(4, runtime.GOMAXPROCS(0)))
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if err := migratePostgres(ctx, conn); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &sqlStore{db: &pgDB{pool: pool}, d: pgDialect}, nil
}

// migratePostgres applies missing migrations while holding migrationLock.
func migratePostgres(ctx context.Context, conn *pgx.Conn) error {
	ms, err := loadMigrations("postgres")
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	// Closing the connection releases the lock too, should this fail.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationLock)
	}()
	write := func(ctx context.Context, fn func(querier) error) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return fn(pgQuerier{tx}) })
	}
	return migrate(ctx, pgDialect, write, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL
	)`, ms)
}

// pgDialect locks rows with FOR UPDATE and passes lists as text[].
var pgDialect = dialect{
	forUpdate: " FOR UPDATE",
	inList: func(column string, values []string) (string, any) {
		return column + " = ANY(?)", values
	},
	timeArg:      func(t time.Time) any { return t },
	timeDest:     func(t *time.Time) any { return t },
	nullTimeDest: func(t **time.Time) any { return t },
}

// pgDB runs statements on pgxpool's connections, which it replaces when a
// server restart breaks them.
type pgDB struct{ pool *pgxpool.Pool }

func (db *pgDB) read(ctx context.Context, fn func(querier) error) error {
	return fn(pgQuerier{db.pool})
}

func (db *pgDB) write(ctx context.Context, fn func(querier) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return fn(pgQuerier{tx}) })
}

func (db *pgDB) ping(ctx context.Context) error { return db.pool.Ping(ctx) }

func (db *pgDB) close() error {
	db.pool.Close()
	return nil
}

// pgQuerier is a pgx connection or transaction as a querier.
type pgQuerier struct {
	db interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	}
}

func (q pgQuerier) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if len(args) > 0 {
		sql = numberPlaceholders(sql)
	}
	tag, err := q.db.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgQuerier) query(ctx context.Context, sql string, args ...any) (rows, error) {
	if len(args) > 0 {
		sql = numberPlaceholders(sql)
	}
	return q.db.Query(ctx, sql, args...)
}

// insertMany copies rows in with COPY, the fastest way into PostgreSQL.
func (q pgQuerier) insertMany(ctx context.Context, table string, columns []string, values [][]any) error {
	_, err := q.db.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(values))
	return err
}

// numberPlaceholders turns the ? placeholders of the store's statements
// into PostgreSQL's $1, $2, …. The statements have no ? of their own.
func numberPlaceholders(sql string) string {
	var b strings.Builder
	n := 0
	for _, r := range sql {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
