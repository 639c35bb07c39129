package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/store/storetest"
	"github.com/bailiff/bailiff/test/pgtest"
)

// pg is one PostgreSQL server for the package's tests, with a database for each.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func openPostgres(t testing.TB, url string) store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, pg.Database(t))
	})
}

// pgMigrations reads schema_migrations of a database.
func pgMigrations(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var v int
		var name string
		var applied time.Time
		if err := rows.Scan(&v, &name, &applied); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s %s", v, name, applied.UTC().Format(time.RFC3339Nano)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPostgresReplicasStartingTogetherMigrateOnce(t *testing.T) {
	url := pg.Database(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			s, err := store.OpenPostgres(context.Background(), url)
			if err == nil {
				_, err = s.AppendEvents(context.Background(), "east", batch("east", fmt.Sprintf("r%d", i), 5), storetest.Hash)
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	applied := pgMigrations(t, url)
	if len(applied) == 0 {
		t.Fatal("no migrations recorded")
	}

	s := openPostgres(t, url)
	if head, err := s.ChainHead(context.Background(), "east"); err != nil || head.Seq != replicas*5 {
		t.Errorf("chain head after the replicas: seq %d, %v", head.Seq, err)
	}
	if got := pgMigrations(t, url); strings.Join(got, "\n") != strings.Join(applied, "\n") {
		t.Errorf("reopening changed schema_migrations:\n got %v\nwant %v", got, applied)
	}
}

func TestOpenPostgresURL(t *testing.T) {
	url := pg.Database(t)
	for _, dsn := range []string{url, strings.Replace(url, "postgres://", "postgresql://", 1), url + "&pool_max_conns=2"} {
		s, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open(%s): %v", dsn, err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		s.Close()
	}
	if _, err := store.Open(context.Background(), url+"&pool_max_conns=none"); err == nil {
		t.Error("Open accepted pool_max_conns=none")
	}
}

func TestPostgresUnreachable(t *testing.T) {
	t.Run("Open fails when nobody listens", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = store.Open(context.Background(), "postgres://bailiff:secret@"+addr+"/bailiff?sslmode=disable")
		if err == nil {
			t.Fatal("Open succeeded")
		}
		if !strings.Contains(err.Error(), "open PostgreSQL store") || strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q: want context and no password", err)
		}
	})

	t.Run("Open gives up when its context ends", func(t *testing.T) {
		// A server that accepts connections and never answers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err = store.Open(ctx, "postgres://bailiff@"+l.Addr().String()+"/bailiff?sslmode=disable")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open against a silent server: %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("a store whose server stops returns errors, then recovers", func(t *testing.T) {
		srv := pgtest.StartServer(t)
		s := openPostgres(t, srv.CreateDatabase(t))
		ctx := context.Background()
		appendEvents(t, s, "east", "a")
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name, context string
			call          func() error
		}{
			{"AppendEvents", "append events for cluster east", func() error {
				_, err := s.AppendEvents(ctx, "east", batch("east", "b", 3), storetest.Hash)
				return err
			}},
			{"Events", "query events", func() error { _, err := s.Events(ctx, store.EventQuery{}); return err }},
			{"ChainHead", "chain head of cluster east", func() error { _, err := s.ChainHead(ctx, "east"); return err }},
			{"SyncFindings", "sync findings", func() error {
				_, err := s.SyncFindings(ctx, store.ObjectResult{Object: store.ObjectRef{Cluster: "east", UID: "u"}, EvaluatedAt: time.Now()})
				return err
			}},
			{"Findings", "query findings", func() error { _, err := s.Findings(ctx, store.FindingQuery{}); return err }},
			{"PutScan", "put scan", func() error { return s.PutScan(ctx, store.ScanRecord{Digest: "sha256:a"}) }},
			{"Scan", "scan of", func() error { _, err := s.Scan(ctx, "sha256:a"); return err }},
			{"CredentialByTokenHash", "look up credential", func() error { _, err := s.CredentialByTokenHash(ctx, "h"); return err }},
			{"Ping", "ping store", func() error { return s.Ping(ctx) }},
		} {
			err := tc.call()
			if err == nil || !strings.HasPrefix(err.Error(), tc.context) || errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s with the server down: %v, want an error starting %q", tc.name, err, tc.context)
			}
		}

		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		if res := appendEvents(t, s, "east", "a", "b"); res != (store.AppendResult{Stored: 1, Duplicates: 1, LastSeq: 2}) {
			t.Errorf("append after the restart: %+v", res)
		}
	})
}
