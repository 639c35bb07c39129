// Command bailiff-scanner scans container images by digest with Trivy and
// serves the results to the webhook and the auditor over a small
// authenticated API. It owns Trivy's vulnerability database; the bailiff
// binary never links Trivy.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	trivylog "github.com/aquasecurity/trivy/pkg/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bailiff/bailiff/pkg/images"
	"github.com/bailiff/bailiff/pkg/images/trivyscan"
	"github.com/bailiff/bailiff/pkg/logs"
	"github.com/bailiff/bailiff/pkg/serve"
	"github.com/bailiff/bailiff/pkg/store"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bailiff-scanner:", err)
		os.Exit(1)
	}
}

type flags struct {
	addr, certDir, tokenFile, logFormat string
	insecureHTTP                        bool
	dbDir, dbMounted                    string
	dbRepositories                      []string
	dbInsecure                          bool
	dbMaxAge, dbCheckInterval           time.Duration
	workers, queueSize                  int
	scanTimeout                         time.Duration
	maxImageBytes                       int64
	storeDSN                            string
	kubeconfig                          string
	noCluster                           bool
	insecureRegistries                  []string
	trivyDebug                          bool
}

func newCommand() *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:           "bailiff-scanner",
		Short:         "Scan container images with Trivy and serve the results to Bailiff",
		Version:       version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", ":8443", "address to serve the scan API on")
	fl.StringVar(&f.certDir, "cert-dir", "/etc/bailiff-scanner/tls", "directory holding tls.crt and tls.key (reloaded when they change)")
	fl.BoolVar(&f.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of TLS (loopback demos and tests only)")
	fl.StringVar(&f.tokenFile, "token-file", "/etc/bailiff-scanner/token/token", "file holding the bearer token callers must present")
	fl.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fl.StringVar(&f.dbDir, "db-dir", "/var/lib/bailiff-scanner/db", "directory the vulnerability database is downloaded into")
	fl.StringVar(&f.dbMounted, "db-mounted", "", "use the read-only database in this directory (trivy.db, metadata.json) and never download")
	fl.StringSliceVar(&f.dbRepositories, "db-repository", nil, "OCI repositories to download the database from, in order (default: Trivy's public ones; a mirror for air-gapped clusters)")
	fl.BoolVar(&f.dbInsecure, "db-insecure", false, "reach the database repositories over plain HTTP or unverified TLS")
	fl.DurationVar(&f.dbMaxAge, "db-max-age", 72*time.Hour, "a database older than this is not trusted: images are reported as not scanned")
	fl.DurationVar(&f.dbCheckInterval, "db-check-interval", time.Hour, "how often to check for a newer database")
	fl.IntVar(&f.workers, "workers", 2, "images scanned at once")
	fl.IntVar(&f.queueSize, "queue-size", 1000, "images waiting for a scan; past it, lookups answer pending without queueing")
	fl.DurationVar(&f.scanTimeout, "scan-timeout", 5*time.Minute, "longest pull and scan of one image")
	fl.Int64Var(&f.maxImageBytes, "max-image-bytes", 4<<30, "refuse to scan images whose layers add up to more")
	fl.StringVar(&f.storeDSN, "store", "", "keep results in this store too, shared by replicas and restarts (sqlite:///path or postgres://...)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig to read pull secrets with (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fl.BoolVar(&f.noCluster, "no-cluster", false, "run without an API server: images are pulled anonymously")
	fl.StringSliceVar(&f.insecureRegistries, "insecure-registries", nil, "registry hosts reached over plain HTTP (local mirrors only)")
	fl.BoolVar(&f.trivyDebug, "trivy-debug", false, "let Trivy log its own progress")
	return cmd
}

func run(ctx context.Context, f flags) error {
	logger := newLogger(f.logFormat)
	trivylog.InitLogger(f.trivyDebug, !f.trivyDebug)
	token, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return fmt.Errorf("read the API token (--token-file): %w", err)
	}
	if strings.TrimSpace(string(token)) == "" {
		return fmt.Errorf("the API token in %s is empty", f.tokenFile)
	}
	certDir := f.certDir
	if f.insecureHTTP {
		certDir = ""
	}

	db, err := trivyscan.OpenDB(trivyscan.DBOptions{
		Dir: f.dbDir, Mounted: f.dbMounted, Repositories: f.dbRepositories,
		Insecure: f.dbInsecure, MaxAge: f.dbMaxAge, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer db.Close()

	var client kubernetes.Interface
	if !f.noCluster {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
			&clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return fmt.Errorf("connect to the API server to read pull secrets (or run with --no-cluster): %w", err)
		}
		if client, err = kubernetes.NewForConfig(cfg); err != nil {
			return err
		}
	}
	scanner, err := trivyscan.New(trivyscan.Options{
		DB: db, Kubernetes: client, InsecureRegistries: f.insecureRegistries, MaxImageBytes: f.maxImageBytes,
	})
	if err != nil {
		return err
	}

	var results images.ScanStore
	if f.storeDSN != "" {
		s, err := store.Open(ctx, f.storeDSN)
		if err != nil {
			return fmt.Errorf("open the result store (--store): %w", err)
		}
		defer s.Close()
		results = s
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := images.NewScanService(images.ScanServiceOptions{
		Scanner: scanner, Store: results, Workers: f.workers, QueueSize: f.queueSize,
		ScanTimeout: f.scanTimeout, Logger: logger, Registerer: registry,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	api := images.ScanAPI(svc, strings.TrimSpace(string(token)))
	mux.Handle("/v1/", api)
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		// Ready even without a usable database: lookups then answer "not scanned",
		// which is the truth the webhook needs to apply images.unscanned.
		status := db.Status()
		if status.Usable {
			fmt.Fprintf(w, "ok, vulnerability database of %s\n", status.UpdatedAt.Format(time.RFC3339))
			return
		}
		fmt.Fprintf(w, "ok, but no usable vulnerability database: %s\n", status.Reason)
	})
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	if certDir != "" {
		registry.MustRegister(serve.NewCertificateCollector(l.Addr()))
	}
	logger.Info("vulnerability database", "status", db.Status(), "dir", filepath.Clean(f.dbDir), "mounted", f.dbMounted)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { db.RefreshLoop(ctx, f.dbCheckInterval); return nil })
	g.Go(func() error { svc.Run(ctx); return nil })
	g.Go(func() error {
		return serve.Run(ctx, l, serve.Options{Name: "scanner", Handler: mux, CertDir: certDir, Logger: logger})
	})
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func newLogger(format string) *slog.Logger { return logs.New(os.Stderr, format) }
