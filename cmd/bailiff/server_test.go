package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/server"
)

func TestServerTokenCreateInstallsTheTokenFromAFile(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bailiff.db"))
	token := strings.Repeat("k", 20) + "0123456789ab" // 32 characters
	file := writeFile(t, dir, "token", "\n  "+token+"\n")

	code, stdout, stderr := runCLI(t, "", "server", "token", "create", "--name", "cluster-prod", "--role", "cluster",
		"--cluster", "prod", "--store", dsn, "--token-file", file)
	if code != 0 {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	if stdout != "" || strings.Contains(stderr, token) {
		t.Fatalf("nothing secret may be printed: stdout %q, stderr %q", stdout, stderr)
	}
	if !strings.Contains(stderr, `created cluster credential "cluster-prod" for cluster prod`) {
		t.Errorf("stderr does not say what was created: %q", stderr)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.CredentialByTokenHash(context.Background(), server.HashToken(token))
	if err != nil || c.Name != "cluster-prod" || c.Role != store.RoleCluster || c.Cluster != "prod" {
		t.Fatalf("the file's token (trimmed) must be the credential's: %+v, %v", c, err)
	}
	events, err := st.Events(context.Background(), store.EventQuery{Cluster: trail.ServerCluster, Decision: "credential_created"})
	if err != nil || len(events.Events) != 1 {
		t.Fatalf("the creation must be recorded in the server's trail once: %+v, %v", events, err)
	}

	// Run again, as the chart's init container does at every start: still one
	// credential, with the same token.
	if code, _, stderr := runCLI(t, "", "server", "token", "create", "--name", "cluster-prod", "--role", "cluster",
		"--cluster", "prod", "--store", dsn, "--token-file", file); code != 0 {
		t.Fatalf("second run: exit %d, %q", code, stderr)
	}
	if _, err := st.CredentialByTokenHash(context.Background(), server.HashToken(token)); err != nil {
		t.Fatalf("after a second run: %v", err)
	}
}

func TestServerTokenCreateRefusesAnUnusableTokenFile(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bailiff.db"))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"a short token", "  short-token\n", "has 11 characters; use at least 32"},
		{"an empty file", "\n\n", "is empty"},
		{"a missing file", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "missing")
			if tc.content != "" {
				file = writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-"), tc.content)
			}
			code, stdout, stderr := runCLI(t, "", "server", "token", "create", "--name", "x", "--role", "auditor",
				"--store", dsn, "--token-file", file)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "bailiff.db")); err == nil {
		t.Error("a refused token file must not open (and create) the store")
	}
}

func TestServerExportsTheExpiryOfItsCertificate(t *testing.T) {
	srv := startServerCommand(t, t.TempDir())
	var metrics string
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(metrics, "bailiff_tls_certificate_not_after_timestamp_seconds ") {
		if time.Now().After(deadline) {
			t.Fatalf("no certificate expiry in /metrics:\n%s\n%s", metrics, srv.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
		metrics, _ = getTLS(t, srv.certDir, "https://"+srv.addr+"/metrics")
	}
	cert := servingCertificate(t, srv.certDir)
	if want := fmt.Sprintf("bailiff_tls_certificate_not_after_timestamp_seconds %g", float64(cert.NotAfter.Unix())); !strings.Contains(metrics, want) {
		t.Fatalf("want %q in /metrics, got:\n%s", want, metrics)
	}
}

// serverCommand is `bailiff server` running in the test process, self-signed, on
// SQLite in dir; it is stopped when the test ends and must exit 0.
type serverCommand struct {
	addr, certDir string
	stderr        *bytes.Buffer
}

func startServerCommand(t *testing.T, dir string, extraArgs ...string) serverCommand {
	t.Helper()
	srv := serverCommand{addr: freeAddr(t), certDir: filepath.Join(dir, "tls"), stderr: &bytes.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	args := append([]string{"server", "--addr", srv.addr, "--store", "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bailiff.db")),
		"--tls-self-signed", "--cert-dir", srv.certDir, "--log-format", "text"}, extraArgs...)
	go func() { exited <- run(ctx, args, strings.NewReader(""), &bytes.Buffer{}, srv.stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("bailiff server exited %d:\n%s", code, srv.stderr.String())
		}
	})
	return srv
}

// getTLS fetches url trusting the CA in certDir; "" until the CA exists.
func getTLS(t *testing.T, certDir, url string) (string, error) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func servingCertificate(t *testing.T, certDir string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM in tls.crt")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
