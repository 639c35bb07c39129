package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bailiff/bailiff/pkg/serve"
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
	return serve.Run(ctx, s.listener, serve.Options{
		Name: "webhook", Handler: s.Routes(), CertDir: s.opts.CertDir, Logger: s.opts.Logger,
	})
}
