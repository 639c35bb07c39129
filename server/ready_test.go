package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/test/logbuf"
	"github.com/bailiff/bailiff/test/poll"
)

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestTheServerWaitsForItsStoreAndIsNotReadyMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bailiff.db")
	var up atomic.Bool
	var attempts atomic.Int32
	logs := &logbuf.Buffer{}
	api := New(Options{
		Open: func(ctx context.Context) (store.Store, error) {
			attempts.Add(1)
			if !up.Load() {
				return nil, errors.New("dial tcp 10.0.0.7:5432: connection refused")
			}
			return store.OpenSQLite(ctx, path)
		},
		StoreName: "postgres://bailiff:xxxxx@db:5432/bailiff",
		RetryMin:  time.Millisecond, RetryMax: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	defer api.Close()
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()

	connected := make(chan error, 1)
	go func() { connected <- api.Connect(context.Background()) }()
	poll.Until(t, "a few failed attempts", func() bool { return attempts.Load() >= 3 })

	if code, body := get(t, ts.Client(), ts.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected yet") {
		t.Fatalf("readyz while the store is down: %d %s", code, body)
	}
	if code, _ := get(t, ts.Client(), ts.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz while the store is down: %d", code)
	}
	if code, body := get(t, ts.Client(), ts.URL+"/api/v1/events"); code != http.StatusServiceUnavailable {
		t.Fatalf("the API while the store is down: %d %s", code, body)
	}
	if log := logs.String(); !strings.Contains(log, "store postgres://bailiff:xxxxx@db:5432/bailiff unreachable: dial tcp 10.0.0.7:5432: connection refused; retrying in") {
		t.Fatalf("the log does not say why the server waits:\n%s", log)
	}

	up.Store(true)
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, ts.Client(), ts.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz once connected: %d %s", code, body)
	}

	// A store that stops answering makes the server unready again.
	api.currentStore().Close()
	if code, body := get(t, ts.Client(), ts.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "unreachable") {
		t.Fatalf("readyz with the store closed: %d %s", code, body)
	}
}

func TestConnectGivesUpWhenItsContextEnds(t *testing.T) {
	api := New(Options{
		Open:     func(context.Context) (store.Store, error) { return nil, errors.New("connection refused") },
		RetryMin: time.Millisecond, RetryMax: time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Connect(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestTheAdminTokenFromTheCommandLineIsInstalled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bailiff.db")
	token := NewToken()
	api := New(Options{Open: func(ctx context.Context) (store.Store, error) { return store.OpenSQLite(ctx, path) }, AdminToken: token})
	defer api.Close()
	if err := api.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := api.currentStore().CredentialByTokenHash(context.Background(), HashToken(token))
	if err != nil || c.Role != store.RoleAdmin || c.Name != "admin" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 into dir and returns a pool trusting it.
func selfSignedCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(filepath.Join(dir, serve.CertFile), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, serve.KeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

func TestServeAnswersOverTLSOrExplicitlyPlainHTTP(t *testing.T) {
	st, _ := sqliteStore(t)
	certDir := t.TempDir()
	pool := selfSignedCert(t, certDir)
	tests := []struct {
		name   string
		opts   ServeOptions
		scheme string
		client *http.Client
	}{
		{"TLS from the certificate directory", ServeOptions{CertDir: certDir}, "https",
			&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}},
		{"plain HTTP when asked for", ServeOptions{InsecureHTTP: true}, "http", http.DefaultClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := New(Options{Store: st})
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- api.Serve(ctx, l, tt.opts) }()
			if code, body := get(t, tt.client, tt.scheme+"://"+l.Addr().String()+"/readyz"); code != http.StatusOK {
				t.Fatalf("readyz: %d %s", code, body)
			}
			cancel()
			if err := <-served; err != nil {
				t.Fatalf("serve: %v", err)
			}
		})
	}
	t.Run("no certificate is an error that says what to do", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		err := New(Options{Store: st}).Serve(context.Background(), l, ServeOptions{CertDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "--tls-self-signed") {
			t.Fatalf("got %v", err)
		}
	})
}
