package webhook

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

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// ReadinessCheck reports whether the webhook can answer, and why not.
type ReadinessCheck func() (ready bool, detail string)

// ServerOptions configure a Server.
type ServerOptions struct {
	Addr    string // host:port to listen on, e.g. ":8443"
	CertDir string // holds tls.crt and tls.key, reloaded when they change
	Handler *Handler
	Ready   ReadinessCheck
	Logger  *slog.Logger
}

// Server is the webhook's HTTPS server.
type Server struct {
	opts     ServerOptions
	listener net.Listener
}

// Listen binds the address, so the caller knows the port before serving.
func Listen(opts ServerOptions) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	return &Server{opts: opts, listener: l}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Routes are the server's endpoints, for tests and benchmarks that serve them without TLS.
func (s *Server) Routes() http.Handler {
	h := s.opts.Handler
	mux := http.NewServeMux()
	mux.Handle("/validate", h.Validate())
	mux.Handle("/mutate", h.Mutate())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, detail := true, "ok"
		if s.opts.Ready != nil {
			ready, detail = s.opts.Ready()
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, detail)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(h.opts.Metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

// Run serves HTTPS until ctx ends, then drains in-flight requests. The certificate is
// read again whenever its files change (cert-manager rotates them), so rotation drops
// no connection.
func (s *Server) Run(ctx context.Context) error {
	watcher, err := certwatcher.New(filepath.Join(s.opts.CertDir, CertFile), filepath.Join(s.opts.CertDir, KeyFile))
	if err != nil {
		return fmt.Errorf("load serving certificate from %s: %w", s.opts.CertDir, err)
	}
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Start(ctx) }()

	srv := &http.Server{
		Handler:           s.Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: watcher.GetCertificate,
		},
		ErrorLog: slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(s.listener, "", "") }()
	s.opts.Logger.Info("webhook serving", "addr", s.listener.Addr().String(), "certDir", s.opts.CertDir)

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
