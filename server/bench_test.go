package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/reports"
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

// BenchmarkUIPages answers the auditors' pages over a year of daily reports of 50
// clusters (18,250 kept reports), and reports each page's p95 latency, TLS and the
// HTTP client included. The store is built once per run (about half a minute).
func BenchmarkUIPages(b *testing.B) {
	keeper := testKeeper(b)
	ts := newTestServer(b, Options{Reports: keeper})
	ctx := context.Background()
	const clusters, days = 50, 365
	// One real report, signed, to open; its summary stands for the history's.
	seedUI(b, ts)
	real, _, err := keeper.Create(ctx, ts.store, reports.Request{Cluster: "prod", Framework: compliance.All})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().AddDate(-1, 0, 0)
	for c := range clusters {
		name := fmt.Sprintf("cluster-%02d", c)
		evs := events(name, name, 20)
		if code, body := ts.ingest(b, "admin", trail.IngestRequest{Cluster: name, Events: evs}); code != http.StatusOK {
			b.Fatalf("%d %s", code, body)
		}
		for d := range days {
			score := float64(60 + (c+d)%41)
			summary := fmt.Sprintf(`[{"framework":"cis","score":%.1f},{"framework":"nsa","score":%.1f},{"framework":"pss","score":%.1f},{"framework":"gdpr","score":100}]`, score, score-5, score)
			rec := store.ReportRecord{
				ID: fmt.Sprintf("rpt-%s-%03d", name, d), Cluster: name, Scope: "cluster", Frameworks: []string{"cis", "nsa", "pss", "gdpr"},
				GeneratedAt: start.AddDate(0, 0, d), PeriodTo: start.AddDate(0, 0, d), TrailOK: true,
				Summary: []byte(summary), Body: []byte(`{"placeholder":true}`),
			}
			if err := ts.store.PutReport(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	}
	client := newBrowser(b, ts)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/ui/login", strings.NewReader("token="+ts.tokens["auditor"]))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := client.client.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, page := range []struct{ name, path string }{
		{"fleet", "/ui/"},
		{"cluster", "/ui/clusters/cluster-07"},
		{"report", "/ui/reports/" + real.ID},
		{"policy", "/ui/clusters/prod/policies/BLF-IMG-001"},
		{"object", "/ui/clusters/prod/objects/uid-web"},
	} {
		b.Run(page.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				resp, err := client.client.Get(ts.URL + page.path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", page.path, resp.StatusCode)
				}
				took = append(took, time.Since(t0))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}
