package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/store/storetest"
)

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "bailiff.db"))
	})
}

// migrations reads schema_migrations straight from the file.
func migrations(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v, applied int64
		var name string
		if err := rows.Scan(&v, &name, &applied); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s %d", v, name, applied))
	}
	return out
}

func TestSQLiteReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bailiff.db")
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, "east", "a", "b")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	applied := migrations(t, path)
	if len(applied) == 0 {
		t.Fatal("no migrations recorded")
	}

	s = openSQLite(t, path)
	if res := appendEvents(t, s, "east", "b", "c"); res != (store.AppendResult{Stored: 1, Duplicates: 1, LastSeq: 3}) {
		t.Errorf("append after reopening: %+v", res)
	}
	if got := migrations(t, path); !reflect.DeepEqual(got, applied) {
		t.Errorf("reopening changed schema_migrations:\n got %v\nwant %v", got, applied)
	}
}

func TestSQLiteRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bailiff.db")
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := store.OpenSQLite(context.Background(), path); err == nil || !strings.Contains(err.Error(), "upgrade Bailiff") {
		t.Errorf("opening a newer schema: %v", err)
	}
}

func TestSQLiteSharedByTwoStores(t *testing.T) {
	// Two stores on one file stand in for two processes: their writes
	// wait for each other instead of failing with SQLITE_BUSY.
	path := filepath.Join(t.TempDir(), "bailiff.db")
	stores := []store.Store{openSQLite(t, path), openSQLite(t, path)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for b := range 10 {
				evs := batch("east", fmt.Sprintf("w%d-b%d", w, b), 20)
				if _, err := stores[w%2].AppendEvents(context.Background(), "east", evs, storetest.Hash); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	head, err := stores[0].ChainHead(context.Background(), "east")
	if err != nil || head.Seq != 8*10*20 {
		t.Errorf("chain head: seq %d, %v; want %d", head.Seq, err, 8*10*20)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dsn string
		file      string // the file the store must be in, or "" for an error
		err       string
	}{
		{"an absolute SQLite path", "sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db"), ""},
		{"a SQLite path relative to the working directory", "sqlite://rel.db", filepath.Join(dir, "rel.db"), ""},
		{"a relative path with a directory, not a host", "sqlite://sub/rel.db", filepath.Join(dir, "sub", "rel.db"), ""},
		{"sqlite:// without a file", "sqlite://", "", "names no file"},
		{"an unknown scheme", "mysql://user:secret@db/bailiff", "", `unknown store DSN scheme "mysql"`},
		{"no scheme", "bailiff.db", "", "no scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.dsn)
			if tc.file == "" {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q, want one mentioning %q and no password", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			appendEvents(t, s, "east", "a")
			s.Close()
			if got := migrations(t, tc.file); len(got) == 0 {
				t.Errorf("no store in %s", tc.file)
			}
		})
	}
}

// batch is n events of a cluster with IDs prefix-0…
func batch(cluster, prefix string, n int) []store.Event {
	evs := make([]store.Event, n)
	for i := range evs {
		evs[i] = store.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Cluster: cluster, Source: "admission", Decision: "allowed"}
	}
	return evs
}

func appendEvents(t *testing.T, s store.Store, cluster string, ids ...string) store.AppendResult {
	t.Helper()
	var evs []store.Event
	for _, id := range ids {
		evs = append(evs, store.Event{ID: id, Cluster: cluster, Source: "admission", Decision: "allowed"})
	}
	res, err := s.AppendEvents(context.Background(), cluster, evs, storetest.Hash)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
