package serve

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bailiff/bailiff/test/logbuf"
	"github.com/bailiff/bailiff/test/poll"
)

// notAfterMetric gathers the registry and returns the metric's value, and whether it was there.
func notAfterMetric(t *testing.T, reg *prometheus.Registry) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "bailiff_tls_certificate_not_after_timestamp_seconds" {
			return f.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func certificateIn(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM in %s", dir)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestTheExpiryMetricFollowsTheServedCertificate(t *testing.T) {
	dir := t.TempDir()
	if _, err := SelfSigned(dir, []string{"localhost"}, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &logbuf.Buffer{}
	go func() {
		done <- Run(ctx, l, Options{Name: "test", CertDir: dir, Handler: http.NotFoundHandler(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		// A scrape's handshake is a whole one: the server has nothing to complain about.
		if strings.Contains(logs.String(), "handshake error") {
			t.Errorf("the server logged handshake errors:\n%s", logs.String())
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCertificateCollector(l.Addr()))

	want := float64(certificateIn(t, dir).NotAfter.Unix())
	poll.Until(t, "the first certificate's expiry", func() bool { v, ok := notAfterMetric(t, reg); return ok && v == want })

	// A renewal on disk shows once the server reloads it: the metric is what is served.
	if _, err := SelfSigned(dir, []string{"localhost"}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	renewed := float64(certificateIn(t, dir).NotAfter.Unix())
	if renewed == want {
		t.Fatal("the renewed certificate should expire later")
	}
	poll.Until(t, "the renewed certificate's expiry", func() bool { v, ok := notAfterMetric(t, reg); return ok && v == renewed })
}

func TestTheExpiryMetricIsAbsentWhenNothingIsServed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	l.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCertificateCollector(addr))
	if v, ok := notAfterMetric(t, reg); ok {
		t.Fatalf("want no value without a server, got %v", v)
	}
}

func TestServedCertificateReachesAnUnspecifiedAddressOnLoopback(t *testing.T) {
	dir := t.TempDir()
	if _, err := SelfSigned(dir, []string{"localhost"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, l, Options{Name: "test", CertDir: dir, Handler: http.NotFoundHandler()}) }()
	defer func() { cancel(); <-done }()
	var got *x509.Certificate
	poll.Until(t, "a handshake", func() bool {
		got, err = ServedCertificate(context.Background(), l.Addr())
		return err == nil
	})
	if !got.Equal(certificateIn(t, dir)) {
		t.Fatal("ServedCertificate returned another certificate than the one in the directory")
	}
}
