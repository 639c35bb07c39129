// Package server is Bailiff's central server: the ingest API through which
// clusters deliver their audit trails, and the query API through which
// auditors read events and findings and verify chains. It keeps no state of
// its own, so several replicas can serve one PostgreSQL store.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/reports"
	"github.com/bailiff/bailiff/server/ui"
)

// Options configure a Server. Either Store is an open store, or Open opens
// one and Connect calls it until it succeeds.
type Options struct {
	Store store.Store
	Open  func(ctx context.Context) (store.Store, error)
	// StoreName names the store in logs and readiness answers; never put a
	// password in it.
	StoreName string
	// AdminToken, if set, is stored as the token of the admin credential
	// named AdminName ("admin") whenever the server connects to its store,
	// so a fresh installation can be administered (--admin-token-file).
	AdminToken string
	AdminName  string

	// Reports, when set, generates, signs and keeps compliance reports; without
	// it the reports API answers 503.
	Reports *reports.Keeper

	MaxBodyBytes   int64 // largest ingest or results body, default results.MaxBodyBytes (8 MiB)
	MaxBatchEvents int   // most events in one ingest batch, default 1000
	// RetryMin and RetryMax bound the wait between attempts to open the store.
	RetryMin, RetryMax time.Duration

	Metrics *Metrics // nil creates a fresh set
	Logger  *slog.Logger
}

// Server answers the API over a store.
type Server struct {
	opts    Options
	store   atomic.Pointer[storeRef]
	metrics *Metrics
	log     *slog.Logger
	ui      *ui.UI
}

type storeRef struct{ store.Store }

// New returns a server; with Options.Store it is ready at once, with
// Options.Open once Connect has succeeded.
func New(opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = results.MaxBodyBytes
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 1000
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(30*time.Second, opts.RetryMin)
	}
	if opts.AdminName == "" {
		opts.AdminName = "admin"
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, metrics: opts.Metrics, log: opts.Logger}
	uiOpts := ui.Options{
		Store: s.currentStore,
		Authenticate: func(ctx context.Context, st store.Store, token string) (store.Credential, error) {
			return st.CredentialByTokenHash(ctx, HashToken(token))
		},
		Forbidden: func(r *http.Request, st store.Store, c store.Credential, reason string) {
			s.recordForbidden(r, st, c, reason, "")
		},
		Logger: opts.Logger,
	}
	if opts.Reports != nil {
		uiOpts.LoadReport = opts.Reports.Load
		uiOpts.RenderReport = func(rep *reports.Report, format string) ([]byte, error) {
			body, _, err := s.render(rep, format)
			return body, err
		}
		uiOpts.WriteDownload = WriteReportDownload
	}
	s.ui = ui.New(uiOpts)
	if opts.Store != nil {
		s.store.Store(&storeRef{opts.Store})
		s.metrics.storeConnected.Set(1)
	}
	return s
}

// currentStore is the connected store, or nil before Connect succeeds.
func (s *Server) currentStore() store.Store {
	if ref := s.store.Load(); ref != nil {
		return ref.Store
	}
	return nil
}

// Connect opens the store, retrying with growing waits while it is
// unreachable, until it answers or ctx ends. Each failure is logged with the
// next wait, so a server that cannot start says why.
func (s *Server) Connect(ctx context.Context) error {
	if s.currentStore() != nil {
		return nil
	}
	if s.opts.Open == nil {
		return errors.New("no store to connect to")
	}
	wait := s.opts.RetryMin
	for attempt := 1; ; attempt++ {
		st, err := s.open(ctx)
		if err == nil {
			s.store.Store(&storeRef{st})
			s.metrics.storeConnected.Set(1)
			s.log.Info("store connected", "store", s.opts.StoreName, "attempts", attempt)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		next := jitter(wait)
		s.log.Error(fmt.Sprintf("store %s unreachable: %v; retrying in %s", s.opts.StoreName, err, next.Round(time.Millisecond)),
			"store", s.opts.StoreName, "attempt", attempt, "retryIn", next)
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, s.opts.RetryMax)
	}
}

// open opens the store once and installs the bootstrap admin credential.
func (s *Server) open(ctx context.Context) (store.Store, error) {
	st, err := s.opts.Open(ctx)
	if err != nil {
		return nil, err
	}
	if s.opts.AdminToken != "" {
		err := st.PutCredential(ctx, store.Credential{
			Name: s.opts.AdminName, Role: store.RoleAdmin, TokenHash: HashToken(s.opts.AdminToken), CreatedAt: time.Now().UTC(),
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("store the admin credential: %w", err)
		}
	}
	return st, nil
}

// jitter spreads a wait over [d/2, d], so replicas do not retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Close closes the store if one is connected.
func (s *Server) Close() error {
	ref := s.store.Swap(nil)
	if ref == nil {
		return nil
	}
	s.metrics.storeConnected.Set(0)
	return ref.Close()
}

// Ready reports whether the server can answer API requests: its store is
// connected and answers a ping.
func (s *Server) Ready(ctx context.Context) (bool, string) {
	st := s.currentStore()
	if st == nil {
		return false, fmt.Sprintf("store %s not connected yet", s.opts.StoreName)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		return false, fmt.Sprintf("store %s unreachable: %v", s.opts.StoreName, err)
	}
	return true, "ok"
}

// Handler is the server's HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler) { mux.Handle(pattern, s.metrics.instrument(pattern, h)) }
	route("POST "+trail.EventsPath, s.authorized(mayIngest, s.ingest))
	route("GET "+trail.EventsPath, s.authorized(mayRead, s.listEvents))
	route("POST "+results.Path, s.authorized(mayIngest, s.postResults))
	route("GET "+results.Path, s.authorized(mayIngest, s.openResults))
	route("GET /api/v1/findings", s.authorized(mayRead, s.listFindings))
	route("GET "+trail.VerifyPathPattern, s.authorized(mayRead, s.verify))
	route("GET "+trail.ClustersPath, s.authorized(mayRead, s.listClusters))
	route("GET "+ReportsPath, s.authorized(mayRead, s.listReports))
	route("POST "+ReportsPath, s.authorized(mayRead, s.createReport))
	route("GET "+ReportsPath+"/public-key", s.authorized(mayRead, s.reportPublicKey))
	route("GET "+ReportsPath+"/{id}", s.authorized(mayRead, s.downloadReport))
	route("GET "+ReportsPath+"/{id}/signature", s.authorized(mayRead, s.reportSignature))
	route("POST /api/v1/credentials", s.authorized(mayAdminister, s.createCredential))
	route("DELETE /api/v1/credentials/{name}", s.authorized(mayAdminister, s.deleteCredential))
	route("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	}))
	mux.Handle("/ui/", s.metrics.instrument("/ui/", s.ui))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, detail := s.Ready(r.Context())
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, detail)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

// ServeOptions say how Serve listens.
type ServeOptions struct {
	// CertDir holds tls.crt and tls.key, read again whenever they change.
	CertDir string
	// InsecureHTTP serves plain HTTP instead, for local demos only: bearer
	// tokens then cross the network in the clear.
	InsecureHTTP bool
}

// Serve answers on l until ctx ends, then drains requests in flight.
func (s *Server) Serve(ctx context.Context, l net.Listener, opts ServeOptions) error {
	certDir := opts.CertDir
	if opts.InsecureHTTP {
		s.log.Warn("serving plain HTTP: tokens and events cross the network unencrypted; use TLS outside local demos", "addr", l.Addr().String())
		certDir = ""
	} else {
		for _, f := range []string{serve.CertFile, serve.KeyFile} {
			if _, err := os.Stat(filepath.Join(certDir, f)); err != nil {
				return fmt.Errorf("no serving certificate in %q (%w): mount one, or run with --tls-self-signed", certDir, err)
			}
		}
	}
	return serve.Run(ctx, l, serve.Options{
		Name: "server", Handler: s.Handler(), CertDir: certDir, Logger: s.log,
		// Verifying a long chain takes a while; its answer is one small document.
		WriteTimeout: 10 * time.Minute,
	})
}
