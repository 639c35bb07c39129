package reports

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/compliance"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// The benchmark's cluster: 10,000 objects (Pods, Deployments, Roles and
// RoleBindings alike), every one with one to three open findings, and 100,000
// trail events (the auditor's "opened" events, the rest admission decisions, a
// fifth of them naming violations).
const (
	benchObjects = 10_000
	benchEvents  = 100_000
)

// benchStore opens the benchmark's SQLite store, building it on first use and
// keeping it in the temporary directory for later runs (building takes a while;
// the store is only read).
func benchStore(b testing.TB) store.Store {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("bailiff-report-bench-%d-%d.db", benchObjects, benchEvents))
	if _, err := os.Stat(path + ".done"); err != nil {
		os.Remove(path)
		start := time.Now()
		if err := buildBenchStore(ctx, path); err != nil {
			b.Fatal(err)
		}
		os.WriteFile(path+".done", nil, 0o644)
		b.Logf("built %s in %s", path, time.Since(start).Round(time.Millisecond))
	}
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func buildBenchStore(ctx context.Context, path string) error {
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	base := time.Now().Add(-30 * 24 * time.Hour).UTC().Truncate(time.Second)
	kinds := []struct{ apiVersion, kind string }{{"v1", "Pod"}, {"apps/v1", "Deployment"}, {"rbac.authorization.k8s.io/v1", "Role"}, {"rbac.authorization.k8s.io/v1", "RoleBinding"}}
	policiesOf := map[string][]string{
		"Pod":         {"BLF-PSS-007", "BLF-PSS-018", "BLF-IMG-003", "BLF-RES-001", "BLF-PSS-014"},
		"Deployment":  {"BLF-PSS-013", "BLF-PSS-017", "BLF-IMG-001", "BLF-RES-002", "BLF-RBAC-008"},
		"Role":        {"BLF-RBAC-001", "BLF-RBAC-003", "BLF-RBAC-005"},
		"RoleBinding": {"BLF-RBAC-002", "BLF-RBAC-007"},
	}
	auditEvents := 0
	for batch := 0; batch < benchObjects/500; batch++ {
		req := results.Request{Cluster: "prod-eu"}
		for i := batch * 500; i < (batch+1)*500; i++ {
			k := kinds[i%len(kinds)]
			ps := policiesOf[k.kind]
			var vs []store.Violation
			for j := 0; j <= i%3; j++ {
				p := ps[(i+j)%len(ps)]
				vs = append(vs, store.Violation{PolicyID: p, Severity: "high", Enforcement: "deny", Message: fmt.Sprintf("%s: container app-%d breaks the rule", p, j), Field: fmt.Sprintf("spec.containers[%d]", j)})
			}
			req.Results = append(req.Results, results.ObjectResult{
				Object:      store.ObjectRef{UID: fmt.Sprintf("uid-%05d", i), APIVersion: k.apiVersion, Kind: k.kind, Namespace: fmt.Sprintf("team-%02d", i%40), Name: fmt.Sprintf("%s-%05d", lower(k.kind), i)},
				EvaluatedAt: base.Add(time.Duration(i) * time.Second),
				Violations:  vs,
			})
		}
		resp, err := results.Apply(ctx, st, req)
		if err != nil {
			return err
		}
		auditEvents += resp.Events
	}
	admissions := benchEvents - auditEvents
	for start := 0; start < admissions; start += 500 {
		var evs []store.Event
		for i := start; i < min(start+500, admissions); i++ {
			e := store.Event{ID: fmt.Sprintf("adm-%06d", i), Cluster: "prod-eu", Time: base.Add(time.Duration(benchObjects+i) * time.Second),
				Source: trail.SourceAdmission, User: "ci", Operation: "UPDATE", APIVersion: "apps/v1", Kind: "Deployment",
				Namespace: fmt.Sprintf("team-%02d", i%40), Name: fmt.Sprintf("app-%d", i%3000), UID: fmt.Sprintf("uid-adm-%d", i%3000), Decision: "allowed"}
			switch i % 10 {
			case 0:
				e.Decision = "denied"
				e.Violations = []store.Violation{{PolicyID: "BLF-PSS-007", Severity: "critical", Enforcement: "deny", Message: "privileged"}}
			case 1:
				e.Decision = "warned"
				e.Violations = []store.Violation{{PolicyID: "BLF-RBAC-008", Severity: "medium", Enforcement: "warn", Message: "default service account"}}
			}
			evs = append(evs, e)
		}
		if _, err := st.AppendEvents(ctx, "prod-eu", evs, trail.Hash); err != nil {
			return err
		}
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func benchGenerator(b testing.TB) *Generator {
	cat, err := compliance.Load()
	if err != nil {
		b.Fatal(err)
	}
	g := &Generator{Source: &StoreSource{Store: benchStore(b)}, Catalogue: cat, Version: "bench"}
	for _, fw := range cat.Frameworks() {
		for _, c := range fw.Controls {
			for _, p := range c.Policies {
				g.Policies = append(g.Policies, PolicyInfo{ID: p, Title: "Title of " + p, Severity: "high", Enforcement: "deny"})
			}
		}
	}
	return g
}

// benchReport generates, signs and renders the whole report of the benchmark's cluster.
func benchReport(b *testing.B, format string, opts RenderOptions) {
	g := benchGenerator(b)
	key := testKey()
	b.ResetTimer()
	for b.Loop() {
		r, err := g.Generate(context.Background(), Request{Cluster: "prod-eu", Framework: compliance.All})
		if err != nil {
			b.Fatal(err)
		}
		if r.Clusters[0].Trail.Events != benchEvents || r.Clusters[0].OpenFindings < benchObjects {
			b.Fatalf("the report covers %d events and %d findings", r.Clusters[0].Trail.Events, r.Clusters[0].OpenFindings)
		}
		if err := Sign(r, key); err != nil {
			b.Fatal(err)
		}
		if err := Render(io.Discard, r, format, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportJSON: target ≤ 5 s per report.
func BenchmarkReportJSON(b *testing.B) { benchReport(b, FormatJSON, RenderOptions{}) }

// BenchmarkReportPDF: target ≤ 15 s per report, with the default cap on resources
// listed per control.
func BenchmarkReportPDF(b *testing.B) {
	benchReport(b, FormatPDF, RenderOptions{MaxResources: DefaultMaxResources})
}

// BenchmarkReportPDFAll lists every failing resource under every control.
func BenchmarkReportPDFAll(b *testing.B) { benchReport(b, FormatPDF, RenderOptions{}) }

// BenchmarkReportParts times the store reads of a report: the open findings, and
// the one pass over the trail (verification and summary).
func BenchmarkReportParts(b *testing.B) {
	g := benchGenerator(b)
	ctx := context.Background()
	src := g.Source
	for _, part := range []struct {
		name string
		run  func() error
	}{
		{"OpenFindings", func() error { _, err := src.OpenFindings(ctx, "prod-eu", Period{To: time.Now()}); return err }},
		{"Trail", func() error { _, err := src.Trail(ctx, "prod-eu", Period{To: time.Now()}); return err }},
	} {
		b.Run(part.name, func(b *testing.B) {
			for b.Loop() {
				if err := part.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchReportSizes logs the sizes of the benchmark report's renderings; it
// runs only with BAILIFF_REPORT_SIZES=1 (the store takes a while to build).
func TestBenchReportSizes(t *testing.T) {
	if os.Getenv("BAILIFF_REPORT_SIZES") == "" {
		t.Skip("set BAILIFF_REPORT_SIZES=1 to measure the benchmark report's renderings")
	}
	g := benchGenerator(t)
	r, err := g.Generate(context.Background(), Request{Cluster: "prod-eu", Framework: compliance.All})
	if err != nil {
		t.Fatal(err)
	}
	Sign(r, testKey())
	for _, f := range Formats {
		var w countingWriter
		start := time.Now()
		if err := Render(&w, r, f, RenderOptions{MaxResources: DefaultMaxResources}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes in %s", f, w.n, time.Since(start).Round(time.Millisecond))
	}
	var w countingWriter
	WritePDF(&w, r, RenderOptions{})
	t.Logf("pdf, every resource: %d bytes", w.n)
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
