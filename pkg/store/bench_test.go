package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/store/storetest"
	"github.com/bailiff/bailiff/test/pgtest"
)

// BenchmarkAppendEvents appends batches of 500 admission events, each with a
// violation and a patch, and reports events/s.
func BenchmarkAppendEvents(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bailiff.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchmarkAppend(b, s)
	})
	b.Run("PostgreSQL", func(b *testing.B) {
		// A server of its own with fsync on, so the figure holds for a real one.
		srv := pgtest.StartServer(b, pgtest.Durable())
		s, err := store.OpenPostgres(context.Background(), srv.CreateDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchmarkAppend(b, s)
	})
}

func benchmarkAppend(b *testing.B, s store.Store) {
	const size = 500
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	batches := 0
	for b.Loop() {
		evs := make([]store.Event, size)
		for i := range evs {
			n := batches*size + i
			evs[i] = store.Event{
				ID: fmt.Sprintf("ev-%08d", n), Cluster: "east", Time: start.Add(time.Duration(n) * time.Millisecond),
				Source: "admission", User: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts"},
				Operation: "CREATE", APIVersion: "apps/v1", Kind: "Deployment", Namespace: fmt.Sprintf("team-%d", n%20),
				Name: fmt.Sprintf("web-%d", n), UID: fmt.Sprintf("uid-%d", n), Decision: "warned",
				Violations: []store.Violation{{PolicyID: "require-limits", Severity: "medium", Enforcement: "warn",
					Message: "container web has no memory limit", Field: "spec.template.spec.containers[0].resources"}},
				Patch:            json.RawMessage(`[{"op":"add","path":"/metadata/labels/team","value":"web"}]`),
				PolicySetVersion: "sha256:0123456789abcdef",
			}
		}
		res, err := s.AppendEvents(context.Background(), "east", evs, storetest.Hash)
		if err != nil {
			b.Fatal(err)
		}
		if res.Stored != size {
			b.Fatalf("stored %d of %d", res.Stored, size)
		}
		batches++
	}
	b.ReportMetric(float64(batches*size)/b.Elapsed().Seconds(), "events/s")
}
