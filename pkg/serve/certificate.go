package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ServedCertificate returns the certificate a TLS server at addr presents, without
// verifying it: what clients get, whatever is on disk. An unspecified address (":8443")
// is reached on loopback.
func ServedCertificate(ctx context.Context, addr net.Addr) (*x509.Certificate, error) {
	target := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		target = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	d := tls.Dialer{Config: &tls.Config{
		// Only the certificate is wanted; nothing is sent over the connection.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", target, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("the server presented no certificate")
	}
	return certs[0], nil
}

// certificateExpiry exports the NotAfter of the certificate a server presents.
type certificateExpiry struct {
	desc   *prometheus.Desc
	served func(ctx context.Context) (*x509.Certificate, error)
}

// certificateNotAfter is the metric: the same name whatever serves, so one alert covers
// the webhook, the scanner and the server.
var certificateNotAfter = prometheus.GaugeOpts{
	Name: "bailiff_tls_certificate_not_after_timestamp_seconds",
	Help: "NotAfter of the TLS certificate this server presents, as a Unix time, read by a handshake at each scrape.",
}

// NewCertificateCollector returns a collector of
// bailiff_tls_certificate_not_after_timestamp_seconds for the server listening on addr.
// Each scrape reads the certificate with a TLS handshake, so the value is what clients
// get after any reload; while no handshake succeeds the metric is absent rather than
// wrong. Register it on the registry of the server it describes.
func NewCertificateCollector(addr net.Addr) prometheus.Collector {
	return newCertificateCollector(func(ctx context.Context) (*x509.Certificate, error) {
		return ServedCertificate(ctx, addr)
	})
}

func newCertificateCollector(served func(ctx context.Context) (*x509.Certificate, error)) *certificateExpiry {
	return &certificateExpiry{
		desc:   prometheus.NewDesc(certificateNotAfter.Name, certificateNotAfter.Help, nil, nil),
		served: served,
	}
}

func (c *certificateExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certificateExpiry) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cert, err := c.served(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()))
}
