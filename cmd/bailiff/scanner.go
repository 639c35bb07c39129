package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bailiff/bailiff/pkg/images"
)

// scannerFlags say how to reach bailiff-scanner, for the webhook and the auditor.
type scannerFlags struct {
	url, tokenFile, caFile string
	budget                 time.Duration
	dbInterval             time.Duration
}

func (s *scannerFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.url, "scanner-url", "", "bailiff-scanner's base URL (e.g. https://bailiff-scanner.bailiff.svc:8443); empty: images are reported as not scanned")
	f.StringVar(&s.tokenFile, "scanner-token-file", "/etc/bailiff/scanner-token/token", "file holding the scanner's API token")
	f.StringVar(&s.caFile, "scanner-ca-file", "", "CA bundle that signed the scanner's certificate (default: the system's)")
	f.DurationVar(&s.budget, "image-budget", time.Second, "time allowed per request for digest resolution and scan lookups together")
	f.DurationVar(&s.dbInterval, "scanner-db-interval", time.Minute, "how often to ask the scanner which vulnerability database it uses: after an update, results made with the older one are asked for again")
}

// client returns nil when no scanner is configured.
func (s *scannerFlags) client() (*images.ScanClient, error) {
	if s.url == "" {
		return nil, nil
	}
	token, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read the scanner token (--scanner-token-file): %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, fmt.Errorf("read the scanner CA (--scanner-ca-file): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", s.caFile)
		}
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return images.NewScanClient(images.ScanClientOptions{
		URL:        s.url,
		Token:      strings.TrimSpace(string(token)),
		HTTPClient: &http.Client{Transport: transport, Timeout: 10 * time.Second},
	})
}
