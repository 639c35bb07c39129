// Package serve runs Bailiff's HTTP servers (webhook, scanner, central server)
// the same way: TLS from a certificate directory reloaded when cert-manager
// rotates it, sensible timeouts, and a graceful drain on shutdown.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Names of the files in a certificate directory, as cert-manager writes a
// Certificate's Secret.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
)

// Options configure Run.
type Options struct {
	Name    string // what is serving, for logs: "webhook", "scanner", "server"
	Handler http.Handler
	// CertDir holds tls.crt and tls.key; empty serves plain HTTP (only for
	// loopback demos and tests, which must ask for it explicitly).
	CertDir string
	Logger  *slog.Logger
	// WriteTimeout bounds a response; default 30s.
	WriteTimeout time.Duration
}

func http1Only() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	return &p
}

// Run serves on l until ctx ends, then drains in-flight requests for up to 20s.
func Run(ctx context.Context, l net.Listener, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	srv := &http.Server{
		Handler:           opts.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		// HTTP/1.1 only, as controller-runtime's webhook server: no exposure to HTTP/2
		// rapid reset (CVE-2023-44487), and a request costs less CPU than over Go's
		// HTTP/2 (measured with test/bench/loadgen). kube-apiserver keeps a pool of
		// keep-alive connections to the webhook instead.
		Protocols: http1Only(),
	}
	watchErr := make(chan error, 1)
	serveErr := make(chan error, 1)
	if opts.CertDir != "" {
		watcher, err := certwatcher.New(filepath.Join(opts.CertDir, CertFile), filepath.Join(opts.CertDir, KeyFile))
		if err != nil {
			return fmt.Errorf("load serving certificate from %s: %w", opts.CertDir, err)
		}
		go func() { watchErr <- watcher.Start(ctx) }()
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate}
		go func() { serveErr <- srv.ServeTLS(l, "", "") }()
	} else {
		go func() { serveErr <- srv.Serve(l) }()
	}
	opts.Logger.Info(opts.Name+" serving", "addr", l.Addr().String(), "tls", opts.CertDir != "", "certDir", opts.CertDir)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case err := <-watchErr:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("watch certificate: %w", err)
		}
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
