package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/bailiff/bailiff/pkg/trail"
)

// BenchmarkIngest posts 500-event batches over HTTPS into SQLite, as a
// cluster's emitter does, and reports events stored per second.
func BenchmarkIngest(b *testing.B) {
	ts := newTestServer(b, Options{})
	const batch = 500
	bodies := make([][]byte, 0, b.N)
	for i := range b.N {
		evs := events("prod", fmt.Sprintf("b%d", i), batch)
		body, err := json.Marshal(trail.IngestRequest{Cluster: "prod", Events: evs})
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	b.ResetTimer()
	for i := range b.N {
		code, resp := ts.call(b, http.MethodPost, trail.EventsPath, ts.tokens["prod"], bodies[i])
		if code != http.StatusOK {
			b.Fatalf("%d %s", code, resp)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(bodies[0])), "bytes/batch")
}
