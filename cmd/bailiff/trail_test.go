package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // for tampering with the store's file behind its back

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/server"
)

var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// trailStore creates an SQLite store holding n events of cluster prod, event
// i at t0 + i minutes, and returns its DSN and file.
func trailStore(t *testing.T, n int) (dsn, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "bailiff.db")
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var evs []store.Event
	for i := 1; i <= n; i++ {
		evs = append(evs, store.Event{ID: fmt.Sprintf("ev-%d", i), Cluster: "prod", Time: t0.Add(time.Duration(i) * time.Minute),
			Source: trail.SourceAdmission, Kind: "Pod", Namespace: "shop", Name: fmt.Sprintf("p%d", i), Decision: "allowed"})
	}
	if _, err := st.AppendEvents(context.Background(), "prod", evs, trail.Hash); err != nil {
		t.Fatal(err)
	}
	return "sqlite://" + filepath.ToSlash(path), path
}

func tamper(t *testing.T, path, statement string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(statement); err != nil {
		t.Fatal(err)
	}
}

func TestTrailVerifyAgainstTheStore(t *testing.T) {
	dsn, _ := trailStore(t, 30)
	altered, alteredPath := trailStore(t, 30)
	tamper(t, alteredPath, "UPDATE events SET decision = 'denied' WHERE seq = 7")
	gap, gapPath := trailStore(t, 30)
	tamper(t, gapPath, "DELETE FROM events WHERE seq = 12")
	cut, cutPath := trailStore(t, 30)
	tamper(t, cutPath, "DELETE FROM events WHERE seq >= 28")
	rangeEnd, rangeEndPath := trailStore(t, 30)
	tamper(t, rangeEndPath, "DELETE FROM events WHERE seq = 19")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"an intact trail exits 0 with a summary", []string{"--store", dsn}, 0, "cluster prod: intact, 30 events, seq 1..30, last hash sha256:", ""},
		{"a time range", []string{"--store", dsn, "--from", t0.Add(10 * time.Minute).Format(time.RFC3339), "--to", t0.Add(20 * time.Minute).Format(time.RFC3339)},
			0, "intact, 10 events, seq 10..19", ""},
		{"a seq range", []string{"--store", dsn, "--from-seq", "5", "--to-seq", "8"}, 0, "intact, 4 events, seq 5..8", ""},
		{"an altered event exits 1 naming it", []string{"--store", altered}, 1, "BROKEN at seq 7 (event ev-7): hash mismatch: stored sha256:", ""},
		{"a deleted event exits 1 naming the gap", []string{"--store", gap}, 1, "BROKEN at seq 13 (event ev-13): sequence gap: 11 followed by 13", ""},
		{"damage outside the range is not in it", []string{"--store", altered, "--from-seq", "8"}, 0, "intact, 23 events", ""},
		{"events deleted from the end exit 1 naming the first", []string{"--store", cut}, 1, "BROKEN at seq 28: event 28 is missing: the chain's recorded head is at seq 30; 27 events before it verified", ""},
		{"the last event of a seq range deleted", []string{"--store", rangeEnd, "--from-seq", "10", "--to-seq", "19"}, 1, "BROKEN at seq 19: event 19 is missing", ""},
		{"the last event of a time range deleted", []string{"--store", rangeEnd, "--from", t0.Add(10 * time.Minute).Format(time.RFC3339), "--to", t0.Add(20 * time.Minute).Format(time.RFC3339)},
			1, "BROKEN at seq 19: event 19 is missing", ""},
		{"a deletion after a seq range is not in it", []string{"--store", rangeEnd, "--from-seq", "10", "--to-seq", "18"}, 0, "intact, 9 events, seq 10..18", ""},
		{"a seq range needs a cluster", []string{"--store", dsn, "--cluster", "", "--from-seq", "3"}, 2, "", "--cluster"},
		{"a bad time is a usage error", []string{"--store", dsn, "--from", "last week"}, 2, "", "--from:"},
		{"a store that does not exist is not created", []string{"--store", "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "none.db"))}, 2, "", "no store at"},
		{"store and server exclude each other", []string{"--store", dsn, "--server", "https://x"}, 2, "", "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"trail", "verify", "--cluster", "prod"}, tt.args...)
			code, stdout, stderr := runCLI(t, "", args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
			if tt.code != 2 && strings.Count(stdout, "\n") != 1 {
				t.Fatalf("the summary is not one line: %q", stdout)
			}
		})
	}
}

func TestTrailVerifyOfEveryCluster(t *testing.T) {
	dsn, path := trailStore(t, 30)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for i := 1; i <= 5; i++ {
		evs = append(evs, store.Event{ID: fmt.Sprintf("st-%d", i), Cluster: "stage", Time: t0.Add(time.Duration(i) * time.Minute),
			Source: trail.SourceAdmission, Kind: "Pod", Namespace: "shop", Name: fmt.Sprintf("p%d", i), Decision: "allowed"})
	}
	if _, err := st.AppendEvents(context.Background(), "stage", evs, trail.Hash); err != nil {
		t.Fatal(err)
	}
	// A cluster with audited objects and no events has no trail to verify.
	if _, err := st.SyncFindings(context.Background(), store.ObjectResult{Object: store.ObjectRef{Cluster: "quiet", UID: "u1", Kind: "Pod", Name: "p"}, EvaluatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, stdout, stderr := runCLI(t, "", "trail", "verify", "--store", dsn)
	if code != 0 || !strings.Contains(stdout, "cluster prod: intact, 30 events") || !strings.Contains(stdout, "cluster stage: intact, 5 events") || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q; want a line for prod and for stage", code, stdout, stderr)
	}
	tamper(t, path, "UPDATE events SET decision = 'denied' WHERE cluster = 'stage' AND seq = 3")
	code, stdout, _ = runCLI(t, "", "trail", "verify", "--store", dsn)
	if code != 1 || !strings.Contains(stdout, "cluster prod: intact") || !strings.Contains(stdout, "BROKEN at seq 3 (event st-3)") {
		t.Fatalf("one broken cluster: exit %d, stdout %q", code, stdout)
	}

	empty := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "empty.db"))
	st, err = store.Open(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if code, stdout, _ := runCLI(t, "", "trail", "verify", "--store", empty); code != 0 || !strings.Contains(stdout, "no cluster has a trail yet") {
		t.Fatalf("an empty store: exit %d, stdout %q", code, stdout)
	}
}

func TestTrailVerifyThroughTheServer(t *testing.T) {
	dsn, path := trailStore(t, 25)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := httptest.NewTLSServer(server.New(server.Options{Store: st}).Handler())
	defer ts.Close()
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})))
	token := func(name, role, cluster string) string {
		tok, err := server.CreateCredential(context.Background(), st, server.CredentialRequest{Name: name, Role: role, Cluster: cluster}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, dir, name+".token", tok+"\n")
	}
	auditor, cluster := token("auditor", store.RoleAuditor, ""), token("prod", store.RoleCluster, "prod")

	verify := func(args ...string) (int, string, string) {
		return runCLI(t, "", append([]string{"trail", "verify", "--cluster", "prod", "--server", ts.URL, "--ca-file", ca}, args...)...)
	}
	if code, stdout, stderr := verify("--token-file", auditor); code != 0 || !strings.Contains(stdout, "intact, 25 events") {
		t.Fatalf("exit %d, %q, %q", code, stdout, stderr)
	}
	if code, _, stderr := verify("--token-file", cluster); code != 2 || !strings.Contains(stderr, "403") {
		t.Fatalf("a cluster's token: exit %d, %q", code, stderr)
	}
	if code, _, stderr := verify(); code != 2 || !strings.Contains(stderr, "--token-file") {
		t.Fatalf("no token: exit %d, %q", code, stderr)
	}
	if code, stdout, stderr := runCLI(t, "", "trail", "verify", "--server", ts.URL, "--ca-file", ca, "--token-file", auditor); code != 0 || !strings.Contains(stdout, "cluster prod: intact, 25 events") {
		t.Fatalf("every cluster through the server: exit %d, %q, %q", code, stdout, stderr)
	}
	tamper(t, path, "UPDATE events SET prev_hash = 'sha256:00' WHERE seq = 20")
	if code, stdout, _ := verify("--token-file", auditor); code != 1 || !strings.Contains(stdout, "BROKEN at seq 20 (event ev-20): prev_hash does not match event 19's hash") {
		t.Fatalf("a broken trail: exit %d, %q", code, stdout)
	}
}

func TestServerTokenCreateAndDelete(t *testing.T) {
	dsn := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "bailiff.db"))
	code, stdout, stderr := runCLI(t, "", "server", "token", "create", "--name", "prod-eu", "--role", "cluster", "--cluster", "prod-eu", "--store", dsn)
	if code != 0 || !strings.Contains(stderr, "shown only once") {
		t.Fatalf("exit %d, %q, %q", code, stdout, stderr)
	}
	token := strings.TrimSpace(stdout)
	if !strings.HasPrefix(token, server.TokenPrefix) || strings.Contains(token, "\n") {
		t.Fatalf("standard output is not just the token: %q", stdout)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CredentialByTokenHash(context.Background(), server.HashToken(token))
	st.Close()
	if err != nil || c.Name != "prod-eu" || c.Role != store.RoleCluster || c.Cluster != "prod-eu" {
		t.Fatalf("stored %+v, %v", c, err)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "x", "--role", "root"}, `role "root" is not one of`},
		{[]string{"--name", "x", "--role", "cluster"}, "needs the cluster"},
		{[]string{"--role", "auditor"}, `"name" not set`},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"server", "token", "create", "--store", dsn}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}

	if code, _, stderr := runCLI(t, "", "server", "token", "delete", "--name", "prod-eu", "--store", dsn); code != 0 {
		t.Fatalf("delete: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "server", "token", "delete", "--name", "prod-eu", "--store", dsn); code != 2 || !strings.Contains(stderr, "no credential") {
		t.Fatalf("delete twice: exit %d, %q", code, stderr)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServerCommandServesUntilStopped(t *testing.T) {
	dir := t.TempDir()
	adminToken := server.NewToken()
	srv := startServerCommand(t, dir, "--admin-token-file", writeFile(t, dir, "admin.token", adminToken))
	addr, certDir := srv.addr, srv.certDir

	var client *http.Client
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not become ready:\n%s", srv.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		if client == nil {
			caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
			if err != nil {
				continue
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		}
		resp, err := client.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
	}

	body, _ := json.Marshal(trail.IngestRequest{Cluster: "prod", Events: []store.Event{
		{ID: "e1", Cluster: "prod", Time: t0, Source: trail.SourceConfig, Decision: "loaded"},
	}})
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+trail.EventsPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest with the admin token: %d", resp.StatusCode)
	}
	// Reports: the signing key was made beside the SQLite store, and a report of the
	// cluster can be asked for.
	if _, err := os.Stat(filepath.Join(dir, "report.key.pub")); err != nil {
		t.Errorf("no report signing key beside the store: %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, "https://"+addr+"/api/v1/reports", strings.NewReader(`{"cluster": "prod", "framework": "cis"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a report of prod: %d", resp.StatusCode)
	}
}

func TestServerCommandRefusesAShortAdminToken(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "", "server", "--insecure-http", "--addr", freeAddr(t), "--admin-token-file", writeFile(t, dir, "t", "secret"))
	if code != 2 || !strings.Contains(stderr, "at least 32") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}
