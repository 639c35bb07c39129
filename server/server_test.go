package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // for tampering with the store's file behind its back

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/test/logbuf"
)

// testServer is the server behind an httptest TLS server, over real SQLite,
// with one credential of each kind.
type testServer struct {
	*httptest.Server
	api    *Server
	store  store.Store
	dbPath string
	logs   *logbuf.Buffer
	tokens map[string]string // by credential name: admin, auditor, prod, staging
}

// sqliteStore opens a new SQLite store and returns it with its file's path.
func sqliteStore(t testing.TB) (store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bailiff.db")
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	st, path := sqliteStore(t)
	logs := &logbuf.Buffer{}
	opts.Store = st
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	api := New(opts)
	ts := &testServer{Server: httptest.NewTLSServer(api.Handler()), api: api, store: st, dbPath: path, logs: logs, tokens: map[string]string{}}
	t.Cleanup(ts.Close)
	for _, c := range []CredentialRequest{
		{Name: "admin", Role: store.RoleAdmin},
		{Name: "auditor", Role: store.RoleAuditor},
		{Name: "prod", Role: store.RoleCluster, Cluster: "prod"},
		{Name: "staging", Role: store.RoleCluster, Cluster: "staging"},
	} {
		token, err := CreateCredential(context.Background(), st, c, "test")
		if err != nil {
			t.Fatal(err)
		}
		ts.tokens[c.Name] = token
	}
	return ts
}

// call sends a request with a bearer token (none if empty) and returns the
// status and body.
func (ts *testServer) call(t testing.TB, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// ingest posts a batch with a credential's token.
func (ts *testServer) ingest(t testing.TB, credential string, req trail.IngestRequest) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return ts.call(t, http.MethodPost, trail.EventsPath, ts.tokens[credential], body)
}

// t0 is when the test events happen.
var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// events returns n valid admission events of a cluster, IDs prefix-0..n-1.
func events(cluster, prefix string, n int) []store.Event {
	var out []store.Event
	for i := range n {
		e := store.Event{
			ID: fmt.Sprintf("%s-%05d", prefix, i), Cluster: cluster, Time: t0.Add(time.Duration(i) * time.Second),
			Source: trail.SourceAdmission, User: "ci@example.com", Operation: "CREATE", APIVersion: "v1", Kind: "Pod",
			Namespace: "shop", Name: fmt.Sprintf("pod-%d", i), Decision: "allowed",
		}
		if i%4 == 1 {
			e.Decision = "denied"
			e.Violations = []store.Violation{{PolicyID: "BLF-PSS-007", Severity: "high", Message: "privileged container"}}
		}
		if i%4 == 2 {
			e.Kind, e.Namespace = "Deployment", "payments"
			e.Patch = json.RawMessage(`[{"op": "add", "path": "/metadata/labels/team", "value": "payments"}]`)
		}
		out = append(out, e)
	}
	return out
}

// stored returns all events of a cluster in the store, in chain order.
func stored(t testing.TB, st store.Store, cluster string) []store.Event {
	t.Helper()
	var out []store.Event
	q := store.EventQuery{Cluster: cluster, Limit: 1000}
	for {
		page, err := st.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Events...)
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

func decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// tamper changes the store's file directly, as an attacker with database access would.
func tamper(t *testing.T, path, statement string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(statement, args...); err != nil {
		t.Fatal(err)
	}
}

func TestIngestStoresABatchAndItsChainVerifies(t *testing.T) {
	ts := newTestServer(t, Options{})
	batch := events("prod", "a", 12)
	code, body := ts.ingest(t, "prod", trail.IngestRequest{Cluster: "prod", Events: batch})
	if code != http.StatusOK {
		t.Fatalf("got %d %s", code, body)
	}
	if got := decode[trail.IngestResponse](t, body); got != (trail.IngestResponse{Stored: 12, LastSeq: 12}) {
		t.Fatalf("got %+v", got)
	}
	got := stored(t, ts.store, "prod")
	if len(got) != 12 {
		t.Fatalf("stored %d events", len(got))
	}
	for i, e := range got {
		if e.ID != batch[i].ID || e.Seq != int64(i+1) || !e.Time.Equal(batch[i].Time) {
			t.Fatalf("event %d: got %s seq %d at %v", i, e.ID, e.Seq, e.Time)
		}
	}
	if res, err := trail.Verify(context.Background(), ts.store, "prod", trail.Range{}); err != nil || !res.OK || res.Count != 12 {
		t.Fatalf("verify: %v, %v", res, err)
	}
}

func TestIngestOfTheSameBatchTwiceStoresItOnce(t *testing.T) {
	ts := newTestServer(t, Options{})
	req := trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 5)}
	ts.ingest(t, "prod", req)
	code, body := ts.ingest(t, "prod", req)
	if code != http.StatusOK {
		t.Fatalf("got %d %s", code, body)
	}
	if got := decode[trail.IngestResponse](t, body); got != (trail.IngestResponse{Duplicates: 5, LastSeq: 5}) {
		t.Fatalf("got %+v", got)
	}
	// A batch overlapping the first stores only what is new.
	req.Events = append(req.Events[3:], events("prod", "b", 2)...)
	_, body = ts.ingest(t, "prod", req)
	if got := decode[trail.IngestResponse](t, body); got != (trail.IngestResponse{Stored: 2, Duplicates: 2, LastSeq: 7}) {
		t.Fatalf("got %+v", got)
	}
	if n := len(stored(t, ts.store, "prod")); n != 7 {
		t.Fatalf("stored %d events, want 7", n)
	}
}

func TestIngestRefusesBadBatchesAndStoresNothing(t *testing.T) {
	// Each bad event is last in a batch of good ones: nothing may be stored.
	withBad := func(change func(e *store.Event)) []byte {
		evs := events("prod", "a", 3)
		bad := events("prod", "bad", 1)[0]
		change(&bad)
		b, _ := json.Marshal(trail.IngestRequest{Cluster: "prod", Events: append(evs, bad)})
		return b
	}
	good, _ := json.Marshal(trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 3)})
	tests := []struct {
		name   string
		as     string
		body   []byte
		code   int
		reason string
	}{
		{"malformed JSON is refused with the decoder's reason", "prod", []byte(`{"cluster": "prod", "events": [{"id": }]}`),
			400, "malformed batch: invalid character '}'"},
		{"a truncated body", "prod", good[:len(good)-10], 400, "malformed batch: unexpected EOF"},
		{"an unknown top-level field", "prod", []byte(`{"cluster": "prod", "clusterName": "x", "events": []}`),
			400, `unknown field "clusterName"`},
		{"an unknown event field", "prod", []byte(`{"cluster": "prod", "events": [{"id": "x", "verdict": "allowed"}]}`),
			400, `unknown field "verdict"`},
		{"two documents in one body", "prod", append(append([]byte{}, good...), good...), 400, "more than one JSON document"},
		{"an empty batch", "prod", []byte(`{"cluster": "prod", "events": []}`), 400, "holds no events"},
		{"an oversized body", "prod", bytes.Repeat([]byte(" "), 70<<10), 413, "larger than 65536 bytes"},
		{"too many events", "prod", func() []byte {
			b, _ := json.Marshal(trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 11)})
			return b
		}(), 413, "holds 11 events, at most 10"},
		{"an event without an id", "prod", withBad(func(e *store.Event) { e.ID = "" }), 400, `events[3] (id ""): id is missing`},
		{"an event without a time", "prod", withBad(func(e *store.Event) { e.Time = time.Time{} }), 400, "events[3] (id \"bad-00000\"): time is missing"},
		{"an event without a source", "prod", withBad(func(e *store.Event) { e.Source = "" }), 400, "source is missing"},
		{"an event from an unknown source", "prod", withBad(func(e *store.Event) { e.Source = "gossip" }), 400, `source "gossip" is not one of`},
		{"an event without a decision", "prod", withBad(func(e *store.Event) { e.Decision = "" }), 400, "decision is missing"},
		{"an event without a cluster", "prod", withBad(func(e *store.Event) { e.Cluster = "" }), 400, "cluster is missing"},
		{"an event with a chain position", "prod", withBad(func(e *store.Event) { e.Seq = 9 }), 400, "assigned by the store"},
		{"an event with a hash", "prod", withBad(func(e *store.Event) { e.Hash = "sha256:00" }), 400, "assigned by the store"},
		{"a patch that is not a JSON Patch", "prod", withBad(func(e *store.Event) { e.Patch = json.RawMessage(`{"op":"add"}`) }), 400, "patch must be"},
		{"details with a duplicate member", "prod", withBad(func(e *store.Event) { e.Details = json.RawMessage(`{"a":1,"a":2}`) }), 400, "duplicate member"},
		{"two events with one id", "prod", withBad(func(e *store.Event) { e.ID = "a-00001" }), 400, `id "a-00001" is also the id of events[1]`},
		{"an admin writing an event of another cluster into a batch", "admin", withBad(func(e *store.Event) { e.Cluster = "staging" }),
			400, `cluster "staging" is not the batch's cluster "prod"`},
		{"a reserved cluster name", "admin", func() []byte {
			b, _ := json.Marshal(trail.IngestRequest{Cluster: "_server", Events: events("_server", "a", 1)})
			return b
		}(), 400, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{MaxBodyBytes: 64 << 10, MaxBatchEvents: 10})
			code, body := ts.call(t, http.MethodPost, trail.EventsPath, ts.tokens[tt.as], tt.body)
			if code != tt.code {
				t.Fatalf("got %d %s, want %d", code, body, tt.code)
			}
			if reason := decode[trail.ErrorResponse](t, body).Error; !strings.Contains(reason, tt.reason) {
				t.Fatalf("reason %q does not say %q", reason, tt.reason)
			}
			for _, cluster := range []string{"prod", "staging", "_server"} {
				n := len(stored(t, ts.store, cluster))
				if cluster == "_server" {
					n -= 4 // the credentials created by the test setup
				}
				if n != 0 {
					t.Fatalf("%d events stored for %s", n, cluster)
				}
			}
		})
	}
}

func TestIngestForbidsEventsOnlyTheServerWrites(t *testing.T) {
	// Each forged event is last in a batch of good ones: nothing may be stored.
	withSource := func(source string) []store.Event {
		bad := events("prod", "forged", 1)[0]
		bad.Source, bad.Decision = source, "resolved"
		return append(events("prod", "a", 3), bad)
	}
	tests := []struct {
		name, as, source, reason string
	}{
		{"a cluster may not make up audit findings", "prod", trail.SourceAudit,
			`events[3] (id "forged-00000") of source "audit": only the server writes audit events; the server derives them from audit results sent to POST /api/v1/results`},
		{"a cluster may not claim to be the server", "prod", trail.SourceServer, `of source "server": only the server writes server events`},
		{"nor may an admin send audit events", "admin", trail.SourceAudit, `of source "audit": only the server writes audit events`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			before := len(stored(t, ts.store, trail.ServerCluster))
			code, body := ts.ingest(t, tt.as, trail.IngestRequest{Cluster: "prod", Events: withSource(tt.source)})
			if reason := decode[trail.ErrorResponse](t, body).Error; code != http.StatusForbidden || !strings.Contains(reason, tt.reason) {
				t.Fatalf("got %d %q, want 403 saying %q", code, reason, tt.reason)
			}
			if n := len(stored(t, ts.store, "prod")); n != 0 {
				t.Fatalf("a refused batch stored %d events", n)
			}
			server := stored(t, ts.store, trail.ServerCluster)
			if len(server) != before+1 {
				t.Fatalf("the refusal is not recorded: %d server events, had %d", len(server), before)
			}
			var details map[string]string
			json.Unmarshal(server[len(server)-1].Details, &details)
			if rec := server[len(server)-1]; rec.Decision != "forbidden" || rec.User != tt.as ||
				details["requestedCluster"] != "prod" || !strings.Contains(details["reason"], tt.reason) {
				t.Fatalf("recorded %+v with details %v", rec, details)
			}
		})
	}
	t.Run("the sources clusters emit are accepted", func(t *testing.T) {
		ts := newTestServer(t, Options{})
		evs := events("prod", "a", 3)
		for i, source := range []string{trail.SourceAdmission, trail.SourceExemption, trail.SourceConfig} {
			evs[i].Source = source
		}
		if code, body := ts.ingest(t, "prod", trail.IngestRequest{Cluster: "prod", Events: evs}); code != http.StatusOK {
			t.Fatalf("got %d %s", code, body)
		}
	})
}

func TestRequestsWithoutAValidTokenAreUnauthorized(t *testing.T) {
	ts := newTestServer(t, Options{})
	body, _ := json.Marshal(trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 1)})
	for _, header := range []string{"", "Bearer ", "Bearer blf_wrong", "Basic " + ts.tokens["prod"], ts.tokens["prod"]} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+trail.EventsPath, bytes.NewReader(body))
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: got %d, want 401 with a challenge", header, resp.StatusCode)
		}
	}
	if n := len(stored(t, ts.store, "prod")); n != 0 {
		t.Fatalf("%d events stored", n)
	}
	if strings.Contains(ts.logs.String(), "blf_wrong") {
		t.Error("a token reached the log")
	}
}

func TestPermissionsByRole(t *testing.T) {
	tests := []struct {
		name, as, method, path string
		body                   any
		code                   int
		// recorded is the requested cluster a refusal records, "-" for none.
		recorded string
	}{
		{"a cluster writes its own events", "prod", "POST", trail.EventsPath,
			trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 2)}, 200, ""},
		{"a cluster may not write another cluster's batch", "prod", "POST", trail.EventsPath,
			trail.IngestRequest{Cluster: "staging", Events: events("staging", "a", 2)}, 403, "staging"},
		{"a cluster may not slip another cluster's event into its batch", "prod", "POST", trail.EventsPath,
			trail.IngestRequest{Cluster: "prod", Events: append(events("prod", "a", 2), events("staging", "b", 1)...)}, 403, "staging"},
		{"a cluster may not read", "prod", "GET", trail.EventsPath + "?cluster=prod", nil, 403, "-"},
		{"a cluster may not verify", "prod", "GET", "/api/v1/clusters/prod/verify", nil, 403, "-"},
		{"an auditor reads events", "auditor", "GET", trail.EventsPath, nil, 200, ""},
		{"an auditor reads findings", "auditor", "GET", "/api/v1/findings", nil, 200, ""},
		{"an auditor verifies", "auditor", "GET", "/api/v1/clusters/prod/verify", nil, 200, ""},
		{"an auditor lists clusters", "auditor", "GET", trail.ClustersPath, nil, 200, ""},
		{"a cluster may not list clusters", "prod", "GET", trail.ClustersPath, nil, 403, "-"},
		{"an auditor may not write", "auditor", "POST", trail.EventsPath,
			trail.IngestRequest{Cluster: "prod", Events: events("prod", "a", 1)}, 403, "-"},
		{"an auditor may not create credentials", "auditor", "POST", "/api/v1/credentials",
			CredentialRequest{Name: "x", Role: store.RoleAdmin}, 403, "-"},
		{"an admin writes any cluster", "admin", "POST", trail.EventsPath,
			trail.IngestRequest{Cluster: "staging", Events: events("staging", "a", 1)}, 200, ""},
		{"an admin reads", "admin", "GET", trail.EventsPath, nil, 200, ""},
		{"an admin creates credentials", "admin", "POST", "/api/v1/credentials",
			CredentialRequest{Name: "dev", Role: store.RoleCluster, Cluster: "dev"}, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			var body []byte
			if tt.body != nil {
				body, _ = json.Marshal(tt.body)
			}
			before := len(stored(t, ts.store, trail.ServerCluster))
			code, resp := ts.call(t, tt.method, tt.path, ts.tokens[tt.as], body)
			if code != tt.code {
				t.Fatalf("got %d %s, want %d", code, resp, tt.code)
			}
			if code != http.StatusForbidden {
				return
			}
			if n := len(stored(t, ts.store, "staging")); n != 0 {
				t.Fatalf("a refused request stored %d events", n)
			}
			server := stored(t, ts.store, trail.ServerCluster)
			if len(server) != before+1 {
				t.Fatalf("the refusal is not recorded: %d server events, had %d", len(server), before)
			}
			rec := server[len(server)-1]
			var details map[string]string
			json.Unmarshal(rec.Details, &details)
			if rec.Decision != "forbidden" || rec.Source != trail.SourceServer || rec.User != tt.as ||
				details["path"] != strings.Split(tt.path, "?")[0] || details["reason"] == "" {
				t.Fatalf("recorded %+v with details %v", rec, details)
			}
			if tt.recorded != "-" && details["requestedCluster"] != tt.recorded {
				t.Fatalf("recorded requested cluster %q, want %q", details["requestedCluster"], tt.recorded)
			}
			if !strings.Contains(ts.logs.String(), "forbidden request") {
				t.Error("the refusal is not logged")
			}
			if res, err := trail.Verify(context.Background(), ts.store, trail.ServerCluster, trail.Range{}); err != nil || !res.OK {
				t.Fatalf("the server's chain: %v, %v", res, err)
			}
		})
	}
}

func TestCredentialsAreManagedByAdmins(t *testing.T) {
	ts := newTestServer(t, Options{})
	body, _ := json.Marshal(CredentialRequest{Name: "dev", Role: store.RoleCluster, Cluster: "dev"})
	code, resp := ts.call(t, "POST", "/api/v1/credentials", ts.tokens["admin"], body)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, resp)
	}
	created := decode[CredentialResponse](t, resp)
	if !strings.HasPrefix(created.Token, TokenPrefix) || created.Name != "dev" {
		t.Fatalf("got %+v", created)
	}
	ts.tokens["dev"] = created.Token
	if code, resp := ts.ingest(t, "dev", trail.IngestRequest{Cluster: "dev", Events: events("dev", "a", 1)}); code != 200 {
		t.Fatalf("the new token cannot write: %d %s", code, resp)
	}
	if code, _ := ts.call(t, "DELETE", "/api/v1/credentials/dev", ts.tokens["admin"], nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := ts.ingest(t, "dev", trail.IngestRequest{Cluster: "dev", Events: events("dev", "b", 1)}); code != 401 {
		t.Fatalf("a deleted token still works: %d", code)
	}
	if code, _ := ts.call(t, "DELETE", "/api/v1/credentials/dev", ts.tokens["admin"], nil); code != http.StatusNotFound {
		t.Fatalf("deleting twice: %d", code)
	}
	for _, bad := range []CredentialRequest{
		{Name: "x", Role: "root"},
		{Name: "x", Role: store.RoleCluster},
		{Name: "x", Role: store.RoleAuditor, Cluster: "prod"},
		{Role: store.RoleAuditor},
	} {
		body, _ := json.Marshal(bad)
		if code, resp := ts.call(t, "POST", "/api/v1/credentials", ts.tokens["admin"], body); code != 400 {
			t.Errorf("%+v: got %d %s, want 400", bad, code, resp)
		}
	}
	var decisions []string
	for _, e := range stored(t, ts.store, trail.ServerCluster) {
		decisions = append(decisions, e.User+":"+e.Decision)
	}
	want := "test:credential_created test:credential_created test:credential_created test:credential_created admin:credential_created admin:credential_deleted"
	if got := strings.Join(decisions, " "); got != want {
		t.Fatalf("server trail: %s\nwant %s", got, want)
	}
}

func TestTokensAreStoredOnlyAsHashes(t *testing.T) {
	ts := newTestServer(t, Options{})
	db, err := sql.Open("sqlite", ts.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT * FROM credentials")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		for _, v := range vals {
			for name, token := range ts.tokens {
				if strings.Contains(fmt.Sprint(v), token) || strings.Contains(fmt.Sprint(v), token[len(TokenPrefix):]) {
					t.Fatalf("the token of %s is stored in clear", name)
				}
			}
		}
	}
	if tok := NewToken(); len(tok) != len(TokenPrefix)+43 {
		t.Fatalf("token %q does not hold 32 bytes", tok)
	}
}
