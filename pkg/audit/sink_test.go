package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/server"
)

// testServer is a real bailiff server over SQLite, behind an httptest TLS server.
type testServer struct {
	*httptest.Server
	store store.Store
}

func startServer(t *testing.T, opts server.Options) *testServer {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "bailiff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Store = st
	ts := httptest.NewTLSServer(server.New(opts).Handler())
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, store: st}
}

// sink is a ServerSink with a new credential of the cluster's.
func (ts *testServer) sink(t *testing.T, cluster string) *ServerSink {
	t.Helper()
	token, err := server.CreateCredential(context.Background(), ts.store,
		server.CredentialRequest{Name: "auditor-" + cluster, Role: store.RoleCluster, Cluster: cluster}, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServerSink(ts.URL, token, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// podResult is a result of a pod of the prod cluster with violations of the given messages.
func podResult(name string, at time.Time, msgs ...string) results.ObjectResult {
	r := results.ObjectResult{Object: store.ObjectRef{UID: "uid-" + name, APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: name}, EvaluatedAt: at}
	for _, m := range msgs {
		r.Violations = append(r.Violations, store.Violation{PolicyID: "BLF-A", Severity: "high", Enforcement: "deny", Message: m})
	}
	return r
}

// openFindings are the open findings the store holds of a cluster.
func openFindings(t *testing.T, st store.Store, cluster string) []store.Finding {
	t.Helper()
	var all []store.Finding
	err := StoreSink{Store: st}.OpenFindings(context.Background(), cluster, func(fs []store.Finding) error {
		all = append(all, fs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func TestServerSinkReadsEveryPageOfTheClustersOpenFindings(t *testing.T) {
	ts := startServer(t, server.Options{})
	at := time.Now().Add(-time.Hour).UTC()
	prod := results.Request{Cluster: "prod"}
	for i := range 1203 {
		prod.Results = append(prod.Results, podResult(fmt.Sprintf("p%04d", i), at, "privileged"))
	}
	staging := results.Request{Cluster: "staging", Results: []results.ObjectResult{podResult("s", at, "privileged")}}
	passed := results.Request{Cluster: "prod", Results: []results.ObjectResult{podResult("p0000", at.Add(time.Minute)), podResult("p0001", at.Add(time.Minute))}}
	for _, req := range []results.Request{prod, staging, passed} {
		if _, err := results.Apply(context.Background(), ts.store, req); err != nil {
			t.Fatal(err)
		}
	}
	var pages []int
	seen := map[string]bool{}
	sink := ts.sink(t, "prod")
	err := sink.OpenFindings(context.Background(), "prod", func(fs []store.Finding) error {
		pages = append(pages, len(fs))
		for _, f := range fs {
			if seen[f.ID] || f.Cluster != "prod" || f.ResolvedAt != nil {
				t.Errorf("finding %+v: repeated, of another cluster or resolved", f)
			}
			seen[f.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(pages) != "[1000 201]" {
		t.Fatalf("pages of %v findings, want [1000 201]", pages)
	}

	stop := errors.New("enough")
	err = sink.OpenFindings(context.Background(), "prod", func([]store.Finding) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("an error of fn: got %v, want it returned", err)
	}
}

func TestServerSinkWriteRecordsFindingsAndTheirEvents(t *testing.T) {
	ts := startServer(t, server.Options{})
	sink := ts.sink(t, "prod")
	at := time.Now().Add(-time.Minute).UTC()
	resp, err := sink.Write(context.Background(), results.Request{Cluster: "prod", Results: []results.ObjectResult{
		podResult("web", at, "privileged", "no limits"), podResult("api", at, "privileged"),
	}})
	if err != nil || resp.Opened != 3 || resp.Events != 2 {
		t.Fatalf("first batch: %+v, %v; want 3 opened in 2 events", resp, err)
	}
	resp, err = sink.Write(context.Background(), results.Request{Cluster: "prod", Deletions: []results.Deletion{
		{Object: podResult("api", at, "").Object, DeletedAt: at.Add(time.Second)},
	}})
	if err != nil || resp.Resolved != 1 || resp.Events != 1 {
		t.Fatalf("deletion: %+v, %v; want 1 resolved in 1 event", resp, err)
	}
	if open := openFindings(t, ts.store, "prod"); len(open) != 2 || open[0].Name != "web" || open[1].Name != "web" {
		t.Errorf("open findings %+v, want web's two", open)
	}
	page, err := ts.store.Events(context.Background(), store.EventQuery{Cluster: "prod", Source: trail.SourceAudit})
	if err != nil || len(page.Events) != 3 {
		t.Fatalf("audit events: %d, %v; want 3", len(page.Events), err)
	}
}

func TestServerSinkRejectsWhatTheServerRefusesAndRetriesTheRest(t *testing.T) {
	ts := startServer(t, server.Options{MaxBodyBytes: 16 << 10, MaxBatchEvents: 10})
	at := time.Now().Add(-time.Minute).UTC()
	many := results.Request{Cluster: "prod"}
	for i := range 11 {
		many.Results = append(many.Results, podResult(fmt.Sprintf("p%d", i), at, "privileged"))
	}
	noUID := podResult("web", at, "privileged")
	noUID.Object.UID = ""
	prod, staging := ts.sink(t, "prod"), ts.sink(t, "staging") // one credential each: a new one replaces the old
	down := startServer(t, server.Options{})
	downSink := down.sink(t, "prod")
	down.Close()
	tests := []struct {
		name     string
		sink     *ServerSink
		req      results.Request
		rejected bool
		says     string
	}{
		{"an invalid batch (400) is rejected", prod,
			results.Request{Cluster: "prod", Results: []results.ObjectResult{noUID}}, true, "400"},
		{"a body larger than the server takes (413) is rejected", prod,
			results.Request{Cluster: "prod", Results: []results.ObjectResult{podResult("web", at, strings.Repeat("x", 20<<10))}}, true, "413"},
		{"more items than the server takes (413) are rejected", prod, many, true, "413"},
		{"another cluster's batch (403) is retried: the credential may be fixed", staging,
			results.Request{Cluster: "prod", Results: []results.ObjectResult{podResult("web", at, "privileged")}}, false, "403"},
		{"a server that cannot be reached is retried", downSink,
			results.Request{Cluster: "prod", Results: []results.ObjectResult{podResult("web", at, "privileged")}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.sink.Write(context.Background(), tt.req)
			var rejected *RejectedError
			if err == nil || errors.As(err, &rejected) != tt.rejected || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("got %v; want an error saying %q, a rejection: %v", err, tt.says, tt.rejected)
			}
			if open := openFindings(t, ts.store, "prod"); len(open) != 0 {
				t.Fatalf("a refused batch stored %d findings", len(open))
			}
		})
	}
}

// The auditor and the server keep their default limits: the auditor must
// split what the server would refuse as one body.
func TestThePipeSendsResultsLargerThanOneRequestToTheServerInSeveralBatches(t *testing.T) {
	ts := startServer(t, server.Options{})
	a := testAuditor(ts.sink(t, "prod"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sink.run(ctx)
	for i := range 450 { // about 20 KiB each, 9 MiB in all
		evaluated(a, fmt.Sprintf("pod-%03d", i), fmt.Sprintf("uid-%03d", i), longMessages(2, 10<<10)...)
	}
	evaluated(a, "huge", "uid-huge", longMessages(9, 1<<20)...)
	if err := a.sink.flush(ctx); err != nil {
		t.Fatal(err)
	}
	open := openFindings(t, ts.store, "prod")
	objects := map[string]int{}
	for _, f := range open {
		objects[f.UID]++
	}
	if len(open) != 900 || len(objects) != 450 || objects["uid-huge"] != 0 {
		t.Fatalf("the server holds %d findings of %d objects (%d of the huge one); want 900 of 450, none of the huge one",
			len(open), len(objects), objects["uid-huge"])
	}
	ok := counterValue(t, a.metrics.sinkWrites.WithLabelValues("ok"))
	rejected := counterValue(t, a.metrics.sinkWrites.WithLabelValues("rejected"))
	tooLarge := counterValue(t, a.metrics.sinkWrites.WithLabelValues("too_large"))
	if ok < 2 || rejected != 0 || tooLarge != 1 {
		t.Errorf("sink writes: %v ok, %v rejected, %v too large; want several ok, none rejected, the huge object too large", ok, rejected, tooLarge)
	}
}
