package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bailiff/bailiff/pkg/store"
)

// backend is a store with a way to change its database behind its back.
type backend struct {
	name string
	open func(t *testing.T) (s store.Store, exec func(t *testing.T, statement string))
}

func backends() []backend {
	return []backend{
		{"SQLite", func(t *testing.T) (store.Store, func(*testing.T, string)) {
			path := filepath.Join(t.TempDir(), "bailiff.db")
			return openSQLite(t, path), func(t *testing.T, statement string) {
				t.Helper()
				db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(statement); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"PostgreSQL", func(t *testing.T) (store.Store, func(*testing.T, string)) {
			url := pg.Database(t)
			return openPostgres(t, url), func(t *testing.T, statement string) {
				t.Helper()
				ctx := context.Background()
				conn, err := pgx.Connect(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if _, err := conn.Exec(ctx, statement); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
}

// Deleting the last events of a chain must not hide where the chain ended:
// verification compares the chain with the recorded head, and lists of
// clusters still name the cluster, for verification to find it broken.
func TestTheRecordedHeadOutlivesDeletedEvents(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := b.open(t)
			appendEvents(t, s, "east", "a", "b", "c", "d", "e")
			last, err := s.ChainHead(ctx, "east")
			if err != nil {
				t.Fatal(err)
			}
			exec(t, "DELETE FROM events WHERE cluster = 'east' AND seq >= 4")

			if seq, hash, err := s.RecordedHead(ctx, "east"); err != nil || seq != 5 || hash != last.Hash {
				t.Errorf("RecordedHead = %d, %s, %v; want 5, %s", seq, hash, err, last.Hash)
			}
			cs, err := s.Clusters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 1 || cs[0].Head == nil || cs[0].Head.Seq != 5 || cs[0].Head.Hash != last.Hash || !cs[0].Head.Time.IsZero() {
				t.Fatalf("Clusters = %+v; want east with its recorded head at 5 and no time", cs)
			}

			exec(t, "DELETE FROM events WHERE cluster = 'east'")
			if cs, err := s.Clusters(ctx); err != nil || len(cs) != 1 || cs[0].Head == nil || cs[0].Head.Seq != 5 {
				t.Errorf("Clusters with every event deleted = %+v, %v; want east at 5", cs, err)
			}
		})
	}
}
