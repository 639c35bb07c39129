package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// auditResult is a Deployment's evaluation with violations of the given policies.
func auditResult(uid string, at time.Time, policies ...string) results.ObjectResult {
	r := results.ObjectResult{
		Object:      store.ObjectRef{UID: uid, APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web-" + uid},
		EvaluatedAt: at, PolicySetVersion: "v1", Violations: []store.Violation{},
	}
	for _, p := range policies {
		r.Violations = append(r.Violations, store.Violation{PolicyID: p, Severity: "high", Enforcement: "deny", Message: p + " is violated"})
	}
	return r
}

func (ts *testServer) postResults(t testing.TB, credential string, req results.Request) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return ts.call(t, http.MethodPost, results.Path, ts.tokens[credential], body)
}

func TestResultsOpenAndResolveFindingsWithAuditEventsInTheClustersChain(t *testing.T) {
	ts := newTestServer(t, Options{})
	at := time.Now().UTC().Add(-time.Hour)
	code, body := ts.postResults(t, "prod", results.Request{Cluster: "prod", Results: []results.ObjectResult{
		auditResult("a", at, "BLF-IMG-001", "BLF-RES-001"), auditResult("b", at),
	}})
	if code != http.StatusOK {
		t.Fatalf("got %d %s", code, body)
	}
	if got := decode[results.Response](t, body); got.Opened != 2 || got.Events != 1 || got.LastSeq != 1 {
		t.Fatalf("got %+v", got)
	}
	code, body = ts.postResults(t, "prod", results.Request{Cluster: "prod",
		Results:   []results.ObjectResult{auditResult("a", at.Add(time.Minute), "BLF-RES-001")},
		Deletions: []results.Deletion{{Object: auditResult("a", at).Object, DeletedAt: at.Add(2 * time.Minute)}},
	})
	if code != http.StatusOK {
		t.Fatalf("got %d %s", code, body)
	}
	if got := decode[results.Response](t, body); got.Resolved != 2 || got.Events != 2 {
		t.Fatalf("got %+v", got)
	}
	evs := stored(t, ts.store, "prod")
	var decisions []string
	for _, e := range evs {
		if e.Source != trail.SourceAudit || e.Cluster != "prod" || e.Name != "web-a" {
			t.Fatalf("unexpected event %+v", e)
		}
		decisions = append(decisions, e.Decision)
	}
	if strings.Join(decisions, ",") != "opened,resolved,resolved" {
		t.Fatalf("decisions %v", decisions)
	}
	if res, err := trail.Verify(context.Background(), ts.store, "prod", trail.Range{}); err != nil || !res.OK || res.Count != 3 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
}

func TestResultsAreRefusedUnlessValidAndOwn(t *testing.T) {
	at := time.Now().UTC()
	good := results.Request{Cluster: "prod", Results: []results.ObjectResult{auditResult("a", at, "BLF-IMG-001")}}
	goodBody, _ := json.Marshal(good)
	tests := []struct {
		name   string
		as     string
		body   []byte
		code   int
		reason string
	}{
		{"another cluster's results are forbidden", "prod", mustJSON(results.Request{Cluster: "staging", Results: good.Results}), 403, "may only write results of cluster prod"},
		{"an auditor may not write results", "auditor", goodBody, 403, "may not call POST"},
		{"an unknown field is refused", "prod", []byte(`{"cluster": "prod", "results": [], "verdict": 1}`), 400, `unknown field \"verdict\"`},
		{"two documents are refused", "prod", append(append([]byte{}, goodBody...), goodBody...), 400, "more than one JSON document"},
		{"an empty batch is refused", "prod", []byte(`{"cluster": "prod"}`), 400, "no results and no deletions"},
		{"a result from the future is refused", "prod", mustJSON(results.Request{Cluster: "prod", Results: []results.ObjectResult{auditResult("a", at.Add(time.Hour))}}), 400, "ahead of the server's clock"},
		{"a violation without message is refused", "prod", []byte(strings.Replace(string(goodBody), `"message":"BLF-IMG-001 is violated"`, `"message":""`, 1)), 400, "message is missing"},
		{"an oversized body is refused", "prod", bytes.Repeat([]byte(" "), 70<<10), 413, "larger than 65536 bytes"},
		{"too many items are refused", "prod", mustJSON(results.Request{Cluster: "prod", Results: []results.ObjectResult{
			auditResult("a", at), auditResult("b", at), auditResult("c", at)}}), 413, "at most 2 are accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{MaxBodyBytes: 64 << 10, MaxBatchEvents: 2})
			code, body := ts.call(t, http.MethodPost, results.Path, ts.tokens[tt.as], tt.body)
			if code != tt.code || !strings.Contains(string(body), tt.reason) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tt.code, tt.reason)
			}
			for _, cluster := range []string{"prod", "staging"} {
				if n := len(stored(t, ts.store, cluster)); n != 0 {
					t.Fatalf("a refused batch stored %d events for %s", n, cluster)
				}
			}
			page, err := ts.store.Findings(context.Background(), store.FindingQuery{})
			if err != nil || len(page.Findings) != 0 {
				t.Fatalf("a refused batch left findings: %v %v", page.Findings, err)
			}
		})
	}
}

func TestAClusterReadsOnlyItsOwnOpenFindings(t *testing.T) {
	ts := newTestServer(t, Options{})
	at := time.Now().UTC().Add(-time.Minute)
	ts.postResults(t, "prod", results.Request{Cluster: "prod", Results: []results.ObjectResult{auditResult("a", at, "BLF-IMG-001")}})
	ts.postResults(t, "staging", results.Request{Cluster: "staging", Results: []results.ObjectResult{auditResult("s", at, "BLF-IMG-001")}})
	code, body := ts.call(t, http.MethodGet, results.Path+"?cluster=prod", ts.tokens["prod"], nil)
	if code != http.StatusOK {
		t.Fatalf("got %d %s", code, body)
	}
	page := decode[FindingPage](t, body)
	if len(page.Findings) != 1 || page.Findings[0].Cluster != "prod" || page.Findings[0].UID != "a" {
		t.Fatalf("got %+v", page)
	}
	if code, body := ts.call(t, http.MethodGet, results.Path+"?cluster=staging", ts.tokens["prod"], nil); code != http.StatusForbidden {
		t.Fatalf("reading another cluster: got %d %s", code, body)
	}
	if code, body := ts.call(t, http.MethodGet, results.Path, ts.tokens["prod"], nil); code != http.StatusBadRequest || !strings.Contains(string(body), "cluster") {
		t.Fatalf("no cluster: got %d %s", code, body)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
